"""A full disk (ENOSPC) or a read-only file system (EROFS) at a checkpoint save
and at the synthetic set's switch: a StorageError naming the path, the previous
checkpoint or set still readable, and the same write succeeds once space is back.

(Atomic file writes and an unwritable workdir: test_workdir_lock.py.)
"""

import errno
import os

import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from gan_aug.core import errors
from gan_aug.runtime.checkpoint import Checkpointer
from gan_aug.synthesis import accepted_set

CODES = [errno.ENOSPC, errno.EROFS]


def _state(value):
  return {'w': jnp.full((64, 64), value, jnp.float32),
          'step': jnp.asarray(value, jnp.int32)}


def _fail(code):
  def fail(*args, **kwargs):
    raise OSError(code, os.strerror(code))
  return fail


def _check_message(error, path, code):
  assert path in str(error) and os.strerror(code) in str(error)
  assert 'intact' in str(error)
  if code == errno.ENOSPC:
    assert 'MB are free' in str(error) and 'needs about' in str(error)


@pytest.mark.parametrize('code', CODES)
def test_a_failed_checkpoint_save_keeps_the_previous_one(tmp_path, monkeypatch, code):
  directory = str(tmp_path / 'checkpoints')
  checkpointer = Checkpointer(directory)
  checkpointer.save(1, _state(1), {'step': 1})
  checkpointer.wait()
  monkeypatch.setattr(ocp.CheckpointManager, 'save', _fail(code))
  with pytest.raises(errors.StorageError) as raised:
    checkpointer.save(2, _state(2), {'step': 2})
  _check_message(raised.value, directory, code)
  monkeypatch.undo()
  checkpointer.close()

  rerun = Checkpointer(directory)
  step, state, meta = rerun.restore_latest_good(_state(0))
  assert step == 1 and meta == {'step': 1} and int(state['step']) == 1
  rerun.save(2, _state(2), {'step': 2})  # Space is back: the rerun saves.
  rerun.close()
  step, state, _ = Checkpointer(directory).restore_latest_good(_state(0))
  assert step == 2 and int(state['step']) == 2


@pytest.mark.parametrize('code', CODES)
def test_a_save_failing_in_the_background_is_reported_when_waited_for(
    tmp_path, monkeypatch, code):
  directory = str(tmp_path / 'checkpoints')
  checkpointer = Checkpointer(directory)
  checkpointer.save(1, _state(1), {'step': 1})
  checkpointer.wait()

  def fail_wrapped(self):
    # How a background writer's failure reaches the caller: wrapped.
    try:
      raise OSError(code, os.strerror(code))
    except OSError as e:
      raise RuntimeError('async save failed') from e
  checkpointer.save(2, _state(2), {'step': 2})
  monkeypatch.setattr(ocp.CheckpointManager, 'wait_until_finished', fail_wrapped)
  with pytest.raises(errors.StorageError) as raised:
    checkpointer.close()
  _check_message(raised.value, directory, code)
  monkeypatch.undo()


def _records(n, label=0):
  return [{'file': os.path.join(accepted_set.class_folder(label, 'a'),
                                f'{i:06d}.png'), 'label': label} for i in range(n)]


@pytest.mark.parametrize('code', CODES)
@pytest.mark.parametrize('where', ['symlink', 'replace'])
def test_a_failed_set_switch_keeps_the_previous_set(tmp_path, monkeypatch, code,
                                                    where):
  stage_dir = str(tmp_path / 'synthesis')
  old = np.full((3, 8, 8, 1), 7, np.uint8)
  accepted_set.write_set(stage_dir, old, _records(3), {'run': 'old'}, ['a'])
  new = np.full((5, 8, 8, 1), 9, np.uint8)
  monkeypatch.setattr(os, where, _fail(code))
  with pytest.raises(errors.StorageError) as raised:
    accepted_set.write_set(stage_dir, new, _records(5), {'run': 'new'}, ['a'])
  _check_message(raised.value, os.path.join(stage_dir, 'sets'), code)
  monkeypatch.undo()

  images, _, manifest = accepted_set.load_set(stage_dir)
  np.testing.assert_array_equal(images, old)
  assert manifest['run'] == 'old'
  assert len(os.listdir(os.path.join(stage_dir, 'sets'))) == 1  # No remains.
  accepted_set.write_set(stage_dir, new, _records(5), {'run': 'new'}, ['a'])
  images, _, manifest = accepted_set.load_set(stage_dir)
  np.testing.assert_array_equal(images, new)
  assert manifest['run'] == 'new'
