"""Ends a run that stopped making progress, naming what it was waiting on.

The loops and stages call `progress(what)` at each step, save and stage
change. A daemon thread ends the process with `errors.WATCHDOG_STATUS` when
none came for `run.watchdog_seconds` (0: off), printing the last `what` - the
stage, step, collective or Orbax save the run was waiting on. The main
thread cannot be interrupted inside a hung native call, so the thread exits
the process itself; every file the run writes is renamed into place when
complete, so a rerun continues from the last complete save.
"""

import os
import sys
import threading
import time
from typing import Optional

from gan_aug.core import errors

_lock = threading.Lock()
_last = {'time': time.monotonic(), 'what': 'starting up'}
_thread: Optional[threading.Thread] = None
_seconds = 0.0


def progress(what: str) -> None:
  """Records that the run is now doing (or waiting on) `what`; cheap."""
  _last['time'], _last['what'] = time.monotonic(), what


def _watch() -> None:
  while True:
    with _lock:
      seconds = _seconds
    if not seconds:
      return
    idle = time.monotonic() - _last['time']
    if idle > seconds:
      sys.stderr.write(
          f'watchdog: no progress for {idle:.0f} s (run.watchdog_seconds={seconds:g}); '
          f'the run was waiting on: {_last["what"]}. Stopping with status '
          f'{errors.WATCHDOG_STATUS}; what was saved is intact, and rerunning the '
          'same command continues (raise run.watchdog_seconds if that step is '
          'just slow).\n')
      sys.stderr.flush()
      os._exit(errors.WATCHDOG_STATUS)  # pylint: disable=protected-access
    time.sleep(min(max(seconds - idle, 0.05), 5.0))


def start(seconds: float) -> None:
  """Starts (or re-arms) the watchdog with a limit of `seconds` (0: off)."""
  global _thread, _seconds
  progress('starting up')
  with _lock:
    _seconds = float(seconds)
  if seconds and (_thread is None or not _thread.is_alive()):
    _thread = threading.Thread(target=_watch, name='gan_aug-watchdog', daemon=True)
    _thread.start()


def stop() -> None:
  """Turns the watchdog off (its thread ends within a few seconds)."""
  global _seconds
  with _lock:
    _seconds = 0.0
