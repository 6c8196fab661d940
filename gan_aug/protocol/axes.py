"""config.protocol: what a run compares - arms x seeds x training fractions.

Its fields and defaults: `gan_aug.config_blocks.blocks.protocol`.

For every training fraction and seed the training split is cut to a stratified,
seeded subset (nested: a smaller fraction's subset lies inside a larger one's for
the same seed); the GAN is trained on that subset, its filtered fakes generated,
and every arm's classifier trained and tested on the real test images. Seed i is
`config.seed + i`. The one-seed `real` vs `gan` run is the smallest protocol.

`generators` (name -> overrides of config.gan; empty: the config's own, named
`gan`) puts several generators in one protocol: each trains its own stages per
(fraction, seed), and arms name the generator they use (`gan_aug.protocol.arms`:
`<generator>`, `<generator>_classical`, ..., `real_oversampled_<generator>`).
`filter_sweep` (name -> overrides of config.synthesis) runs the whole protocol
once per filter setting on the same GANs. `candidates` (group -> generator
names) asks the report to choose one generator per group on validation.
"""

import os
from typing import List

import ml_collections

from gan_aug.core.errors import ConfigError
from gan_aug.generator import family as family_lib
from gan_aug.models.backbones import inception_fid
from gan_aug.protocol import arms as arms_lib
from gan_aug.synthesis import inception_features

# Sweeps over these config blocks: protocol field -> block it overrides.
SWEEPS = {'generators': 'gan', 'filter_sweep': 'synthesis'}


def validate(cfg: ml_collections.ConfigDict) -> None:
  """Raises ConfigError (or UnknownComponentError) for a bad config.protocol."""
  arms = tuple(cfg.arms)
  for name in cfg.generators:
    if not isinstance(name, str) or not name.isidentifier():
      raise ConfigError(f'config.protocol.generators has a generator named {name!r}: '
                        'use a Python identifier (it names arms and folders).')
  try:
    arms_lib.bindings(arms, generator_names(cfg))
  except ValueError as e:
    raise ConfigError(f'config.protocol.arms: {e}') from e
  if not arms or len(set(arms)) != len(arms) or 'real' not in arms:
    raise ConfigError(
        f'config.protocol.arms={arms!r} is not allowed: distinct arm names, real '
        'among them (every comparison is against it).')
  seeds = cfg.seeds
  if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
    raise ConfigError(
        f'config.protocol.seeds={seeds!r} is not allowed: an integer >= 1 (3 or '
        'more for an interval that means something).')
  pretrain = cfg.gan_pretrain_epochs
  if not isinstance(pretrain, int) or isinstance(pretrain, bool) or pretrain < 1:
    raise ConfigError(
        f'config.protocol.gan_pretrain_epochs={pretrain!r} is not allowed: an '
        'integer >= 1, the gan_pretrain arm\'s epochs on the accepted fakes.')
  frame = cfg.borders_only_frame
  if not isinstance(frame, (int, float)) or not 0 < frame < 0.5:
    raise ConfigError(
        f'config.protocol.borders_only_frame={frame!r} is not allowed: a number in '
        '(0, 0.5), the share of each side kept around the blanked centre.')
  fractions = tuple(cfg.fractions)
  if (not fractions or len(set(fractions)) != len(fractions)
      or any(not isinstance(f, (int, float)) or not 0 < float(f) <= 1
             for f in fractions)):
    raise ConfigError(
        f'config.protocol.fractions={fractions!r} is not allowed: distinct numbers '
        'in (0, 1].')
  if cfg.inception_weights and not os.path.isfile(cfg.inception_weights):
    raise ConfigError(
        f'config.protocol.inception_weights={cfg.inception_weights!r}: no such file. '
        f'Make it from pytorch-fid\'s {inception_features.PTH_NAME} with '
        'scripts/convert_inception_fid.py, or set it to \'\' for the classifier\'s '
        'feature space only.')
  size = cfg.inception_image_size
  low = inception_fid.FIDInceptionV3.min_resolution
  if not isinstance(size, int) or size < low:
    raise ConfigError(
        f'config.protocol.inception_image_size={size!r} is not allowed: an integer '
        f'>= {low} (299 for FID as published).')
  plain = {b.generator for b in arms_lib.bindings(arms, generator_names(cfg))
           if b.kind == 'gan'}
  for group, names in cfg.candidates.items():
    if isinstance(names, str) or not names or not set(names) <= plain:
      raise ConfigError(
          f'config.protocol.candidates.{group}={names!r} is not allowed: a list of '
          'generators of config.protocol.generators whose plain arm is among the '
          f'arms ({", ".join(sorted(plain))}).')
  if len(cfg.generators) > 1 and cfg.filter_sweep:
    raise ConfigError(
        'config.protocol.generators names several generators and '
        'config.protocol.filter_sweep is set: sweep the filter for one generator at '
        'a time.')


def fraction_key(fraction: float) -> str:
  """A fraction as report.json names it: '0.1', '1.0'."""
  return repr(float(fraction))


def seed_config(config: ml_collections.ConfigDict,
                seed_index: int) -> ml_collections.ConfigDict:
  """The config of the protocol's seed `seed_index`: config.seed + seed_index."""
  result = ml_collections.ConfigDict(config.to_dict())
  result.seed = config.seed + seed_index
  return result


def generator_names(protocol: ml_collections.ConfigDict) -> List[str]:
  """The protocol's generators in order: those of `generators` in the order of
  the first arm named after each (`<g>...`; a ConfigDict keeps its keys sorted),
  then any other; or the config's own, `gan`. The first is the one arms such as
  `real_oversampled` follow when they name none."""
  names = sorted(protocol.generators)
  if not names:
    return [arms_lib.DEFAULT_GENERATOR]
  named = [b.generator for b in arms_lib.bindings(protocol.arms, names)
           if b.generator and b.name.startswith(b.generator)]
  return list(dict.fromkeys(named + names))


def generator_config(config: ml_collections.ConfigDict,
                     name: str) -> ml_collections.ConfigDict:
  """The config of generator `name` alone: config.gan with its overrides, and
  the protocol's arms without synthetic images plus this generator's, by their
  registered names (as a one-generator protocol names them)."""
  if not config.protocol.generators:
    return ml_collections.ConfigDict(config.to_dict())
  bound = arms_lib.bindings(config.protocol.arms, generator_names(config.protocol))
  out = with_overrides(config, 'generators', name)
  out.protocol.arms = tuple(b.kind for b in bound if b.generator in (None, name))
  return out


def with_overrides(config: ml_collections.ConfigDict, sweep: str,
                   name: str) -> ml_collections.ConfigDict:
  """`config` with config.protocol.<sweep>[name]'s overrides applied to its block
  (`SWEEPS`), and no sweep left in it. A generator that names another family
  (`name`) also gets that family's own fields at their defaults
  (`gan_aug.generator.family.Family.fields`) where config.gan lacks them.
  Nor are candidates left: they name the protocol's generators."""
  block = SWEEPS[sweep]
  overrides = config.protocol[sweep][name]
  added = {}
  if block == 'gan':
    family = family_lib.find(overrides.get('name', config.gan.name))
    added = {k: v for k, v in family.fields.items() if k not in config.gan}
  unknown = sorted(set(overrides) - set(config[block]) - set(added))
  if unknown:
    raise ConfigError(
        f'config.protocol.{sweep}.{name} sets {unknown}, which config.{block} '
        'does not have' + (' (nor its family)' if block == 'gan' else '') + '.')
  out = ml_collections.ConfigDict(config.to_dict())
  out[block].update({**added, **dict(overrides)})
  for field in (*SWEEPS, 'candidates'):
    if field in out.protocol:
      out.protocol[field] = {}
  return out
