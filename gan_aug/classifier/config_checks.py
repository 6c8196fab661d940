"""The checks of config.classifier: every named classifier and the training fields.

Run by `gan_aug.pipeline.config_validation` before any work starts.
"""

import os

import ml_collections

from gan_aug.classifier import optimizer as classifier_optimizer
from gan_aug.core import checks
from gan_aug.models import backbones
from gan_aug.models import conv_layers
from gan_aug.models import transfer
from gan_aug.models.classifiers import CLASSIFIERS


def validate(clf: ml_collections.ConfigDict) -> None:
  """Raises ConfigError (UnknownComponentError for a name) for a bad
  config.classifier: every named classifier, and the training fields."""
  p = 'classifier'
  names = [clf.name] + list(clf.get('other_models', ()))
  for name in names:
    CLASSIFIERS.get(name, 'config.classifier.name/other_models')
  checks.int_at_least(clf, p, 'resolution',
                      max(CLASSIFIERS.get(name).min_resolution for name in names))
  checks.check(clf.get('conv_impl', 'auto') in ('auto',) + conv_layers.CONV_IMPLS,
               'classifier.conv_impl', clf.get('conv_impl'),
               f'one of {("auto",) + conv_layers.CONV_IMPLS}')
  checks.check(clf.get('class_weighting', 'none') in classifier_optimizer.CLASS_WEIGHTINGS,
               'classifier.class_weighting', clf.get('class_weighting'),
               f'one of {classifier_optimizer.CLASS_WEIGHTINGS}')
  checks.check(clf.get('lr_schedule', 'constant') in classifier_optimizer.LR_SCHEDULES,
               'classifier.lr_schedule', clf.get('lr_schedule'),
               f'one of {classifier_optimizer.LR_SCHEDULES}')
  if 'optimizer' in clf:
    checks.one_of(clf, p, 'optimizer', classifier_optimizer.OPTIMIZERS)
    checks.number_in(clf, p, 'momentum', 0.0, 1.0, closed_low=True)
  if clf.get('pretrained_dir'):
    for name in names:
      if name in backbones.BACKBONES:
        path = transfer.weights_path(clf, name)
        checks.check(os.path.exists(path), 'classifier.pretrained_dir',
                     clf.pretrained_dir,
                     f'a folder holding {name}.msgpack (missing: {path}); write it '
                     'with scripts/convert_torchvision.py')
  for name in ('batch_size', 'eval_batch_size', 'max_epochs', 'patience'):
    checks.int_at_least(clf, p, name, 1)
  checks.int_at_least(clf, p, 'steps_per_epoch', 0)
  if 'checkpoint_every_seconds' in clf:
    checks.number_in(clf, p, 'checkpoint_every_seconds', 0.0, 1e9, closed_low=True)
  checks.number_in(clf, p, 'learning_rate', 0.0, 1.0)
  checks.number_in(clf, p, 'conv_dropout', 0.0, 1.0, closed_low=True)
  checks.number_in(clf, p, 'dense_dropout', 0.0, 1.0, closed_low=True)
