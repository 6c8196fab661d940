"""The GAN training loop: resume, jitted steps, progress, metrics, sample grids, checkpoints.

Host work happens only on logging, sample and checkpoint steps; in between the
loop only dispatches the compiled step (JAX runs it asynchronously).
"""

import functools
import json
import math
import os
import time
from typing import Dict, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import Mesh

from gan_aug import config_validation
from gan_aug import models
from gan_aug import visualize
from gan_aug.data import Dataset
from gan_aug.train import gan as gan_lib
from gan_aug.train import sharding
from gan_aug.train.checkpoint import Checkpointer

# Looked up through the module so that tests can wrap the step (e.g. to crash it).
make_train_step = gan_lib.make_train_step


class GANDivergedError(RuntimeError):
  """A loss or score became NaN/inf; the message names the step and last checkpoint."""


def total_steps(gan_cfg: ml_collections.ConfigDict, num_examples: int) -> int:
  """`num_steps` if set, else `num_epochs` full passes of drop-last batches."""
  if gan_cfg.num_steps > 0:
    return int(gan_cfg.num_steps)
  return int(gan_cfg.num_epochs) * (num_examples // gan_cfg.batch_size)


def _format_eta(seconds: float) -> str:
  if not math.isfinite(seconds):
    return '?'
  seconds = int(seconds)
  return f'{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def _truncate_metrics(path: str, last_step: int) -> None:
  """Drops metric lines logged after the checkpoint a run resumes from."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = [l for l in f if l.strip() and json.loads(l)['step'] <= last_step]
  with open(path, 'w') as f:
    f.writelines(lines)


def _fixed_sample_inputs(seed: int, num_classes: int, per_class: int,
                         latent_dim: int):
  key = jax.random.PRNGKey(seed + 7919)
  z = jax.random.normal(key, (num_classes * per_class, latent_dim),
                        gan_lib.z_dtype())
  labels = jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), per_class)
  return z, labels


def _grid_title(dataset: Dataset, what: str) -> str:
  title = f'{dataset.name}: {what}'
  return title + (f'   {visualize.PHANTOM_BANNER}' if dataset.is_phantom
                  else '')


def write_real_grid(dataset: Dataset, path: str, per_class: int) -> None:
  """The first `per_class` training images of each class, for comparison."""
  train = dataset.splits['train']
  rows = [train.images[np.flatnonzero(train.labels == c)[:per_class]]
          for c in range(dataset.num_classes)]
  visualize.class_grid(rows, dataset.class_names,
                       _grid_title(dataset, 'real training images'), path)


def _check_class_sizes(class_names, class_counts, batch_size: int) -> None:
  """Per-class GANs need a full batch of every class."""
  small = [f'{name} ({int(n)})' for name, n in zip(class_names, class_counts)
           if n < batch_size]
  if small:
    raise config_validation.ConfigError(
        f'config.gan.batch_size={batch_size} is larger than the training images of '
        f'class(es) {", ".join(small)}; a per-class GAN needs a full batch of its '
        'class: lower gan.batch_size.')


def train_gan(config: ml_collections.ConfigDict, dataset: Dataset, stage_dir: str,
              mesh: Optional[Mesh] = None) -> Dict:
  """Trains (or resumes) the configured GAN on the training split; returns a summary."""
  mesh = mesh if mesh is not None else sharding.make_mesh()
  gan_cfg = config.gan
  train = dataset.splits['train']
  batch_size = gan_cfg.batch_size
  try:
    sharding.check_divisible(batch_size, mesh, 'gan.batch_size')
  except ValueError as e:
    raise config_validation.ConfigError(str(e)) from e
  if len(train) < batch_size:
    raise config_validation.ConfigError(
        f'config.gan.batch_size={batch_size} is larger than the {len(train)} '
        'training images; lower it.')
  model = models.build_gan(config, dataset.num_classes)
  class_counts = train.class_counts(dataset.num_classes)
  if model.per_class:
    _check_class_sizes(dataset.class_names, class_counts, batch_size)
    # An epoch is a pass over the smallest class (each class's GAN takes a batch
    # of its own class every step).
    epoch_size = int(min(class_counts))
    images_np, labels_np = gan_lib.stack_by_class(train.images, train.labels,
                                                  dataset.num_classes)
  else:
    epoch_size = len(train)
    images_np, labels_np = train.images, train.labels
  num_steps = total_steps(gan_cfg, epoch_size)
  os.makedirs(os.path.join(stage_dir, 'samples'), exist_ok=True)

  g_tx = gan_lib.adam(gan_cfg.learning_rate, gan_cfg.beta1, gan_cfg.beta2)
  d_tx = gan_lib.adam(gan_cfg.learning_rate, gan_cfg.beta1, gan_cfg.beta2)
  replicated = sharding.replicated(mesh)
  init = jax.jit(functools.partial(
      gan_lib.init_state, model, g_tx, d_tx, seed=config.seed,
      latent_dim=gan_cfg.latent_dim, image_shape=train.images.shape[1:]),
                 out_shardings=replicated)
  state = init()

  checkpointer = Checkpointer(os.path.join(stage_dir, 'checkpoints'),
                              gan_cfg.max_checkpoints_to_keep)
  start_step = checkpointer.latest_step() or 0
  if start_step:
    state, meta = checkpointer.restore(state)
    logging.info('Resuming GAN training from checkpoint step %d (epoch %d).',
                 start_step, meta['data_position']['epoch'])
  metrics_path = os.path.join(stage_dir, 'metrics.jsonl')
  _truncate_metrics(metrics_path, start_step)

  images = jax.device_put(images_np, replicated)
  labels = jax.device_put(labels_np, replicated)
  noise_std = gan_cfg.get('instance_noise_std', 0.0)
  step_fn = jax.jit(
      make_train_step(model, g_tx, d_tx, mesh=mesh, batch_size=batch_size,
                      latent_dim=gan_cfg.latent_dim,
                      aux_loss_on_fake=gan_cfg.get('aux_loss_on_fake', True),
                      noise_std=noise_std,
                      noise_anneal_steps=(gan_cfg.get('instance_noise_anneal_steps', 0)
                                          or num_steps)),
      in_shardings=(replicated, replicated, replicated),
      out_shardings=(replicated, replicated), donate_argnums=(0,))
  sampler = jax.jit(gan_lib.make_sampler(model))
  sample_z, sample_labels = _fixed_sample_inputs(
      config.seed, dataset.num_classes, gan_cfg.samples_per_class,
      gan_cfg.latent_dim)
  write_real_grid(dataset, os.path.join(stage_dir, 'samples', 'real.png'),
                  gan_cfg.samples_per_class)

  def save_samples(step: int) -> str:
    fake = np.asarray(sampler(state.g_params, state.g_batch_stats, sample_z,
                              sample_labels))
    rows = np.split(visualize.to_uint8(fake), dataset.num_classes)
    path = os.path.join(stage_dir, 'samples', f'step_{step:07d}.png')
    visualize.class_grid(rows, dataset.class_names,
                         _grid_title(dataset, f'generated, step {step}'), path)
    return path

  def save_checkpoint(step: int) -> None:
    checkpointer.save(step, state, {
        'step': step,
        'data_position': gan_lib.data_position(step, epoch_size, batch_size),
        'num_train_images': len(train),
        'num_steps': num_steps,
    })

  # A per-class model trains every class's GAN on its own batch each step.
  images_per_step = batch_size * (dataset.num_classes if model.per_class else 1)
  compile_start = time.perf_counter()
  compiled = step_fn.lower(state, images, labels).compile()
  compile_seconds = time.perf_counter() - compile_start
  logging.info('GAN %s: %d training images, %d classes, batch %d on %d device(s); '
               'steps %d -> %d; step compiled in %.1f s.', gan_cfg.name, len(train),
               dataset.num_classes, batch_size, mesh.devices.size, start_step,
               num_steps, compile_seconds)

  try:
    totals, count = None, 0
    last_logged: Dict[str, float] = {}
    run_start = time.perf_counter()
    window_start, window_step = run_start, start_step
    for step in range(start_step + 1, num_steps + 1):
      state, metrics = compiled(state, images, labels)
      totals = metrics if totals is None else jax.tree.map(jnp.add, totals, metrics)
      count += 1
      is_last = step == num_steps
      log_now = is_last or step % gan_cfg.log_every == 0
      checkpoint_now = is_last or step % gan_cfg.checkpoint_every == 0
      if log_now or checkpoint_now:
        means = {k: float(v) / count for k, v in jax.device_get(totals).items()}
        totals, count = None, 0
        bad = sorted(k for k, v in means.items() if not math.isfinite(v))
        if bad:
          checkpointer.wait()
          good = checkpointer.latest_step()
          raise GANDivergedError(
              f'GAN training diverged by step {step}: {", ".join(bad)} not finite. '
              f'Last good checkpoint: step {good} in {checkpointer.directory}. '
              'Rerunning the same config repeats the divergence; lower '
              'gan.learning_rate or change the seed.')
        last_logged = means
        now = time.perf_counter()
        rate = (step - window_step) / max(now - window_start, 1e-9)
        window_start, window_step = now, step
        with open(metrics_path, 'a') as f:
          f.write(json.dumps({'step': step, 'steps_per_sec': rate, **means}) + '\n')
        if log_now:
          aux = (f'  aux acc real {means["aux_acc_real"]:.2f} fake '
                 f'{means["aux_acc_fake"]:.2f}' if 'aux_acc_real' in means else '')
          logging.info(
              'step %d/%d  d_loss %.3f  g_loss %.3f  D(x) %.3f  D(G(z)) %.3f%s  '
              '%.2f steps/s (%.1f img/s)  ETA %s', step, num_steps, means['d_loss'],
              means['g_loss'], means['d_real'], means['d_fake'], aux, rate,
              rate * images_per_step,
              _format_eta((num_steps - step) / max(rate, 1e-9)))
      if is_last or step % gan_cfg.sample_every == 0:
        path = save_samples(step)
        logging.info('Sample grid: %s', path)
      if checkpoint_now:
        save_checkpoint(step)
    jax.block_until_ready(state)
    train_seconds = time.perf_counter() - run_start
    checkpointer.wait()
    checkpoint_steps = checkpointer.all_steps()
  finally:
    # Also on Ctrl-C or an error: let an in-flight checkpoint finish writing.
    checkpointer.close()
  steps_run = num_steps - start_step
  return {
      'steps': num_steps,
      'steps_this_run': steps_run,
      'resumed_from_step': start_step,
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
