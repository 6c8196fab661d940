"""Real vs real + synthetic: train the classifier arms, test them on held-out real images.

`real` trains on the real training split, `augmented` on it plus the accepted
synthetic set; both are selected on the same real validation split and tested on
the real test split (synthetic images never enter validation or test). Real and
synthetic images pass through the same resize to the classifier's resolution.
GAN-test accuracy is the `real` classifier's accuracy on the accepted fakes'
requested classes (Shmelkov et al. 2018).
"""

import csv
import os
import time
from typing import Dict, Optional, Tuple

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import Mesh

from gan_aug import atomic_files
from gan_aug.data import Dataset
from gan_aug.data import images as images_lib
from gan_aug.metrics import classification
from gan_aug.models import classifiers
from gan_aug.models import transfer
from gan_aug.train import classifier as classifier_lib
from gan_aug.train import sharding

ARMS = ('real', 'augmented')


def prepare(images: np.ndarray, resolution: int) -> np.ndarray:
  """Real or synthetic uint8 images at the classifier's resolution (one resize for both)."""
  return images_lib.resize_batch(images, resolution)


def initial_weights(cfg: ml_collections.ConfigDict, model, name: str, seed: int,
                     image_shape) -> Tuple[Optional[Dict], Optional[Dict], Dict]:
  """(variables, trainable mask, description) for a transfer model; Nones otherwise."""
  if not isinstance(model, transfer.TransferClassifier):
    return None, None, {'pretrained': None, 'frozen_backbone': False,
                        'note': 'trained from scratch'}
  path = transfer.weights_path(cfg, model.backbone)
  if not path:
    note = ('no pretrained weights given (classifier.pretrained_dir is empty): the '
            'whole network, backbone included, trained end to end from a random '
            'initialisation')
    logging.warning('Classifier %s: %s.', name, note)
    return None, None, {'pretrained': None, 'frozen_backbone': False, 'note': note}
  variables = classifier_lib.initial_variables(model, seed, image_shape)
  variables, info = transfer.load_pretrained(jax.device_get(variables), path)
  frozen = model.frozen
  note = (f'ImageNet weights from {path} ({info["loaded"]} arrays loaded); '
          + ('backbone frozen, the new layers trained' if frozen
             else 'fine-tuned end to end'))
  logging.info('Classifier %s: %s.', name, note)
  return (variables, info['trainable'] if frozen else None,
          {'pretrained': path, 'frozen_backbone': frozen, 'note': note,
           'loaded_arrays': info['loaded'], 'kept_initial': info['kept_initial']})


def compare(config: ml_collections.ConfigDict, dataset: Dataset,
            synthetic_images: np.ndarray, synthetic_labels: np.ndarray,
            stage_dir: str, mesh: Optional[Mesh] = None, model_name: str = '') -> Dict:
  """Trains both arms of one classifier (default `config.classifier.name`),
  evaluates them; writes test predictions; returns the results."""
  mesh = mesh if mesh is not None else sharding.make_mesh()
  cfg = config.classifier
  model_name = model_name or cfg.name
  resolution = cfg.resolution
  train, val, test = (dataset.splits[s] for s in ('train', 'val', 'test'))
  for name, size in (('batch_size', cfg.batch_size),
                     ('eval_batch_size', cfg.eval_batch_size)):
    sharding.check_divisible(size, mesh, f'classifier.{name}')
  real_x = prepare(train.images, resolution)
  synth_x = prepare(synthetic_images, resolution)
  synth_y = np.asarray(synthetic_labels, np.int32)
  arms = {
      'real': (real_x, train.labels),
      'augmented': (np.concatenate([real_x, synth_x]),
                    np.concatenate([train.labels, synth_y])),
  }
  val_xy = (prepare(val.images, resolution), val.labels)
  steps_per_epoch = cfg.steps_per_epoch or len(train) // cfg.batch_size
  logging.info('Classifier %s at %dx%d: real %d images, augmented %d (+%d '
               'synthetic); %d steps per epoch for both arms; val %d, test %d.',
               model_name, resolution, resolution, len(real_x), len(arms['augmented'][0]),
               len(synth_x), steps_per_epoch, len(val), len(test))
  model = classifiers.build_classifier(cfg, dataset.num_classes, model_name)
  variables, trainable, weights = initial_weights(cfg, model, model_name, config.seed,
                                                   real_x.shape[1:])
  start = time.perf_counter()
  trained = classifier_lib.train_arms(cfg, model, arms, val_xy, steps_per_epoch,
                                      config.seed, mesh, variables, trainable,
                                      checkpoint_dir=os.path.join(stage_dir,
                                                                  'checkpoints'))
  train_seconds = time.perf_counter() - start

  predict = classifier_lib.make_predict(model, mesh)
  test_x = prepare(test.images, resolution)
  results, test_probs = {}, {}
  for arm in ARMS:
    run = trained[arm]
    probs = classifier_lib.predict_probs(predict, run['params'], run['batch_stats'],
                                         test_x, cfg.eval_batch_size)
    test_probs[arm] = probs
    results[arm] = {
        'test': classification.classification_metrics(
            test.labels, np.argmax(probs, -1), dataset.class_names),
        'train_images': run['num_train_images'],
        'val_images': run['num_val_images'],
        'steps': run['steps'], 'epochs': run['epochs'],
        'best_step': run['best_step'], 'best_val_loss': run['best_val_loss'],
        'history': run['history'],
    }
    logging.info('Classifier %s %-9s test accuracy %.4f  macro-F1 %.4f  (%d test '
                 'images; best val loss at step %d of %d)', model_name, arm,
                 results[arm]['test']['accuracy'], results[arm]['test']['macro_f1'],
                 len(test), run['best_step'], run['steps'])

  gan_test = None
  if len(synth_x):
    real = trained['real']
    fake_pred = np.argmax(classifier_lib.predict_probs(
        predict, real['params'], real['batch_stats'], synth_x, cfg.eval_batch_size), -1)
    gan_test = float(np.mean(fake_pred == synth_y))
    logging.info('GAN-test: the real-data classifier assigns %.3f of the %d '
                 'accepted fakes to their requested class.', gan_test, len(synth_y))

  predictions_path = os.path.join(stage_dir, 'test_predictions.csv')
  write_predictions(predictions_path, test.sources, test.labels, test_probs,
                    dataset.class_names)
  return {'model': model_name, 'arms': results, 'gan_test_accuracy': gan_test,
          'train_seconds': train_seconds, 'resolution': resolution,
          'weights': weights, 'predictions_file': predictions_path}


def write_predictions(path: str, sources, labels, probs_by_arm: Dict[str, np.ndarray],
                      class_names) -> None:
  """One row per test image: source, true class, and each arm's prediction and probs."""
  with atomic_files.replacing(path, newline='') as f:
    writer = csv.writer(f)
    header = ['source', 'true_class']
    for arm in probs_by_arm:
      header += [f'{arm}_predicted'] + [f'{arm}_p_{c}' for c in class_names]
    writer.writerow(header)
    for i, (source, label) in enumerate(zip(sources, labels)):
      row = [source, class_names[int(label)]]
      for probs in probs_by_arm.values():
        row += [class_names[int(np.argmax(probs[i]))]] + [f'{p:.6f}' for p in probs[i]]
      writer.writerow(row)
