"""Images and latents as every generator family's networks see them: latents and
images in [-1, 1] in `float_dtype()`, stored images as uint8."""

import jax
import jax.numpy as jnp


def float_dtype():
  """The dtype of latents and of images scaled to [-1, 1]: float32, or float64
  when jax_enable_x64 is on (used by exactness tests)."""
  return jnp.result_type(float)


def to_unit(images_u8: jax.Array) -> jax.Array:
  """uint8 images [0, 255] as G and D see them, in [-1, 1]."""
  return images_u8.astype(float_dtype()) / 127.5 - 1.0


def to_uint8(images: jax.Array) -> jax.Array:
  """Images in [-1, 1] (G's tanh output) as uint8 [0, 255], rounded and clipped."""
  return jnp.clip(jnp.round((images + 1.0) * 127.5), 0, 255).astype(jnp.uint8)
