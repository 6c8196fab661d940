"""An arm's step inputs: the batch indices of device-held data, or the streamed
batches themselves (the same batches either way)."""

from typing import Callable, Dict, Optional

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from gan_aug.data import batch_order
from gan_aug.data import streaming
from gan_aug.runtime import sharding


def batch_indices(rng: jax.Array, step: jax.Array, num_examples: int,
                batch_size: int) -> jax.Array:
  """The training examples of the batch at `step` for a state's `rng` (pure; jit it
  per training-set size): per-epoch permutations of the first `num_examples`."""
  data_key, _ = jax.random.split(rng)
  return batch_order.batch_indices(data_key, step, num_examples, batch_size)


class StepData:
  """The (images, labels, index) of an arm's steps: its device data with the
  index of each step's batch, or the streamed batches themselves."""

  def __init__(self, batch_size: int, mesh: Mesh,
               data_cfg: Optional[ml_collections.ConfigDict]):
    self.batch_size, self.data_cfg = batch_size, data_cfg
    self.replicated = sharding.replicated(mesh)
    self.whole_batch = jax.device_put(np.arange(batch_size, dtype=np.int32),
                                      self.replicated)

  def steps(self, data: Dict, state: Callable, count: int):
    """An iterator of the arguments of the arm's next `count` steps; `state()`
    is the arm's current ClassifierState."""
    if data['stream'] is None:
      for _ in range(count):
        yield (data['images'], data['labels'],
               data['index_fn'](state().rng, state().step))
      return
    images, labels = data['stream']
    first = int(state().step)
    data_key, _ = jax.random.split(jax.device_get(state().rng))
    rows = streaming.epoch_rows(data_key, first, first + count, len(images),
                                self.batch_size)
    for batch, batch_labels in streaming.batches(streaming.ArraySource(images),
                                                 labels, rows, first, self.data_cfg):
      yield (streaming.put_batch(batch, self.replicated),
             streaming.put_batch(batch_labels, self.replicated), self.whole_batch)
