"""A GAN that diverged: which parts of its state are not finite, the record that
stops the stage (`diverged.json`), and continuing from its last good checkpoint
with a lower learning rate (gan_aug.pipeline.stages decides when)."""

import dataclasses
import json
import os
from typing import Dict, Optional

import jax
import jax.numpy as jnp
from absl import logging

from gan_aug.core import atomic_files
from gan_aug.core.errors import GANDivergedError
from gan_aug.runtime.checkpoint import Checkpointer

DIVERGED_FILE = 'diverged.json'


@jax.jit
def finite_parts(state) -> Dict[str, jax.Array]:
  """Whether each part of a family's state (a dataclass: parameters, statistics,
  optimizer states; its `step` and `rng` aside) is finite, by field name."""
  parts = {field.name: jax.tree.leaves(getattr(state, field.name))
           for field in dataclasses.fields(state)
           if field.name not in ('step', 'rng')}
  return {name: jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))
          for name, leaves in parts.items() if leaves}


def continue_from_diverged(state, continue_from: Dict,
                           metrics_path: Optional[str]):
  """(step, state, meta) from a diverged run's last good checkpoint; copies its metrics."""
  source = Checkpointer(continue_from['checkpoint_dir'])
  try:
    state, meta = source.restore(state, continue_from['step'])
  finally:
    source.close()
  source_metrics = os.path.join(os.path.dirname(continue_from['checkpoint_dir']),
                                'metrics.jsonl')
  if metrics_path and os.path.exists(source_metrics):
    rows = [r for r in atomic_files.read_jsonl(source_metrics)
            if r['step'] <= continue_from['step']]
    atomic_files.write_text(metrics_path, ''.join(json.dumps(r) + '\n' for r in rows))
  logging.info('Continuing the diverged run %s from its last good checkpoint, step '
               '%d, with learning rate %g (was %g).', continue_from['stage'],
               continue_from['step'], continue_from['learning_rate'],
               continue_from['diverged_learning_rate'])
  return continue_from['step'], state, meta


def stop_diverged(checkpointer: Checkpointer, stage_dir: str, step: int,
                   bad: list, learning_rate: float) -> None:
  """Records the divergence in the stage folder and raises GANDivergedError."""
  checkpointer.wait()
  good = checkpointer.latest_step()
  atomic_files.write_json(os.path.join(stage_dir, DIVERGED_FILE), {
      'step': step, 'not_finite': bad, 'last_good_step': good,
      'checkpoint_dir': checkpointer.directory, 'learning_rate': learning_rate})
  if good is None:
    hint = ('No checkpoint was saved before it; lower gan.learning_rate '
            '(e.g. --config.gan.learning_rate=...) to start again.')
  else:
    hint = (f'Rerunning with a lower learning rate (e.g. '
            f'--config.gan.learning_rate={learning_rate / 2:g}) continues from step '
            f'{good}; rerunning unchanged repeats the divergence.')
  raise GANDivergedError(
      f'GAN training diverged by step {step}: {", ".join(bad)} not finite. '
      f'Last good checkpoint: step {good} in {checkpointer.directory}. {hint}')
