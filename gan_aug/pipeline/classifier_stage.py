"""One classifier's arms on one training subset: trained, then tested on real images.

The arms of one stage (see `gan_aug.protocol.arms`) train the same model from the
same initial weights under the same budget rule, each with its own early stopping
on the real validation split, and are tested on every real test image
(synthetic images never enter validation or test). Real and synthetic images
pass through the same resize to the classifier's resolution. GAN-test is the
`real` arm's accuracy on the accepted fakes' requested classes (Shmelkov et al.
2018); for the primary classifier the accepted set's quality is measured too
(`gan_aug.synthesis.quality`).
"""

import csv
import os
import time
from typing import Dict, List, Optional, Sequence, Tuple

import jax
import ml_collections
import numpy as np
from absl import logging

from gan_aug.classifier import inference as classifier_inference
from gan_aug.classifier import training as classifier_lib
from gan_aug.core import atomic_files
from gan_aug.data import Dataset
from gan_aug.data import images as images_lib
from gan_aug.metrics import classification
from gan_aug.models import classifiers
from gan_aug.models import transfer
from gan_aug.protocol import arms as arms_lib
from gan_aug.runtime import sharding
from gan_aug.synthesis import quality


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


def _lockstep_groups(arm_names: List[str]) -> List[Tuple[Optional[str], List[str]]]:
  """Arms that see the images as they are train together; each arm with an image
  transform trains on its own (its validation images differ). (transform arm or
  None, arms)."""
  plain = [a for a in arm_names if arms_lib.ARMS.get(a).image_transform is None]
  groups = [(None, plain)] if plain else []
  return groups + [(a, [a]) for a in arm_names if a not in plain]


REAL_ARM_FILE = 'real_arm.msgpack'


def save_real_arm(stage_dir: str, run: Dict) -> None:
  """The `real` arm's best weights, for stages that measure fakes with it."""
  classifier_inference.save_weights(os.path.join(stage_dir, REAL_ARM_FILE), run)


def load_real_arm(stage_dir: str) -> Dict:
  """{'params', 'batch_stats'} that `save_real_arm` wrote in `stage_dir`."""
  return classifier_inference.load_weights(os.path.join(stage_dir, REAL_ARM_FILE))


def train_and_test_arms(config: ml_collections.ConfigDict, dataset: Dataset,
                        synthetic: Tuple[np.ndarray, np.ndarray], stage_dir: str,
                        model_name: str, measure_quality: bool,
                        arms: Sequence[str], real_arm: Optional[Dict] = None) -> Dict:
  """Trains and tests the registered arms `arms` with classifier `model_name`;
  writes test_predictions.csv in `stage_dir` (and the `real` arm's weights when
  it trains here); returns the results. GAN-test and the quality of the
  synthetic set use the `real` arm trained here or `real_arm` (trained in
  another stage: {'params', 'batch_stats'})."""
  cfg, protocol = config.classifier, config.protocol
  mesh = sharding.make_mesh()
  resolution = cfg.resolution
  train, val, test = (dataset.splits[s] for s in ('train', 'val', 'test'))
  real = (prepare(train.images, resolution), np.asarray(train.labels, np.int32))
  synth = (prepare(synthetic[0], resolution), np.asarray(synthetic[1], np.int32))
  arm_names = list(arms)
  if arms_lib.needs_synthesis(arm_names) and not len(synth[0]):
    logging.warning('No synthetic image was accepted: the arms that add synthetic '
                    'images train on the real images alone, and those that train '
                    'on synthetic images alone cannot run.')
  training_sets = {a: arms_lib.ARMS.get(a).training_set(real, synth) for a in arm_names}
  pretraining_sets = {a: arms_lib.ARMS.get(a).pretraining_set(real, synth)
                      for a in arm_names if arms_lib.ARMS.get(a).pretraining_set}
  # An arm needs a batch of images in each of its training sets.
  skipped = [a for a in arm_names
             if min(len(x) for x, _ in [training_sets[a]] + (
                 [pretraining_sets[a]] if a in pretraining_sets else []))
             < cfg.batch_size]
  if skipped:
    logging.warning('Arms %s skipped: fewer training images than one batch of %d.',
                    skipped, cfg.batch_size)
  arm_names = [a for a in arm_names if a not in skipped]
  augmenters, by_factory = {}, {}
  for name in arm_names:
    factory = arms_lib.ARMS.get(name).augment
    if factory is not None:
      # One function per factory: arms sharing it share one compiled train step.
      augmenters[name] = by_factory.setdefault(factory, factory(protocol))
  steps_per_epoch = cfg.steps_per_epoch or len(train) // cfg.batch_size
  logging.info('Classifier %s at %d px, arms %s: %d real training images, %d '
               'synthetic; %d steps per epoch for every arm; val %d, test %d.',
               model_name, resolution, arm_names, len(real[0]), len(synth[0]),
               steps_per_epoch, len(val), len(test))
  model = classifiers.build_classifier(cfg, dataset.num_classes, model_name)
  variables, trainable, weights = initial_weights(cfg, model, model_name, config.seed,
                                                  real[0].shape[1:])
  predict = classifier_inference.make_predict(model, mesh)
  val_x, test_x = prepare(val.images, resolution), prepare(test.images, resolution)
  start = time.perf_counter()
  results, test_probs, trained = {}, {}, {}
  for transform_arm, group in _lockstep_groups(arm_names):
    transform = (lambda images: images) if transform_arm is None else (
        lambda images, a=transform_arm: arms_lib.ARMS.get(a).image_transform(
            images, protocol))
    runs = classifier_lib.train_arms(
        cfg, model, {a: (transform(training_sets[a][0]), training_sets[a][1])
                     for a in group},
        (transform(val_x), val.labels), steps_per_epoch, config.seed, mesh,
        variables, trainable,
        checkpoint_dir=os.path.join(stage_dir, 'checkpoints' + (
            f'_{transform_arm}' if transform_arm else '')),
        augment={a: augmenters[a] for a in group if a in augmenters},
        scalars_dir=stage_dir, predict=predict,
        pretrain={a: pretraining_sets[a] for a in group if a in pretraining_sets},
        pretrain_epochs=protocol.gan_pretrain_epochs, data_cfg=config.data)
    for arm, run in runs.items():
      probs = classifier_inference.predict_probs(predict, run['params'], run['batch_stats'],
                                           transform(test_x), cfg.eval_batch_size)
      test_probs[arm], trained[arm] = probs, run
      # For choosing settings without the test split.
      val_probs = classifier_inference.predict_probs(
          predict, run['params'], run['batch_stats'], transform(val_x),
          cfg.eval_batch_size)
      results[arm] = {
          'test': classification.classification_metrics(
              test.labels, np.argmax(probs, -1), dataset.class_names, probs),
          'validation': classification.classification_metrics(
              val.labels, np.argmax(val_probs, -1), dataset.class_names, val_probs),
          'test_correct': (np.argmax(probs, -1) == test.labels).astype(int).tolist(),
          'train_images': run['num_train_images'], 'val_images': run['num_val_images'],
          'steps': run['steps'], 'epochs': run['epochs'], 'best_step': run['best_step'],
          'best_val_loss': run['best_val_loss'], 'history': run['history'],
          **{k: run[k] for k in ('epochs_since_best', 'stopped_early',
                                 'pretrain_epochs', 'pretrain_steps',
                                 'num_pretrain_images') if k in run},
      }
      logging.info('Classifier %s arm %-14s test accuracy %.4f  macro-F1 %.4f (best '
                   'validation loss at step %d of %d)', model_name, arm,
                   results[arm]['test']['accuracy'], results[arm]['test']['macro_f1'],
                   run['best_step'], run['steps'])
  train_seconds = time.perf_counter() - start
  predictions_path = os.path.join(stage_dir, 'test_predictions.csv')
  write_predictions(predictions_path, test.sources, test.labels, test_probs,
                    dataset.class_names)
  result = {'model': model_name, 'resolution': resolution, 'weights': weights,
            'arms': results, 'arms_skipped': skipped, 'train_seconds': train_seconds,
            'predictions_file': predictions_path, 'gan_test_accuracy': None,
            'majority_class_rate': float(np.bincount(test.labels).max() / len(test)),
            'real_images': int(len(real[0])), 'synthetic_images': int(len(synth[0]))}
  if 'real' in trained:
    save_real_arm(stage_dir, trained['real'])
  real_run = trained.get('real', real_arm)
  if len(synth[0]) and real_run is not None:
    fake_probs = classifier_inference.predict_probs(
        predict, real_run['params'], real_run['batch_stats'], synth[0],
        cfg.eval_batch_size)
    result['gan_test_accuracy'] = float(np.mean(np.argmax(fake_probs, -1) == synth[1]))
    logging.info('GAN-test: the real arm\'s %s assigns %.3f of the %d accepted fakes '
                 'to their requested class.', model_name, result['gan_test_accuracy'],
                 len(synth[1]))
    if measure_quality:
      result['synthetic_quality'] = quality.in_classifier_space(
          model, mesh, real_run, cfg.eval_batch_size, real, (test_x, test.labels),
          synth, dataset.class_names, stage_dir, config.seed,
          validation=(val_x, val.labels))
      if protocol.inception_weights:
        result['synthetic_quality_inception'] = quality.in_inception_space(
            protocol, (train.images, real[1]), (test.images, test.labels),
            (synthetic[0], synth[1]), dataset.class_names, config.seed)
  return result


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
