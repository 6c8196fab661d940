"""How good, and how new, an accepted synthetic set is, measured against real images.

KID (+ std over subsets), FID and precision/recall against the real test images,
overall and per class, and a memorisation check (`gan_aug.metrics.features`), in
the feature space of the `real` arm's classifier (its penultimate layer) and,
with converted weights, in the pool3 space of pytorch-fid's Inception-v3.
"""

import os
from typing import Dict, List

import ml_collections
import numpy as np
from absl import logging

from gan_aug.classifier import inference as classifier_inference
from gan_aug.core import image_grids
from gan_aug.metrics import features as features_lib
from gan_aug.synthesis import inception_features


def in_classifier_space(model, mesh, real_run: Dict, batch_size: int, train, heldout,
                        fakes, class_names: List[str], stage_dir: str,
                        seed: int, validation=None) -> Dict:
  """KID/FID/precision-recall and memorisation of the accepted fakes against the
  real test images (`heldout`), in the feature space of the `real` arm's
  classifier; a grid of the closest pairs. With `validation` (images, labels)
  the overall metrics against the real validation images too (`validation`),
  so that settings can be chosen without the test split."""
  extract = classifier_inference.make_features(model, mesh)
  sets = (train, heldout, fakes) + ((validation,) if validation is not None else ())
  feats = [classifier_inference.features_of(extract, real_run['params'],
                                      real_run['batch_stats'], images, batch_size)
           for images, _ in sets]
  quality = features_lib.synthetic_set_report(
      feats[0], np.asarray(train[1]), feats[1], np.asarray(heldout[1]), feats[2],
      np.asarray(fakes[1]), class_names, seed=seed)
  quality['feature_space'] = 'penultimate layer of the real arm\'s classifier'
  quality['heldout'] = 'real test images'
  if validation is not None and 'overall' in quality:  # Not for < 2 fakes.
    quality['validation'] = features_lib.set_metrics(feats[3], feats[2], seed)
  pairs = quality.get('memorisation', {}).get('closest_pairs', [])
  if pairs:
    path = os.path.join(stage_dir, 'closest_pairs.png')
    image_grids.class_grid(
        [fakes[0][[p['fake_index'] for p in pairs]],
         train[0][[p['train_index'] for p in pairs]]],
        ['synthetic', 'nearest real'],
        'Accepted fakes closest to a real training image (feature space), and that '
        'image', path)
    quality['closest_pairs_grid'] = path
  logging.info('Synthetic set: KID %.4g +- %.2g against %d real test images; %.1f %% '
               'of fakes closer to a training image than 99 %% of real test images '
               'are.', quality.get('overall', {}).get('kid', float('nan')),
               quality.get('overall', {}).get('kid_std', float('nan')),
               len(heldout[0]),
               100 * quality.get('memorisation', {}).get('fraction_suspicious',
                                                         float('nan')))
  return quality


def in_inception_space(protocol: ml_collections.ConfigDict, train, heldout, fakes,
                         class_names: List[str], seed: int) -> Dict:
  """`features_lib.synthetic_set_report` of (images, labels) sets in the pool3
  space of pytorch-fid's Inception-v3 (weights: protocol.inception_weights)."""
  extract = inception_features.make_extractor(
      inception_features.load_inception(protocol.inception_weights),
      image_size=protocol.inception_image_size)
  logging.info('Inception features of %d training, %d held-out and %d synthetic '
               'images at %d px.', len(train[0]), len(heldout[0]), len(fakes[0]),
               protocol.inception_image_size)
  feats = [extract(images) for images, _ in (train, heldout, fakes)]
  quality = features_lib.synthetic_set_report(
      feats[0], np.asarray(train[1]), feats[1], np.asarray(heldout[1]), feats[2],
      np.asarray(fakes[1]), class_names, seed=seed)
  quality['feature_space'] = (f'pool3 of pytorch-fid\'s Inception-v3 at '
                              f'{protocol.inception_image_size} px')
  quality['heldout'] = 'real test images'
  return quality
