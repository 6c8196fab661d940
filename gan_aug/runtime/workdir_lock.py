"""One writer per workdir: a lock file that names its holder and keeps a heartbeat.

`hold(workdir)` creates `workdir/run.lock` with O_EXCL, holding the pid, host,
command and start time of the run as JSON, and rewrites its `heartbeat` every
HEARTBEAT_SECONDS from a background thread until the run ends, when it removes
the file. A second run on the same workdir finds the file and stops at once with
`errors.WorkdirLockedError` (exit status 2), naming the holder, before any work.

A lock is stale when its pid is gone on this host, or when its heartbeat is older
than STALE_AFTER_SECONDS (a holder on another host of a shared file system, or
a process that hangs); a stale lock is taken over with a warning. Takeovers are
serialised by an flock on the workdir folder, so of two runs that find the same
stale lock only one takes it. Read-only uses (reading a report, `gan_aug.generate`)
need no lock.
"""

import contextlib
import fcntl
import json
import os
import socket
import sys
import threading
import time
from typing import Dict, Iterator, Optional

from absl import logging

from gan_aug.core import atomic_files
from gan_aug.core import errors

LOCK_NAME = 'run.lock'
HEARTBEAT_SECONDS = 30.0
# A holder on another host is trusted this long after its last heartbeat.
STALE_AFTER_SECONDS = 300.0


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Alive, someone else's.
    return True
  return True


def stale_reason(holder: Dict, now: float, stale_after: float) -> Optional[str]:
  """Why the lock `holder` wrote is stale (None: it is not)."""
  if holder.get('host') == socket.gethostname() and not _pid_alive(
      int(holder.get('pid', -1))):
    return f'pid {holder.get("pid")} is no longer running on this host'
  age = now - float(holder.get('heartbeat', 0.0))
  if age > stale_after:
    return f'its last heartbeat was {age:.0f} s ago (stale after {stale_after:.0f} s)'
  return None


def read_holder(path: str) -> Optional[Dict]:
  """The lock file's content, {} when unreadable (being written), None when absent."""
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, ValueError):
    return {}


def _describe(workdir: str, holder: Dict, now: float, stale_after: float) -> str:
  heartbeat = now - float(holder.get('heartbeat', now))
  return (f'{workdir} is in use by pid {holder.get("pid")} on host '
          f'{holder.get("host")} (command: {holder.get("command")}; started '
          f'{time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", now)))}'
          f', last heartbeat {heartbeat:.0f} s ago). Wait for it to finish, stop it, '
          'or choose another --workdir. A holder that is gone is taken over '
          f'automatically: at once on the same host, after {stale_after:.0f} s '
          f'without a heartbeat from another host (or remove '
          f'{os.path.join(workdir, LOCK_NAME)} once you are sure it is gone).')


def _write_new(path: str, content: Dict) -> bool:
  """Creates the lock file with O_EXCL; False if it exists."""
  try:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
  except FileExistsError:
    return False
  with os.fdopen(fd, 'w') as f:
    json.dump(content, f)
  return True


def _rewrite(path: str, content: Dict) -> None:
  """Replaces the lock file's content atomically (the file never disappears)."""
  tmp = f'{path}.{os.getpid()}.tmp'
  with open(tmp, 'w') as f:
    json.dump(content, f)
  os.replace(tmp, path)


def _is_ours(holder: Optional[Dict], content: Dict) -> bool:
  return bool(holder) and all(holder.get(k) == content[k]
                              for k in ('pid', 'host', 'started'))


def acquire(workdir: str, command: Optional[str] = None,
            stale_after: float = STALE_AFTER_SECONDS) -> Dict:
  """Takes workdir's lock (a stale one is taken over with a warning); returns
  what it wrote. Raises WorkdirLockedError while another run holds it."""
  path = os.path.join(workdir, LOCK_NAME)
  now = time.time()
  content = {'pid': os.getpid(), 'host': socket.gethostname(),
             'command': command or ' '.join(sys.argv), 'started': now,
             'heartbeat': now}
  try:  # The first write of a run: an unwritable workdir is refused here.
    os.makedirs(workdir, exist_ok=True)
    if _write_new(path, content):
      return content
  except OSError as e:
    if e.errno in atomic_files.STORAGE_ERRNOS or isinstance(e, FileExistsError):
      raise atomic_files.storage_error(path, e) from e
    raise
  guard = os.open(workdir, os.O_RDONLY)  # flock on the folder: no file of its own.
  try:
    fcntl.flock(guard, fcntl.LOCK_EX)
    for _ in range(3):
      if _write_new(path, content):  # Released meanwhile.
        return content
      holder = read_holder(path)
      if holder == {}:  # A holder in the middle of writing it: give it a moment.
        time.sleep(1.0)
        holder = read_holder(path)
      if holder is None:
        continue
      reason = (stale_reason(holder, time.time(), stale_after) if holder
                else 'its lock file is unreadable')
      if reason is None:
        raise errors.WorkdirLockedError(
            _describe(workdir, holder, time.time(), stale_after))
      logging.warning('Taking over the lock of %s from pid %s on host %s: %s.',
                      workdir, holder.get('pid'), holder.get('host'), reason)
      _rewrite(path, content)
      return content
  finally:
    os.close(guard)  # Releases the flock.
  raise errors.WorkdirLockedError(f'{path} appears and disappears: another run is '
                                  'starting on this workdir; try again.')


class _Heartbeat(threading.Thread):
  """Rewrites the lock's heartbeat every `every` seconds while the lock is ours."""

  def __init__(self, path: str, content: Dict, every: float):
    super().__init__(daemon=True, name='workdir-lock-heartbeat')
    self.path, self.content, self.every = path, dict(content), every
    self.stopped = threading.Event()

  def run(self) -> None:
    while not self.stopped.wait(self.every):
      if not _is_ours(read_holder(self.path), self.content):
        logging.error('The lock %s is no longer this run\'s (taken over as stale?); '
                      'another run may now write the same workdir.', self.path)
        return
      self.content['heartbeat'] = time.time()
      try:
        _rewrite(self.path, self.content)
      except OSError as e:
        logging.warning('Could not refresh the lock %s: %s', self.path, e)


def release(workdir: str, content: Dict) -> None:
  """Removes workdir's lock if it is still the one `content` describes."""
  path = os.path.join(workdir, LOCK_NAME)
  if _is_ours(read_holder(path), content):
    os.remove(path)


@contextlib.contextmanager
def hold(workdir: str, command: Optional[str] = None,
         heartbeat_seconds: float = HEARTBEAT_SECONDS,
         stale_after: float = STALE_AFTER_SECONDS) -> Iterator[Dict]:
  """The workdir's lock for the duration of the block (see the module docstring)."""
  content = acquire(workdir, command, stale_after)
  beat = _Heartbeat(os.path.join(workdir, LOCK_NAME), content, heartbeat_seconds)
  beat.start()
  try:
    yield content
  finally:
    beat.stopped.set()
    beat.join()
    release(workdir, content)
