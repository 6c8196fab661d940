"""Resampling images on device by an affine map: the geometric step of the
classifier's classical augmentation and of the GANs' ADA pipeline."""

import jax
import jax.numpy as jnp


def warp(image: jax.Array, matrix: jax.Array, mode: str = 'nearest') -> jax.Array:
  """An [H, W, C] image resampled at `matrix` [2, 3] @ (row, col, 1) of every
  output pixel, bilinearly; outside the image `mode` as
  `jax.scipy.ndimage.map_coordinates` reads it ('nearest' repeats the edge,
  'mirror' reflects about it). Linear in the pixels, so differentiable in them."""
  height, width = image.shape[:2]
  rows, cols = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32),
                            jnp.arange(width, dtype=jnp.float32), indexing='ij')
  grid = jnp.stack([rows.ravel(), cols.ravel(), jnp.ones(rows.size)])
  source = (matrix @ grid).reshape(2, height, width)
  return jax.vmap(lambda channel: jax.scipy.ndimage.map_coordinates(
      channel, list(source), order=1, mode=mode), in_axes=-1, out_axes=-1)(image)
