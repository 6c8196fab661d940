"""The order in which a training run draws its examples: per-epoch permutations
that depend only on the run's data key and the epoch, cut into drop-last batches.

Both input paths use it: the jitted steps index the data held on the devices
with it, and `gan_aug.data.streaming` reads the same rows on the host.
"""

from typing import Dict, Tuple

import jax
import jax.numpy as jnp
import numpy as np


def batch_indices(data_key: jax.Array, step: jax.Array, num_examples: int,
                  batch_size: int) -> jax.Array:
  """Indices of the batch at `step`: consecutive slices of per-epoch permutations.

  Each epoch uses `num_examples // batch_size` full batches (the remainder of a
  permutation is left out, as drop_last does).
  """
  steps_per_epoch = num_examples // batch_size
  epoch, position = jnp.divmod(step, steps_per_epoch)
  order = epoch_order(data_key, epoch, num_examples)
  return jax.lax.dynamic_slice_in_dim(order, position * batch_size, batch_size)


def epoch_order(data_key: jax.Array, epoch: jax.Array, num_examples: int) -> jax.Array:
  """The order of the examples in `epoch`; `batch_indices` cuts it into batches."""
  return jax.random.permutation(jax.random.fold_in(data_key, epoch), num_examples)


def data_position(step: int, num_examples: int, batch_size: int) -> Dict[str, int]:
  """Human-readable data position of a step (epoch, batch within it, images seen)."""
  steps_per_epoch = num_examples // batch_size
  return {'epoch': step // steps_per_epoch, 'batch_in_epoch': step % steps_per_epoch,
          'images_seen': step * batch_size}


def padded_batch_indices(data_key: jax.Array, step: jax.Array, count: jax.Array,
                         capacity: int, batch_size: int) -> jax.Array:
  """`batch_indices` for the first `count` of `capacity` rows, with `count` traced.

  Used for per-class data padded to one shape: each epoch is a permutation of the
  valid rows (random keys sorted, padding rows last), cut into drop-last batches.
  """
  steps_per_epoch = count // batch_size
  epoch, position = jnp.divmod(step, steps_per_epoch)
  order = padded_epoch_order(data_key, epoch, count, capacity)
  return jax.lax.dynamic_slice_in_dim(order, position * batch_size, batch_size)


def padded_epoch_order(data_key: jax.Array, epoch: jax.Array, count: jax.Array,
                       capacity: int) -> jax.Array:
  """The order of the first `count` of `capacity` rows in `epoch` (padding last)."""
  keys = jax.random.uniform(jax.random.fold_in(data_key, epoch), (capacity,))
  return jnp.argsort(jnp.where(jnp.arange(capacity) < count, keys, 2.0))


def stack_by_class(images: np.ndarray, labels: np.ndarray,
                   num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
  """([C, max count, ...] images padded with zeros, [C] counts) for per-class GANs."""
  counts = np.bincount(labels, minlength=num_classes)
  stacked = np.zeros((num_classes, counts.max()) + images.shape[1:], images.dtype)
  for c in range(num_classes):
    stacked[c, :counts[c]] = images[labels == c]
  return stacked, counts.astype(np.int32)
