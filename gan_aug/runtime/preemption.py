"""SIGTERM and SIGINT as a request to stop at the next step boundary.

A preemptible VM, a SLURM time limit or Kubernetes sends SIGTERM some seconds
before it kills. `install` makes the first SIGTERM or SIGINT a request: inside
`stop_points()` (the training and synthesis loops) the loop saves its position
at the next step boundary and raises `errors.Preempted` (exit status 75,
EX_TEMPFAIL); outside them, where nothing unsaved would be lost (loading data,
compiling, before the first step), the run stops at once. A second signal
ends the process at once: the newest complete checkpoint stays usable, as
every save is written aside and renamed when complete.

With several processes (`gan_aug.multihost`) every process must stop at the
same step, since a checkpoint is a collective: there the stop step is agreed
through JAX's preemption sync point instead of a local flag.
"""

import contextlib
import os
import signal
import sys
import threading
from typing import Iterator, Optional

import jax

from gan_aug.core import errors

RERUN = 'rerun the same command to continue'

_requested = threading.Event()
_signal_name: Optional[str] = None
_depth = 0  # How many stop_points() regions the main thread is in.


def _handle(signum, frame) -> None:
  del frame
  global _signal_name
  name = signal.Signals(signum).name
  if _requested.is_set():
    sys.stderr.write(f'{name} again: stopping at once without saving; the newest '
                     f'complete checkpoint is intact; {RERUN}.\n')
    sys.stderr.flush()
    os._exit(errors.PREEMPTED_STATUS)  # pylint: disable=protected-access
  _signal_name = name
  _requested.set()
  if _depth == 0:
    raise errors.Preempted(f'Stopped by {name} before any unsaved work; {RERUN}.')
  sys.stderr.write(f'{name} received: saving at the next step boundary (send it '
                   'again to stop at once).\n')
  sys.stderr.flush()


def install() -> None:
  """Makes SIGTERM and SIGINT stop requests (call from the main thread)."""
  _requested.clear()
  for signum in (signal.SIGTERM, signal.SIGINT):
    signal.signal(signum, _handle)


@contextlib.contextmanager
def stop_points() -> Iterator[None]:
  """A region whose loop checks `requested` at each step boundary and saves
  before stopping; a signal before the region is entered stops at once."""
  global _depth
  if _requested.is_set() and _depth == 0:
    raise errors.Preempted(f'Stopped by {_signal_name} before any unsaved work; '
                           f'{RERUN}.')
  _depth += 1
  try:
    yield
  finally:
    _depth -= 1


def requested(step: Optional[int] = None) -> bool:
  """Whether to stop at this step boundary. With several processes pass the
  step: all of them then answer the same at the same step."""
  if jax.process_count() > 1 and step is not None:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    return bool(multihost_utils.reached_preemption_sync_point(step))
  return _requested.is_set()


def stop(where: str, saved: bool = True) -> None:
  """Raises Preempted, after the caller saved its position `where`."""
  raise errors.Preempted(f'Stopped by {_signal_name or "a stop request"} {where}'
                         f'{", saved" if saved else ""}; {RERUN}.')
