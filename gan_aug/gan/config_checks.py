"""The checks of config.gan: every field of every family, before any work starts.

Run by `gan_aug.pipeline.config_validation`; the GAN first, so that a resolution
a family cannot produce is named with the ones it can.
"""

import ml_collections

from gan_aug.core import checks
from gan_aug.core.errors import ConfigError
from gan_aug.gan import diffaug
from gan_aug.gan import objectives
from gan_aug.gan.networks import COMPUTE_DTYPES, GANS, GANModel, build_gan


def validate(config: ml_collections.ConfigDict) -> GANModel:
  """Raises ConfigError (UnknownComponentError for the name) for a bad config.gan;
  returns the GAN it builds (for two classes), whose facts later checks need."""
  gan, p = config.gan, 'gan'
  GANS.get(gan.name, 'config.gan.name')
  objectives.get(gan.get('objective', 'bce'))
  if 'r1_gamma' in gan:
    checks.number_in(gan, p, 'r1_gamma', 0.0, 1e6, closed_low=True)
  if 'r1_every' in gan:
    checks.int_at_least(gan, p, 'r1_every', 1)
  if 'ada' in gan:
    checks.boolean(gan, p, 'ada')
    checks.number_in(gan, p, 'ada_target', 0.0, 1.0)
    checks.int_at_least(gan, p, 'ada_interval', 1)
    checks.number_in(gan, p, 'ada_kimg', 0.0, 1e9)
  checks.check(gan.get('compute_dtype', 'float32') in COMPUTE_DTYPES,
               'gan.compute_dtype', gan.get('compute_dtype'),
               f'one of {tuple(COMPUTE_DTYPES)}')
  try:
    model = build_gan(config, num_classes=2)
  except AttributeError as e:
    raise ConfigError(f'config.gan lacks a field GAN {gan.name!r} needs: {e}') from e
  except ValueError as e:
    raise ConfigError(str(e)) from e
  checks.one_of(gan, p, 'batch_size_rule', ('fixed', 'smallest_class'))
  for name in ('latent_dim', 'batch_size', 'log_every', 'sample_every',
               'checkpoint_every', 'max_checkpoints_to_keep', 'samples_per_class'):
    checks.int_at_least(gan, p, name, 1)
  checks.int_at_least(gan, p, 'synthesis_step', 0)
  # Family-specific fields, checked where the family has them.
  for name in ('label_embedding_dim', 'g_base_width', 'g_kernel_size', 'd_base_width'):
    if name in gan:
      checks.int_at_least(gan, p, name, 1)
  for name in ('g_hidden_widths', 'd_hidden_widths'):
    if name in gan:
      widths = tuple(gan[name])
      checks.check(len(widths) > 0 and all(isinstance(w, int) and w >= 1
                                           for w in widths),
                   f'gan.{name}', gan[name], 'a non-empty tuple of positive integers')
  if 'aux_loss_on_fake' in gan:
    checks.boolean(gan, p, 'aux_loss_on_fake')
  try:
    diffaug.parse_policy(gan.get('diffaug', ''))
  except (ValueError, AttributeError) as e:
    raise ConfigError(f'{e} (got {gan.get("diffaug")!r})') from e
  if 'ema_decay' in gan:
    checks.number_in(gan, p, 'ema_decay', 0.0, 1.0, closed_low=True)
  if 'instance_noise_std' in gan:
    checks.number_in(gan, p, 'instance_noise_std', 0.0, 10.0, closed_low=True)
    checks.int_at_least(gan, p, 'instance_noise_anneal_steps', 0)
  checks.int_at_least(gan, p, 'num_epochs', 0)
  checks.int_at_least(gan, p, 'num_steps', 0)
  checks.check(gan.num_steps > 0 or gan.num_epochs > 0, 'gan.num_steps', gan.num_steps,
               'num_steps or num_epochs must be positive')
  checks.number_in(gan, p, 'learning_rate', 0.0, 1.0)
  checks.number_in(gan, p, 'beta1', 0.0, 1.0, closed_low=True)
  checks.number_in(gan, p, 'beta2', 0.0, 1.0)
  if 'd_dropout' in gan:
    checks.number_in(gan, p, 'd_dropout', 0.0, 1.0, closed_low=True)
  checks.number_in(gan, p, 'leaky_slope', 0.0, 1.0, closed_low=True)
  return model
