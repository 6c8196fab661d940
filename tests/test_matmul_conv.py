"""The DCGAN's matrix-product layers equal Flax's convolutions, values and gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_aug import config_validation
from gan_aug import models
from gan_aug.models import dcgan
from gan_aug.models import matmul_conv
from helpers import tiny_config


def _flax_layer(name, features):
  return {
      'conv4x4_stride2': nn.Conv(features, (4, 4), strides=(2, 2),
                                 padding=((1, 1), (1, 1)), use_bias=False),
      'conv_transpose4x4_stride2': nn.ConvTranspose(
          features, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)), use_bias=False),
      'project_1x1_to_4x4': nn.ConvTranspose(features, (4, 4), padding='VALID',
                                             use_bias=False),
      'reduce_4x4_to_1x1': nn.Conv(features, (4, 4), padding='VALID', use_bias=False),
  }[name]


def _value_and_grads(fn, x, kernel, cotangent):
  out, vjp = jax.vjp(fn, x, kernel)
  return (out,) + vjp(cotangent)


# (layer, input shape, output channels): both formulations of each stride-2 layer
# (fewer and more than 8 channels), non-square inputs, batch > 1.
CASES = [
    ('conv4x4_stride2', (2, 8, 6, 3), 5),
    ('conv4x4_stride2', (3, 4, 8, 9), 4),
    ('conv_transpose4x4_stride2', (2, 4, 6, 9), 5),
    ('conv_transpose4x4_stride2', (3, 2, 4, 6), 11),
    ('project_1x1_to_4x4', (2, 1, 1, 7), 5),
    ('reduce_4x4_to_1x1', (2, 4, 4, 7), 1),
]


@pytest.mark.parametrize('name,shape,features', CASES)
def test_matmul_layer_equals_flax_in_float64(name, shape, features):
  rng = np.random.default_rng(0)
  with jax.enable_x64(True):
    x = jnp.asarray(rng.normal(size=shape))
    kernel = jnp.asarray(rng.normal(size=(4, 4, shape[-1], features)))
    flax_fn = lambda x, k: _flax_layer(name, features).apply({'params': {'kernel': k}}, x)
    expected = flax_fn(x, kernel)
    cotangent = jnp.asarray(rng.normal(size=expected.shape))
    got = _value_and_grads(getattr(matmul_conv, name), x, kernel, cotangent)
    want = _value_and_grads(flax_fn, x, kernel, cotangent)
    for a, b in zip(got, want):
      assert a.dtype == jnp.float64 and a.shape == b.shape
      np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * float(jnp.abs(b).max()))


def _dcgan_pair(conv_impl, dtype, resolution=16):
  return (dcgan.DCGANGenerator(resolution=resolution, channels=3, base_width=8,
                               conv_impl=conv_impl, param_dtype=dtype),
          dcgan.DCGANDiscriminator(resolution=resolution, base_width=8,
                                   conv_impl=conv_impl, param_dtype=dtype))


def _gan_loss_and_grads(generator, discriminator, g_vars, d_vars, z):
  """D's mean logit on G(z), both in training mode, and its gradients."""
  def loss(g_params, d_params):
    fake, _ = generator.apply({**g_vars, 'params': g_params}, z, None, train=True,
                              mutable=['batch_stats'])
    (logit, _), _ = discriminator.apply({**d_vars, 'params': d_params}, fake, None,
                                        train=True, mutable=['batch_stats'])
    return jnp.mean(logit * jnp.arange(logit.shape[0], dtype=logit.dtype))
  return jax.jit(jax.value_and_grad(loss, (0, 1)))(g_vars["params"], d_vars["params"])


@pytest.mark.parametrize('dtype,rtol', [(jnp.float64, 1e-10), (jnp.float32, 2e-4)])
def test_matmul_dcgan_equals_lax_dcgan_with_gradients(dtype, rtol):
  with jax.enable_x64(dtype == jnp.float64):
    z = jnp.asarray(np.random.default_rng(1).normal(size=(4, 100)), dtype)
    g_lax, d_lax = _dcgan_pair('lax', dtype)
    g_mm, d_mm = _dcgan_pair('matmul', dtype)
    g_vars = g_lax.init(jax.random.PRNGKey(0), z, None, train=False)
    images = g_lax.apply(g_vars, z, None, train=False)
    d_vars = d_lax.init(jax.random.PRNGKey(1), images, None, train=False)
    # The same parameter tree: checkpoints of one load into the other.
    assert (jax.tree.structure(g_mm.init(jax.random.PRNGKey(0), z, None, train=False))
            == jax.tree.structure(g_vars))
    np.testing.assert_allclose(g_mm.apply(g_vars, z, None, train=False), images,
                               rtol=rtol, atol=rtol)
    (loss_lax, grads_lax) = _gan_loss_and_grads(g_lax, d_lax, g_vars, d_vars, z)
    (loss_mm, grads_mm) = _gan_loss_and_grads(g_mm, d_mm, g_vars, d_vars, z)
    np.testing.assert_allclose(loss_mm, loss_lax, rtol=rtol)
    for a, b in zip(jax.tree.leaves(grads_mm), jax.tree.leaves(grads_lax)):
      assert a.dtype == dtype
      np.testing.assert_allclose(a, b, rtol=0, atol=rtol * float(jnp.abs(b).max()))


def test_conv_impl_auto_picks_matmul_on_cpu_and_bad_name_is_refused():
  config = tiny_config()
  config.gan.name = 'dcgan_per_class'
  config.data.resolution = 32
  assert jax.default_backend() == 'cpu'
  assert models.build_gan(config, 2).generator.conv_impl == 'matmul'
  config.gan.conv_impl = 'lax'
  assert models.build_gan(config, 2).discriminator.conv_impl == 'lax'
  config.gan.conv_impl = 'fft'
  with pytest.raises(config_validation.ConfigError, match='gan.conv_impl'):
    config_validation.validate(config)
