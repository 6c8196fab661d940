"""Data parallelism over a 1-D device mesh ('data',): batch sharded, parameters replicated.

Steps are plain `jax.jit` functions over this mesh (the successor of pmap-style
code): arrays placed with `replicated` are copied to every device, and
`shard_batch` constrains a batch-leading array to be split over devices, so XLA
inserts the cross-device reductions (batch-norm statistics, gradient means) and
the results equal a single-device run up to float summation order.
"""

from typing import Optional, Sequence

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


def check_divisible(batch_size: int, mesh: Mesh, field: str) -> None:
  """Raises ValueError unless the global batch splits evenly over the devices."""
  n = mesh.devices.size
  if batch_size % n:
    raise ValueError(
        f'config.{field}={batch_size} does not split evenly over {n} devices; '
        f'use a multiple of {n}.')
