"""Writes that a crash cannot tear: each file is written beside its target and renamed.

`os.replace` is atomic on POSIX file systems, so a reader (or a resumed run) sees
the old version or the new one, never half of one. The data is flushed to disk
before the rename, so the new name never points at unwritten blocks.
"""

import contextlib
import json
import os
from typing import Iterator

import numpy as np


@contextlib.contextmanager
def replacing(path: str, mode: str = 'w', **open_kwargs) -> Iterator:
  """Opens a temporary file; on a clean exit flushes it and renames it to `path`."""
  tmp = f'{path}.tmp{os.getpid()}'
  try:
    with open(tmp, mode, **open_kwargs) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
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
