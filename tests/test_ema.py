"""Exponential moving average of parameter pytrees."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_aug.generator import ema


def _tree(seed):
  rng = np.random.default_rng(seed)
  return {
      'dense': rng.normal(size=(3, 4)).astype(np.float32),
      'bias': rng.normal(size=(4,)).astype(np.float32),
      'block': {'kernel': rng.normal(size=(2, 2, 3)).astype(np.float32)},
  }


def _as_jax(tree):
  return jax.tree.map(jnp.asarray, tree)


@pytest.mark.parametrize('decay', [0.9, 0.999, 0.5])
def test_ema_update_matches_float64_by_hand(decay):
  old, new = _tree(0), _tree(1)
  result = ema.update(_as_jax(old), _as_jax(new), decay)
  assert jax.tree.structure(result) == jax.tree.structure(old)
  expected = jax.tree.map(
      lambda o, n: decay * o.astype(np.float64) + (1 - decay) * n.astype(np.float64),
      old, new)
  jax.tree.map(lambda r, e: np.testing.assert_allclose(r, e, rtol=1e-6, atol=1e-6),
               result, expected)


def test_ema_update_with_a_traced_decay_under_jit():
  old, new = _tree(2), _tree(3)
  eager = ema.update(_as_jax(old), _as_jax(new), 0.99)
  jitted = jax.jit(ema.update)(_as_jax(old), _as_jax(new), jnp.float32(0.99))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), eager, jitted)


def test_ema_decay_zero_takes_new_and_decay_one_keeps_old():
  old, new = _as_jax(_tree(4)), _as_jax(_tree(5))
  jax.tree.map(np.testing.assert_array_equal, ema.update(old, new, 0.0), new)
  jax.tree.map(np.testing.assert_array_equal, ema.update(old, new, 1.0), old)


def test_ema_repeated_updates_approach_constant_params_geometrically():
  old, new = _tree(6), _tree(7)
  decay, steps = 0.9, 25
  average = _as_jax(old)
  update = jax.jit(ema.update)
  for _ in range(steps):
    average = update(average, _as_jax(new), decay)
  expected = jax.tree.map(
      lambda o, n: n.astype(np.float64) + decay**steps * (o.astype(np.float64) - n),
      old, new)
  jax.tree.map(lambda r, e: np.testing.assert_allclose(r, e, rtol=1e-5, atol=1e-5),
               average, expected)


def test_ema_keeps_every_leaf_dtype():
  old = {'f32': jnp.ones((3,), jnp.float32), 'bf16': jnp.ones((3,), jnp.bfloat16),
         'nested': {'f16': jnp.ones((2, 2), jnp.float16)}}
  new = jax.tree.map(lambda x: jnp.full_like(x, 3.0), old)
  result = ema.update(old, new, 0.75)
  assert jax.tree.map(lambda x: x.dtype, result) == jax.tree.map(lambda x: x.dtype, old)
  # 0.75 * 1 + 0.25 * 3 = 1.5 is exact in every one of these dtypes.
  jax.tree.map(lambda x: np.testing.assert_array_equal(np.asarray(x, np.float32), 1.5),
               result)
  traced = jax.jit(ema.update)(old, new, jnp.float32(0.75))
  assert jax.tree.map(lambda x: x.dtype, traced) == jax.tree.map(lambda x: x.dtype, old)


def test_ema_init_copies_the_tree():
  params = _as_jax(_tree(8)) | {'bf16': jnp.ones((2,), jnp.bfloat16)}
  average = ema.init(params)
  assert jax.tree.structure(average) == jax.tree.structure(params)
  for a, p in zip(jax.tree.leaves(average), jax.tree.leaves(params)):
    assert a is not p and a.dtype == p.dtype
    np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(p, np.float32))


def test_ema_warm_up_caps_the_decay_early_and_reaches_it_later():
  from gan_aug.generator.ema import warmed_up_decay  # pylint: disable=import-outside-toplevel
  assert float(warmed_up_decay(0.999, 0)) == pytest.approx(0.1)
  assert float(warmed_up_decay(0.999, 90)) == pytest.approx(91 / 100)
  assert float(warmed_up_decay(0.999, 10 ** 6)) == pytest.approx(0.999)
  assert float(warmed_up_decay(0.5, 5)) == pytest.approx(6 / 15)
  assert float(warmed_up_decay(0.5, 50)) == pytest.approx(0.5)
