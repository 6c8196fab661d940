"""Adaptive discriminator augmentation (ADA; Karras et al., NeurIPS 2020).

Everything D sees in training - the real batch, the fakes of D's update and of
G's update, and the real images of the R1 penalty - passes through `augment`
with one probability p: each of ADA's `bgc` augmentations is applied to each
image independently with probability p (the two arbitrary rotations each with
1 - sqrt(1 - p), so that one or the other happens with probability p):
  geometric  x-flip, 90-degree rotations, integer translation (up to 1/8 of the
             side), isotropic scaling (log2 std 0.2), arbitrary rotation,
             anisotropic scaling (log2 std 0.2), fractional translation (std
             1/8 of the side);
  colour     brightness (std 0.2), contrast (log2 std 0.5), luma flip, and for
             RGB only hue rotation and saturation (log2 std 1).
The geometric ones compose into one matrix per image, applied once by bilinear
resampling with reflected borders; the colour ones into one 4x4 matrix on
(r, g, b, 1) - for a greyscale image, on (g, g, g, 1), averaged back to one
channel. Both are linear in the pixels, so G's update differentiates through
them. Unlike ADA's reference, the image is not upsampled 2x with a wavelet
filter before the geometric resampling (so rotations and scalings alias a
little more at these small sizes).

p lives in the train state and follows ADA's heuristic (`adjust`): every
`interval` steps, r_t = E[sign(D(x_real))] over those steps, and
p <- clip(p + sign(r_t - target) x batch x interval / (kimg x 1000), 0, 1).
"""

import dataclasses
import math
from typing import Dict, Optional, Tuple

import jax
import jax.numpy as jnp

from gan_aug.data import warp

# ADA's `bgc` ranges (its AugmentPipe defaults).
XINT_MAX = 0.125
SCALE_STD = 0.2
ROTATE_MAX = 1.0
ANISO_STD = 0.2
XFRAC_STD = 0.125
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5
HUE_MAX = 1.0
SATURATION_STD = 1.0


def _scale2d(sx, sy):
  return jnp.array([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]])


def _translate2d(tx, ty):
  return jnp.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def _rotate2d(theta):
  cos, sin = jnp.cos(theta), jnp.sin(theta)
  return jnp.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])


def _geometric(key: jax.Array, p: jax.Array, height: int, width: int) -> jax.Array:
  """One image's 3x3 map from output pixel (x, y, 1), centred, to input pixel."""
  keys = iter(jax.random.split(key, 16))
  applied = lambda chance: jax.random.uniform(next(keys)) < chance
  p_rot = 1.0 - jnp.sqrt(jnp.clip(1.0 - p, 0.0, 1.0))
  flip = jnp.where(applied(p), jax.random.randint(next(keys), (), 0, 2), 0)
  quarter = jnp.where(applied(p), jax.random.randint(next(keys), (), 0, 4), 0)
  shift = jnp.where(applied(p), jax.random.uniform(next(keys), (2,), minval=-1.0,
                                                   maxval=1.0) * XINT_MAX, 0.0)
  scale = jnp.where(applied(p), jnp.exp2(jax.random.normal(next(keys)) * SCALE_STD),
                    1.0)
  pre = jnp.where(applied(p_rot), jax.random.uniform(
      next(keys), minval=-1.0, maxval=1.0) * math.pi * ROTATE_MAX, 0.0)
  aniso = jnp.where(applied(p), jnp.exp2(jax.random.normal(next(keys)) * ANISO_STD),
                    1.0)
  post = jnp.where(applied(p_rot), jax.random.uniform(
      next(keys), minval=-1.0, maxval=1.0) * math.pi * ROTATE_MAX, 0.0)
  frac = jnp.where(applied(p), jax.random.normal(next(keys), (2,)) * XFRAC_STD, 0.0)
  # Each factor is the inverse of the forward transform, in ADA's order.
  return (_scale2d(1.0 - 2.0 * flip, 1.0)
          @ _rotate2d(math.pi / 2 * quarter)
          @ _translate2d(-jnp.round(shift[0] * width), -jnp.round(shift[1] * height))
          @ _scale2d(1.0 / scale, 1.0 / scale)
          @ _rotate2d(pre)
          @ _scale2d(1.0 / aniso, aniso)
          @ _rotate2d(post)
          @ _translate2d(-frac[0] * width, -frac[1] * height))


def _colour(key: jax.Array, p: jax.Array, rgb: bool) -> jax.Array:
  """One image's 4x4 map of (r, g, b, 1)."""
  keys = iter(jax.random.split(key, 12))
  applied = lambda: jax.random.uniform(next(keys)) < p
  eye = jnp.eye(4)
  luma = jnp.array([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3.0)
  along = jnp.outer(luma, luma)
  b = jnp.where(applied(), jax.random.normal(next(keys)) * BRIGHTNESS_STD, 0.0)
  matrix = eye.at[:3, 3].set(b)
  c = jnp.where(applied(), jnp.exp2(jax.random.normal(next(keys)) * CONTRAST_STD), 1.0)
  matrix = jnp.diag(jnp.array([c, c, c, 1.0])) @ matrix
  flip = jnp.where(applied(), jax.random.randint(next(keys), (), 0, 2), 0)
  matrix = (eye - 2.0 * along * flip) @ matrix  # Householder reflection.
  if rgb:
    theta = jnp.where(applied(), jax.random.uniform(
        next(keys), minval=-1.0, maxval=1.0) * math.pi * HUE_MAX, 0.0)
    matrix = _rotate3d(luma[:3], theta) @ matrix
    s = jnp.where(applied(), jnp.exp2(jax.random.normal(next(keys)) * SATURATION_STD),
                  1.0)
    matrix = (along + (eye - along) * s) @ matrix
  return matrix


def _rotate3d(v: jax.Array, theta: jax.Array) -> jax.Array:
  """Rotation by `theta` about the unit axis `v`, homogeneous 4x4 (Rodrigues)."""
  cross = jnp.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
  rotation = (jnp.cos(theta) * jnp.eye(3) + jnp.sin(theta) * cross
              + (1.0 - jnp.cos(theta)) * jnp.outer(v, v))
  return jnp.eye(4).at[:3, :3].set(rotation)


def _augment_one(key: jax.Array, image: jax.Array, p: jax.Array) -> jax.Array:
  height, width, channels = image.shape
  geometric_key, colour_key = jax.random.split(key)
  matrix = _geometric(geometric_key, p, height, width)
  # Centred (x, y) -> (row, col) of the input.
  centre = jnp.array([(width - 1) / 2, (height - 1) / 2])
  to_pixels = (_translate2d(centre[0], centre[1]) @ matrix
               @ _translate2d(-centre[0], -centre[1]))
  row_col = jnp.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
  moved = warp.warp(image, (row_col @ to_pixels @ row_col)[:2], mode='mirror')
  # Images no transform touches stay bitwise as they were.
  image = jnp.where(jnp.all(matrix == jnp.eye(3)), image, moved.astype(image.dtype))
  colour = _colour(colour_key, p, channels == 3)
  if channels == 3:
    recoloured = image @ colour[:3, :3].T + colour[:3, 3]
  else:  # (g, g, g, 1) through the matrix, averaged back to one channel.
    recoloured = image * colour[:3, :3].sum(1).mean() + colour[:3, 3].mean()
  return jnp.where(jnp.all(colour == jnp.eye(4)), image,
                   recoloured.astype(image.dtype))


def augment(key: jax.Array, images: jax.Array, p: jax.Array) -> jax.Array:
  """`images` [B, H, W, C] (C = 1 or 3, in [-1, 1]) with ADA's `bgc` pipeline at
  probability `p` (a scalar), each image with its own draws."""
  keys = jax.random.split(key, images.shape[0])
  return jax.vmap(_augment_one, in_axes=(0, 0, None))(keys, images, p)


def adjust(p: jax.Array, sign_sum: jax.Array, steps: int, target: float,
           batch_size: int, kimg: float) -> jax.Array:
  """ADA's heuristic after `steps` steps whose batch means of sign(D(x_real))
  sum to `sign_sum`: p moved by batch x steps / (kimg x 1000) towards more
  augmentation when r_t = sign_sum / steps is above `target`, less when below,
  clipped to [0, 1]."""
  r_t = sign_sum / steps
  step = batch_size * steps / (kimg * 1000.0)
  return jnp.clip(p + jnp.sign(r_t - target) * step, 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class Settings:
  """ADA's heuristic: the target of r_t, the steps between adjustments, and the
  thousands of images over which p can move from 0 to 1."""
  target: float = 0.6
  interval: int = 4
  kimg: float = 10.0


def init(num_classes: Optional[int]) -> Dict[str, jax.Array]:
  """The state's `ada_p` and `ada_signs` at the start: p = 0 (one per class for
  a per-class model: `num_classes`; else None for one p)."""
  shape = () if num_classes is None else (num_classes,)
  return {'ada_p': jnp.zeros(shape, jnp.float32),
          'ada_signs': jnp.zeros(shape, jnp.float32)}


def next_state(p: jax.Array, sign_sum: jax.Array, sign_mean: jax.Array,
               step: jax.Array, settings: Settings,
               batch_size: int) -> Tuple[jax.Array, jax.Array]:
  """(p, sign sum) after step `step` (0-based) whose batch mean of
  sign(D(x_real)) is `sign_mean`: every `settings.interval` steps p is adjusted
  and the sum starts again."""
  sign_sum = sign_sum + sign_mean
  at_end = (step + 1) % settings.interval == 0
  adjusted = adjust(p, sign_sum, settings.interval, settings.target, batch_size,
                    settings.kimg)
  return (jnp.where(at_end, adjusted, p),
          jnp.where(at_end, jnp.zeros_like(sign_sum), sign_sum))


def settings(gan) -> Optional[Settings]:
  """The Settings of config.gan, or None with ADA off (`gan.ada` False)."""
  if not gan.get('ada', False):
    return None
  return Settings(target=float(gan.ada_target), interval=int(gan.ada_interval),
                  kimg=float(gan.ada_kimg))
