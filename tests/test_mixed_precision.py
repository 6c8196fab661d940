"""Mixed precision (config.gan.compute_dtype='bfloat16'): bf16 compute, float32 state."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_aug.config_blocks import blocks
from gan_aug.core import errors
from gan_aug.gan import networks
from gan_aug.gan import step as gan_lib
from gan_aug.pipeline import config_validation
from gan_aug.runtime import sharding

_FAMILIES = {
    'acgan': dict(label_embedding_dim=8, g_base_width=32, g_kernel_size=5,
                  d_base_width=8, d_dropout=0.5),
    'dcgan_per_class': dict(g_base_width=8, d_base_width=8, conv_impl='lax'),
    'cgan': dict(g_hidden_widths=(32, 64), d_hidden_widths=(32, 32), d_dropout=0.4),
}


def _config(family, dtype):
  resolution = 16 if family == 'dcgan_per_class' else 14
  return blocks.config(
      data=blocks.data(resolution=resolution, channels=1),
      gan=blocks.gan(name=family, compute_dtype=dtype, latent_dim=16,
                     batch_size=16, **_FAMILIES[family]))


def _run(family, dtype, steps=3):
  config = _config(family, dtype)
  model = networks.build_gan(config, 2)
  tx = gan_lib.adam(2e-4, 0.5, 0.999)
  mesh = sharding.make_mesh(jax.devices()[:1])
  shape = (config.data.resolution,) * 2 + (1,)
  state = jax.jit(lambda: gan_lib.init_state(model, tx, tx, seed=0, latent_dim=16,
                                             image_shape=shape))()
  rng = np.random.default_rng(0)
  if model.one_per_class:
    images = rng.integers(0, 256, (2, 40) + shape, np.uint8)
    labels = np.full((2,), 40, np.int32)
  else:
    images = rng.integers(0, 256, (80,) + shape, np.uint8)
    labels = rng.integers(0, 2, 80).astype(np.int32)
  step = jax.jit(gan_lib.make_train_step(model, tx, tx, mesh=mesh, batch_size=16,
                                         latent_dim=16))
  history = []
  for _ in range(steps):
    state, metrics = step(state, images, labels)
    history.append(jax.device_get(metrics))
  return state, history


def test_bfloat16_compute_keeps_float32_state_and_tracks_float32_losses():
  state32, hist32 = _run('cgan', 'float32')
  state16, hist16 = _run('cgan', 'bfloat16')
  # Parameters, batch statistics and optimizer state stay float32.
  for tree in (state16.g_params, state16.g_batch_stats, state16.g_opt_state,
               state16.d_params, state16.d_batch_stats, state16.d_opt_state):
    for leaf in jax.tree.leaves(tree):
      if jnp.issubdtype(leaf.dtype, jnp.floating):
        assert leaf.dtype == jnp.float32
  # The same initial weights and draws: the losses differ by bf16 rounding only.
  for m32, m16 in zip(hist32, hist16):
    for key in ('d_loss', 'g_loss'):
      assert np.isfinite(m16[key])
      np.testing.assert_allclose(m16[key], m32[key], rtol=0.05, err_msg=key)
  # And the bf16 path really computes in bf16 (it is not the float32 program).
  assert any(m16['d_loss'] != m32['d_loss'] for m16, m32 in zip(hist16, hist32))


@pytest.mark.parametrize('family', sorted(_FAMILIES))
def test_bfloat16_compute_runs_in_bf16_with_float32_parameters_and_outputs(family):
  """Traced, not run: the shapes and dtypes of every value are what is checked."""
  model = networks.build_gan(_config(family, 'bfloat16'), 2)
  z = jax.ShapeDtypeStruct((2, 16), jnp.float32)
  labels = jax.ShapeDtypeStruct((2,), jnp.int32)
  key = jax.ShapeDtypeStruct((2,), jnp.uint32)
  g_vars = jax.eval_shape(lambda k, a, b: model.generator.init(k, a, b, train=False),
                          key, z, labels)
  g_apply = lambda v, a, b: model.generator.apply(v, a, b, train=False)
  images = jax.eval_shape(g_apply, g_vars, z, labels)
  d_vars = jax.eval_shape(
      lambda k, a, b: model.discriminator.init(k, a, b, train=False), key, images,
      labels)
  d_apply = lambda v, a, b: model.discriminator.apply(v, a, b, train=False)[0]
  realness = jax.eval_shape(d_apply, d_vars, images, labels)
  assert images.dtype == realness.dtype == jnp.float32
  for leaf in jax.tree.leaves((g_vars, d_vars)):
    assert leaf.dtype == jnp.float32
  # The matrix products and convolutions themselves take bf16 operands.
  for apply, variables, x in ((g_apply, g_vars, z), (d_apply, d_vars, images)):
    jaxpr = str(jax.jit(apply).trace(variables, x, labels).jaxpr)
    heavy = [line for line in jaxpr.splitlines()
             if 'dot_general' in line or 'conv_general_dilated' in line]
    assert heavy and all('bf16[' in line for line in heavy), family


def test_unknown_compute_dtype_is_refused():
  config = _config('acgan', 'float16')
  with pytest.raises(errors.ConfigError,
                     match=r"config.gan.compute_dtype='float16' is not allowed"):
    config_validation.validate(config)
