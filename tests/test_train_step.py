"""The CovidGAN train step: same result on 1 and 8 devices, sharded for real."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_aug.data import batch_order
from gan_aug.gan import step as gan_lib
from gan_aug.gan.networks import GANModel
from gan_aug.models.acgan import ACGANDiscriminator, ACGANGenerator
from gan_aug.runtime import sharding

BATCH = 64
LR = 2e-4


def _one_step(num_devices, param_dtype):
  generator = ACGANGenerator(num_classes=3, resolution=28, base_width=64,
                             param_dtype=param_dtype)
  discriminator = ACGANDiscriminator(num_classes=3, resolution=28, base_width=16,
                                     param_dtype=param_dtype)
  model = GANModel(generator, discriminator, 3, has_class_head=True)
  g_tx, d_tx = gan_lib.adam(LR, 0.5, 0.999), gan_lib.adam(LR, 0.5, 0.999)
  mesh = sharding.make_mesh(jax.devices()[:num_devices])
  replicated = sharding.replicated(mesh)
  state = jax.jit(lambda: gan_lib.init_state(
      model, g_tx, d_tx, seed=0, latent_dim=100,
      image_shape=(28, 28, 3)), out_shardings=replicated)()
  rng = np.random.default_rng(0)
  images = jax.device_put(rng.integers(0, 256, (150, 28, 28, 3), np.uint8), replicated)
  labels = jax.device_put(rng.integers(0, 3, 150).astype(np.int32), replicated)
  step = jax.jit(gan_lib.make_train_step(
      model, g_tx, d_tx, mesh=mesh, batch_size=BATCH, latent_dim=100),
                 donate_argnums=(0,))
  hlo = step.lower(state, images, labels).compile().as_text()
  new_state, metrics = step(state, images, labels)
  return jax.device_get(new_state), jax.device_get(metrics), hlo


@pytest.fixture(scope='module')
def float32_runs():
  return {n: _one_step(n, jnp.float32) for n in (1, 8)}


def test_step_metrics_equal_on_1_and_8_devices(float32_runs):
  (_, m1, _), (_, m8, _) = float32_runs[1], float32_runs[8]
  assert set(m1) >= {'d_loss', 'g_loss', 'd_real', 'd_fake', 'aux_acc_real'}
  for key in m1:
    np.testing.assert_allclose(m8[key], m1[key], rtol=2e-5, atol=1e-6, err_msg=key)
  assert np.isfinite(m1['d_loss']) and m1['d_loss'] > 0


def test_step_parameters_equal_on_1_and_8_devices_float32(float32_runs):
  (s1, _, _), (s8, _, _) = float32_runs[1], float32_runs[8]
  assert int(s1.step) == int(s8.step) == 1
  model = lambda s: (s.g_params, s.g_batch_stats, s.d_params, s.d_batch_stats)
  total, loose = 0, 0
  for a, b in zip(jax.tree.leaves(model(s1)), jax.tree.leaves(model(s8))):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = np.abs(a - b)
    # Adam's first step is lr * g / (|g| + eps): an element whose gradient is
    # at rounding level can flip sign between summation orders, moving by at
    # most 2 * lr. Everything else must agree to float32 precision. (The
    # float64 test below shows the maths is the same to 1e-10 everywhere.)
    assert diff.max() <= 2 * LR + 1e-6
    loose += int((diff > 1e-6 + 1e-5 * np.abs(a)).sum())
    total += a.size
  assert loose <= 1e-4 * total, f'{loose} of {total} values differ'
  # Optimizer moments carry raw float32 gradients, whose cancelling sums over
  # the batch keep about three significant digits relative to the leaf's scale.
  for a, b in zip(jax.tree.leaves((s1.g_opt_state, s1.d_opt_state)),
                  jax.tree.leaves((s8.g_opt_state, s8.d_opt_state))):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert np.abs(a - b).max() <= 1e-2 * np.abs(a).max() + 1e-9


def test_step_parameters_equal_on_1_and_8_devices_float64():
  with jax.enable_x64(True):
    (s1, m1, _), (s8, m8, _) = _one_step(1, jnp.float64), _one_step(8, jnp.float64)
  assert jax.tree.leaves(s1.g_params)[0].dtype == np.float64
  for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s8)):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=0, atol=1e-10)
  np.testing.assert_allclose(m8['g_loss'], m1['g_loss'], rtol=1e-12)


def test_step_is_data_parallel_on_8_devices(float32_runs):
  (_, _, hlo8), (_, _, hlo1) = float32_runs[8], float32_runs[1]
  # Batch statistics and gradients need cross-device reductions only when the
  # batch is split: their presence shows the batch really is sharded.
  assert 'all-reduce' in hlo8
  assert 'all-reduce' not in hlo1


def test_batch_indices_cover_each_epoch_once():
  key = jax.random.PRNGKey(0)
  first_epoch = np.concatenate([np.asarray(batch_order.batch_indices(key, s, 50, 16))
                                for s in range(3)])
  assert len(set(first_epoch.tolist())) == 48  # drop-last: 3 full batches of 16.
  second = np.asarray(batch_order.batch_indices(key, 3, 50, 16))
  assert not np.array_equal(second, first_epoch[:16])
  assert batch_order.data_position(7, 50, 16) == {'epoch': 2, 'batch_in_epoch': 1,
                                              'images_seen': 112}
