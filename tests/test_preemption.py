"""SIGTERM during GAN training (a second one during the stop-time save, then one
alone), synthesis and classifier training of a one-seed run: each run exits
with status 75 within the bound, and the rerun ends with the same report metrics
and accepted images as an uninterrupted run. (SIGKILL, with two seeds:
test_kill_resume.py.)"""

import os
import re
import time

import pytest

from test_kill_resume import assert_same_outcome, run_protocol

STOP_BOUND_SECONDS = 30


def _run(workdir, cache_dir, point=None):
  result = run_protocol(workdir, cache_dir, 'stop_runner.py' if point else None,
                        point, seeds=1)
  return result, time.time()


def _seconds_to_stop(stderr: str, ended: float) -> float:
  sent = float(re.search(r'SIGTERM sent at ([0-9.]+)', stderr).group(1))
  return ended - sent


@pytest.mark.slow
def test_sigterm_in_every_stage_exits_75_and_rerun_equals_uninterrupted_run(tmp_path):
  cache = str(tmp_path / 'jax_cache')
  straight, _ = _run(str(tmp_path / 'straight'), cache)
  assert straight.returncode == 0, straight.stderr[-3000:]

  workdir = str(tmp_path / 'stopped')
  logs = []
  for point in ('gan-twice', 'gan', 'synthesis', 'classifier'):
    stopped, ended = _run(workdir, cache, point)
    logs.append(stopped.stderr)
    with open(tmp_path / f'{point}.log', 'w') as f:
      f.write(stopped.stderr)
    assert stopped.returncode == 75, stopped.stderr[-3000:]
    assert 'rerun the same command to continue' in stopped.stderr
    assert _seconds_to_stop(stopped.stderr, ended) < STOP_BOUND_SECONDS
    assert not os.path.exists(os.path.join(workdir, 'report.json'))
  final, _ = _run(workdir, cache)
  logs.append(final.stderr)
  with open(tmp_path / 'final.log', 'w') as f:
    f.write(final.stderr)
  assert final.returncode == 0, final.stderr[-3000:]

  # A second signal during the stop-time save ends at once, unsaved; the next
  # run resumes from the newest complete periodic checkpoint (Orbax saves in
  # the background: step 20's may still have been in flight).
  assert 'again: stopping at once without saving' in logs[0]
  assert re.search('Resuming GAN training from checkpoint step (10|20) ', logs[1])
  assert 'stop request' not in logs[1]
  # Each single stop saved where it was, off the checkpoint grid, and the next
  # run continued there.
  stop_step = int(re.search(r'at GAN step (\d+)/40, saved; rerun', logs[1]).group(1))
  assert stop_step % 10, 'the stop step should lie between periodic checkpoints'
  assert 'Resuming GAN training from the checkpoint saved on a stop request at ' \
         f'step {stop_step}.' in logs[2]
  assert re.search(r'in synthesis, class \S+ \(\d+ of 40 accepted\), saved', logs[2])
  assert re.search('class .* continues at batch 1 ', logs[3])
  assert 'in classifier epoch 3, arm ' in logs[3] and 'step 1 of the epoch, saved' \
      in logs[3]
  assert 'Resuming classifier training in epoch 3, arm ' in logs[4]

  assert_same_outcome(str(tmp_path / 'straight'), workdir, seeds=1)
