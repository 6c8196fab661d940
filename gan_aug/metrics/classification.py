"""Classification metrics on a labelled test set, computed with scikit-learn.

Every class of the data set is reported, also one that is never predicted (its
precision is then 0, as scikit-learn's `zero_division=0`), so tables of runs line up.
"""

from typing import Dict, Optional, Sequence

import numpy as np
from sklearn import metrics as sk_metrics

HEADLINE = ('accuracy', 'macro_f1', 'auc', 'precision_macro', 'recall_macro',
            'weighted_f1', 'precision_weighted', 'recall_weighted')


def classification_metrics(labels: Sequence[int], predictions: Sequence[int],
                           class_names: Sequence[str],
                           probs: Optional[np.ndarray] = None) -> Dict:
  """Accuracy, macro and weighted (by support) precision/recall/F1, per-class scores and the confusion matrix;
  with the predicted class probabilities `probs` [N, 2] of a two-class problem
  whose labels hold both classes, also the ROC AUC of class 1.

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
  result = {
      'num_examples': int(len(labels)),
      'accuracy': float(sk_metrics.accuracy_score(labels, predictions)),
      'macro_f1': float(np.mean(f1)),
      'precision_macro': float(np.mean(precision)),
      'recall_macro': float(np.mean(recall)),
      'weighted_f1': float(np.average(f1, weights=support)),
      'precision_weighted': float(np.average(precision, weights=support)),
      'recall_weighted': float(np.average(recall, weights=support)),
      'per_class': {
          name: {'precision': float(precision[c]), 'recall': float(recall[c]),
                 'f1': float(f1[c]), 'support': int(support[c])}
          for c, name in enumerate(class_names)},
      'confusion_matrix': sk_metrics.confusion_matrix(
          labels, predictions, labels=classes).tolist(),
  }
  if probs is not None and len(class_names) == 2 and len(np.unique(labels)) == 2:
    result['auc'] = float(sk_metrics.roc_auc_score(labels, np.asarray(probs)[:, 1]))
  return result


def scalar_metrics(metrics: Dict) -> Dict[str, float]:
  """The numbers of `classification_metrics` that are averaged over seeds:
  the headline ones and `precision_<class>`, `recall_<class>`, `f1_<class>`."""
  out = {m: metrics[m] for m in HEADLINE if m in metrics}
  for score in ('precision', 'recall', 'f1'):
    out.update({f'{score}_{name}': c[score]
                for name, c in metrics['per_class'].items()})
  return out
