"""A generator family: the one unit the generator stage, synthesis and the report ask.

A family is one registered entry (`FAMILIES`) chosen by `config.gan.name`: a
registered name, or the path of a module that defines `FAMILY` (imported with
importlib, as big_vision picks models by module), so a family written outside
the package - a test module, a user's own file on PYTHONPATH - runs through
`python -m gan_aug.main` with no edit to the project. The papers' GANs are the
entries of `gan_aug.gan.families`, imported on the first lookup (`BUILT_IN`).

The config block stays `config.gan` for every family: its fields are the keys
of every finished generator stage, so renaming it would orphan them.
"""

import dataclasses
import importlib
import importlib.util
from typing import Any, Callable, Mapping, Optional, Tuple

import ml_collections

from gan_aug.core import registry
from gan_aug.core.errors import ConfigError

# Built-in family name -> the module that registers it (imported by name: the
# families sit on a floor above this one).
BUILT_IN = {'acgan': 'gan_aug.gan.families',
            'dcgan_per_class': 'gan_aug.gan.families',
            'cgan': 'gan_aug.gan.families',
            'edm': 'gan_aug.diffusion.family'}


@dataclasses.dataclass(frozen=True)
class Metric:
  """A value the train step returns: its key, its label in the progress line,
  and the panel of the training-curve figure it is drawn in ('loss' or
  'score'); `fmt` formats it in the progress line."""
  key: str
  label: str
  panel: str = 'loss'
  fmt: str = '.3f'


@dataclasses.dataclass(frozen=True)
class Sampler:
  """Images in [-1, 1] in inference mode: `labelled(state, z, labels)` for a
  batch of any classes, `one_class(state, z, label)` for a batch of one class
  (`label` a traced scalar)."""
  labelled: Callable
  one_class: Callable


@dataclasses.dataclass(frozen=True)
class Scorer:
  """How convincing images are, for the filter: `labelled(state, x, labels)` and
  `one_class(state, x, label)` -> (score, class probabilities [N, C] or None),
  higher = more convincing. `x` are images in [-1, 1] as the sampler makes them.
  `probability`: the score is a probability in [0, 1], so a fixed threshold
  means something; otherwise only a quantile of the scores of real images can
  threshold it (`gan_aug.synthesis.filter`)."""
  labelled: Callable
  one_class: Callable
  # What the score is, for the report (e.g. "D's realness, sigmoid(D(x))").
  description: str = ''
  probability: bool = True


@dataclasses.dataclass(frozen=True)
class Family:
  """Everything the rest of the project asks of a generator family.

  build(config, num_classes) -> networks: an object with `num_classes` and
    `one_per_class` (True: one model per class, every state leaf but `step` and
    `rng` with a leading class axis, trained on per-class stacked data).
  init(networks, config, image_shape) -> pure `init(seed) -> state`: the state
    template (every network's parameters, statistics and optimizer state), used
    to train (jitted) and to restore (its shapes).
  make_train_step(networks, config, *, mesh, batch_size, num_examples,
    num_steps, streamed) -> pure `step(state, images, labels) -> (state,
    metrics)`, the metrics those `metrics` declares.
  latent_dim(config) -> the size of a latent vector z ~ N(0, 1).
  make_sampler(networks, inference) -> Sampler; `inference` maps a module to
    its inference form (`gan_aug.models.conv_layers.inference_form`).
  make_scorer(networks, inference) -> Scorer, or None: a family without a
    scorer has every sample kept by synthesis.
  validate(config) -> networks: the checks of config.gan, before any work.
  fields: the family's own config.gan fields and their defaults, beyond the
    block every family reads (`gan_aug.config_blocks.blocks.gan`); a generator
    of config.protocol.generators that names the family gets them.
  sampling_fields: those of its config.gan fields that change only how images
    are drawn from a trained state (a sampler's steps, its guidance): they key
    the synthesis stage, not the generator stage, so generators that differ
    only in them share one training run.
  """
  description: str
  build: Callable[[ml_collections.ConfigDict, int], Any]
  init: Callable[..., Callable]
  make_train_step: Callable[..., Callable]
  metrics: Tuple[Metric, ...]
  latent_dim: Callable[[ml_collections.ConfigDict], int]
  make_sampler: Callable[..., Sampler]
  validate: Callable[[ml_collections.ConfigDict], Any]
  make_scorer: Optional[Callable[..., Scorer]] = None
  fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  sampling_fields: Tuple[str, ...] = ()


# 'GAN' as config.gan names them (the block every family reads).
FAMILIES: registry.Registry[Family] = registry.Registry('GAN')


def find(name: str) -> Family:
  """The family `name` names: a registered or built-in one, or an importable
  module that defines `FAMILY`; otherwise UnknownComponentError listing the
  known names."""
  for module in sorted(set(BUILT_IN.values())):
    importlib.import_module(module)
  if name in FAMILIES or not isinstance(name, str) or not _importable(name):
    return FAMILIES.get(name, 'config.gan.name')
  module = importlib.import_module(name)
  family = getattr(module, 'FAMILY', None)
  if not isinstance(family, Family):
    raise ConfigError(f'config.gan.name={name!r}: module {module.__name__} defines '
                      'no FAMILY (a gan_aug.generator.family.Family).')
  return family


def _importable(name: str) -> bool:
  try:
    return importlib.util.find_spec(name) is not None
  except (ImportError, ValueError):
    return False
