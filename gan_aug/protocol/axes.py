"""config.protocol: what a run compares - arms x seeds x training fractions.

Its fields and defaults: `gan_aug.config_blocks.blocks.protocol`.

For every training fraction and seed the training split is cut to a stratified,
seeded subset (nested: a smaller fraction's subset lies inside a larger one's for
the same seed); the GAN is trained on that subset, its filtered fakes generated,
and every arm's classifier trained and tested on the real test images. Seed i is
`config.seed + i`. The one-seed `real` vs `gan` run is the smallest protocol.

Two more axes run the whole protocol several times: `gan_variants` (name ->
overrides of config.gan, one run per GAN recipe) and `filter_sweep` (name ->
overrides of config.synthesis, one run per filter setting on the same GANs).
"""

import os

import ml_collections

from gan_aug.core.errors import ConfigError
from gan_aug.models.backbones import inception_fid
from gan_aug.protocol import arms as arms_lib
from gan_aug.synthesis import inception_features

# Sweeps over these config blocks: protocol field -> block it overrides.
SWEEPS = {'gan_variants': 'gan', 'filter_sweep': 'synthesis'}


def validate(cfg: ml_collections.ConfigDict) -> None:
  """Raises ConfigError (or UnknownComponentError) for a bad config.protocol."""
  arms = tuple(cfg.arms)
  for name in arms:
    arms_lib.ARMS.get(name, 'config.protocol.arms')
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
  if cfg.gan_variants and cfg.filter_sweep:
    raise ConfigError(
        'config.protocol.gan_variants and config.protocol.filter_sweep are both '
        'set: sweep the filter for one GAN recipe at a time (set one of them to {}).')


def fraction_key(fraction: float) -> str:
  """A fraction as report.json names it: '0.1', '1.0'."""
  return repr(float(fraction))


def seed_config(config: ml_collections.ConfigDict,
                seed_index: int) -> ml_collections.ConfigDict:
  """The config of the protocol's seed `seed_index`: config.seed + seed_index."""
  result = ml_collections.ConfigDict(config.to_dict())
  result.seed = config.seed + seed_index
  return result


def with_overrides(config: ml_collections.ConfigDict, sweep: str,
                   name: str) -> ml_collections.ConfigDict:
  """`config` with config.protocol.<sweep>[name]'s overrides applied to its block
  (`SWEEPS`), and no sweep left in it."""
  block = SWEEPS[sweep]
  overrides = config.protocol[sweep][name]
  unknown = sorted(set(overrides) - set(config[block]))
  if unknown:
    raise ConfigError(
        f'config.protocol.{sweep}.{name} sets {unknown}, which config.{block} '
        'does not have.')
  out = ml_collections.ConfigDict(config.to_dict())
  out[block].update(dict(overrides))
  for field in SWEEPS:
    out.protocol[field] = {}
  return out
