"""The classifier arms' progress on disk: what an epoch checkpoint's metadata
holds, the stop-time checkpoint a stop request saves mid-epoch (apart from the
epoch checkpoints), and restoring the newest of them into the arms' runs."""

import os
from typing import Dict, Optional, Tuple

import numpy as np
from absl import logging

from gan_aug.runtime import preemption
from gan_aug.runtime.checkpoint import Checkpointer, sums_to_meta


def progress_meta(runs: Dict[str, Dict], epoch: int) -> Dict:
  """The JSON part of a classifier checkpoint: epoch, histories, early-stopping state."""
  return {'epoch': epoch, 'arms': {
      name: {'history': run['history'],
             'best_loss': None if not np.isfinite(run['best_loss']) else run['best_loss'],
             'best_step': run['best_step'], 'since_best': run['since_best']}
      for name, run in runs.items()}}


def preempted_dir(checkpoint_dir: str) -> str:
  """Where a stop request between epochs saves (apart from the epoch checkpoints)."""
  return checkpoint_dir.rstrip(os.sep) + '-preempted'


def restore_progress(checkpointer: Checkpointer, runs: Dict[str, Dict]
                      ) -> Tuple[int, Optional[Dict]]:
  """Loads the newest readable checkpoint into `runs`; (its completed epochs,
  the position within the next epoch for a stop-time checkpoint, else None)."""
  target = {name: {'state': run['state'], 'best': run['best']}
            for name, run in runs.items()}
  step, restored, meta = checkpointer.restore_latest_good(target)
  stop_dir = preempted_dir(checkpointer.directory)
  if os.path.isdir(stop_dir):
    preempted = Checkpointer(stop_dir, max_to_keep=1)
    try:
      stop_step, stop_state, stop_meta = preempted.restore_latest_good(target)
    finally:
      preempted.close()
    if stop_step is not None and stop_meta['epoch'] >= (meta.get('epoch') or 0):
      step, restored, meta = stop_step, stop_state, stop_meta
  if step is None:
    return 0, None
  for name, run in runs.items():
    arm = meta['arms'][name]
    run.update(state=restored[name]['state'], best=restored[name]['best'],
               history=arm['history'], best_step=arm['best_step'],
               since_best=arm['since_best'],
               best_loss=np.inf if arm['best_loss'] is None else arm['best_loss'])
  position = meta.get('position')
  if position:
    logging.info('Resuming classifier training in epoch %d, arm %s, step %d of '
                 'the epoch (saved on a stop request).', position['epoch'],
                 list(runs)[position['arm']], position['step_in_epoch'])
  else:
    logging.info('Resuming classifier training after epoch %d (checkpoint in %s).',
                 meta['epoch'], checkpointer.directory)
  return int(meta['epoch']), position


def save_and_stop(checkpointer: Checkpointer, runs: Dict[str, Dict], epoch: int,
                   arm: int, step_in_epoch: int, steps_per_epoch: int,
                   totals) -> None:
  """On a stop request: every arm and the position in `epoch` (arm index, its
  steps and metric sums so far) into the stop-time checkpoint; then Preempted."""
  checkpointer.wait()
  preempted = Checkpointer(preempted_dir(checkpointer.directory), max_to_keep=1)
  try:
    # Orbax keys saves by a step that grows: the position counted in arm-steps.
    preempted.save(((epoch - 1) * len(runs) + arm) * steps_per_epoch + step_in_epoch,
                   {name: {'state': run['state'], 'best': run['best']}
                    for name, run in runs.items()},
                   {**progress_meta(runs, epoch - 1), 'position': {
                       'epoch': epoch, 'arm': arm, 'step_in_epoch': step_in_epoch,
                       'totals': sums_to_meta(totals)}})
  finally:
    preempted.close()
  preemption.stop(f'in classifier epoch {epoch}, arm {list(runs)[arm]!r}, step '
                  f'{step_in_epoch} of the epoch')
