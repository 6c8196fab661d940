"""Checks a whole config before any work starts, composing each block's own checks.

Every block is validated by the stage that reads it: config.data by
`gan_aug.data`, config.gan by `gan_aug.gan.config_checks`, config.synthesis by
`gan_aug.synthesis.filter`, config.classifier by
`gan_aug.classifier.config_checks`, config.protocol by `gan_aug.protocol.axes`,
config.claims by `gan_aug.report.claims`. Errors name the field and the allowed
range.
"""

import ml_collections

from gan_aug import data
from gan_aug.classifier import config_checks as classifier_checks
from gan_aug.core import checks
from gan_aug.core.errors import ConfigError
from gan_aug.generator import family as family_lib
from gan_aug.protocol import axes as protocol
from gan_aug.report import claims
from gan_aug.runtime import sharding
from gan_aug.synthesis import filter as synthesis_filter

# Global batch sizes: each is split over every device of the 1-D data mesh.
GLOBAL_BATCH_FIELDS = ('gan.batch_size', 'classifier.batch_size',
                       'classifier.eval_batch_size', 'synthesis.batch_size')
# Fields of earlier versions -> where the idea lives now.
_RENAMED = {'experiment': 'config.protocol (arms, seeds, fractions, ...)',
            'trials': 'config.protocol.seeds',
            'data.train_fraction': 'config.protocol.fractions',
            'protocol.gan_variants': 'config.protocol.generators (name -> config.gan '
                                     'overrides; arms name their generator: '
                                     'docs/protocols.md)'}


def _refuse_renamed_fields(config: ml_collections.ConfigDict) -> None:
  for old, new in _RENAMED.items():
    section, _, name = old.rpartition('.')
    if name in (config.get(section, {}) if section else config):
      raise ConfigError(f'config.{old} is no longer read: use {new}.')
  if 'protocol' not in config:
    raise ConfigError('config.protocol is missing: start from '
                      'gan_aug.config_blocks.blocks.config(), which adds one.')


def _check_batches_split_over_devices(config: ml_collections.ConfigDict) -> None:
  """Refuses a global batch size that does not split evenly over the devices."""
  mesh = sharding.make_mesh()
  for field in GLOBAL_BATCH_FIELDS:
    section, name = field.split('.')
    try:
      sharding.check_divisible(config[section][name], mesh, field)
    except ValueError as e:
      raise ConfigError(str(e)) from e


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError for the first out-of-range value found.

  Unknown component names raise UnknownComponentError with the valid names.
  Checks needing the data (a batch larger than the training set) are left to
  the runner, after loading.
  """
  checks.int_at_least(config, '', 'seed', 0)
  if 'fast_compile' in config:
    checks.boolean(config, '', 'fast_compile')
  _refuse_renamed_fields(config)
  if 'run' in config:
    checks.number_in(config.run, 'run', 'watchdog_seconds', 0, float('inf'),
                     closed_low=True)
  protocol.validate(config.protocol)
  claims.validate(config.get('claims', {}))
  # The generator first: for a resolution it cannot produce it names the ones
  # it can.
  family = family_lib.find(config.gan.name)
  networks = family.validate(config)
  data.validate(config.data)
  synthesis_filter.validate(
      config.synthesis, getattr(networks, 'has_class_head', False), config.gan.name,
      family.make_scorer(networks) if family.make_scorer else None,
      scored=family.make_scorer is not None)
  classifier_checks.validate(config.classifier)
  checks.check('gan_pretrain' not in config.protocol.arms
               or config.protocol.gan_pretrain_epochs < config.classifier.max_epochs,
               'protocol.gan_pretrain_epochs', config.protocol.gan_pretrain_epochs,
               f'below classifier.max_epochs ({config.classifier.max_epochs}), so the '
               'gan_pretrain arm has epochs on the real images')
  _check_batches_split_over_devices(config)
  for name in config.protocol.generators:
    validate(protocol.generator_config(config, name))  # Its overrides applied.
