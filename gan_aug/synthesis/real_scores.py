"""The family's scorer applied to real images: each split's scores and predicted
classes, and their summary beside the filter's threshold (what the filter would
do to real data)."""

from typing import Dict, Tuple

import numpy as np

from gan_aug.data import Dataset
from gan_aug.runtime import sharding

_QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


def summarise(realness: np.ndarray, agree: np.ndarray, threshold: float) -> Dict:
  """The scores of one split beside the threshold: quantiles, the share at or
  above it, the share whose predicted class agrees, the share that would pass."""
  if not len(realness):
    return {'count': 0}
  passed = realness >= threshold
  return {
      'count': int(len(realness)),
      'realness_mean': float(np.mean(realness)),
      'realness_quantiles': {f'{q:g}': float(v) for q, v in
                             zip(_QUANTILES, np.quantile(realness, _QUANTILES))},
      'fraction_realness_at_least_threshold': float(np.mean(passed)),
      'fraction_class_agrees': float(np.mean(agree)),
      'fraction_would_pass_filter': float(np.mean(passed & agree)),
  }


def score_real_splits(scorer, state, dataset: Dataset,
                      batch_size: int) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
  """The scorer's (score, predicted class) for the real images of every split."""
  raw = {}
  for name, split in dataset.splits.items():
    realness, class_probs = sharding.map_in_batches(
        lambda images, labels: scorer(state, images, labels),
        (split.images, split.labels.astype(np.int32)), batch_size)
    # Without a class head D "predicts" the class it was asked about.
    predicted = (split.labels if class_probs is None
                 else np.argmax(class_probs, -1))
    raw[name] = (realness, predicted)
  return raw
