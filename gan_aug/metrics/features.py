"""The generative metrics of one synthetic set, on feature vectors.

The feature vectors come from elsewhere: a classifier's penultimate layer
(`gan_aug.classifier.inference.penultimate`) or the FID Inception
(`gan_aug.synthesis.inception_features`).

`synthetic_set_report` compares accepted fakes with real held-out images in that
space - FID, KID (mean and std over subsets), precision/recall and
density/coverage, overall and per class - and checks memorisation: each fake's
distance to its nearest real training image beside real held-out images'
distances to theirs.
"""

from typing import Dict, Sequence

import numpy as np

from gan_aug.metrics import generative

# Fewer images than this in a set (per class) and only KID and the nearest-
# neighbour numbers are reported: FID's covariance and k-NN radii mean little.
MIN_IMAGES_FOR_FID = 20


def set_metrics(real: np.ndarray, fake: np.ndarray, seed: int) -> Dict:
  """KID (+ std) of fakes against real features, and FID, precision/recall and
  density/coverage where both sets hold >= MIN_IMAGES_FOR_FID."""
  kid = generative.kernel_inception_distance(real, fake, num_subsets=100,
                                             subset_size=1000, seed=seed)
  out = {'real_images': len(real), 'fake_images': len(fake),
         'kid': kid['mean'], 'kid_std': kid['std'], 'kid_subset_size': kid['subset_size']}
  if min(len(real), len(fake)) >= MIN_IMAGES_FOR_FID:
    out['fid'] = generative.frechet_distance(real, fake)
    out.update(generative.precision_recall(real, fake, k=3))
    out.update(generative.density_coverage(real, fake, k=5))
  return out


def synthetic_set_report(train_features: np.ndarray, train_labels: np.ndarray,
                         heldout_features: np.ndarray, heldout_labels: np.ndarray,
                         fake_features: np.ndarray, fake_labels: np.ndarray,
                         class_names: Sequence[str], seed: int = 0) -> Dict:
  """Generative quality and memorisation of one accepted synthetic set.

  `overall` and `per_class.<name>`: KID (+ std), and FID, precision/recall and
  density/coverage where both sets hold >= MIN_IMAGES_FOR_FID images, fakes
  against real held-out images. `memorisation`: `generative.memorisation_summary` of fake-to-nearest-
  training distances against held-out-to-nearest-training distances (threshold:
  their 1 % quantile), plus the indices of the closest fake/training pairs.
  """
  if len(fake_features) < 2:
    return {'skipped': f'{len(fake_features)} accepted synthetic image(s): too few '
                       'to compare.'}
  report = {'feature_dim': int(train_features.shape[1]),
            'overall': set_metrics(heldout_features, fake_features, seed),
            'per_class': {}}
  for label, name in enumerate(class_names):
    real = heldout_features[heldout_labels == label]
    fake = fake_features[fake_labels == label]
    if min(len(real), len(fake)) >= 2:
      report['per_class'][name] = set_metrics(real, fake, seed)
  fake_to_real, nearest = generative.nearest_real_distances(fake_features,
                                                            train_features)
  real_to_real = generative.real_to_real_nearest(train_features, heldout_features,
                                                 same_set=False)
  closest = np.argsort(fake_to_real)[:8]
  report['memorisation'] = {
      **generative.memorisation_summary(fake_to_real, real_to_real, quantile=0.01),
      'closest_pairs': [{'fake_index': int(i), 'train_index': int(nearest[i]),
                         'distance': float(fake_to_real[i]),
                         'same_class': bool(fake_labels[i] ==
                                            train_labels[nearest[i]])}
                        for i in closest]}
  return report
