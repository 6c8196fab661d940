"""Tests of gan_aug.metrics.generative against closed forms and brute force."""

import numpy as np
import pytest

from gan_aug.metrics import generative

# Two non-diagonal, positive-definite 4 x 4 covariances and their means.
_SIGMA1 = np.array([[2.0, 0.6, 0.3, 0.0],
                    [0.6, 1.5, -0.4, 0.2],
                    [0.3, -0.4, 1.0, 0.1],
                    [0.0, 0.2, 0.1, 0.8]])
_SIGMA2 = np.array([[1.0, -0.3, 0.0, 0.2],
                    [-0.3, 2.5, 0.5, 0.0],
                    [0.0, 0.5, 0.7, -0.2],
                    [0.2, 0.0, -0.2, 1.2]])
_MU1 = np.array([0.0, 1.0, -1.0, 0.5])
_MU2 = np.array([0.5, 0.0, -1.0, 1.5])


def _closed_form_fid(mu1, sigma1, mu2, sigma2):
  """||mu1-mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}) without scipy.linalg.sqrtm.

  (S1 S2)^{1/2} is similar to (R S2 R)^{1/2} with R = S1^{1/2} (symmetric),
  so its trace is the sum of the square roots of the eigenvalues of R S2 R.
  """
  eigenvalues, eigenvectors = np.linalg.eigh(sigma1)
  root1 = (eigenvectors * np.sqrt(eigenvalues)) @ eigenvectors.T
  trace_covmean = np.sum(np.sqrt(np.linalg.eigvalsh(root1 @ sigma2 @ root1)))
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2)
               - 2.0 * trace_covmean)


def _brute_force_mmd2(x, y):
  """Unbiased MMD^2 with k(a, b) = (a.b / D + 1)^3, one pair at a time."""
  dim = x.shape[1]

  def kernel(a, b):
    return (sum(a[t] * b[t] for t in range(dim)) / dim + 1.0) ** 3

  m, n = len(x), len(y)
  xx = sum(kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
  yy = sum(kernel(y[i], y[j]) for i in range(n) for j in range(n) if i != j)
  xy = sum(kernel(x[i], y[j]) for i in range(m) for j in range(n))
  return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2.0 * xy / (m * n)


# --- FID -------------------------------------------------------------------


def test_fid_from_stats_equals_closed_form():
  expected = _closed_form_fid(_MU1, _SIGMA1, _MU2, _SIGMA2)
  got = generative.frechet_distance_from_stats(_MU1, _SIGMA1, _MU2, _SIGMA2)
  assert got == pytest.approx(expected, abs=1e-8)
  assert expected > 1.0  # the two Gaussians really differ


def test_fid_from_stats_diagonal_exact_formula():
  a = np.array([0.5, 1.0, 2.0, 4.0])
  b = np.array([2.0, 1.0, 0.25, 9.0])
  mu1 = np.array([1.0, 0.0, 0.0, -2.0])
  mu2 = np.array([0.0, 0.0, 3.0, -2.0])
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  got = generative.frechet_distance_from_stats(mu1, np.diag(a), mu2, np.diag(b))
  assert got == pytest.approx(expected, abs=1e-10)


def test_fid_of_samples_matches_closed_form():
  rng = np.random.default_rng(0)
  real = rng.multivariate_normal(_MU1, _SIGMA1, size=200_000)
  fake = rng.multivariate_normal(_MU2, _SIGMA2, size=200_000)
  expected = _closed_form_fid(_MU1, _SIGMA1, _MU2, _SIGMA2)
  assert generative.frechet_distance(real, fake) == pytest.approx(expected,
                                                                  rel=0.015)


def test_fid_of_a_set_with_itself_is_zero():
  x = np.random.default_rng(1).normal(size=(500, 6))
  assert generative.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fid_retries_with_eps_when_sqrtm_is_not_finite(monkeypatch):
  real_sqrtm = generative.linalg.sqrtm
  calls = []

  def sqrtm_failing_once(matrix):
    calls.append(matrix.copy())
    if len(calls) == 1:
      return np.full_like(matrix, np.inf)
    return real_sqrtm(matrix)

  monkeypatch.setattr(generative.linalg, 'sqrtm', sqrtm_failing_once)
  got = generative.frechet_distance_from_stats(_MU1, _SIGMA1, _MU2, _SIGMA2)
  offset = 1e-6 * np.eye(4)
  assert len(calls) == 2
  np.testing.assert_allclose(calls[1], (_SIGMA1 + offset) @ (_SIGMA2 + offset))
  # As pytorch-fid: eps*I enters the square-root term only, not Tr(S1) + Tr(S2).
  expected = (_closed_form_fid(_MU1, _SIGMA1 + offset, _MU2, _SIGMA2 + offset)
              - 2.0 * np.trace(offset))
  assert got == pytest.approx(expected, abs=1e-10)
  assert got != pytest.approx(_closed_form_fid(_MU1, _SIGMA1, _MU2, _SIGMA2),
                              abs=1e-8)


def test_fid_with_rank_deficient_covariance_is_finite():
  rng = np.random.default_rng(2)
  real = rng.normal(size=(3, 8))  # 3 rows in 8-D: covariance of rank 2
  fake = rng.normal(size=(3, 8)) + 1.0
  value = generative.frechet_distance(real, fake)
  assert np.isfinite(value) and value > 0.0


# --- KID -------------------------------------------------------------------


def test_mmd2_unbiased_matches_brute_force():
  rng = np.random.default_rng(3)
  x = rng.normal(size=(7, 5))
  y = rng.normal(0.3, 1.2, size=(6, 5))
  expected = _brute_force_mmd2(x, y)
  assert generative.mmd2_unbiased_polynomial(x, y) == pytest.approx(
      expected, abs=1e-10)
  assert generative.mmd2_unbiased_polynomial(y, x) == pytest.approx(
      expected, abs=1e-10)


def test_kid_same_distribution_is_near_zero_and_shift_is_positive():
  rng = np.random.default_rng(4)
  real = rng.normal(size=(2000, 8))
  same = rng.normal(size=(2000, 8))
  shifted = rng.normal(0.5, 1.0, size=(2000, 8))
  null = generative.kernel_inception_distance(real, same, num_subsets=50,
                                              subset_size=200)
  alt = generative.kernel_inception_distance(real, shifted, num_subsets=50,
                                             subset_size=200)
  assert null['std'] > 0.0 and alt['std'] > 0.0
  assert abs(null['mean']) < 3.0 * null['std'] / np.sqrt(50)
  assert alt['mean'] > 10.0 * alt['std'] / np.sqrt(50)
  assert alt['mean'] > 20.0 * abs(null['mean'])
  assert null['num_subsets'] == 50 and null['subset_size'] == 200


def test_kid_caps_subset_size_and_is_deterministic_per_seed():
  rng = np.random.default_rng(5)
  real = rng.normal(size=(40, 3))
  fake = rng.normal(size=(30, 3))
  first = generative.kernel_inception_distance(real, fake, num_subsets=5, seed=7)
  again = generative.kernel_inception_distance(real, fake, num_subsets=5, seed=7)
  other = generative.kernel_inception_distance(real, fake, num_subsets=5, seed=8)
  assert first['subset_size'] == 30
  assert first == again
  assert first['mean'] != other['mean']


def test_kid_single_full_subset_equals_mmd2():
  rng = np.random.default_rng(6)
  real = rng.normal(size=(25, 4))
  fake = rng.normal(size=(25, 4)) + 0.2
  kid = generative.kernel_inception_distance(real, fake, num_subsets=1)
  # The full-size subset is a permutation of each set, which MMD^2 ignores.
  assert kid['mean'] == pytest.approx(
      generative.mmd2_unbiased_polynomial(real, fake), abs=1e-12)
  assert kid['std'] == 0.0


# --- density / coverage -----------------------------------------------------


def test_density_coverage_by_hand():
  # k=1 radii on this grid: 1, 1, 1, 1. Fake 0.5 lies in the balls of 0 and 1,
  # fake 3.0 in that of 3 only (on the boundary of 2's: outside, as in prdc),
  # fake 9.0 in none.
  real = np.array([[0.0], [1.0], [2.0], [3.0]])
  fake = np.array([[0.5], [3.0], [9.0]])
  result = generative.density_coverage(real, fake, k=1)
  assert result['density'] == pytest.approx(3 / 3)
  assert result['coverage'] == pytest.approx(3 / 4)
  result = generative.density_coverage(real, fake[[0, 2]], k=1)
  assert result == {'density': pytest.approx(2 / 2), 'coverage': 0.5}


def test_density_coverage_against_brute_force(monkeypatch):
  rng = np.random.default_rng(11)
  real, fake = rng.normal(size=(60, 4)), rng.normal(size=(45, 4)) + 0.3
  k = 5
  d_rr = np.linalg.norm(real[:, None] - real[None], axis=-1)
  radii = np.sort(d_rr, axis=1)[:, k]  # column 0 is the point itself
  inside = np.linalg.norm(fake[:, None] - real[None], axis=-1) < radii[None]
  monkeypatch.setattr(generative, '_CHUNK_ROWS', 7)
  result = generative.density_coverage(real, fake, k=k)
  assert result['density'] == pytest.approx(inside.sum() / (k * len(fake)))
  assert result['coverage'] == pytest.approx(inside.any(axis=0).mean())


# --- precision / recall ----------------------------------------------------


def _two_clusters(rng, per_cluster, dim=2):
  """Two well-separated Gaussian clusters (centres 0 and 100)."""
  a = rng.normal(size=(per_cluster, dim))
  b = rng.normal(size=(per_cluster, dim)) + 100.0
  return a, b


def test_precision_recall_identical_sets():
  x = np.random.default_rng(7).normal(size=(300, 5))
  assert generative.precision_recall(x, x.copy()) == {'precision': 1.0,
                                                      'recall': 1.0}


def test_precision_recall_far_away_fakes():
  rng = np.random.default_rng(8)
  real = rng.normal(size=(300, 5))
  fake = rng.normal(size=(300, 5)) + 50.0
  assert generative.precision_recall(real, fake) == {'precision': 0.0,
                                                     'recall': 0.0}


def test_precision_recall_half_the_modes_copied():
  a, b = _two_clusters(np.random.default_rng(9), 200)
  real = np.concatenate([a, b])
  result = generative.precision_recall(real, a.copy())  # fakes: cluster a only
  assert result == {'precision': 1.0, 'recall': 0.5}


def test_precision_recall_half_the_modes_sampled():
  rng = np.random.default_rng(10)
  a, b = _two_clusters(rng, 300)
  real = np.concatenate([a, b])
  fake = rng.normal(size=(600, 2))  # fresh samples of cluster a's distribution
  result = generative.precision_recall(real, fake, k=3)
  assert result['precision'] > 0.9
  assert 0.4 < result['recall'] <= 0.5


def test_precision_recall_ball_boundary_counts_as_inside():
  # k=1 radii are all exactly 1 on this grid; fakes at 4.0 and -1.0 lie on a ball's
  # boundary (inside), the fake at 6.0 does not.
  real = np.array([[0.0], [1.0], [2.0], [3.0]])
  fake = np.array([[-1.0], [4.0], [6.0], [7.0]])
  assert generative.precision_recall(real, fake, k=1)['precision'] == 0.5


def test_precision_recall_is_independent_of_chunking(monkeypatch):
  rng = np.random.default_rng(11)
  real = rng.normal(size=(230, 3))
  fake = rng.normal(0.3, 1.1, size=(170, 3))
  whole = generative.precision_recall(real, fake, k=4)
  monkeypatch.setattr(generative, '_CHUNK_ROWS', 16)
  assert generative.precision_recall(real, fake, k=4) == whole
  assert 0.0 < whole['precision'] < 1.0 and 0.0 < whole['recall'] < 1.0


# --- memorisation ----------------------------------------------------------


def test_copied_training_points_have_zero_distance_and_are_suspicious():
  rng = np.random.default_rng(12)
  train = rng.normal(size=(500, 16))
  copied = [3, 17, 42, 499]
  distances, indices = generative.nearest_real_distances(train[copied], train)
  np.testing.assert_array_equal(distances, 0.0)
  np.testing.assert_array_equal(indices, copied)
  real_to_real = generative.real_to_real_nearest(train, train)
  assert real_to_real.shape == (500,) and np.all(real_to_real > 0.0)
  summary = generative.memorisation_summary(distances, real_to_real)
  assert summary['threshold'] > 0.0
  assert summary['fraction_suspicious'] == 1.0
  assert summary['fake_median'] == 0.0


def test_random_fakes_are_not_suspicious():
  rng = np.random.default_rng(13)
  train = rng.normal(size=(1000, 16))
  held_out = rng.normal(size=(1000, 16))
  fake = rng.normal(size=(400, 16))
  fake_to_real, _ = generative.nearest_real_distances(fake, train)
  real_to_real = generative.real_to_real_nearest(train, held_out)
  summary = generative.memorisation_summary(fake_to_real, real_to_real)
  assert summary['fraction_suspicious'] < 0.05
  assert summary['fake_median'] == pytest.approx(summary['real_median'],
                                                 rel=0.1)


def test_mixed_fakes_flag_the_copies():
  rng = np.random.default_rng(14)
  train = rng.normal(size=(800, 8))
  fake = np.concatenate([train[:20], rng.normal(size=(180, 8))])
  fake_to_real, _ = generative.nearest_real_distances(fake, train)
  summary = generative.memorisation_summary(
      fake_to_real, generative.real_to_real_nearest(train, train))
  assert 0.1 <= summary['fraction_suspicious'] < 0.15


def test_real_to_real_same_set_flag():
  rng = np.random.default_rng(15)
  train = rng.normal(size=(50, 4))
  # Same object: its own row is skipped by default.
  auto = generative.real_to_real_nearest(train, train)
  # An equal copy is a different object: zero unless same_set=True.
  np.testing.assert_array_equal(
      generative.real_to_real_nearest(train, train.copy()), 0.0)
  np.testing.assert_array_equal(
      generative.real_to_real_nearest(train, train.copy(), same_set=True), auto)
  np.testing.assert_array_equal(
      generative.real_to_real_nearest(train, train, same_set=False), 0.0)
  brute = [min(np.linalg.norm(train[i] - train[j]) for j in range(50) if j != i)
           for i in range(50)]
  np.testing.assert_allclose(auto, brute, rtol=1e-12)


def test_real_to_real_same_set_is_independent_of_chunking(monkeypatch):
  train = np.random.default_rng(16).normal(size=(100, 3))
  whole = generative.real_to_real_nearest(train, train)
  monkeypatch.setattr(generative, '_CHUNK_ROWS', 7)
  np.testing.assert_array_equal(generative.real_to_real_nearest(train, train),
                                whole)


# --- bad inputs ------------------------------------------------------------

_PAIR_FUNCTIONS = [
    generative.frechet_distance,
    generative.kernel_inception_distance,
    generative.mmd2_unbiased_polynomial,
    generative.precision_recall,
    generative.nearest_real_distances,
    generative.real_to_real_nearest,
]


@pytest.mark.parametrize('function', _PAIR_FUNCTIONS,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize('first,second,message', [
    (np.zeros(10), np.zeros((10, 3)), '2-D'),
    (np.zeros((10, 3, 1)), np.zeros((10, 3)), '2-D'),
    (np.zeros((10, 3)), np.zeros((10, 4)), 'different feature dimensions'),
    (np.zeros((1, 3)), np.zeros((10, 3)), 'at least'),
    (np.zeros((10, 3)), np.zeros((1, 3)), 'at least'),
], ids=['1-D', '3-D', 'dims', 'one-row-first', 'one-row-second'])
def test_bad_shapes_raise(function, first, second, message):
  with pytest.raises(ValueError, match=message):
    function(first, second)


def test_bad_stats_and_summary_inputs_raise():
  with pytest.raises(ValueError, match='same length'):
    generative.frechet_distance_from_stats(np.zeros(3), np.eye(3), np.zeros(4),
                                           np.eye(4))
  with pytest.raises(ValueError, match=r'\[3, 3\]'):
    generative.frechet_distance_from_stats(np.zeros(3), np.eye(2), np.zeros(3),
                                           np.eye(3))
  with pytest.raises(ValueError, match='1-D'):
    generative.memorisation_summary(np.zeros((3, 2)), np.ones(5))
  with pytest.raises(ValueError, match='quantile'):
    generative.memorisation_summary(np.zeros(3), np.ones(5), quantile=1.5)
  with pytest.raises(ValueError, match='k must be'):
    generative.precision_recall(np.zeros((5, 2)), np.zeros((5, 2)), k=0)
  with pytest.raises(ValueError, match='at least 4 rows'):
    generative.precision_recall(np.zeros((3, 2)), np.ones((9, 2)), k=3)
  with pytest.raises(ValueError, match='same shape'):
    generative.real_to_real_nearest(np.zeros((5, 2)), np.zeros((4, 2)),
                                    same_set=True)


def test_penultimate_features_are_the_last_dense_layers_input():
  import jax  # pylint: disable=import-outside-toplevel
  from gan_aug.classifier import inference  # pylint: disable=import-outside-toplevel
  from gan_aug.models import classifiers  # pylint: disable=import-outside-toplevel
  model = classifiers.CustomCNN(num_classes=3)
  x = np.random.default_rng(0).uniform(size=(4, 20, 20, 3)).astype(np.float32)
  variables = model.init(jax.random.PRNGKey(0), x, train=False)
  got = inference.penultimate(model, variables, x)
  _, state = model.apply(variables, x, train=False, capture_intermediates=True)
  dense_128 = state['intermediates']['Dense_0']['__call__'][0]
  np.testing.assert_allclose(got, np.maximum(dense_128, 0), rtol=1e-6)
  assert got.shape == (4, 128)


def test_synthetic_set_report_flags_copies_of_training_images():
  from gan_aug.metrics import features  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  train = rng.normal(size=(60, 5))
  heldout = rng.normal(size=(40, 5))
  labels = lambda n: np.arange(n) % 2
  copies = features.synthetic_set_report(train, labels(60), heldout, labels(40),
                                         train[:30], labels(60)[:30], ['a', 'b'])
  fresh = features.synthetic_set_report(train, labels(60), heldout, labels(40),
                                        rng.normal(size=(30, 5)), labels(30),
                                        ['a', 'b'])
  assert copies['memorisation']['fraction_suspicious'] == 1.0
  assert copies['memorisation']['closest_pairs'][0]['distance'] == 0.0
  assert fresh['memorisation']['fraction_suspicious'] < 0.2
  assert set(copies['per_class']) == {'a', 'b'}
  assert {'kid', 'kid_std', 'fid', 'precision', 'recall'} <= set(fresh['overall'])
  # Too few fakes to compare: said, not computed.
  assert 'skipped' in features.synthetic_set_report(
      train, labels(60), heldout, labels(40), train[:1], labels(1), ['a', 'b'])
