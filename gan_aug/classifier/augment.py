"""Classical augmentation on device, inside the jitted train step (paper 003 §2.2).

Paper 003 names Keras's `ImageDataGenerator` operations - rotation, shear, zoom,
horizontal flip, width and height shifts - without their ranges; the defaults of
`classical_config` are this project's choices. Each image gets its own random
affine map (drawn uniformly within the ranges, as Keras does), applied with
bilinear interpolation and edge pixels repeated outside the image (Keras's
`fill_mode='nearest'`).
"""

import math
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections

from gan_aug.data import warp


def classical_config(**values) -> ml_collections.ConfigDict:
  """Ranges of the classical augmentation (0 switches an operation off)."""
  cfg = ml_collections.ConfigDict({
      'rotation_degrees': 10.0,   # angle uniform in [-r, r]
      'shear_degrees': 5.0,       # shear angle uniform in [-s, s]
      'zoom': 0.1,                # scale uniform in [1 - z, 1 + z], per axis
      'shift': 0.1,               # fraction of width / height, uniform in [-f, f]
      'horizontal_flip': True,    # with probability 1/2
  })
  cfg.update(values)
  return cfg


def _inverse_affine(key: jax.Array, cfg: ml_collections.ConfigDict, height: int,
                    width: int) -> jax.Array:
  """The 2x3 map from output pixel (row, col) to input pixel, about the centre."""
  k_rot, k_shear, k_zoom, k_shift, k_flip = jax.random.split(key, 5)
  uniform = lambda k, r, shape=(): jax.random.uniform(k, shape, minval=-r, maxval=r)
  angle = uniform(k_rot, math.radians(cfg.rotation_degrees))
  shear = uniform(k_shear, math.radians(cfg.shear_degrees))
  zoom = 1.0 + uniform(k_zoom, cfg.zoom, (2,))
  shift = uniform(k_shift, cfg.shift, (2,)) * jnp.array([height, width])
  flip = jnp.where(cfg.horizontal_flip & jax.random.bernoulli(k_flip), -1.0, 1.0)
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  rotation = jnp.array([[cos, -sin], [sin, cos]])
  shearing = jnp.array([[1.0, 0.0], [jnp.tan(shear), 1.0]])
  scaling = jnp.diag(zoom)
  flipping = jnp.diag(jnp.array([1.0, flip]))
  # Output -> input: each output pixel samples the input at this position.
  linear = rotation @ shearing @ scaling @ flipping
  centre = jnp.array([(height - 1) / 2, (width - 1) / 2])
  offset = centre - linear @ centre + shift
  return jnp.concatenate([linear, offset[:, None]], axis=1)


def make_classical_augment(cfg: ml_collections.ConfigDict) -> Callable:
  """`(key, images [B, H, W, C] float) -> images`: one random affine map per image."""

  def augment(key: jax.Array, images: jax.Array) -> jax.Array:
    height, width = images.shape[1:3]
    keys = jax.random.split(key, images.shape[0])
    matrices = jax.vmap(lambda k: _inverse_affine(k, cfg, height, width))(keys)
    return jax.vmap(warp.warp)(images, matrices).astype(images.dtype)

  return augment
