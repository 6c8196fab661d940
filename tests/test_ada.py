"""ADA: the bgc pipeline at p = 0 and p = 1, its gradient, the heuristic's steps and
clipping, and a GAN with ADA resumed mid-run exactly."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from gan_aug import data as data_lib
from gan_aug.core import errors
from gan_aug.gan import ada
from gan_aug.generator import loop as gan_loop
from gan_aug.pipeline import config_validation
from gan_aug.pipeline import stages
from helpers import tiny_config


def _images(channels, n=8, size=12):
  rng = np.random.default_rng(channels)
  return jnp.asarray(rng.uniform(-1, 1, (n, size, size, channels)), jnp.float32)


@pytest.mark.parametrize('channels', [1, 3])
def test_p_0_leaves_images_bitwise_and_p_1_changes_every_image(channels):
  images = _images(channels)
  key = jax.random.PRNGKey(0)
  augment = jax.jit(ada.augment)
  unchanged = augment(key, images, jnp.float32(0.0))
  np.testing.assert_array_equal(np.asarray(unchanged), np.asarray(images))
  changed = np.asarray(augment(key, images, jnp.float32(1.0)))
  assert changed.shape == images.shape
  assert all(not np.allclose(a, b) for a, b in zip(changed, np.asarray(images)))
  # Each image its own draws, and another key other draws.
  other = np.asarray(augment(jax.random.PRNGKey(1), images, jnp.float32(1.0)))
  assert not np.allclose(changed, other)


def test_augmentations_are_differentiable_in_the_pixels():
  images = _images(3, n=2, size=8)
  key, p = jax.random.PRNGKey(3), jnp.float32(1.0)
  weights = jnp.asarray(np.random.default_rng(1).normal(size=images.shape), jnp.float32)
  loss = jax.jit(lambda x: jnp.sum(weights * ada.augment(key, x, p)))
  grad = np.asarray(jax.grad(loss)(images))
  assert np.abs(grad).sum() > 0
  eps, flat = 1e-2, np.asarray(images).ravel()
  for index in np.random.default_rng(2).choice(flat.size, 12, replace=False):
    up, down = flat.copy(), flat.copy()
    up[index] += eps
    down[index] -= eps
    numeric = (float(loss(up.reshape(images.shape)))
               - float(loss(down.reshape(images.shape)))) / (2 * eps)
    np.testing.assert_allclose(grad.ravel()[index], numeric, rtol=1e-2, atol=1e-3)


def test_heuristic_moves_p_by_the_step_and_clips_it():
  step = 64 * 4 / (10.0 * 1000)  # batch x interval / (kimg x 1000)
  adjust = lambda p, signs: float(ada.adjust(jnp.float32(p), jnp.float32(signs), 4,
                                             0.6, 64, 10.0))
  assert adjust(0.5, 4 * 0.9) == pytest.approx(0.5 + step)  # r_t 0.9 > 0.6: more
  assert adjust(0.5, 4 * 0.1) == pytest.approx(0.5 - step)  # r_t 0.1 < 0.6: less
  assert adjust(0.5, 4 * -1.0) == pytest.approx(0.5 - step)
  assert adjust(0.0, 0.0) == 0.0 and adjust(1.0, 4.0) == 1.0
  assert adjust(0.99, 4.0) == 1.0 and adjust(0.01, -4.0) == 0.0
  settings = ada.Settings(target=0.6, interval=4, kimg=10.0)
  p, signs = jnp.float32(0.5), jnp.float32(0.0)
  for step_index in range(4):  # Three steps accumulate; the fourth adjusts.
    p, signs = ada.next_state(p, signs, jnp.float32(1.0), jnp.int32(step_index),
                              settings, 64)
    if step_index < 3:
      assert float(p) == 0.5 and float(signs) == step_index + 1
  assert float(p) == pytest.approx(0.5 + step) and float(signs) == 0.0


def _ada_config(num_steps):
  """Three per-class DCGANs, each with its own p: it moves by batch 8 / (0.032 x
  1000) = 0.25 a step, and a low target lets an untrained D's scores push it up."""
  config = tiny_config(name='dcgan_per_class', g_base_width=4, d_base_width=4,
                       batch_size=8, ada=True, ada_interval=1, ada_kimg=0.032,
                       ada_target=0.05)
  config.data.resolution = 8
  config.gan.num_steps = num_steps
  return config


def _restore(stage_dir, step):
  return ocp.StandardCheckpointer().restore(
      os.path.join(stage_dir, 'checkpoints', str(step), 'state'))


def test_a_per_class_gan_with_ada_resumes_its_ps_and_parameters_exactly(tmp_path):
  config = _ada_config(4)
  dataset = data_lib.load_dataset(config.data, config.seed)
  straight = str(tmp_path / 'straight')
  summary = gan_loop.train_gan(config, dataset, straight)
  assert 'ada_p' in summary['final_metrics']
  resumed = str(tmp_path / 'resumed')
  gan_loop.train_gan(_ada_config(2), dataset, resumed)
  assert gan_loop.train_gan(config, dataset, resumed)['resumed_from_step'] == 2
  a, b = _restore(straight, 4), _restore(resumed, 4)
  ps = np.asarray(a['ada_p'])
  assert ps.shape == (3,)  # One p per class.
  assert set(ps.tolist()) <= {0.0, 0.25, 0.5, 0.75, 1.0} and ps.max() > 0  # Moved.
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_ada_off_leaves_the_stage_key_alone_and_bad_fields_are_refused():
  config = tiny_config()
  key = stages.gan_stage_key(config, 'fp')
  assert not any(k.startswith('ada') for k in key['gan'])
  config.gan.ada_kimg = 500.0  # Without ADA its settings change nothing.
  assert stages.gan_stage_key(config, 'fp') == key
  assert stages.gan_stage_key(tiny_config(ada=True), 'fp')['gan']['ada'] is True
  for field, value in (('ada_target', 1.5), ('ada_interval', 0), ('ada_kimg', 0.0)):
    with pytest.raises(errors.ConfigError, match=f'gan.{field}'):
      config_validation.validate(tiny_config(ada=True, **{field: value}))

