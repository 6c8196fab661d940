"""The matrix-product layers (the DCGAN's, the ACGAN's, the classifiers') equal Flax's
convolutions, values and gradients, alone and in whole models."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_aug.core import errors
from gan_aug.gan import networks
from gan_aug.models import acgan
from gan_aug.models import dcgan
from gan_aug.models import matmul_conv
from gan_aug.pipeline import config_validation
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
  config = tiny_config(conv_impl='auto')
  config.gan.name = 'dcgan_per_class'
  config.data.resolution = 32
  assert jax.default_backend() == 'cpu'
  assert networks.build_gan(config, 2).generator.conv_impl == 'matmul'
  config.gan.conv_impl = 'lax'
  assert networks.build_gan(config, 2).discriminator.conv_impl == 'lax'
  config.gan.conv_impl = 'fft'
  with pytest.raises(errors.ConfigError, match='gan.conv_impl'):
    config_validation.validate(config)


# (input shape, kernel side, output channels, padding): both formulations of the
# stride-1 layer (fewer and more than 8 input channels), non-square inputs.
STRIDE1_CASES = [
    ((2, 7, 5, 1), 3, 6, 'SAME'),
    ((2, 6, 9, 10), 3, 4, 'SAME'),
    ((3, 8, 6, 9), 3, 5, 'VALID'),
    ((2, 9, 7, 3), 5, 4, 'VALID'),
    ((1, 6, 6, 12), 5, 3, 'SAME'),
]


@pytest.mark.parametrize('shape,side,features,padding', STRIDE1_CASES)
def test_matmul_stride1_conv_equals_flax_in_float64(shape, side, features, padding):
  rng = np.random.default_rng(2)
  with jax.enable_x64(True):
    x = jnp.asarray(rng.normal(size=shape))
    flax_conv = nn.Conv(features, (side, side), padding=padding)
    mm_conv = matmul_conv.Conv(features, (side, side), padding=padding)
    assert (jax.tree.map(jnp.shape, jax.eval_shape(mm_conv.init, jax.random.PRNGKey(0), x))
            == jax.tree.map(jnp.shape, jax.eval_shape(flax_conv.init,
                                                      jax.random.PRNGKey(0), x)))
    params = {'kernel': jnp.asarray(rng.normal(size=(side, side, shape[-1], features))),
              'bias': jnp.asarray(rng.normal(size=(features,)))}
    expected = flax_conv.apply({'params': params}, x)
    cotangent = jnp.asarray(rng.normal(size=expected.shape))
    value_and_grads = jax.jit(_value_and_grads, static_argnums=0)
    for got, want in zip(
        value_and_grads(lambda x, p: mm_conv.apply({'params': p}, x), x, params,
                        cotangent),
        value_and_grads(lambda x, p: flax_conv.apply({'params': p}, x), x, params,
                        cotangent)):
      for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert a.dtype == jnp.float64 and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * float(jnp.abs(b).max()))


@pytest.mark.parametrize('name,resolution', [('custom_cnn', 28), ('gmd_cnn', 48)])
def test_matmul_classifier_equals_lax_classifier_with_gradients(name, resolution):
  from gan_aug.config_blocks import blocks  # pylint: disable=g-import-not-at-top
  from gan_aug.models import classifiers  # pylint: disable=g-import-not-at-top
  cfg = blocks.classifier(name=name)
  models_by_impl = {}
  for impl in ('lax', 'matmul'):
    cfg.conv_impl = impl
    models_by_impl[impl] = classifiers.build_classifier(cfg, 3)
  assert models_by_impl['matmul'].conv_impl == 'matmul'
  with jax.enable_x64(True):
    x = jnp.asarray(np.random.default_rng(3).uniform(size=(2, resolution, resolution, 1)))
    init = lambda impl: jax.jit(functools.partial(
        models_by_impl[impl].init, train=False))(jax.random.PRNGKey(0), x)
    variables = init('lax')
    assert jax.tree.structure(init('matmul')) == jax.tree.structure(variables)

    def loss_and_grads(model):
      def loss(params):
        logits = model.apply({**variables, 'params': params}, x, train=False)
        return jnp.sum(logits * jnp.arange(logits.size).reshape(logits.shape))
      return jax.jit(jax.value_and_grad(loss))(variables['params'])

    (loss_mm, grads_mm), (loss_lax, grads_lax) = (
        loss_and_grads(models_by_impl[i]) for i in ('matmul', 'lax'))
    np.testing.assert_allclose(loss_mm, loss_lax, rtol=1e-10)
    for a, b in zip(jax.tree.leaves(grads_mm), jax.tree.leaves(grads_lax)):
      np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * float(jnp.abs(b).max()))


def test_classifier_conv_impl_auto_is_matmul_on_cpu_and_bad_name_is_refused():
  from gan_aug.models import classifiers  # pylint: disable=g-import-not-at-top
  config = tiny_config()
  assert classifiers.build_classifier(config.classifier, 2).conv_impl == 'matmul'
  config.classifier.conv_impl = 'winograd'
  with pytest.raises(errors.ConfigError, match='classifier.conv_impl'):
    config_validation.validate(config)


# (layer, input shape, kernel side, output channels): paper 003's ACGAN layers
# (5x5 stride-2 transposed in G, 3x3 stride-2 in D) on odd and even sides, with
# fewer and more than 8 input channels.
STRIDED_CASES = [
    ('ConvTranspose', (2, 7, 7, 9), 5, 4),
    ('ConvTranspose', (2, 6, 5, 3), 5, 11),
    ('Conv', (2, 14, 14, 3), 3, 6),
    ('Conv', (2, 7, 9, 10), 3, 4),
]


@pytest.mark.parametrize('layer,shape,side,features', STRIDED_CASES)
def test_matmul_strided_layers_equal_flax_in_float64(layer, shape, side, features):
  rng = np.random.default_rng(4)
  with jax.enable_x64(True):
    x = jnp.asarray(rng.normal(size=shape))
    kwargs = dict(strides=(2, 2), padding='SAME')
    flax_layer = getattr(nn, layer)(features, (side, side), **kwargs)
    mm_layer = getattr(matmul_conv, layer)(features, (side, side), **kwargs)
    params = {'kernel': jnp.asarray(rng.normal(size=(side, side, shape[-1], features))),
              'bias': jnp.asarray(rng.normal(size=(features,)))}
    assert (jax.tree.map(jnp.shape, mm_layer.init(jax.random.PRNGKey(0), x))
            == jax.tree.map(jnp.shape, {'params': params}))
    expected = flax_layer.apply({'params': params}, x)
    cotangent = jnp.asarray(rng.normal(size=expected.shape))
    value_and_grads = jax.jit(_value_and_grads, static_argnums=0)
    got = value_and_grads(lambda x, p: mm_layer.apply({'params': p}, x), x, params,
                          cotangent)
    want = value_and_grads(lambda x, p: flax_layer.apply({'params': p}, x), x, params,
                           cotangent)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      assert a.dtype == jnp.float64 and a.shape == b.shape
      np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * float(jnp.abs(b).max()))


def _acgan(conv_impl, resolution):
  return (acgan.ACGANGenerator(num_classes=3, resolution=resolution, channels=3,
                               base_width=8, conv_impl=conv_impl,
                               param_dtype=jnp.float64),
          acgan.ACGANDiscriminator(num_classes=3, resolution=resolution, base_width=8,
                                   dropout_rate=0.0, conv_impl=conv_impl,
                                   param_dtype=jnp.float64))


def _acgan_losses_and_grads(generator, discriminator, g_vars, d_vars, z, labels, real):
  """D's and G's ACGAN losses in training mode (batch statistics), and every
  parameter's gradient."""
  def losses(g_params, d_params):
    fake, _ = generator.apply({**g_vars, 'params': g_params}, z, labels, train=True,
                              mutable=['batch_stats'])
    scores = lambda x: discriminator.apply({**d_vars, 'params': d_params}, x,
                                           train=True, mutable=['batch_stats'])[0]
    (real_logit, real_classes), (fake_logit, fake_classes) = scores(real), scores(fake)
    bce = optax.sigmoid_binary_cross_entropy
    ce = optax.softmax_cross_entropy_with_integer_labels
    d_loss = jnp.mean(bce(real_logit, jnp.ones_like(real_logit))
                      + bce(fake_logit, jnp.zeros_like(fake_logit))
                      + ce(real_classes, labels) + ce(fake_classes, labels))
    g_loss = jnp.mean(bce(fake_logit, jnp.ones_like(fake_logit))
                      + ce(fake_classes, labels))
    return d_loss, g_loss
  d_loss, d_grads = jax.value_and_grad(lambda g, d: losses(g, d)[0], (0, 1))(
      g_vars['params'], d_vars['params'])
  g_loss, g_grads = jax.value_and_grad(lambda g, d: losses(g, d)[1], (0, 1))(
      g_vars['params'], d_vars['params'])
  return (d_loss, g_loss), (d_grads, g_grads)


def test_matmul_acgan_equals_lax_acgan_with_gradients_in_float64():
  with jax.enable_x64(True):
    rng = np.random.default_rng(5)
    z = jnp.asarray(rng.normal(size=(4, 100)))
    labels = jnp.asarray([0, 1, 2, 1])
    real = jnp.asarray(rng.uniform(-1, 1, size=(4, 28, 28, 3)))
    g_lax, d_lax = _acgan('lax', 28)
    g_mm, d_mm = _acgan('matmul', 28)
    init = lambda module, key, *args: jax.jit(functools.partial(
        module.init, train=False))(jax.random.PRNGKey(key), *args)
    g_vars, d_vars = init(g_lax, 0, z, labels), init(d_lax, 1, real)
    # The same parameter trees and initial values: checkpoints load into both.
    for mm_vars, lax_vars in ((init(g_mm, 0, z, labels), g_vars),
                              (init(d_mm, 1, real), d_vars)):
      assert jax.tree.structure(mm_vars) == jax.tree.structure(lax_vars)
      for a, b in zip(jax.tree.leaves(mm_vars), jax.tree.leaves(lax_vars)):
        np.testing.assert_array_equal(a, b)
    forward = jax.jit(lambda g, v: g.apply(v, z, labels, train=False),
                      static_argnums=0)
    np.testing.assert_allclose(forward(g_mm, g_vars), forward(g_lax, g_vars),
                               rtol=1e-10, atol=1e-12)
    step = jax.jit(_acgan_losses_and_grads, static_argnums=(0, 1))
    losses_mm, grads_mm = step(g_mm, d_mm, g_vars, d_vars, z, labels, real)
    losses_lax, grads_lax = step(g_lax, d_lax, g_vars, d_vars, z, labels, real)
    np.testing.assert_allclose(losses_mm, losses_lax, rtol=1e-10)
    for a, b in zip(jax.tree.leaves(grads_mm), jax.tree.leaves(grads_lax)):
      assert a.dtype == jnp.float64
      np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * float(jnp.abs(b).max()))


def test_acgan_conv_impl_lax_selects_flax_layers():
  config = tiny_config()
  config.gan.conv_impl = 'lax'
  model = networks.build_gan(config, 3)
  assert model.generator.conv_impl == model.discriminator.conv_impl == 'lax'
  z, labels = jnp.zeros((2, 100)), jnp.zeros(2, jnp.int32)
  layers = set()
  def record(next_fun, args, kwargs, context):
    layers.add(type(context.module))
    return next_fun(*args, **kwargs)
  with nn.intercept_methods(record):
    model.generator.init(jax.random.PRNGKey(0), z, labels, train=False)
  assert nn.ConvTranspose in layers and matmul_conv.ConvTranspose not in layers
  config.gan.conv_impl = 'auto'
  assert networks.build_gan(config, 3).generator.conv_impl == 'matmul'  # On CPU.
