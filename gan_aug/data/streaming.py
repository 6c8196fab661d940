"""The streaming input path: each step's batch read by Grain instead of indexed on the device.

The default path puts a stage's whole training set on the devices and the
jitted step draws its batch there from (key, step). A set larger than
`config.data.in_memory_max_bytes` (0: every set) is streamed instead: a Grain
`MapDataset` over the steps, whose element for step s is the batch of step s,
read in background threads and prefetched. The rows of a step's batch come from
the same per-epoch permutations the device path draws (`batch_order.epoch_order`,
computed once per epoch here), so both paths train on the same examples in the
same order and a resumed run restarts the dataset at its step: no iterator
state is checkpointed.

The examples are read from the prepared TFDS records (`tfds:` data sets) or,
for data sets loaded directly, from the split held in host memory.
"""

import functools
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from gan_aug.data import batch_order
from gan_aug.runtime import sharding

# A common GPU holds 8-16 GiB beside which the model and its activations need room.
DEFAULT_IN_MEMORY_MAX_BYTES = 2 * 1024 ** 3


def streams(data_cfg: ml_collections.ConfigDict, nbytes: int) -> bool:
  """Whether a training set of `nbytes` is streamed rather than put on the devices."""
  return nbytes > int(data_cfg.in_memory_max_bytes)


class ArraySource:
  """Examples held in host memory: uint8 images [N, ...]."""

  def __init__(self, images: np.ndarray):
    self.images = images

  def __len__(self) -> int:
    return len(self.images)

  def read(self, rows: np.ndarray) -> np.ndarray:
    return self.images[rows]


class RecordSource:
  """Examples in prepared TFDS records: row i is record `positions[i]` =
  (split string, position in that split's data source)."""

  def __init__(self, data_path: str, positions: Sequence[Tuple[str, int]],
               shape: Tuple[int, ...]):
    self.data_path, self.shape = data_path, tuple(shape)
    self.splits = [split for split, _ in positions]
    self.positions = np.asarray([position for _, position in positions], np.int64)
    self._sources: Dict[str, object] = {}

  def __len__(self) -> int:
    return len(self.positions)

  def _source(self, split: str):
    if split not in self._sources:
      import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
      builder = tfds.builder_from_directory(self.data_path)
      self._sources[split] = builder.as_data_source(split=split)
    return self._sources[split]

  def read(self, rows: np.ndarray) -> np.ndarray:
    out = np.empty((len(rows),) + self.shape, np.uint8)
    by_split: Dict[str, List[int]] = {}
    for i, row in enumerate(rows):
      by_split.setdefault(self.splits[row], []).append(i)
    for split, where in by_split.items():
      records = self._source(split).__getitems__(
          self.positions[rows[where]].tolist())
      for i, record in zip(where, records):
        out[i] = np.frombuffer(record['pixels'], np.uint8).reshape(self.shape)
    return out


def source_of(split, record_dir: Optional[str]):
  """`split`'s examples in the prepared records it was read from, else in host
  memory."""
  if record_dir and split.record_positions is not None:
    return RecordSource(record_dir, split.record_positions, split.images.shape[1:])
  return ArraySource(split.images)


def epoch_rows(data_key: jax.Array, first_step: int, stop_step: int,
               num_examples: int, batch_size: int) -> np.ndarray:
  """[steps, batch] rows of steps first_step..stop_step-1 (0-based state steps),
  equal to `batch_order.batch_indices(data_key, step, num_examples, batch_size)`."""
  if stop_step <= first_step:
    return np.zeros((0, batch_size), np.int64)
  per_epoch = num_examples // batch_size
  first_epoch, last_epoch = first_step // per_epoch, (stop_step - 1) // per_epoch
  orders = np.asarray(_epoch_orders(data_key, np.arange(first_epoch, last_epoch + 1),
                                    num_examples))
  steps = np.arange(first_step, stop_step)
  epoch, position = np.divmod(steps, per_epoch)
  columns = position[:, None] * batch_size + np.arange(batch_size)
  return orders[epoch[:, None] - first_epoch, columns]


@functools.partial(jax.jit, static_argnums=(2,))
def _epoch_orders(data_key, epochs, num_examples):
  return jax.vmap(lambda e: batch_order.epoch_order(data_key, e, num_examples))(epochs)


def per_class_rows(data_key: jax.Array, first_step: int, stop_step: int,
                   class_rows: Sequence[np.ndarray], batch_size: int) -> np.ndarray:
  """[steps, classes, batch] rows of a per-class GAN's steps into the split,
  equal to the device path's `batch_order.padded_batch_indices` of each class
  (`class_rows[c]`: the split rows of class c, in `stack_by_class` order)."""
  capacity = max(len(rows) for rows in class_rows)
  steps = np.arange(first_step, stop_step)
  out = np.empty((len(steps), len(class_rows), batch_size), np.int64)
  if not len(steps):
    return out
  for c, rows in enumerate(class_rows):
    per_epoch = len(rows) // batch_size
    epoch, position = np.divmod(steps, per_epoch)
    epochs = np.arange(epoch[0], epoch[-1] + 1)
    orders = np.asarray(_padded_orders(jax.random.fold_in(data_key, c), epochs,
                                       len(rows), capacity))
    columns = position[:, None] * batch_size + np.arange(batch_size)
    out[:, c] = rows[orders[epoch[:, None] - epochs[0], columns]]
  return out


@functools.partial(jax.jit, static_argnums=(3,))
def _padded_orders(data_key, epochs, count, capacity):
  return jax.vmap(lambda e: batch_order.padded_epoch_order(data_key, e, count, capacity)
                  )(epochs)


class _StepBatch:
  """Grain's map function: a step number -> that step's (images, labels)."""

  def __init__(self, source, labels: np.ndarray, rows: np.ndarray, first_step: int):
    self.source, self.labels, self.rows = source, labels, rows
    self.first_step = first_step

  def __call__(self, step: int) -> Tuple[np.ndarray, np.ndarray]:
    rows = self.rows[step - self.first_step]
    images = self.source.read(rows.reshape(-1))
    return images.reshape(rows.shape + images.shape[1:]), self.labels[rows]


def batches(source, labels: np.ndarray, rows: np.ndarray, first_step: int,
            data_cfg: ml_collections.ConfigDict
            ) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
  """(images, labels) of steps first_step, first_step + 1, ...: `rows[i]` (any
  shape) are the rows of step first_step + i into `source` and `labels`, read
  by `data_cfg.stream_threads` threads up to `data_cfg.stream_prefetch` steps
  ahead."""
  import grain  # pylint: disable=g-import-not-at-top
  dataset = grain.MapDataset.range(first_step, first_step + len(rows)).map(
      _StepBatch(source, np.asarray(labels), rows, first_step))
  return iter(dataset.to_iter_dataset(grain.ReadOptions(
      num_threads=int(data_cfg.stream_threads),
      prefetch_buffer_size=int(data_cfg.stream_prefetch))))


class GANBatches:
  """The batches of GAN steps start_step + 1 ... num_steps, streamed onto the
  devices: the rows the device path would draw (from the state's key), read from
  the prepared records or from the split in host memory."""

  def __init__(self, config, dataset, one_per_class: bool, batch_size: int,
               mesh: Mesh, rng, start_step: int, num_steps: int):
    train = dataset.splits['train']
    data_key = jax.random.split(rng)[0]
    if one_per_class:
      class_rows = [np.flatnonzero(train.labels == c)
                    for c in range(dataset.num_classes)]
      rows = per_class_rows(data_key, start_step, num_steps, class_rows, batch_size)
      # [C, B, ...]: the class axis first, the batch split over the devices.
      self.sharding = jax.sharding.NamedSharding(
          mesh, jax.sharding.PartitionSpec(None, sharding.DATA_AXIS))
    else:
      rows = epoch_rows(data_key, start_step, num_steps, len(train), batch_size)
      self.sharding = sharding.batch_sharded(mesh)
    self.shape = rows.shape[1:]
    self.image_shape = train.images.shape[1:]
    record_dir = dataset.info.get('prepared', {}).get('dir')
    self.stream = batches(source_of(train, record_dir), train.labels, rows,
                          start_step, config.data)

  def shapes(self):
    """The shapes of a step's (images, labels), as the step compiles for them."""
    return (jax.ShapeDtypeStruct(self.shape + self.image_shape, np.uint8,
                                 sharding=self.sharding),
            jax.ShapeDtypeStruct(self.shape, np.int32, sharding=self.sharding))

  def next(self):
    """The next step's (images, labels) on the devices."""
    images, labels = next(self.stream)
    return put_batch(images, self.sharding), put_batch(labels, self.sharding)


def put_batch(batch: np.ndarray, placement) -> jax.Array:
  """A host batch on the devices, split as `placement` (a sharding) says; with
  several processes each hands over its own devices' part (every process reads
  the whole batch)."""
  return jax.make_array_from_callback(batch.shape, placement,
                                      lambda index: batch[index])
