"""Uncertainty over seeds and over test images: Student-t intervals and McNemar's test.

A comparison of arms over a few seeds is reported as the mean, the half-width of
the 95 % Student-t interval (`ci95`) and the per-seed values; a comparison of two
arms trained with the same seeds uses the per-seed differences (paired), which
removes the seed-to-seed variation both arms share.
"""

from typing import Dict, Sequence

import numpy as np
from scipy import stats


def mean_ci95(values: Sequence[float]) -> Dict:
  """{mean, std, ci95, values}: std is the sample standard deviation, ci95 =
  t(0.975, n-1) x std / sqrt(n); both None for n < 2."""
  values = [float(v) for v in values]
  n = len(values)
  if not n:
    raise ValueError('mean_ci95 needs at least one value.')
  std = half = None
  if n > 1:
    std = float(np.std(values, ddof=1))
    half = float(stats.t.ppf(0.975, n - 1) * std / np.sqrt(n))
  return {'mean': float(np.mean(values)), 'std': std, 'ci95': half, 'values': values}


def paired_difference(a: Sequence[float], b: Sequence[float]) -> Dict:
  """{mean, std, ci95, values} of a - b over the same seeds."""
  if len(a) != len(b):
    raise ValueError(f'Paired values need equal lengths, got {len(a)} and {len(b)}.')
  return mean_ci95([x - y for x, y in zip(a, b)])


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> Dict:
  """McNemar's exact test of two classifiers on the same test images.

  Only the discordant images count: `a_only` right by A alone, `b_only` by B
  alone; p is the two-sided binomial probability of a split at least this
  uneven if both were equally good.
  """
  a = np.asarray(correct_a, bool)
  b = np.asarray(correct_b, bool)
  if a.shape != b.shape:
    raise ValueError(f'Shapes differ: {a.shape} and {b.shape}.')
  a_only, b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
  discordant = a_only + b_only
  p = 1.0 if not discordant else float(
      stats.binomtest(a_only, discordant, 0.5).pvalue)
  return {'a_only': a_only, 'b_only': b_only, 'p_value': p}
