"""Differentiable Augmentation (DiffAugment) of real and fake batches for the GAN.

Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training":
the discriminator sees every image (real or fake) through random augmentations
that are differentiable with respect to the pixels, so G's gradient passes
through them. Images are NHWC floats in [-1, 1] with any number of channels;
each image of a batch gets its own random draws. The operations and their
ranges follow the authors' reference code:

  color:       brightness: add b ~ U(-0.5, 0.5);
               saturation: scale each pixel's deviation from its channel mean by
                 s ~ U(0, 2) (nothing to scale with one channel);
               contrast: scale the deviation from the image's mean by
                 c ~ U(0.5, 1.5);
  translation: shift by integers (dy, dx), each uniform in [-s, s] with
               s = int(size / 8 + 0.5) for its axis; zeros enter;
  cutout:      zero a square of side int(size / 2 + 0.5) per axis, centred at a
               uniform position (the square may be clipped by the borders).

All operations are gathers and masks over the whole batch, so `augment` traces
into a jitted step; the policy itself is static (Python).
"""

from typing import Sequence, Tuple, Union

import jax
import jax.numpy as jnp

POLICIES = ('color', 'translation', 'cutout')

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(policy: str) -> Tuple[str, ...]:
  """'color,translation' -> ('color', 'translation'); '' -> () (no augmentation).

  Raises ValueError for an unknown or repeated name.
  """
  if not policy.strip():
    return ()
  names = tuple(name.strip() for name in policy.split(','))
  for name in names:
    if name not in POLICIES:
      raise ValueError(f'config.gan.diffaug: unknown operation {name!r} in '
                       f'{policy!r}; valid names (comma-separated): '
                       f'{", ".join(POLICIES)}.')
  repeated = sorted({name for name in names if names.count(name) > 1})
  if repeated:
    raise ValueError(f'config.gan.diffaug: {", ".join(map(repr, repeated))} '
                     f'repeated in {policy!r}; valid names (each at most once): '
                     f'{", ".join(POLICIES)}.')
  return names


def _per_image(key: jax.Array, images: jax.Array, low: float,
               high: float) -> jax.Array:
  """One factor per image, U(low, high), shaped to broadcast over [B, H, W, C]."""
  factor = jax.random.uniform(key, (images.shape[0], 1, 1, 1), minval=low,
                              maxval=high)
  return factor.astype(images.dtype)


def _color(images: jax.Array, key: jax.Array) -> jax.Array:
  """Brightness, then saturation, then contrast, each with its own draw per image."""
  k_bright, k_sat, k_contrast = jax.random.split(key, 3)
  images = images + _per_image(k_bright, images, -0.5, 0.5)
  mean = images.mean(axis=3, keepdims=True)
  images = (images - mean) * _per_image(k_sat, images, 0.0, 2.0) + mean
  mean = images.mean(axis=(1, 2, 3), keepdims=True)
  return (images - mean) * _per_image(k_contrast, images, 0.5, 1.5) + mean


def _shift_axis(images: jax.Array, shift: jax.Array, axis: int) -> jax.Array:
  """out[..., i, ...] = images[..., i - shift, ...] along `axis`, zero outside."""
  size = images.shape[axis]
  index_shape = [1] * images.ndim
  index_shape[0], index_shape[axis] = images.shape[0], size
  source = (jnp.arange(size)[None, :] - shift[:, None]).reshape(index_shape)
  inside = (source >= 0) & (source < size)
  # Clipped indices gather some pixel for the outside positions; the mask then
  # replaces it with zero, so no gradient reaches that pixel from there.
  gathered = jnp.take_along_axis(images, jnp.clip(source, 0, size - 1), axis=axis)
  return jnp.where(inside, gathered, jnp.zeros((), images.dtype))


def _translation(images: jax.Array, key: jax.Array) -> jax.Array:
  """Shifts each image by its own integer (dy, dx), zero-padded."""
  height, width = images.shape[1:3]
  k_y, k_x = jax.random.split(key)
  batch = images.shape[0]
  max_y = int(height * TRANSLATION_RATIO + 0.5)
  max_x = int(width * TRANSLATION_RATIO + 0.5)
  dy = jax.random.randint(k_y, (batch,), -max_y, max_y + 1)
  dx = jax.random.randint(k_x, (batch,), -max_x, max_x + 1)
  return _shift_axis(_shift_axis(images, dy, 1), dx, 2)


def _cutout(images: jax.Array, key: jax.Array) -> jax.Array:
  """Zeroes one square per image, at its own position (clipped by the borders)."""
  height, width = images.shape[1:3]
  k_y, k_x = jax.random.split(key)
  batch = images.shape[0]
  size_y = int(height * CUTOUT_RATIO + 0.5)
  size_x = int(width * CUTOUT_RATIO + 0.5)
  # The reference's centre range: [0, size] for an even side, [0, size - 1] for
  # an odd one.
  centre_y = jax.random.randint(k_y, (batch,), 0, height + 1 - size_y % 2)
  centre_x = jax.random.randint(k_x, (batch,), 0, width + 1 - size_x % 2)
  top = (centre_y - size_y // 2)[:, None, None, None]
  left = (centre_x - size_x // 2)[:, None, None, None]
  rows = jnp.arange(height)[None, :, None, None]
  cols = jnp.arange(width)[None, None, :, None]
  cut = ((rows >= top) & (rows < top + size_y) &
         (cols >= left) & (cols < left + size_x))
  return jnp.where(cut, jnp.zeros((), images.dtype), images)


_OPS = {'color': _color, 'translation': _translation, 'cutout': _cutout}


def augment(images: jax.Array, policy: Union[str, Sequence[str]],
            key: jax.Array) -> jax.Array:
  """Applies the policy's operations in order, with independent draws per image.

  `policy` is a comma-separated string (see `parse_policy`) or a parsed tuple;
  it is static under jit. Each operation draws from its own key, folded from
  `key` by the operation's index in `POLICIES`. An empty policy returns
  `images` unchanged.
  """
  names = parse_policy(policy if isinstance(policy, str) else ','.join(policy))
  for name in names:
    images = _OPS[name](images, jax.random.fold_in(key, POLICIES.index(name)))
  return images
