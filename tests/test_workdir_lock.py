"""One writer per workdir: a held lock refuses a second run, a stale one is taken
over; an unwritable workdir or a full disk ends with a message naming the path."""

import errno
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from gan_aug.core import atomic_files
from gan_aug.core import errors
from gan_aug.runtime import workdir_lock
from helpers import REPO_ROOT


def _write_lock(workdir, **fields):
  content = {'pid': os.getpid(), 'host': socket.gethostname(),
             'command': 'python -m gan_aug.main --workdir=elsewhere',
             'started': time.time(), 'heartbeat': time.time(), **fields}
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, workdir_lock.LOCK_NAME), 'w') as f:
    json.dump(content, f)
  return content


def _read(workdir):
  with open(os.path.join(workdir, workdir_lock.LOCK_NAME)) as f:
    return json.load(f)


def _dead_pid():
  process = subprocess.Popen(['true'])
  process.wait()
  return process.pid


def test_lock_names_its_holder_and_goes_away_after_the_run(tmp_path):
  workdir = str(tmp_path / 'run')
  with workdir_lock.hold(workdir, command='my command') as content:
    held = _read(workdir)
    assert held == content
    assert (held['pid'], held['host'], held['command']) == (
        os.getpid(), socket.gethostname(), 'my command')
  assert not os.path.exists(os.path.join(workdir, workdir_lock.LOCK_NAME))


def test_a_held_lock_refuses_a_second_run_and_is_left_as_it_was(tmp_path):
  workdir = str(tmp_path / 'run')
  holder = _write_lock(workdir)  # This very process: alive, fresh heartbeat.
  with pytest.raises(errors.WorkdirLockedError) as raised:
    workdir_lock.acquire(workdir)
  message = str(raised.value)
  assert f'pid {os.getpid()}' in message and socket.gethostname() in message
  assert '--workdir=elsewhere' in message and 'another --workdir' in message
  assert _read(workdir) == holder
  # On another host with a recent heartbeat it is trusted just the same.
  holder = _write_lock(workdir, host='other-host', pid=1)
  with pytest.raises(errors.WorkdirLockedError, match='other-host'):
    workdir_lock.acquire(workdir)
  assert _read(workdir) == holder


@pytest.mark.parametrize('fields, reason', [
    ({'pid': None}, 'no longer running'),                      # dead pid, this host
    ({'host': 'other-host', 'heartbeat': time.time() - 3600}, 'heartbeat'),
])
def test_a_stale_lock_is_taken_over_with_a_warning(tmp_path, caplog, fields, reason):
  workdir = str(tmp_path / 'run')
  fields = {k: (_dead_pid() if v is None else v) for k, v in fields.items()}
  _write_lock(workdir, **fields)
  with caplog.at_level('WARNING'):
    content = workdir_lock.acquire(workdir, command='new run')
  assert _read(workdir) == content and content['pid'] == os.getpid()
  assert any('Taking over' in r.message and reason in r.message
             for r in caplog.records)


def test_the_heartbeat_is_refreshed_while_the_lock_is_held(tmp_path):
  workdir = str(tmp_path / 'run')
  with workdir_lock.hold(workdir, heartbeat_seconds=0.05) as content:
    time.sleep(0.5)
    assert _read(workdir)['heartbeat'] > content['heartbeat']
    assert _read(workdir)['started'] == content['started']


@pytest.mark.slow
def test_a_second_command_on_a_held_workdir_exits_2_before_any_work(tmp_path):
  workdir = str(tmp_path / 'run')
  holder = _write_lock(workdir)
  result = subprocess.run(
      [sys.executable, '-m', 'gan_aug.main',
       '--config=configs/covid_acgan.py:phantom,smoke', f'--workdir={workdir}'],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 2, result.stderr[-2000:]
  assert f'is in use by pid {os.getpid()}' in result.stderr
  assert os.listdir(workdir) == [workdir_lock.LOCK_NAME]  # Nothing else written.
  assert _read(workdir) == holder


def test_an_unwritable_workdir_is_refused_naming_the_path(tmp_path):
  blocker = tmp_path / 'a_file'
  blocker.write_text('not a folder')
  workdir = str(blocker / 'run')  # Under a regular file: no folder can be made.
  with pytest.raises(errors.StorageError, match=str(blocker / 'run')):
    workdir_lock.acquire(workdir)
  assert blocker.read_text() == 'not a folder'


@pytest.mark.parametrize('code', [errno.ENOSPC, errno.EROFS])
def test_a_failed_atomic_write_names_the_path_and_keeps_the_old_file(
    tmp_path, monkeypatch, code):
  path = str(tmp_path / 'report.json')
  atomic_files.write_json(path, {'old': 1})

  def fail(fd):
    raise OSError(code, os.strerror(code))
  monkeypatch.setattr(os, 'fsync', fail)
  with pytest.raises(errors.StorageError, match='report.json') as raised:
    atomic_files.write_json(path, {'new': 2})
  if code == errno.ENOSPC:
    assert 'MB are free' in str(raised.value)
  monkeypatch.undo()
  with open(path) as f:
    assert json.load(f) == {'old': 1}
  assert os.listdir(tmp_path) == ['report.json']  # No temporary file left.
  atomic_files.write_json(path, {'new': 2})  # Space is back: the rerun writes.
  with open(path) as f:
    assert json.load(f) == {'new': 2}
