"""Generative-quality and memorisation metrics on feature vectors.

Every function takes [N, D] feature arrays from any extractor (an Inception
network, a classifier's penultimate layer, raw pixels) and works in float64:

- `frechet_distance` (FID, Heusel et al. 2017), computed as pytorch-fid does;
- `kernel_inception_distance` (KID, Binkowski et al. 2018), as torch-fidelity
  does: the unbiased MMD^2 with the kernel k(x, y) = (x.y / D + 1)^3, averaged
  over random subsets;
- `precision_recall` (Kynkaanniemi et al. 2019): k-NN manifold estimates;
- `density_coverage` (Naeem et al. 2020): the same balls around real points only,
  counted rather than unioned, so outlying real points weigh less;
- `nearest_real_distances`, `real_to_real_nearest` and `memorisation_summary`:
  how close generated samples lie to the training images, next to how close
  real images lie to each other.

Pairwise distances are computed in row chunks, so 5000 x 5000 sets need only a
few tens of MB at a time.
"""

import warnings
from typing import Dict, Optional, Tuple

import numpy as np
from scipy import linalg
from scipy.spatial.distance import cdist

# Rows of the query set per chunk of a pairwise-distance matrix; a chunk holds
# _CHUNK_ROWS x N float64 values (40 MB for N = 5000).
_CHUNK_ROWS = 1024

# Added to the covariance diagonals when sqrtm of their product is not finite.
_FID_EPS = 1e-6


def _as_features(x, name: str, min_rows: int = 2) -> np.ndarray:
  """`x` as a float64 [N, D] array with N >= min_rows and finite values."""
  x = np.asarray(x, dtype=np.float64)
  if x.ndim != 2:
    raise ValueError(f'{name} must be a 2-D [N, D] feature array (got shape '
                     f'{x.shape}).')
  if x.shape[0] < min_rows:
    raise ValueError(f'{name} needs at least {min_rows} rows (got {x.shape[0]}).')
  if x.shape[1] < 1:
    raise ValueError(f'{name} needs at least one feature column (got shape '
                     f'{x.shape}).')
  if not np.isfinite(x).all():
    raise ValueError(f'{name} contains NaN or infinite values.')
  return x


def _as_feature_pair(a, b, name_a: str, name_b: str,
                     min_rows: int = 2) -> Tuple[np.ndarray, np.ndarray]:
  """Both sets checked by `_as_features`, with the same feature dimension."""
  a = _as_features(a, name_a, min_rows)
  b = _as_features(b, name_b, min_rows)
  if a.shape[1] != b.shape[1]:
    raise ValueError(f'{name_a} and {name_b} have different feature dimensions '
                     f'({a.shape[1]} and {b.shape[1]}).')
  return a, b


def _as_distances(x, name: str) -> np.ndarray:
  """`x` as a non-empty 1-D float64 array of finite distances."""
  x = np.asarray(x, dtype=np.float64)
  if x.ndim != 1 or not len(x):
    raise ValueError(f'{name} must be a non-empty 1-D array (got shape '
                     f'{x.shape}).')
  if not np.isfinite(x).all():
    raise ValueError(f'{name} contains NaN or infinite values.')
  return x


# ---------------------------------------------------------------------------
# Frechet distance (FID)
# ---------------------------------------------------------------------------


def _mean_and_covariance(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """Mean [D] and unbiased (ddof=1) covariance [D, D] of the rows of x."""
  return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False, ddof=1))


def _sqrtm_product(sigma1: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
  """sqrtm(sigma1 @ sigma2), retried with eps*I on both diagonals if not finite."""
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', linalg.LinAlgWarning)
    covmean = linalg.sqrtm(sigma1 @ sigma2)
  if not np.isfinite(covmean).all():
    offset = np.eye(sigma1.shape[0]) * _FID_EPS
    covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
  if np.iscomplexobj(covmean):
    if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
      raise ValueError('sqrtm(sigma1 @ sigma2) has a large imaginary component '
                       f'({np.max(np.abs(covmean.imag)):.3g}); the covariances '
                       'may not be positive semi-definite.')
    covmean = covmean.real
  return covmean


def frechet_distance_from_stats(mu1, sigma1, mu2, sigma2) -> float:
  """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

  ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2}), with the
  matrix square root from scipy.linalg.sqrtm (real part kept; eps*I added to
  both covariances when the product's square root is not finite, as pytorch-fid).
  """
  mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
  mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
  sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
  sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
  if mu1.ndim != 1 or mu1.shape != mu2.shape:
    raise ValueError('mu1 and mu2 must be 1-D vectors of the same length (got '
                     f'shapes {mu1.shape} and {mu2.shape}).')
  dim = mu1.shape[0]
  if sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
    raise ValueError(f'sigma1 and sigma2 must be [{dim}, {dim}] matrices (got '
                     f'shapes {sigma1.shape} and {sigma2.shape}).')
  diff = mu1 - mu2
  covmean = _sqrtm_product(sigma1, sigma2)
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2)
               - 2.0 * np.trace(covmean))


def frechet_distance(real, fake) -> float:
  """FID between Gaussians fitted to `real` and `fake` [N, D] features.

  Means and ddof=1 covariances of each set, then `frechet_distance_from_stats`.
  """
  real, fake = _as_feature_pair(real, fake, 'real', 'fake')
  mu1, sigma1 = _mean_and_covariance(real)
  mu2, sigma2 = _mean_and_covariance(fake)
  return frechet_distance_from_stats(mu1, sigma1, mu2, sigma2)


# ---------------------------------------------------------------------------
# Kernel distance (KID)
# ---------------------------------------------------------------------------


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """k(x, y) = (x.y / D + 1)^3 for all row pairs: [len(x), len(y)]."""
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased_polynomial(x, y) -> float:
  """Unbiased MMD^2 between sets x [m, D] and y [n, D], cubic polynomial kernel.

  sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (n (n-1))
  - 2 sum_{i, j} k(x_i, y_j) / (m n); with m == n this is torch-fidelity's
  per-subset KID estimate.
  """
  x, y = _as_feature_pair(x, y, 'x', 'y')
  m, n = len(x), len(y)
  k_xx = _polynomial_kernel(x, x)
  k_yy = _polynomial_kernel(y, y)
  k_xy = _polynomial_kernel(x, y)
  within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
  within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
  return float(within_x + within_y - 2.0 * k_xy.sum() / (m * n))


def kernel_inception_distance(real, fake, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> Dict:
  """KID: mean and std of the unbiased MMD^2 over random subsets.

  Each of `num_subsets` rounds draws `subset_size` rows of each set without
  replacement (capped at min(len(real), len(fake))) with
  np.random.default_rng(seed), as torch-fidelity does. 'std' is the population
  std (ddof=0) of the per-subset values; 'subset_size' is the size used.
  """
  real, fake = _as_feature_pair(real, fake, 'real', 'fake')
  if int(num_subsets) < 1:
    raise ValueError(f'num_subsets must be >= 1 (got {num_subsets}).')
  if int(subset_size) < 2:
    raise ValueError(f'subset_size must be >= 2 (got {subset_size}).')
  size = min(int(subset_size), len(real), len(fake))
  rng = np.random.default_rng(seed)
  values = np.empty(int(num_subsets), dtype=np.float64)
  for s in range(len(values)):
    real_rows = rng.choice(len(real), size, replace=False)
    fake_rows = rng.choice(len(fake), size, replace=False)
    values[s] = mmd2_unbiased_polynomial(real[real_rows], fake[fake_rows])
  return {'mean': float(values.mean()), 'std': float(values.std()),
          'num_subsets': int(num_subsets), 'subset_size': int(size)}


# ---------------------------------------------------------------------------
# Nearest-neighbour helpers
# ---------------------------------------------------------------------------


def _chunks(num_rows: int):
  """Slices of at most _CHUNK_ROWS rows covering range(num_rows)."""
  for start in range(0, num_rows, _CHUNK_ROWS):
    yield slice(start, min(start + _CHUNK_ROWS, num_rows))


def _kth_neighbour_radii(x: np.ndarray, k: int) -> np.ndarray:
  """Distance from each row of x to its k-th nearest other row of x."""
  radii = np.empty(len(x), dtype=np.float64)
  for rows in _chunks(len(x)):
    dist = cdist(x[rows], x, 'euclidean')
    local = np.arange(dist.shape[0])
    dist[local, local + rows.start] = np.inf  # a point is not its own neighbour
    radii[rows] = np.partition(dist, k - 1, axis=1)[:, k - 1]
  return radii


def _fraction_in_manifold(queries: np.ndarray, centres: np.ndarray,
                          radii: np.ndarray) -> float:
  """Share of query rows within radii[i] of at least one centre i."""
  inside = np.zeros(len(queries), dtype=bool)
  for rows in _chunks(len(queries)):
    dist = cdist(queries[rows], centres, 'euclidean')
    inside[rows] = (dist <= radii[None, :]).any(axis=1)
  return float(inside.mean())


def _nearest(queries: np.ndarray, targets: np.ndarray,
             exclude_same_index: bool = False) -> Tuple[np.ndarray, np.ndarray]:
  """Distance to and index of each query's nearest target row.

  With exclude_same_index, target i is never the neighbour of query i.
  """
  distances = np.empty(len(queries), dtype=np.float64)
  indices = np.empty(len(queries), dtype=np.int64)
  for rows in _chunks(len(queries)):
    dist = cdist(queries[rows], targets, 'euclidean')
    if exclude_same_index:
      local = np.arange(dist.shape[0])
      dist[local, local + rows.start] = np.inf
    nearest = np.argmin(dist, axis=1)
    indices[rows] = nearest
    distances[rows] = dist[np.arange(dist.shape[0]), nearest]
  return distances, indices


# ---------------------------------------------------------------------------
# Precision and recall
# ---------------------------------------------------------------------------


def precision_recall(real, fake, k: int = 3) -> Dict:
  """Improved precision and recall (Kynkaanniemi et al. 2019).

  Each point's ball has radius = distance to its k-th nearest other point of
  the same set. precision = share of fakes inside at least one real ball;
  recall = share of reals inside at least one fake ball (boundary included).
  """
  k = int(k)
  if k < 1:
    raise ValueError(f'k must be >= 1 (got {k}).')
  real, fake = _as_feature_pair(real, fake, 'real', 'fake', min_rows=k + 1)
  real_radii = _kth_neighbour_radii(real, k)
  fake_radii = _kth_neighbour_radii(fake, k)
  return {'precision': _fraction_in_manifold(fake, real, real_radii),
          'recall': _fraction_in_manifold(real, fake, fake_radii)}


def density_coverage(real, fake, k: int = 5) -> Dict:
  """Density and coverage (Naeem et al. 2020), with their default k = 5.

  Each real point's ball has radius = distance to its k-th nearest other real
  point. density = (1 / kM) x the number of (fake, real ball) pairs with the fake
  inside the ball (strictly, as the authors' `prdc` code; 1 means fakes as dense
  as reals, it can exceed 1); coverage = share of real balls holding at least one
  fake.
  """
  k = int(k)
  if k < 1:
    raise ValueError(f'k must be >= 1 (got {k}).')
  real, fake = _as_feature_pair(real, fake, 'real', 'fake', min_rows=k + 1)
  radii = _kth_neighbour_radii(real, k)
  balls_holding = np.zeros(len(fake), dtype=np.int64)
  covered = np.zeros(len(real), dtype=bool)
  for rows in _chunks(len(fake)):
    inside = cdist(fake[rows], real, 'euclidean') < radii[None, :]
    balls_holding[rows] = inside.sum(axis=1)
    covered |= inside.any(axis=0)
  return {'density': float(balls_holding.sum() / (k * len(fake))),
          'coverage': float(covered.mean())}


# ---------------------------------------------------------------------------
# Memorisation
# ---------------------------------------------------------------------------


def nearest_real_distances(fake, real_train) -> Tuple[np.ndarray, np.ndarray]:
  """Euclidean distance [N_fake] to and index [N_fake] of each fake's nearest real."""
  fake, real_train = _as_feature_pair(fake, real_train, 'fake', 'real_train')
  return _nearest(fake, real_train)


def real_to_real_nearest(real_train, real_reference,
                         same_set: Optional[bool] = None) -> np.ndarray:
  """Distance [N_reference] from each reference point to its nearest training point.

  With same_set=True the two arrays are the same set, and a point's own row is
  skipped (its nearest *other* point is used). None (the default) means True
  exactly when both arguments are the same object.
  """
  if same_set is None:
    same_set = real_reference is real_train
  real_train, real_reference = _as_feature_pair(
      real_train, real_reference, 'real_train', 'real_reference')
  if same_set and real_train.shape != real_reference.shape:
    raise ValueError('same_set=True needs real_train and real_reference of the '
                     f'same shape (got {real_train.shape} and '
                     f'{real_reference.shape}).')
  distances, _ = _nearest(real_reference, real_train,
                          exclude_same_index=bool(same_set))
  return distances


def memorisation_summary(fake_to_real, real_to_real,
                         quantile: float = 0.01) -> Dict:
  """How many fakes lie closer to a training image than real images usually do.

  threshold = the `quantile` quantile of real_to_real distances;
  fraction_suspicious = share of fake_to_real distances strictly below it.
  Medians of both distance sets are reported alongside.
  """
  fake_to_real = _as_distances(fake_to_real, 'fake_to_real')
  real_to_real = _as_distances(real_to_real, 'real_to_real')
  if not 0.0 <= quantile <= 1.0:
    raise ValueError(f'quantile must be in [0, 1] (got {quantile}).')
  threshold = float(np.quantile(real_to_real, quantile))
  return {'threshold': threshold,
          'fraction_suspicious': float(np.mean(fake_to_real < threshold)),
          'fake_median': float(np.median(fake_to_real)),
          'real_median': float(np.median(real_to_real))}
