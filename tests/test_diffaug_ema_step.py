"""DiffAugment and the EMA generator inside the GAN train step."""

import jax
import numpy as np
import pytest

from configs import covid_acgan
from gan_aug.config_blocks import blocks
from gan_aug.core import errors
from gan_aug.gan import diffaug
from gan_aug.gan import networks
from gan_aug.gan import inference as gan_inference
from gan_aug.gan import step as gan_lib
from gan_aug.pipeline import config_validation
from gan_aug.runtime import sharding

_POLICY = 'color,translation,cutout'


def _setup(with_ema):
  config = blocks.config(
      data=blocks.data(resolution=14, channels=1),
      gan=blocks.gan(name='acgan', latent_dim=8, batch_size=8,
                     label_embedding_dim=4, g_base_width=16,
                     g_kernel_size=3, d_base_width=8, d_dropout=0.0))
  model = networks.build_gan(config, 2)
  tx = gan_lib.adam(2e-4, 0.5, 0.999)
  state = jax.jit(lambda: gan_lib.init_state(
      model, tx, tx, seed=0, latent_dim=8, image_shape=(14, 14, 1),
      with_ema=with_ema))()
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (32, 14, 14, 1), np.uint8)
  labels = rng.integers(0, 2, 32).astype(np.int32)
  return model, tx, state, images, labels


def _step(model, tx, policy='', ema_decay=0.0):
  return jax.jit(gan_lib.make_train_step(
      model, tx, tx, mesh=sharding.make_mesh(jax.devices()[:1]), batch_size=8,
      latent_dim=8, diffaug_policy=policy, ema_decay=ema_decay))


def test_diffaug_step_augments_real_and_both_fake_batches_with_independent_draws(
    monkeypatch):
  calls, keys = [], []
  original = diffaug.augment

  def recording_augment(images, policy, key):
    calls.append((images.shape, tuple(policy)))
    # The key's value is only known when the compiled step runs.
    jax.debug.callback(lambda k: keys.append(tuple(np.asarray(k).ravel())), key)
    return original(images, policy, key)

  monkeypatch.setattr(diffaug, 'augment', recording_augment)
  model, tx, state, images, labels = _setup(with_ema=False)
  jax.block_until_ready(_step(model, tx, _POLICY)(state, images, labels))
  # D's update sees the real and the fake batch, G's update the fake batch once
  # more: three augmentations, one policy, three different keys.
  assert len(calls) == 3
  assert {policy for _, policy in calls} == {tuple(_POLICY.split(','))}
  assert all(shape == (8, 14, 14, 1) for shape, _ in calls)
  assert len(keys) == 3 and len(set(keys)) == 3


def test_diffaug_changes_the_step_and_stays_deterministic_and_differentiable():
  model, tx, state, images, labels = _setup(with_ema=False)
  plain, _ = _step(model, tx)(state, images, labels)
  augmented_step = _step(model, tx, _POLICY)
  augmented, metrics = augmented_step(state, images, labels)
  again, _ = augmented_step(state, images, labels)
  assert all(np.isfinite(float(v)) for v in metrics.values())
  leaves = lambda s: jax.tree.leaves((s.g_params, s.d_params))
  # G learns through the augmentation (finite, changed weights) ...
  for before, after in zip(jax.tree.leaves(state.g_params),
                           jax.tree.leaves(augmented.g_params)):
    assert np.all(np.isfinite(after)) and not np.array_equal(before, after)
  # ... differently from the plain step, and the same way every time.
  assert any(not np.array_equal(a, b) for a, b in zip(leaves(plain), leaves(augmented)))
  for a, b in zip(leaves(augmented), leaves(again)):
    np.testing.assert_array_equal(a, b)


def test_ema_generator_is_updated_exactly_and_used_for_synthesis():
  model, tx, state, images, labels = _setup(with_ema=True)
  step = _step(model, tx, ema_decay=0.9)
  first, _ = step(state, images, labels)
  second, _ = step(first, images, labels)
  # Warm-up: the decays after steps 0 and 1 are min(0.9, 1/10) and min(0.9, 2/11).
  d0, d1 = 0.1, 2 / 11
  expected = jax.tree.map(
      lambda init, g1, g2: d1 * (d0 * np.float64(init) + (1 - d0) * g1)
      + (1 - d1) * np.float64(g2),
      state.g_params, first.g_params, second.g_params)
  for got, want in zip(jax.tree.leaves(second.g_ema_params), jax.tree.leaves(expected)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
  assert gan_inference.synthesis_params(second) is second.g_ema_params
  plain = state.replace(g_ema_params=None)
  assert gan_inference.synthesis_params(plain) is plain.g_params


def test_ema_decay_without_an_ema_state_is_refused():
  model, tx, state, images, labels = _setup(with_ema=False)
  with pytest.raises(ValueError, match='with_ema=True'):
    _step(model, tx, ema_decay=0.99)(state, images, labels)


@pytest.mark.parametrize('field,value,message', [
    ('diffaug', 'color,flip', "config.gan.diffaug: unknown operation 'flip'"),
    ('ema_decay', 1.0, r'config.gan.ema_decay=1.0 is not allowed'),
])
def test_diffaug_and_ema_config_values_are_checked(field, value, message):
  config = covid_acgan.get_config('phantom,smoke')
  config.gan[field] = value
  with pytest.raises(errors.ConfigError, match=message):
    config_validation.validate(config)
