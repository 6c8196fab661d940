"""Data parallelism over a 1-D device mesh ('data',): batch sharded, parameters replicated.

Steps are plain `jax.jit` functions over this mesh (the successor of pmap-style
code): arrays placed with `replicated` are copied to every device, and
`shard_batch` constrains a batch-leading array to be split over devices, so XLA
inserts the cross-device reductions (batch-norm statistics, gradient means) and
the results equal a single-device run up to float summation order.
"""

from typing import Any, Callable, Optional, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = 'data'


def make_mesh(devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  """A 1-D mesh over `devices` (default: all devices of all processes)."""
  devices = list(devices if devices is not None else jax.devices())
  return Mesh(np.asarray(devices), (DATA_AXIS,), axis_types=(AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
  """Sharding that keeps a full copy on every device."""
  return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  """Sharding that splits the leading (batch) axis over the mesh."""
  return NamedSharding(mesh, P(DATA_AXIS))


def shard_batch(x: jax.Array, mesh: Mesh) -> jax.Array:
  """Inside jit: constrains `x` to be split over devices along axis 0."""
  return jax.lax.with_sharding_constraint(x, batch_sharded(mesh))


def put_examples(array: np.ndarray, mesh: Mesh, axis: int = 0) -> jax.Array:
  """Places a training set on the mesh's devices, whole or split along `axis`.

  One process: a full copy on every device (the step gathers its batch
  locally). Several processes (`jax.distributed`): the example axis is padded
  with zeros to a multiple of the device count and split over the devices, and
  each process hands over only its own devices' rows; the step's gather then
  fetches each batch across processes. Padding rows are never drawn, as long as
  the step is told the true example count.
  """
  if jax.process_count() == 1:
    return jax.device_put(array, replicated(mesh))
  devices = mesh.devices.size
  padded = -(-array.shape[axis] // devices) * devices
  if padded != array.shape[axis]:
    widths = [(0, 0)] * array.ndim
    widths[axis] = (0, padded - array.shape[axis])
    array = np.pad(array, widths)
  spec = [None] * array.ndim
  spec[axis] = DATA_AXIS
  split = NamedSharding(mesh, P(*spec))
  rows = sorted({row for index in split.addressable_devices_indices_map(
      array.shape).values() for row in range(*index[axis].indices(array.shape[axis]))})
  local = np.take(array, rows, axis=axis)
  return jax.make_array_from_process_local_data(split, local, array.shape)


def check_divisible(batch_size: int, mesh: Mesh, field: str) -> None:
  """Raises ValueError unless the global batch splits evenly over the devices."""
  n = mesh.devices.size
  if batch_size % n:
    raise ValueError(
        f'config.{field}={batch_size} does not split evenly over {n} devices; '
        f'use a multiple of {n}.')


def map_in_batches(fn: Callable[..., Any], arrays, batch_size: int) -> Any:
  """Applies jitted `fn` to fixed-size batches of `arrays` and joins the outputs.

  `arrays` is one batch-leading array or a tuple of them (passed to `fn` as
  separate arguments). The last batch is padded with zeros so that `fn` compiles
  for one shape; the padded rows are dropped from every output (a pytree of
  batch-leading arrays). Use it with inference-mode functions only, where rows do
  not interact.
  """
  single = not isinstance(arrays, tuple)
  arrays = (arrays,) if single else arrays
  total = len(arrays[0])
  if not total:
    raise ValueError('map_in_batches needs at least one image.')
  outputs = []
  for start in range(0, total, batch_size):
    chunks = [a[start:start + batch_size] for a in arrays]
    count = len(chunks[0])
    if count < batch_size:
      chunks = [np.concatenate([c, np.zeros((batch_size - count,) + c.shape[1:],
                                            c.dtype)]) for c in chunks]
    outputs.append(jax.tree.map(lambda x, n=count: np.asarray(x)[:n],
                                jax.device_get(fn(*chunks))))
  return jax.tree.map(lambda *parts: np.concatenate(parts), *outputs)
