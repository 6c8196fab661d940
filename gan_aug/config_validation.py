"""Checks config values before any work starts; errors name the field and the allowed range."""

import numbers
import os

import ml_collections

from gan_aug import data
from gan_aug import diffaug
from gan_aug import models
from gan_aug import protocol
from gan_aug.data.image_folder import BAD_FILE_POLICIES
from gan_aug import synth
from gan_aug.errors import ConfigError
from gan_aug.models import backbones
from gan_aug.models import dcgan
from gan_aug.models import classifiers
from gan_aug.models import transfer
from gan_aug.train import classifier as classifier_lib
from gan_aug.train import sharding

# Global batch sizes: each is split over every device of the 1-D data mesh.
GLOBAL_BATCH_FIELDS = ('gan.batch_size', 'classifier.batch_size',
                       'classifier.eval_batch_size', 'synthesis.batch_size')


def _check(ok: bool, field: str, value, allowed: str) -> None:
  if not ok:
    raise ConfigError(f'config.{field}={value!r} is not allowed: {allowed}.')


def _one_of(value, field: str, allowed) -> None:
  _check(value in tuple(allowed), field, value, f'one of {tuple(allowed)}')


def _int_at_least(config, field: str, low: int) -> None:
  value = config
  for part in field.split('.'):
    value = value[part]
  _check(isinstance(value, numbers.Integral) and not isinstance(value, bool)
         and value >= low, field, value, f'an integer >= {low}')


def _number_in(config, field: str, low: float, high: float,
               closed_low: bool = False, closed_high: bool = False) -> None:
  value = config
  for part in field.split('.'):
    value = value[part]
  inside = (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and (low <= value if closed_low else low < value)
            and (value <= high if closed_high else value < high))
  left, right = '[' if closed_low else '(', ']' if closed_high else ')'
  _check(inside, field, value, f'a number in {left}{low}, {high}{right}')


def _check_batches_split_over_devices(config: ml_collections.ConfigDict) -> None:
  """Refuses a global batch size that does not split evenly over the devices."""
  mesh = sharding.make_mesh()
  for field in GLOBAL_BATCH_FIELDS:
    section, name = field.split('.')
    try:
      sharding.check_divisible(config[section][name], mesh, field)
    except ValueError as e:
      raise ConfigError(str(e)) from e


# Fields of earlier versions -> where the idea lives now.
_RENAMED = {'experiment': 'config.protocol (arms, seeds, fractions, ...)',
            'trials': 'config.protocol.seeds',
            'data.train_fraction': 'config.protocol.fractions'}


def _refuse_renamed_fields(config: ml_collections.ConfigDict) -> None:
  for old, new in _RENAMED.items():
    section, _, name = old.rpartition('.')
    if name in (config[section] if section else config):
      raise ConfigError(f'config.{old} is no longer read: use {new}.')
  if 'protocol' not in config:
    raise ConfigError('config.protocol is missing: start from '
                      'gan_aug.config_defaults.config(), which adds one.')


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError for the first out-of-range value found.

  Unknown component names raise registry.UnknownComponentError with the valid
  names. Checks needing the data (a batch larger than the training set) are
  left to the pipeline, after loading.
  """
  _int_at_least(config, 'seed', 0)
  _refuse_renamed_fields(config)
  protocol.validate(config.protocol)
  data_cfg, gan = config.data, config.gan
  data.DATASETS.get(data_cfg.name, 'config.data.name')
  models.GANS.get(gan.name, 'config.gan.name')
  dtype = gan.get('compute_dtype', 'float32')
  _one_of(dtype, 'gan.compute_dtype', models.COMPUTE_DTYPES)
  _check(data_cfg.channels in (1, 3), 'data.channels', data_cfg.channels, '1 or 3')
  try:
    gan_model = models.build_gan(config, num_classes=2)
  except AttributeError as e:
    raise ConfigError(f'config.gan lacks a field GAN {gan.name!r} needs: {e}') from e
  except ValueError as e:
    raise ConfigError(str(e)) from e
  _int_at_least(config, 'data.resolution', 1)
  _one_of(data_cfg.bad_file_policy, 'data.bad_file_policy', BAD_FILE_POLICIES)
  for split in ('train', 'val', 'test'):
    _int_at_least(config, f'data.phantom_per_class.{split}', 1)
  _number_in(config, 'data.val_fraction', 0.0, 0.5)
  _number_in(config, 'data.test_fraction', 0.0, 0.5)
  for field in ('latent_dim', 'batch_size', 'log_every', 'sample_every',
                'checkpoint_every', 'max_checkpoints_to_keep', 'samples_per_class'):
    _int_at_least(config, f'gan.{field}', 1)
  # Family-specific fields, checked where the family has them.
  for field in ('label_embedding_dim', 'g_base_width', 'g_kernel_size',
                'd_base_width'):
    if field in gan:
      _int_at_least(config, f'gan.{field}', 1)
  for field in ('g_hidden_widths', 'd_hidden_widths'):
    if field in gan:
      widths = tuple(gan[field])
      _check(len(widths) > 0 and all(isinstance(w, int) and w >= 1 for w in widths),
             f'gan.{field}', gan[field], 'a non-empty tuple of positive integers')
  if 'aux_loss_on_fake' in gan:
    _check(isinstance(gan.aux_loss_on_fake, bool), 'gan.aux_loss_on_fake',
           gan.aux_loss_on_fake, 'True or False')
  try:
    diffaug.parse_policy(gan.get('diffaug', ''))
  except (ValueError, AttributeError) as e:
    raise ConfigError(f'{e} (got {gan.get("diffaug")!r})') from e
  if 'ema_decay' in gan:
    _number_in(config, 'gan.ema_decay', 0.0, 1.0, closed_low=True)
  if 'instance_noise_std' in gan:
    _number_in(config, 'gan.instance_noise_std', 0.0, 10.0, closed_low=True)
    _int_at_least(config, 'gan.instance_noise_anneal_steps', 0)
  _int_at_least(config, 'gan.num_epochs', 0)
  _int_at_least(config, 'gan.num_steps', 0)
  _check(gan.num_steps > 0 or gan.num_epochs > 0, 'gan.num_steps', gan.num_steps,
         'num_steps or num_epochs must be positive')
  _number_in(config, 'gan.learning_rate', 0.0, 1.0)
  _number_in(config, 'gan.beta1', 0.0, 1.0, closed_low=True)
  _number_in(config, 'gan.beta2', 0.0, 1.0)
  if 'd_dropout' in gan:
    _number_in(config, 'gan.d_dropout', 0.0, 1.0, closed_low=True)
  _number_in(config, 'gan.leaky_slope', 0.0, 1.0, closed_low=True)

  syn = config.synthesis
  _one_of(syn.threshold_mode, 'synthesis.threshold_mode', synth.THRESHOLD_MODES)
  _number_in(config, 'synthesis.threshold', 0.0, 1.0, closed_low=True,
             closed_high=True)
  _number_in(config, 'synthesis.real_quantile', 0.0, 1.0, closed_low=True,
             closed_high=True)
  _check(isinstance(syn.require_class_agreement, bool),
         'synthesis.require_class_agreement', syn.require_class_agreement,
         'True or False')
  _check(gan_model.has_class_head or not syn.require_class_agreement,
         'synthesis.require_class_agreement', syn.require_class_agreement,
         f'False for GAN {gan.name!r}, whose discriminator has no class head')
  _one_of(syn.target, 'synthesis.target', synth.TARGET_MODES)
  _number_in(config, 'synthesis.target_value', 0.0, 1e7, closed_low=True)
  _number_in(config, 'synthesis.max_attempts_multiple', 0.0, 1e6)
  for field in ('num_checkpoints', 'batch_size', 'grid_per_class'):
    _int_at_least(config, f'synthesis.{field}', 1)
  if syn.target == 'count':
    _check(float(syn.target_value).is_integer(), 'synthesis.target_value',
           syn.target_value, 'a whole number of images per class in count mode')
  # Each checkpoint's D has its own score scale; a quantile of one D's scores
  # is no threshold for another's.
  _check(syn.threshold_mode == 'fixed' or syn.num_checkpoints == 1,
         'synthesis.num_checkpoints', syn.num_checkpoints,
         '1 when synthesis.threshold_mode is real_quantile')

  clf = config.classifier
  names = [clf.name] + list(clf.get('other_models', ()))
  for name in names:
    classifiers.CLASSIFIERS.get(name, 'config.classifier.name/other_models')
  low = max(classifiers.MIN_RESOLUTION[name] for name in names)
  _int_at_least(config, 'classifier.resolution', low)
  conv_impl = clf.get('conv_impl', 'auto')
  _one_of(conv_impl, 'classifier.conv_impl', ('auto',) + dcgan.CONV_IMPLS)
  weighting = clf.get('class_weighting', 'none')
  _one_of(weighting, 'classifier.class_weighting', classifier_lib.CLASS_WEIGHTINGS)
  schedule = clf.get('lr_schedule', 'constant')
  _one_of(schedule, 'classifier.lr_schedule', classifier_lib.LR_SCHEDULES)
  if 'optimizer' in clf:
    _one_of(clf.optimizer, 'classifier.optimizer', classifier_lib.OPTIMIZERS)
    _number_in(config, 'classifier.momentum', 0.0, 1.0, closed_low=True)
  if clf.get('pretrained_dir'):
    for name in names:
      if name in backbones.BACKBONES:
        path = transfer.weights_path(clf, name)
        _check(os.path.exists(path), 'classifier.pretrained_dir', clf.pretrained_dir,
               f'a folder holding {name}.msgpack (missing: {path}); write it with '
               'scripts/convert_torchvision.py')
  for field in ('batch_size', 'eval_batch_size', 'max_epochs', 'patience'):
    _int_at_least(config, f'classifier.{field}', 1)
  _int_at_least(config, 'classifier.steps_per_epoch', 0)
  if 'checkpoint_every_seconds' in clf:
    _number_in(config, 'classifier.checkpoint_every_seconds', 0.0, 1e9,
               closed_low=True)
  _number_in(config, 'classifier.learning_rate', 0.0, 1.0)
  _number_in(config, 'classifier.conv_dropout', 0.0, 1.0, closed_low=True)
  _number_in(config, 'classifier.dense_dropout', 0.0, 1.0, closed_low=True)
  _check_batches_split_over_devices(config)
