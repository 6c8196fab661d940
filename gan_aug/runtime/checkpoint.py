"""Orbax checkpoints of a whole training state plus small JSON metadata.

A checkpoint holds the state pytree as is (parameters, batch statistics, optimizer
states, step, PRNG key) and a JSON item (`meta`) with the data position and
anything else a person may want to read without JAX. Orbax writes each step to a
temporary folder and renames it when complete, so a run killed mid-save leaves the
previous checkpoint intact. A checkpoint that is complete but unreadable (a disk
fault, a file truncated by hand) is moved aside to `<directory>-corrupt/` with a
warning, and the previous one is used. A save that fails for a full disk or an
unwritable folder raises StorageError naming the folder.
"""

import contextlib
import os
import shutil
import time
from typing import Any, Dict, Iterator, Optional, Tuple

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from absl import logging

from gan_aug.core import atomic_files


def sums_to_meta(sums: Optional[Dict]) -> Dict:
  """Running metric sums (scalars on device) for a checkpoint's JSON meta,
  exactly: a float32 round-trips through JSON's float64."""
  return {k: [float(v), str(v.dtype)] for k, v in
          jax.device_get(sums or {}).items()}


def sums_from_meta(meta: Dict) -> Optional[Dict]:
  """The sums `sums_to_meta` saved (None for none)."""
  return {k: jnp.asarray(v, dtype) for k, (v, dtype) in meta.items()} or None


class Checkpointer:
  """Saves and restores `(state, meta)` under `directory`, keeping the last few."""

  def __init__(self, directory: str, max_to_keep: int = 3):
    self.directory = directory
    self._max_to_keep = max_to_keep
    self._save_bytes = None  # Of the newest save, for a full disk's message.
    self._manager = self._open()

  def _open(self) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=self._max_to_keep,
                                             create=True),
        item_names=('state', 'meta'))

  def latest_step(self) -> Optional[int]:
    """The newest complete checkpoint's step, or None."""
    return self._manager.latest_step()

  def all_steps(self) -> list:
    return list(self._manager.all_steps())

  @contextlib.contextmanager
  def _storage_errors(self) -> Iterator[None]:
    """A full disk or unwritable folder, however Orbax reports it, as a
    StorageError naming the folder; the checkpoints before stay as they were."""
    try:
      yield
    except Exception as e:  # pylint: disable=broad-except
      cause = atomic_files.storage_cause(e)
      if cause is None:
        raise
      raise atomic_files.storage_error(self.directory, cause,
                                       self._save_bytes) from e

  def save(self, step: int, state: Any, meta: Dict) -> None:
    """Saves asynchronously; `wait` or `close` before relying on it."""
    self._save_bytes = sum(getattr(leaf, 'nbytes', 0)
                           for leaf in jax.tree.leaves(state))
    with self._storage_errors():
      self._manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))

  def restore(self, target: Any, step: Optional[int] = None) -> Tuple[Any, Dict]:
    """Restores into the structure, shapes and shardings of `target`."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f'No checkpoint in {self.directory}.')
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
    return restored.state, dict(restored.meta)

  def restore_latest_good(self, target: Any) -> Tuple[Optional[int], Any, Dict]:
    """(step, state, meta) of the newest readable checkpoint; (None, target, {}) if none.

    Unreadable checkpoints newer than it are moved aside (so that training can
    save those steps again) with a warning naming them.
    """
    for step in sorted(self.all_steps(), reverse=True):
      try:
        state, meta = self.restore(target, step)
        return step, state, meta
      except Exception as e:  # pylint: disable=broad-except
        # Orbax, TensorStore and JSON each raise their own types for bad files.
        self._move_aside(step, e)
    return None, target, {}

  def _move_aside(self, step: int, error: Exception) -> None:
    source = os.path.join(self.directory, str(step))
    aside_dir = self.directory.rstrip(os.sep) + '-corrupt'
    os.makedirs(aside_dir, exist_ok=True)
    destination = os.path.join(aside_dir, f'{step}-{time.strftime("%Y%m%d-%H%M%S")}')
    logging.warning('Checkpoint step %d in %s cannot be read (%s: %s); moved to %s, '
                    'falling back to the previous checkpoint.', step, self.directory,
                    type(error).__name__, str(error)[:300], destination)
    shutil.move(source, destination)
    self._manager.close()
    self._manager = self._open()

  def wait(self) -> None:
    """Blocks until the saves in flight are written."""
    with self._storage_errors():
      self._manager.wait_until_finished()

  def close(self) -> None:
    """Waits for the saves in flight, then releases the manager."""
    try:
      self.wait()
    finally:
      with self._storage_errors():  # Orbax's close waits too.
        self._manager.close()
