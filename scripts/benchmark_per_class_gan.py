"""Per-class GANs: one vmapped step for all classes vs one step per class in turn.

  python scripts/benchmark_per_class_gan.py --classes=3 --resolution=32 --width=32 \
      --batch=32 --steps=20

Prints the median seconds per training step of all classes both ways and the
ratio (> 1: the vmapped step is faster).
"""

import os
import sys
import time

from absl import app, flags
import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gan_aug.config_blocks import blocks  # pylint: disable=wrong-import-position
from gan_aug.gan import networks
from gan_aug.gan import step as gan_lib  # pylint: disable=wrong-import-position
from gan_aug.runtime import sharding  # pylint: disable=wrong-import-position

_CLASSES = flags.DEFINE_integer('classes', 3, 'Number of classes (GANs).')
_RESOLUTION = flags.DEFINE_integer('resolution', 32, 'Image side.')
_WIDTH = flags.DEFINE_integer('width', 32, 'ngf = ndf.')
_BATCH = flags.DEFINE_integer('batch', 32, 'Batch per class.')
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed steps.')


def _step_fn(num_classes: int):
  config = blocks.config(
      data=blocks.data(resolution=_RESOLUTION.value, channels=3),
      gan=blocks.gan(name='dcgan_per_class', g_base_width=_WIDTH.value,
                     d_base_width=_WIDTH.value))
  model = networks.build_gan(config, num_classes)
  tx = gan_lib.adam(2e-4, 0.5, 0.999)
  state = jax.jit(lambda: gan_lib.init_state(
      model, tx, tx, seed=0, latent_dim=100,
      image_shape=(_RESOLUTION.value, _RESOLUTION.value, 3)))()
  step = jax.jit(gan_lib.make_train_step(model, tx, tx, mesh=sharding.make_mesh(),
                                         batch_size=_BATCH.value, latent_dim=100),
                 donate_argnums=(0,))
  images = np.random.default_rng(0).integers(
      0, 256, (num_classes, 4 * _BATCH.value, _RESOLUTION.value, _RESOLUTION.value, 3),
      np.uint8)
  counts = np.full((num_classes,), 4 * _BATCH.value, np.int32)
  state, _ = step(state, images, counts)  # Compile.
  jax.block_until_ready(state)
  return step, state, images, counts


def _median_seconds(runs) -> float:
  times = []
  for _ in range(_STEPS.value):
    start = time.perf_counter()
    for i, (step, state, images, counts) in enumerate(runs):
      state, _ = step(state, images, counts)
      runs[i] = (step, state, images, counts)
    jax.block_until_ready([r[1] for r in runs])
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def main(argv):
  del argv
  together = _median_seconds([_step_fn(_CLASSES.value)])
  apart = _median_seconds([_step_fn(1) for _ in range(_CLASSES.value)])
  print(f'{_CLASSES.value} classes, {_RESOLUTION.value}px, width {_WIDTH.value}, '
        f'batch {_BATCH.value}/class on {jax.device_count()} {jax.devices()[0].platform} '
        f'device(s)')
  print(f'vmapped, one step for all classes: {together * 1e3:.1f} ms')
  print(f'one step per class in turn:        {apart * 1e3:.1f} ms')
  print(f'ratio (turns / vmapped):           {apart / together:.2f}')


if __name__ == '__main__':
  app.run(main)
