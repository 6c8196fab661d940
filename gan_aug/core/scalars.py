"""Training curves as TensorBoard event files, beside metrics.jsonl and the history.

`tensorboard --logdir=WORKDIR` shows every stage folder as a run: the GAN's
losses and D's outputs per (fraction, seed), and each classifier arm's train and
validation loss and accuracy per epoch. A resumed stage appends a new event file;
TensorBoard merges them.
"""

import time
from typing import Dict, Optional

# TensorBoard's own writer: no TensorFlow needed (and none imported).
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter


class ScalarWriter:
  """Writes `prefix/name` scalars to event files in `log_dir`; with None, nothing."""

  def __init__(self, log_dir: Optional[str]):
    self._writer = EventFileWriter(log_dir) if log_dir else None

  def write(self, step: int, values: Dict[str, float], prefix: str) -> None:
    """One point per value at `step`."""
    if self._writer is None:
      return
    summary = summary_pb2.Summary(value=[
        summary_pb2.Summary.Value(tag=f'{prefix}/{name}', simple_value=float(value))
        for name, value in values.items()])
    self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=int(step),
                                           summary=summary))

  def close(self) -> None:
    """Flushes and closes the event file."""
    if self._writer is not None:
      self._writer.close()
      self._writer = None

  def __enter__(self) -> 'ScalarWriter':
    return self

  def __exit__(self, *exc) -> None:
    self.close()
