"""A corrupt newest checkpoint: a warning, the previous one restored, training goes on."""

import os

import jax.numpy as jnp
import numpy as np

from gan_aug.runtime.checkpoint import Checkpointer


def _state(value):
  return {'w': jnp.full((3, 4), value, jnp.float32), 'step': jnp.asarray(value, jnp.int32)}


def _garble_files(folder):
  for root, _, files in os.walk(folder):
    for name in files:
      with open(os.path.join(root, name), 'wb') as f:
        f.write(b'\x00garbage')


def test_corrupt_latest_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
  directory = str(tmp_path / 'checkpoints')
  checkpointer = Checkpointer(directory, max_to_keep=3)
  for step in (1, 2):
    checkpointer.save(step, _state(step), {'step': step})
  checkpointer.close()
  _garble_files(os.path.join(directory, '2', 'state'))

  checkpointer = Checkpointer(directory, max_to_keep=3)
  with caplog.at_level('WARNING'):
    step, state, meta = checkpointer.restore_latest_good(_state(0))
  assert step == 1 and meta == {'step': 1}
  np.testing.assert_array_equal(state['w'], np.full((3, 4), 1.0))
  assert 'Checkpoint step 2' in caplog.text and 'cannot be read' in caplog.text
  aside = os.listdir(str(tmp_path / 'checkpoints-corrupt'))
  assert len(aside) == 1 and aside[0].startswith('2-')
  # Step 2 can be written again by the resumed run.
  checkpointer.save(2, _state(5), {'step': 2})
  checkpointer.close()
  step, state, _ = Checkpointer(directory).restore_latest_good(_state(0))
  assert step == 2 and int(state['step']) == 5


def test_no_readable_checkpoint_gives_the_target_back(tmp_path):
  directory = str(tmp_path / 'checkpoints')
  checkpointer = Checkpointer(directory)
  checkpointer.save(1, _state(1), {'step': 1})
  checkpointer.close()
  _garble_files(os.path.join(directory, '1'))
  step, state, meta = Checkpointer(directory).restore_latest_good(_state(7))
  assert step is None and meta == {} and int(state['step']) == 7
