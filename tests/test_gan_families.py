"""The DCGAN (per class) and MLP CGAN families: sizes, per-class training, noise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_aug.core import errors
from gan_aug.data import batch_order
from gan_aug.gan import networks
from gan_aug.gan import inference as gan_inference
from gan_aug.gan import step as gan_lib
from gan_aug.models import cgan
from gan_aug.models import dcgan
from gan_aug.pipeline import config_validation
from gan_aug.runtime import sharding

import helpers


def _param_count(module, *args):
  variables = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), *args,
                                                 train=False))
  return sum(x.size for x in jax.tree.leaves(variables['params']))


def test_dcgan_64_has_the_pytorch_example_sizes():
  z, y = jnp.zeros((2, 100)), jnp.zeros((2,), jnp.int32)
  generator = dcgan.DCGANGenerator(resolution=64, channels=3, base_width=64)
  discriminator = dcgan.DCGANDiscriminator(resolution=64, base_width=64)
  assert _param_count(generator, z, y) == 3_576_704
  assert _param_count(discriminator, jnp.zeros((2, 64, 64, 3)), y) == 2_765_568
  g_vars = jax.eval_shape(lambda: generator.init(jax.random.PRNGKey(0), z, y,
                                                 train=False))
  # Papers 000/001/002: five transposed convolutions and four batch norms in G.
  assert len([k for k in g_vars['params'] if k.startswith('ConvTranspose')]) == 5
  assert len(g_vars['batch_stats']) == 4
  d_vars = jax.eval_shape(lambda: discriminator.init(
      jax.random.PRNGKey(0), jnp.zeros((2, 64, 64, 3)), y, train=False))
  assert len([k for k in d_vars['params'] if k.startswith('Conv')]) == 5
  assert len(d_vars['batch_stats']) == 3
  out = jax.eval_shape(lambda: generator.apply(
      generator.init(jax.random.PRNGKey(0), z, y, train=False), z, y, train=False))
  assert out.shape == (2, 64, 64, 3)


def test_dcgan_refuses_a_resolution_it_cannot_make():
  config = helpers.tiny_config()
  config.gan.name = 'dcgan_per_class'
  config.synthesis.require_class_agreement = False
  config.data.resolution = 28
  with pytest.raises(errors.ConfigError, match='4x4 map: use one of 8, 16, 32'):
    config_validation.validate(config)


def test_class_agreement_needs_a_class_head():
  config = helpers.tiny_config()
  config.gan.name = 'dcgan_per_class'
  config.data.resolution = 32
  with pytest.raises(errors.ConfigError, match='no class head'):
    config_validation.validate(config)


def test_cgan_shapes_and_conditioning():
  generator = cgan.CGANGenerator(num_classes=3, resolution=16, channels=1,
                                 hidden_widths=(8, 16))
  discriminator = cgan.CGANDiscriminator(num_classes=3, hidden_widths=(32, 32, 32))
  z, y = jnp.ones((4, 8)), jnp.array([0, 1, 2, 0])
  g_vars = generator.init(jax.random.PRNGKey(0), z, y, train=False)
  images = generator.apply(g_vars, z, y, train=False)
  assert images.shape == (4, 16, 16, 1)
  assert float(jnp.abs(images).max()) <= 1.0
  # The label changes the image: same z, different class.
  assert not np.allclose(images[0], images[1])
  d_vars = discriminator.init(jax.random.PRNGKey(1), images, y, train=False)
  logit, class_logits = discriminator.apply(d_vars, images, y, train=False)
  assert logit.shape == (4,) and class_logits is None
  other, _ = discriminator.apply(d_vars, images, (y + 1) % 3, train=False)
  assert not np.allclose(logit, other)


def test_cgan_discriminator_can_tell_a_real_batch_from_a_fake_batch():
  # D sees all-real and all-fake batches in training mode. Were batch norm the
  # last thing before its linear output layer, every batch's mean logit would be
  # the same (beta . w + b) whatever the images, and D could not learn at all.
  discriminator = cgan.CGANDiscriminator(num_classes=2, hidden_widths=(16, 16, 16))
  rng = np.random.default_rng(0)
  y = jnp.zeros((8,), jnp.int32)
  bright = jnp.asarray(rng.uniform(0.5, 1.0, (8, 4, 4, 1)), jnp.float32)
  dark = jnp.asarray(rng.uniform(-1.0, -0.5, (8, 4, 4, 1)), jnp.float32)
  variables = discriminator.init(jax.random.PRNGKey(0), bright, y, train=False)

  def batch_mean_logit(x):
    (logit, _), _ = discriminator.apply(variables, x, y, train=True,
                                        rngs={'dropout': jax.random.PRNGKey(1)},
                                        mutable=['batch_stats'])
    return float(logit.mean())

  assert abs(batch_mean_logit(bright) - batch_mean_logit(dark)) > 1e-3


def test_padded_batch_indices_use_only_valid_rows_once_per_epoch():
  key = jax.random.PRNGKey(3)
  count, capacity, batch = 10, 16, 5
  epoch0 = np.concatenate([np.asarray(batch_order.padded_batch_indices(
      key, s, count, capacity, batch)) for s in range(2)])
  assert sorted(epoch0.tolist()) == list(range(count))
  epoch1 = np.concatenate([np.asarray(batch_order.padded_batch_indices(
      key, s, count, capacity, batch)) for s in range(2, 4)])
  assert sorted(epoch1.tolist()) == list(range(count))
  assert epoch0.tolist() != epoch1.tolist()


def test_stack_by_class_pads_each_class():
  images = np.arange(5, dtype=np.uint8).reshape(5, 1, 1, 1)
  labels = np.array([1, 0, 1, 1, 0])
  stacked, counts = batch_order.stack_by_class(images, labels, 3)
  assert counts.tolist() == [2, 3, 0]
  assert stacked.shape == (3, 3, 1, 1, 1)
  assert stacked[0, :2, 0, 0, 0].tolist() == [1, 4]
  assert stacked[1, :, 0, 0, 0].tolist() == [0, 2, 3]


def test_instance_noise_anneals_linearly_to_zero():
  stds = [float(gan_lib.instance_noise_std(jnp.asarray(s), 0.1, 10))
          for s in (0, 5, 10, 20)]
  np.testing.assert_allclose(stds, [0.1, 0.05, 0.0, 0.0], atol=1e-7)


def _per_class_setup():
  config = helpers.tiny_config()
  config.gan.name = 'dcgan_per_class'
  config.data.resolution = 16
  config.gan.g_base_width = 8
  config.gan.d_base_width = 8
  model = networks.build_gan(config, num_classes=2)
  g_tx, d_tx = gan_lib.adam(2e-4, 0.5, 0.999), gan_lib.adam(2e-4, 0.5, 0.999)
  mesh = sharding.make_mesh()
  state = jax.jit(lambda: gan_lib.init_state(
      model, g_tx, d_tx, seed=0, latent_dim=100, image_shape=(16, 16, 1)))()
  step = jax.jit(gan_lib.make_train_step(model, g_tx, d_tx, mesh=mesh, batch_size=8,
                                         latent_dim=100))
  return model, state, step


def test_per_class_gans_learn_only_from_their_own_class():
  _, state, step = _per_class_setup()
  assert jax.tree.leaves(state.g_params)[0].shape[0] == 2  # Stacked per class.
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (2, 12, 16, 16, 1), np.uint8)
  counts = np.array([12, 10], np.int32)
  changed = images.copy()
  changed[1] = 255 - changed[1]  # Only class 1's images differ.
  after, metrics = step(state, images, counts)
  after_changed, _ = step(state, changed, counts)
  assert np.isfinite(float(metrics['d_loss']))
  pick = lambda tree, c: jax.tree.map(lambda leaf: np.asarray(leaf[c]), tree)
  for c, same in ((0, True), (1, False)):
    a, b = pick(after.d_params, c), pick(after_changed.d_params, c)
    equal = all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a),
                                                     jax.tree.leaves(b)))
    assert equal == same, c


def test_per_class_sampler_uses_each_rows_class():
  model, state, _ = _per_class_setup()
  z = jax.random.normal(jax.random.PRNGKey(1), (4, 100))
  mixed = gan_inference.make_sampler(model)(state.g_params, state.g_batch_stats, z,
                                      jnp.array([0, 1, 0, 1]))
  for label in (0, 1):
    own = gan_inference.generate_class(model, state.g_params, state.g_batch_stats, z,
                                 label)
    np.testing.assert_allclose(mixed[label::2], own[label::2], rtol=1e-5,
                               atol=1e-6)
