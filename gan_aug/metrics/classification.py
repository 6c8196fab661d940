"""Classification metrics on a labelled test set, computed with scikit-learn.

Every class of the data set is reported, also one that is never predicted (its
precision is then 0, as scikit-learn's `zero_division=0`), so tables of runs line up.
"""

from typing import Dict, Sequence

import numpy as np
from sklearn import metrics as sk_metrics


def classification_metrics(labels: Sequence[int], predictions: Sequence[int],
                           class_names: Sequence[str]) -> Dict:
  """Accuracy, macro precision/recall/F1, per-class scores and the confusion matrix.

  The confusion matrix has rows = true class, columns = predicted class, in the
  order of `class_names`.
  """
  labels = np.asarray(labels, np.int64)
  predictions = np.asarray(predictions, np.int64)
  if labels.shape != predictions.shape or labels.ndim != 1 or not len(labels):
    raise ValueError('labels and predictions must be equal-length, non-empty 1-D '
                     f'sequences (got shapes {labels.shape} and {predictions.shape}).')
  classes = list(range(len(class_names)))
  precision, recall, f1, support = sk_metrics.precision_recall_fscore_support(
      labels, predictions, labels=classes, zero_division=0)
  return {
      'num_examples': int(len(labels)),
      'accuracy': float(sk_metrics.accuracy_score(labels, predictions)),
      'macro_f1': float(np.mean(f1)),
      'precision_macro': float(np.mean(precision)),
      'recall_macro': float(np.mean(recall)),
      'per_class': {
          name: {'precision': float(precision[c]), 'recall': float(recall[c]),
                 'f1': float(f1[c]), 'support': int(support[c])}
          for c, name in enumerate(class_names)},
      'confusion_matrix': sk_metrics.confusion_matrix(
          labels, predictions, labels=classes).tolist(),
  }
