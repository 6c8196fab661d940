"""Orbax checkpoints of a whole training state plus small JSON metadata.

A checkpoint holds the state pytree as is (parameters, batch statistics, optimizer
states, step, PRNG key) and a JSON item (`meta`) with the data position and
anything else a person may want to read without JAX. Orbax writes each step to a
temporary folder and renames it when complete, so a run killed mid-save leaves the
previous checkpoint intact.
"""

from typing import Any, Dict, Optional, Tuple

import orbax.checkpoint as ocp


class Checkpointer:
  """Saves and restores `(state, meta)` under `directory`, keeping the last few."""

  def __init__(self, directory: str, max_to_keep: int = 3):
    self.directory = directory
    self._manager = ocp.CheckpointManager(
        directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        item_names=('state', 'meta'))

  def latest_step(self) -> Optional[int]:
    """The newest complete checkpoint's step, or None."""
    return self._manager.latest_step()

  def all_steps(self) -> list:
    return list(self._manager.all_steps())

  def save(self, step: int, state: Any, meta: Dict) -> None:
    """Saves asynchronously; `wait` or `close` before relying on it."""
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

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
