"""Classifier agreement, a filter for any generator: a fake is kept when an
independent classifier assigns it the class it was generated for (and, with
`synthesis.classifier_filter_confidence` above 0, gives that class at least that
probability).

The filter's classifier is config.classifier's model trained from its random
initialisation on the real **training** split only, for
`synthesis.classifier_filter_epochs` epochs, without validation or early
stopping: stopping on the validation split would make validation part of the
filter, and so of every arm it feeds. It trains in a stage of its own
(`filter_classifier`, keyed by the training split's fingerprint, the number
of classes, the classifier's fields, the epochs and the seed; one per fraction
and seed, shared by every generator and any confidence), which is handed the
training split alone: the validation and test splits never reach it, and its
stage.json and done.json record the images it was given.

Circularity: the filter learns from the same real images the arms train on, so
it keeps the fakes that already look like what a classifier learns from those
images; fakes that would teach the arms something new are the ones it tends to
drop. Its accepted set is a function of the real training images twice over
(through the generator and through the filter); the report says so when it runs.
"""

import os
from typing import Callable, Dict, Tuple

import ml_collections
import numpy as np
from absl import logging

from gan_aug.classifier import inference as classifier_inference
from gan_aug.classifier import training as classifier_lib
from gan_aug.core.fingerprints import fingerprint
from gan_aug.data import images as images_lib
from gan_aug.data.dataset import Split
from gan_aug.models import classifiers
from gan_aug.runtime import sharding

WEIGHTS_FILE = 'filter_classifier.msgpack'
ARM = 'filter'  # The one arm the stage trains.

# config.classifier fields the filter's classifier does not use, and the values
# it trains with: from its random initialisation (no pretrained weights, so no
# frozen backbone).
UNUSED_CLASSIFIER_FIELDS = {'pretrained_dir': '', 'freeze_backbone': False}


def filter_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """config.classifier as the filter trains it: from its random initialisation
  (no pretrained weights, nothing frozen), `classifier_filter_epochs` epochs
  (without a validation split, `train_arms` never stops early)."""
  cfg = ml_collections.ConfigDict(config.classifier.to_dict())
  cfg.max_epochs = int(config.synthesis.classifier_filter_epochs)
  for name, value in UNUSED_CLASSIFIER_FIELDS.items():
    if name in cfg:
      setattr(cfg, name, value)
  return cfg


def train_fingerprint(train: Split) -> str:
  """Hash of the training split alone: its pixel digests, labels and shape."""
  return fingerprint({'digests': train.digests, 'labels': train.labels.tolist(),
                      'shape': list(train.images.shape)})


def describe(summary: Dict) -> str:
  """The filter in words, for report.md and logs, from its `summary` (the
  stage's, with the run's `confidence`)."""
  confidence = summary['confidence']
  return (f'classifier agreement ({summary["model"]} at {summary["resolution"]} px, '
          f'trained on the {summary["inputs"]["train"]["images"]} real training '
          f'images only, {summary["epochs"]} epochs, no early stopping): keep a '
          'fake its prediction assigns to the requested class'
          + (f' with probability >= {confidence:g}' if confidence > 0 else ''))


def train_stage(config: ml_collections.ConfigDict, train: Split, num_classes: int,
                stage_dir: str) -> Dict:
  """Trains the filter's classifier on `train` (the real training split: the only
  images this function is given) in `stage_dir`; writes its weights there and
  returns the stage summary. A rerun continues from its last saved epoch."""
  cfg = filter_config(config)
  mesh = sharding.make_mesh()
  model = classifiers.build_classifier(cfg, num_classes)
  images = images_lib.resize_batch(train.images, cfg.resolution)
  labels = np.asarray(train.labels, np.int32)
  steps_per_epoch = cfg.steps_per_epoch or len(labels) // cfg.batch_size
  logging.info('Filter classifier %s at %d px: %d real training images, %d epochs '
               'of %d steps, no validation.', cfg.name, cfg.resolution, len(labels),
               cfg.max_epochs, steps_per_epoch)
  run = classifier_lib.train_arms(
      cfg, model, {ARM: (images, labels)}, None, steps_per_epoch, config.seed, mesh,
      checkpoint_dir=os.path.join(stage_dir, 'checkpoints'), scalars_dir=stage_dir,
      data_cfg=config.data)[ARM]
  path = os.path.join(stage_dir, WEIGHTS_FILE)
  classifier_inference.save_weights(path, run)
  last = run['history'][-1]
  return {
      'model': cfg.name, 'resolution': int(cfg.resolution), 'epochs': run['epochs'],
      'steps': run['steps'], 'seed': int(config.seed), 'num_classes': num_classes,
      'inputs': {'train': {'images': int(len(labels)),
                           'fingerprint': train_fingerprint(train)}},
      'final_train_loss': last['train_loss'],
      'final_train_accuracy': last['train_accuracy'],
      'weights_file': path,
  }


def load_weights(stage_dir: str) -> Dict:
  """{'params', 'batch_stats'} that `train_stage` wrote in `stage_dir`."""
  return classifier_inference.load_weights(os.path.join(stage_dir, WEIGHTS_FILE))


def make_agreement(config: ml_collections.ConfigDict, num_classes: int,
                   weights: Dict) -> Callable[[np.ndarray, int],
                                              Tuple[np.ndarray, np.ndarray]]:
  """`(images_u8, label) -> (keep, probability of label)` for a batch of fakes of
  class `label`: keep where the classifier's most probable class is `label`
  and its probability is at least the configured confidence. The images pass
  through the same resize as the arms' images."""
  cfg = filter_config(config)
  confidence = float(config.synthesis.classifier_filter_confidence)
  predict = classifier_inference.make_predict(
      classifiers.build_classifier(cfg, num_classes), sharding.make_mesh())

  def agree(images_u8: np.ndarray, label: int) -> Tuple[np.ndarray, np.ndarray]:
    probs = classifier_inference.predict_probs(
        predict, weights['params'], weights['batch_stats'],
        images_lib.resize_batch(np.asarray(images_u8), cfg.resolution),
        cfg.eval_batch_size)
    return keep_mask(probs, label, confidence), probs[:, label]

  return agree


def keep_mask(probs: np.ndarray, label: int, confidence: float) -> np.ndarray:
  """True where `label` is the most probable class and its probability >=
  `confidence`."""
  probs = np.asarray(probs)
  return (np.argmax(probs, -1) == label) & (probs[:, label] >= confidence)
