"""Classification metrics checked against scikit-learn and by hand on fixed predictions."""

import numpy as np
import pytest
from sklearn import metrics as sk

from gan_aug.metrics.classification import classification_metrics

NAMES = ['covid', 'normal', 'viral', 'never_seen']


def test_metrics_match_scikit_learn_on_fixed_predictions():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 3, 200)
  predictions = np.where(rng.random(200) < 0.7, labels, rng.integers(0, 3, 200))
  predictions[predictions == 2] = np.where(rng.random((predictions == 2).sum()) < 0.5,
                                           2, 0)
  m = classification_metrics(labels, predictions, NAMES)
  classes = [0, 1, 2, 3]
  assert m['accuracy'] == pytest.approx(sk.accuracy_score(labels, predictions))
  for ours, average in (('macro_f1', sk.f1_score), ('precision_macro', sk.precision_score),
                        ('recall_macro', sk.recall_score)):
    assert m[ours] == pytest.approx(average(labels, predictions, labels=classes,
                                            average='macro', zero_division=0))
  for ours, average in (('weighted_f1', sk.f1_score),
                        ('precision_weighted', sk.precision_score),
                        ('recall_weighted', sk.recall_score)):
    assert m[ours] == pytest.approx(average(labels, predictions, labels=classes,
                                            average='weighted', zero_division=0))
  report = sk.classification_report(labels, predictions, labels=classes,
                                    target_names=NAMES, output_dict=True,
                                    zero_division=0)
  for name in NAMES:
    for key in ('precision', 'recall', 'f1'):
      assert m['per_class'][name][key] == pytest.approx(
          report[name]['f1-score' if key == 'f1' else key])
    assert m['per_class'][name]['support'] == report[name]['support']
  np.testing.assert_array_equal(m['confusion_matrix'],
                                sk.confusion_matrix(labels, predictions, labels=classes))


def test_metrics_by_hand_rows_are_true_classes():
  labels = [0, 0, 0, 1, 1, 2]
  predictions = [0, 1, 1, 1, 1, 1]
  m = classification_metrics(labels, predictions, ['a', 'b', 'c'])
  assert m['confusion_matrix'] == [[1, 2, 0], [0, 2, 0], [0, 1, 0]]
  assert m['accuracy'] == pytest.approx(3 / 6)
  assert m['per_class']['a'] == {'precision': 1.0, 'recall': pytest.approx(1 / 3),
                                 'f1': pytest.approx(0.5), 'support': 3}
  assert m['per_class']['b']['precision'] == pytest.approx(2 / 5)
  assert m['per_class']['c'] == {'precision': 0.0, 'recall': 0.0, 'f1': 0.0,
                                 'support': 1}
  assert m['recall_macro'] == pytest.approx((1 / 3 + 1 + 0) / 3)
  assert m['macro_f1'] == pytest.approx((0.5 + 2 * 0.4 / 1.4 + 0) / 3)
  # Weighted by support 3, 2, 1.
  assert m['weighted_f1'] == pytest.approx((3 * 0.5 + 2 * 2 * 0.4 / 1.4 + 0) / 6)
  assert m['recall_weighted'] == pytest.approx(m['accuracy'])


def test_metrics_reject_mismatched_inputs():
  with pytest.raises(ValueError, match='equal-length'):
    classification_metrics([0, 1], [0], ['a', 'b'])
