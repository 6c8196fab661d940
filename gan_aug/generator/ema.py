"""Exponential moving average (EMA) of a parameter pytree.

`ema <- decay * ema + (1 - decay) * new`, leaf by leaf. Each leaf keeps its
dtype; low-precision leaves (bfloat16, float16) are blended in float32 and
rounded back once. `decay` may be a Python float or a traced scalar, so the
update can sit inside a jitted step with a decay that depends on the step.
"""

from typing import Any

import jax
import jax.numpy as jnp


def init(params: Any) -> Any:
  """The initial average: a copy of `params` (the same structure and dtypes)."""
  return jax.tree.map(jnp.array, params)


def warmed_up_decay(decay: float, step: Any) -> Any:
  """min(decay, (1 + step) / (10 + step)): the decay for the update after `step`.

  Early updates average over few steps, so an average started at the random
  initial weights forgets them quickly: with a fixed 0.999, 22 % of the
  initial weights would still be in it after 1500 steps. (The same warm-up as
  TensorFlow's ExponentialMovingAverage with `num_updates`.)
  """
  step = jnp.asarray(step, jnp.float32)
  return jnp.minimum(jnp.float32(decay), (1.0 + step) / (10.0 + step))


def update(ema_params: Any, new_params: Any, decay: Any) -> Any:
  """`decay * ema_params + (1 - decay) * new_params`, leafwise, in each leaf's dtype."""

  def blend(ema: jax.Array, new: jax.Array) -> jax.Array:
    ema, new = jnp.asarray(ema), jnp.asarray(new)
    dtype = jnp.promote_types(ema.dtype, jnp.float32)
    rate = jnp.asarray(decay, dtype)
    mixed = rate * ema.astype(dtype) + (1 - rate) * new.astype(dtype)
    return mixed.astype(ema.dtype)

  return jax.tree.map(blend, ema_params, new_params)
