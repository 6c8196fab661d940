"""The generator stage's loop: resume, jitted steps, progress, metrics, sample grids,
checkpoints - for any generator family (`gan_aug.generator.family`), which it
asks for its networks, state, step, declared metrics and sampler.

Host work happens only on logging, sample and checkpoint steps; in between the
loop only dispatches the compiled step (JAX runs it asynchronously).
"""

import json
import math
import os
import shutil
import time
from typing import Dict, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import Mesh

from gan_aug.core import atomic_files
from gan_aug.core import image_grids
from gan_aug.core import scalars as scalars_lib
from gan_aug.core.errors import ConfigError
from gan_aug.data import batch_order
from gan_aug.data import Dataset
from gan_aug.data import streaming
from gan_aug.generator import divergence as gan_divergence
from gan_aug.generator import family as family_lib
from gan_aug.generator import images as images_lib
from gan_aug.runtime import preemption
from gan_aug.runtime import sharding
from gan_aug.runtime import watchdog
from gan_aug.runtime.checkpoint import Checkpointer, sums_from_meta, sums_to_meta

def make_train_step(family: family_lib.Family, networks, config, **options):
  """The family's pure train step; looked up through this module so that tests
  can wrap it (e.g. to crash it)."""
  return family.make_train_step(networks, config, **options)


def total_steps(gan_cfg: ml_collections.ConfigDict, num_examples: int,
                batch_size: int) -> int:
  """`num_steps` if set, else `num_epochs` full passes of drop-last batches."""
  if gan_cfg.num_steps > 0:
    return int(gan_cfg.num_steps)
  return int(gan_cfg.num_epochs) * (num_examples // batch_size)


def per_class_batch_size(gan_cfg: ml_collections.ConfigDict, class_counts,
                         num_devices: int) -> int:
  """A per-class GAN's batch: gan.batch_size, or with gan.batch_size_rule
  'smallest_class' at most the smallest class's training images (rounded down to
  a multiple of the devices), the same for every class, as the per-class GANs
  train in one vmapped step."""
  if gan_cfg.get('batch_size_rule', 'fixed') == 'fixed':
    return int(gan_cfg.batch_size)
  fitting = int(min(class_counts)) // num_devices * num_devices
  return max(num_devices, min(int(gan_cfg.batch_size), fitting))


def progress_values(family: family_lib.Family, means: Dict[str, float]) -> str:
  """The family's declared metrics, as the progress line shows them."""
  return '  '.join(f'{m.label} {means[m.key]:{m.fmt}}' for m in family.metrics
                   if m.key in means)


def _format_eta(seconds: float) -> str:
  if not math.isfinite(seconds):
    return '?'
  seconds = int(seconds)
  return f'{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def _truncate_metrics(path: str, last_step: int) -> None:
  """Drops metric lines logged after the checkpoint a run resumes from."""
  if not os.path.exists(path):
    return
  rows = [r for r in atomic_files.read_jsonl(path) if r['step'] <= last_step]
  atomic_files.write_text(path, ''.join(json.dumps(r) + '\n' for r in rows))


def _fixed_sample_inputs(seed: int, num_classes: int, per_class: int,
                         latent_dim: int):
  key = jax.random.PRNGKey(seed + 7919)
  z = jax.random.normal(key, (num_classes * per_class, latent_dim),
                        images_lib.float_dtype())
  labels = jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), per_class)
  return z, labels


def _grid_title(dataset: Dataset, what: str) -> str:
  title = f'{dataset.name}: {what}'
  return title + (f'   {image_grids.PHANTOM_BANNER}' if dataset.is_phantom
                  else '')


def write_real_grid(dataset: Dataset, path: str, per_class: int) -> None:
  """The first `per_class` training images of each class, for comparison."""
  train = dataset.splits['train']
  rows = [train.images[np.flatnonzero(train.labels == c)[:per_class]]
          for c in range(dataset.num_classes)]
  image_grids.class_grid(rows, dataset.class_names,
                         _grid_title(dataset, 'real training images'), path)


def check_class_sizes(class_names, class_counts, batch_size: int) -> None:
  """Per-class GANs need a full batch of every class."""
  small = [f'{name} ({int(n)})' for name, n in zip(class_names, class_counts)
           if n < batch_size]
  if small:
    raise ConfigError(
        f'config.gan.batch_size={batch_size} is larger than the training images of '
        f'class(es) {", ".join(small)}; a per-class GAN needs a full batch of its '
        'class: lower gan.batch_size, or set gan.batch_size_rule=smallest_class.')


# A stop requested between checkpoints saves here, apart from the periodic
# checkpoints: which checkpoints synthesis uses and which `max_to_keep` evicts
# stay those of an uninterrupted run. Its meta holds the metric sums since the
# last log line, so a resumed run logs the same means. Removed when the stage
# completes.
PREEMPTED_CHECKPOINTS = 'checkpoints-preempted'


def _restore_preempted(stage_dir: str, state, start_step: int):
  """(step, state, metric window) of a stop-time checkpoint newer than
  `start_step`, or None."""
  directory = os.path.join(stage_dir, PREEMPTED_CHECKPOINTS)
  if not os.path.isdir(directory):
    return None
  preempted = Checkpointer(directory, max_to_keep=1)
  try:
    step, state, meta = preempted.restore_latest_good(state)
  finally:
    preempted.close()
  if step is None or step <= start_step:
    return None
  window = meta['metric_window']
  return step, state, (sums_from_meta(window['totals']), window['count'])


def train_gan(config: ml_collections.ConfigDict, dataset: Dataset, stage_dir: str,
              mesh: Optional[Mesh] = None,
              continue_from: Optional[Dict] = None) -> Dict:
  """Trains (or resumes) the configured GAN on the training split; returns a summary.

  `continue_from` ({'checkpoint_dir', 'step', ...}) starts a fresh stage from a
  diverged run's last good checkpoint (same model and data, another learning
  rate) instead of from the initialisation.
  """
  mesh = mesh if mesh is not None else sharding.make_mesh()
  gan_cfg = config.gan
  train = dataset.splits['train']
  batch_size = gan_cfg.batch_size
  try:
    sharding.check_divisible(batch_size, mesh, 'gan.batch_size')
  except ValueError as e:
    raise ConfigError(str(e)) from e
  family = family_lib.find(gan_cfg.name)
  model = family.build(config, dataset.num_classes)
  if not model.one_per_class and len(train) < batch_size:
    raise ConfigError(
        f'config.gan.batch_size={batch_size} is larger than the {len(train)} '
        'training images; lower it.')
  class_counts = train.class_counts(dataset.num_classes)
  if model.one_per_class:
    batch_size = per_class_batch_size(gan_cfg, class_counts, mesh.devices.size)
    if batch_size != gan_cfg.batch_size:
      logging.info('Per-class batch %d (gan.batch_size_rule smallest_class: the '
                   'smallest class has %d training images; gan.batch_size is %d).',
                   batch_size, min(class_counts), gan_cfg.batch_size)
    check_class_sizes(dataset.class_names, class_counts, batch_size)
    # An epoch is a pass over the smallest class (each class's GAN takes a batch
    # of its own class every step).
    epoch_size = int(min(class_counts))
    images_np, labels_np = batch_order.stack_by_class(train.images, train.labels,
                                                  dataset.num_classes)
  else:
    epoch_size = len(train)
    images_np, labels_np = train.images, train.labels
  num_steps = total_steps(gan_cfg, epoch_size, batch_size)
  os.makedirs(os.path.join(stage_dir, 'samples'), exist_ok=True)

  replicated = sharding.replicated(mesh)
  # The seed is an argument, not a constant: every seed shares one compiled init.
  init = jax.jit(family.init(model, config, train.images.shape[1:]),
                 out_shardings=replicated)
  state = init(seed=config.seed)

  checkpointer = Checkpointer(os.path.join(stage_dir, 'checkpoints'),
                              gan_cfg.max_checkpoints_to_keep)
  metrics_path = os.path.join(stage_dir, 'metrics.jsonl')
  # With several processes every one runs the same steps; process 0 writes the
  # files (Orbax coordinates the checkpoints itself).
  writes_files = jax.process_index() == 0
  start_step, state, meta = checkpointer.restore_latest_good(state)
  start_step = start_step or 0
  if start_step:
    logging.info('Resuming GAN training from checkpoint step %d (epoch %d).',
                 start_step, meta['data_position']['epoch'])
  elif continue_from:
    start_step, state, meta = gan_divergence.continue_from_diverged(
        state, continue_from, metrics_path if writes_files else None)
  totals, count = None, 0
  resumed = _restore_preempted(stage_dir, state, start_step)
  if resumed:
    start_step, state, (totals, count) = resumed
    logging.info('Resuming GAN training from the checkpoint saved on a stop '
                 'request at step %d.', start_step)
  if writes_files:
    _truncate_metrics(metrics_path, start_step)

  # Per-class data: [C, N, ...] images and [C] counts; otherwise [N, ...] and [N].
  example_axis = 1 if model.one_per_class else 0
  streamed = streaming.streams(config.data, images_np.nbytes)
  if streamed:
    batches = streaming.GANBatches(config, dataset, model.one_per_class, batch_size,
                                   mesh, jax.device_get(state.rng), start_step,
                                   num_steps)
    images, labels = batches.shapes()  # Each step's batch is read in the loop.
  else:
    images = sharding.put_examples(images_np, mesh, example_axis)
    labels = (jax.device_put(labels_np, replicated) if model.one_per_class
              else sharding.put_examples(labels_np, mesh))
  logging.info('GAN input: %s (%.1f MB of training images; '
               'config.data.in_memory_max_bytes=%d).',
               'streamed, a batch per step' if streamed else 'held on the devices',
               images_np.nbytes / 1e6, config.data.in_memory_max_bytes)
  step_fn = jax.jit(
      make_train_step(family, model, config, mesh=mesh, batch_size=batch_size,
                      num_examples=images_np.shape[example_axis],
                      num_steps=num_steps, streamed=streamed),
      in_shardings=(replicated, images.sharding, labels.sharding),
      out_shardings=(replicated, replicated), donate_argnums=(0,))
  sampler = jax.jit(family.make_sampler(model).labelled)
  sample_z, sample_labels = _fixed_sample_inputs(
      config.seed, dataset.num_classes, gan_cfg.samples_per_class,
      family.latent_dim(config))
  if writes_files:
    write_real_grid(dataset, os.path.join(stage_dir, 'samples', 'real.png'),
                    gan_cfg.samples_per_class)

  def save_samples(step: int) -> str:
    # With an EMA generator the grids show the weights synthesis will use.
    fake = np.asarray(sampler(state, sample_z, sample_labels))
    rows = np.split(np.asarray(images_lib.to_uint8(np.asarray(fake, np.float32))),
                    dataset.num_classes)
    path = os.path.join(stage_dir, 'samples', f'step_{step:07d}.png')
    if writes_files:
      image_grids.class_grid(rows, dataset.class_names,
                             _grid_title(dataset, f'generated, step {step}'), path)
    return path

  def checkpoint_meta(step: int) -> Dict:
    return {'step': step,
            'data_position': batch_order.data_position(step, epoch_size, batch_size),
            'num_train_images': len(train), 'num_steps': num_steps}

  def save_checkpoint(step: int) -> None:
    watchdog.progress(f'the Orbax save of GAN step {step}')
    checkpointer.save(step, state, checkpoint_meta(step))

  def save_and_stop(step: int, checkpointed: bool) -> None:
    """On a stop request: the step's checkpoint (off the periodic grid, with
    the metric window), then Preempted."""
    watchdog.progress(f'the stop-time save of GAN step {step}')
    checkpointer.wait()
    if not checkpointed:
      preempted = Checkpointer(os.path.join(stage_dir, PREEMPTED_CHECKPOINTS),
                               max_to_keep=1)
      try:
        preempted.save(step, state, {**checkpoint_meta(step),
                                     'metric_window': {'count': count,
                                                       'totals': sums_to_meta(totals)}})
      finally:
        preempted.close()
    preemption.stop(f'at GAN step {step}/{num_steps}')

  # A per-class model trains every class's GAN on its own batch each step.
  images_per_step = batch_size * (dataset.num_classes if model.one_per_class else 1)
  compile_start = time.perf_counter()
  watchdog.progress('compiling the GAN train step')
  compiled = step_fn.lower(state, images, labels).compile()
  compile_seconds = time.perf_counter() - compile_start
  logging.info('GAN %s: %d training images, %d classes, batch %d on %d device(s); '
               'steps %d -> %d; step compiled in %.1f s.', gan_cfg.name, len(train),
               dataset.num_classes, batch_size, mesh.devices.size, start_step,
               num_steps, compile_seconds)

  scalars = scalars_lib.ScalarWriter(stage_dir if writes_files else None)
  one_step_in_flight = jax.process_count() > 1 and jax.default_backend() == 'cpu'
  try:
    last_logged: Dict[str, float] = {}
    run_start = time.perf_counter()
    window_start, window_step = run_start, start_step
    with preemption.stop_points():
      for step in range(start_step + 1, num_steps + 1):
        if streamed:
          images, labels = batches.next()
        state, metrics = compiled(state, images, labels)
        totals = metrics if totals is None else jax.tree.map(jnp.add, totals, metrics)
        if one_step_in_flight:
          # Across CPU processes (gloo), steps and the sums' additions
          # dispatched ahead without waiting stalled both processes within
          # ~20 steps (tests/test_multiprocess.py); one step at a time does not.
          jax.block_until_ready(totals)
        count += 1
        is_last = step == num_steps
        log_now = is_last or step % gan_cfg.log_every == 0
        checkpoint_now = is_last or step % gan_cfg.checkpoint_every == 0
        if log_now or checkpoint_now:
          means = {k: float(v) / count for k, v in jax.device_get(totals).items()}
          totals, count = None, 0
          bad = sorted(k for k, v in means.items() if not math.isfinite(v))
          bad += sorted(k for k, ok in jax.device_get(gan_divergence.finite_parts(state)).items()
                        if not ok)
          if bad:
            gan_divergence.stop_diverged(checkpointer, stage_dir, step, bad, gan_cfg.learning_rate)
          last_logged = means
          now = time.perf_counter()
          rate = (step - window_step) / max(now - window_start, 1e-9)
          window_start, window_step = now, step
          if writes_files:
            with open(metrics_path, 'a') as f:
              f.write(json.dumps({'step': step, 'steps_per_sec': rate, **means}) + '\n')
            scalars.write(step, means, 'gan')
          if log_now:
            logging.info('step %d/%d  %s  %.2f steps/s (%.1f img/s)  ETA %s', step,
                         num_steps, progress_values(family, means), rate,
                         rate * images_per_step,
                         _format_eta((num_steps - step) / max(rate, 1e-9)))
        if is_last or step % gan_cfg.sample_every == 0:
          path = save_samples(step)
          logging.info('Sample grid: %s', path)
        if checkpoint_now:
          save_checkpoint(step)
        watchdog.progress(f'GAN step {step + 1}/{num_steps}')
        if not is_last and preemption.requested(step):
          save_and_stop(step, checkpointed=checkpoint_now)
    jax.block_until_ready(state)
    train_seconds = time.perf_counter() - run_start
    checkpointer.wait()
    checkpoint_steps = checkpointer.all_steps()
    if writes_files:
      shutil.rmtree(os.path.join(stage_dir, PREEMPTED_CHECKPOINTS), ignore_errors=True)
  finally:
    # Also on Ctrl-C or an error: let an in-flight checkpoint finish writing.
    checkpointer.close()
    scalars.close()
  steps_run = num_steps - start_step
  return {
      'steps': num_steps, 'batch_size': batch_size,
      'steps_this_run': steps_run,
      'resumed_from_step': start_step,
      'continued_from_diverged': (
          {k: continue_from[k] for k in ('stage', 'step', 'diverged_learning_rate')}
          if continue_from else None),
      'final_metrics': last_logged,
      'images_per_sec': (steps_run * images_per_step / train_seconds
                         if steps_run else None),
      'train_seconds': train_seconds,
      'compile_seconds': compile_seconds,
      'devices': int(mesh.devices.size),
      'checkpoint_dir': checkpointer.directory,
      'checkpoint_steps': checkpoint_steps,
      'sample_grid': os.path.join(stage_dir, 'samples', f'step_{num_steps:07d}.png'),
  }
