"""GAN objectives and the R1 penalty: losses and gradients against hand
computations, R1 against finite differences, lazy R1 in the train step, and a
filter that refuses a probability threshold on a score that is none."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_aug.core import errors
from gan_aug.gan import families
from gan_aug.gan import networks
from gan_aug.gan import objectives
from gan_aug.gan import step as gan_lib
from gan_aug.pipeline import config_validation
from gan_aug.pipeline import runner
from gan_aug.pipeline import stages
from gan_aug.runtime import sharding

import helpers

# Away from the hinge's kinks (real = 1, fake = -1).
REAL = np.array([2.0, -1.0, 0.5, 0.9], np.float32)
FAKE = np.array([-0.3, 1.5, 0.0, -2.0], np.float32)


def _softplus(x):
  return math.log1p(math.exp(x))


def _sigmoid(x):
  return 1.0 / (1.0 + math.exp(-x))


def _by_hand(name):
  """(L_D, L_G, dL_D/dreal, dL_D/dfake, dL_G/dfake) written out per element."""
  n = len(REAL)
  if name == 'bce':  # -log sigmoid(r) = softplus(-r); -log(1 - sigmoid(f)) = softplus(f)
    return (sum(_softplus(-r) for r in REAL) / n + sum(_softplus(f) for f in FAKE) / n,
            sum(_softplus(-f) for f in FAKE) / n,
            [-_sigmoid(-r) / n for r in REAL], [_sigmoid(f) / n for f in FAKE],
            [-_sigmoid(-f) / n for f in FAKE])
  if name == 'hinge':
    return (sum(max(0.0, 1 - r) for r in REAL) / n
            + sum(max(0.0, 1 + f) for f in FAKE) / n,
            -sum(FAKE) / n,
            [-1.0 / n if r < 1 else 0.0 for r in REAL],
            [1.0 / n if f > -1 else 0.0 for f in FAKE], [-1.0 / n] * n)
  assert name == 'lsgan'
  return (sum(0.5 * (r - 1) ** 2 for r in REAL) / n
          + sum(0.5 * (f + 1) ** 2 for f in FAKE) / n,
          sum(0.5 * (f - 1) ** 2 for f in FAKE) / n,
          [(r - 1) / n for r in REAL], [(f + 1) / n for f in FAKE],
          [(f - 1) / n for f in FAKE])


@pytest.mark.parametrize('name', ['bce', 'hinge', 'lsgan'])
def test_losses_and_gradients_equal_a_hand_computation(name):
  objective = objectives.get(name)
  d_loss, g_loss, d_real, d_fake, g_fake = _by_hand(name)
  real, fake = jnp.asarray(REAL), jnp.asarray(FAKE)
  np.testing.assert_allclose(objective.d_loss(real, fake), d_loss, rtol=1e-6)
  np.testing.assert_allclose(objective.g_loss(fake), g_loss, rtol=1e-6)
  grad_real, grad_fake = jax.grad(objective.d_loss, argnums=(0, 1))(real, fake)
  np.testing.assert_allclose(grad_real, d_real, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(grad_fake, d_fake, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(jax.grad(objective.g_loss)(fake), g_fake, rtol=1e-5,
                             atol=1e-7)
  # The sign of D's output says real vs fake under every objective: D's loss is
  # lower for positive outputs on real and negative ones on fakes, and G's for
  # positive outputs on its fakes.
  plus, minus = jnp.ones(4), -jnp.ones(4)
  assert objective.d_loss(plus, minus) < objective.d_loss(minus, plus)
  assert objective.g_loss(plus) < objective.g_loss(minus)


def test_only_bce_scores_with_a_probability():
  logits = jnp.asarray([-3.0, 0.0, 4.0])
  bce = objectives.get('bce')
  assert bce.probability
  np.testing.assert_allclose(bce.score(logits), jax.nn.sigmoid(logits))
  for name in ('hinge', 'lsgan'):
    assert not objectives.get(name).probability
    np.testing.assert_array_equal(objectives.get(name).score(logits), logits)


class _TinyD(nn.Module):
  """A smooth D (tanh), so central differences approximate its gradient well."""

  @nn.compact
  def __call__(self, x):
    h = jnp.tanh(nn.Dense(8)(x.reshape(x.shape[0], -1)))
    return nn.Dense(1)(h)[:, 0]


def test_r1_equals_a_finite_difference_gradient_norm():
  d = _TinyD()
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 2, 2, 1))
  params = d.init(jax.random.PRNGKey(1), x)
  apply = lambda images: d.apply(params, images)
  norm2, aux = gan_lib.r1_norms(lambda images: (apply(images).sum(), 'aux'), x)
  assert aux == 'aux'
  eps, flat = 1e-2, np.asarray(x).reshape(3, -1)
  by_differences = []
  for i in range(3):
    grad = []
    for j in range(flat.shape[1]):
      up, down = flat.copy(), flat.copy()
      up[i, j] += eps
      down[i, j] -= eps
      grad.append((float(apply(up.reshape(x.shape))[i])
                   - float(apply(down.reshape(x.shape))[i])) / (2 * eps))
    by_differences.append(np.sum(np.square(grad)))
  np.testing.assert_allclose(float(norm2), np.mean(by_differences), rtol=2e-3)


def _state_and_step(config, batch_size):
  """The initial state of config's two-class GAN at 8x8 and its jitted step."""
  config.data.resolution = 8
  model = networks.build_gan(config, num_classes=2)
  g_tx, d_tx = families.optimizers(config)
  state = jax.jit(lambda: gan_lib.init_state(model, g_tx, d_tx, seed=0,
                                             latent_dim=100,
                                             image_shape=(8, 8, 1)))()
  step = jax.jit(gan_lib.make_train_step(
      model, g_tx, d_tx, mesh=sharding.make_mesh(), batch_size=batch_size,
      latent_dim=100, r1_gamma=config.gan.r1_gamma, r1_every=config.gan.r1_every))
  return state, step


def _cgan_setup(**gan):
  """A tiny MLP CGAN (fast to compile), its state and a jitted train step."""
  state, step = _state_and_step(helpers.tiny_config(
      name='cgan', g_hidden_widths=(16,), d_hidden_widths=(16,), d_dropout=0.0,
      leaky_slope=0.2, **gan), batch_size=16)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (40, 8, 8, 1), np.uint8)
  labels = rng.integers(0, 2, 40).astype(np.int32)
  return state, step, images, labels


def _leaves(tree):
  return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def test_lazy_r1_is_taken_every_r1_every_steps_and_only_then():
  state, step, images, labels = _cgan_setup(r1_gamma=10.0, r1_every=2)
  _, plain_step, _, _ = _cgan_setup()
  penalties, states = [], [state]
  for _ in range(4):
    state, metrics = step(state, images, labels)
    penalties.append(float(metrics['r1']))
    states.append(state)
  assert penalties[0] > 0 and penalties[2] > 0
  assert penalties[1] == penalties[3] == 0.0
  # Off its steps the penalised step is the plain one; on them it is not.
  off, _ = plain_step(states[1], images, labels)
  for a, b in zip(_leaves(off.d_params), _leaves(states[2].d_params)):
    np.testing.assert_array_equal(a, b)
  on, plain_metrics = plain_step(states[0], images, labels)
  assert 'r1' not in plain_metrics
  assert any(not np.array_equal(a, b) for a, b in zip(_leaves(on.d_params),
                                                      _leaves(states[1].d_params)))


def test_r1_penalty_is_per_class_for_the_per_class_dcgan():
  state, step = _state_and_step(helpers.tiny_config(
      name='dcgan_per_class', g_base_width=4, d_base_width=4, r1_gamma=1.0,
      r1_every=1), batch_size=8)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (2, 12, 8, 8, 1), np.uint8)
  counts = np.array([12, 10], np.int32)
  _, metrics = step(state, images, counts)
  changed = images.copy()
  changed[1] = 255 - changed[1]
  _, metrics_changed = step(state, changed, counts)
  assert float(metrics['r1']) > 0
  # The mean over classes moves when only class 1's real images change.
  assert float(metrics['r1']) != float(metrics_changed['r1'])


def test_a_hinge_gan_scores_with_its_raw_output():
  config = helpers.tiny_config(objective='hinge')
  family = families.family_lib.find('acgan')
  model = family.build(config, 2)
  assert model.objective == 'hinge'
  scorer = family.make_scorer(model)
  assert not scorer.probability and 'hinge' in scorer.description
  assert family.make_scorer(family.build(helpers.tiny_config(), 2)).probability


@pytest.mark.parametrize('mode', ['fixed', 'errd_fake'])
@pytest.mark.parametrize('objective', ['hinge', 'lsgan'])
def test_a_probability_threshold_on_a_raw_score_is_refused(objective, mode):
  config = helpers.tiny_config(objective=objective)
  config.synthesis.threshold_mode, config.synthesis.threshold = mode, 0.76
  with pytest.raises(errors.ConfigError, match=r"synthesis\.threshold_mode="
                     rf"'{mode}'.*'real_quantile' or 'none'.*no probability"):
    config_validation.validate(config)
  for allowed in ('real_quantile', 'none'):
    config.synthesis.threshold_mode = allowed
    config_validation.validate(config)


def test_a_hinge_run_with_a_fixed_threshold_stops_before_any_work(tmp_path):
  config = helpers.tiny_config(objective='hinge')
  config.synthesis.threshold_mode, config.synthesis.threshold = 'fixed', 0.76
  workdir = tmp_path / 'run'
  with pytest.raises(errors.ConfigError, match='threshold_mode'):
    runner.run(config, str(workdir))
  assert not workdir.exists()


def test_no_filter_has_one_spelling():
  config = helpers.tiny_config()
  config.synthesis.threshold_mode, config.synthesis.threshold = 'fixed', 0.0
  with pytest.raises(errors.ConfigError, match="threshold_mode='none'"):
    config_validation.validate(config)


def test_an_unknown_objective_lists_the_known_ones():
  with pytest.raises(errors.UnknownComponentError,
                     match="objective 'wgan'.*config.gan.objective.*bce, hinge, lsgan"):
    config_validation.validate(helpers.tiny_config(objective='wgan'))


@pytest.mark.parametrize('field, value', [('r1_gamma', -1.0), ('r1_every', 0)])
def test_bad_r1_fields_are_refused(field, value):
  with pytest.raises(errors.ConfigError, match=rf'gan\.{field}={value}'):
    config_validation.validate(helpers.tiny_config(**{field: value}))


def test_new_fields_at_their_defaults_leave_the_stage_keys_alone():
  config = helpers.tiny_config()
  key = stages.gan_stage_key(config, 'fp')
  assert not {'objective', 'r1_gamma', 'r1_every'} & set(key['gan'])
  config.gan.r1_every = 4  # No penalty: its period changes nothing.
  assert stages.gan_stage_key(config, 'fp') == key
  for field, value in (('objective', 'hinge'), ('r1_gamma', 1.0)):
    changed = helpers.tiny_config(**{field: value})
    assert stages.gan_stage_key(changed, 'fp')['gan'][field] == value
  # 'none' keeps the key of its earlier spelling, 'fixed' at threshold 0.
  config.synthesis.threshold_mode = 'none'
  earlier = helpers.tiny_config()
  earlier.synthesis.threshold_mode, earlier.synthesis.threshold = 'fixed', 0.0
  assert (stages.synthesis_stage_key(config, 'g')
          == stages.synthesis_stage_key(earlier, 'g'))

