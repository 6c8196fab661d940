"""Writes that a crash cannot tear: each file is written beside its target and renamed.

`os.replace` is atomic on POSIX file systems, so a reader (or a resumed run) sees
the old version or the new one, never half of one. The data is flushed to disk
before the rename, so the new name never points at unwritten blocks. A full
disk or an unwritable folder ends in `errors.StorageError` naming the path.
"""

import contextlib
import errno
import json
import os
import shutil
from typing import Iterator, Optional

import numpy as np

from gan_aug.core import errors


# Write failures a person fixes outside the program: full disk or quota, a
# read-only file system, no permission, a path through a regular file.
STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES,
                  errno.EPERM, errno.ENOTDIR)


def storage_cause(error: BaseException) -> Optional[OSError]:
  """The OSError of a full disk or unwritable folder behind `error` (itself, or
  what it was raised from, as libraries such as Orbax wrap it), or None."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:
      return error
    error = error.__cause__ or error.__context__
  return None


def storage_error(path: str, error: OSError,
                  needed_bytes: Optional[int] = None) -> errors.StorageError:
  """A StorageError naming `path` (and, for a full disk, the free space and
  roughly what the write needs)."""
  message = f'Could not write {path}: {error.strerror or error}.'
  if error.errno in (errno.ENOSPC, errno.EDQUOT):
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):
      folder = os.path.dirname(folder)
    free = shutil.disk_usage(folder).free
    needs = (f' (this write needs about {needed_bytes / 2**20:.1f} MB)'
             if needed_bytes else '')
    message += (f' {free / 2**20:.0f} MB are free on the file system of {folder}'
                f'{needs}; free some space (or use another --workdir) and rerun '
                'the same command to continue.')
  else:
    message += ' Make the folder writable (or use another --workdir) and rerun.'
  return errors.StorageError(message + ' What was written before is intact.')


@contextlib.contextmanager
def replacing(path: str, mode: str = 'w', **open_kwargs) -> Iterator:
  """Opens a temporary file; on a clean exit flushes it and renames it to `path`.

  A write that fails for lack of space or permission raises StorageError naming
  `path`; the previous file, if any, is left as it was.
  """
  tmp = f'{path}.tmp{os.getpid()}'
  try:
    with open(tmp, mode, **open_kwargs) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except OSError as e:
    if e.errno in STORAGE_ERRNOS:
      raise storage_error(path, e) from e
    raise
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_json(path: str, obj) -> None:
  """Atomic JSON write (indented; non-JSON values written with `str`)."""
  with replacing(path) as f:
    json.dump(obj, f, indent=2, default=str)


def write_text(path: str, text: str) -> None:
  """Atomic text write."""
  with replacing(path) as f:
    f.write(text)


def save_npz(path: str, **arrays) -> None:
  """Atomic `np.savez` (`path` should end in .npz)."""
  with replacing(path, 'wb') as f:
    np.savez(f, **arrays)


def save_image(path: str, image) -> None:
  """Atomic PIL image save; the format follows `path`'s extension."""
  fmt = os.path.splitext(path)[1].lstrip('.').upper()
  with replacing(path, 'wb') as f:
    image.save(f, format={'JPG': 'JPEG'}.get(fmt, fmt))


def save_figure(fig, path: str, **savefig_kwargs) -> None:
  """Atomic matplotlib `savefig` (PNG unless `format` says otherwise)."""
  savefig_kwargs.setdefault('format', os.path.splitext(path)[1].lstrip('.') or 'png')
  with replacing(path, 'wb') as f:
    fig.savefig(f, **savefig_kwargs)


def read_jsonl(path: str) -> list:
  """The rows of a JSON-lines file, without a last line a crash cut short."""
  with open(path) as f:
    lines = [line for line in f if line.strip()]
  rows = []
  for i, line in enumerate(lines):
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError:
      if i != len(lines) - 1:
        raise ValueError(f'{path}: line {i + 1} is not JSON: {line[:80]!r}') from None
  return rows
