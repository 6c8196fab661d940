"""SIGKILL during GAN training, synthesis and classifier training of the second
generator of a two-generator run (tests/support/two_generators.py) on
covid19_3way's prepared records, then the same command again: the report's
metrics (every arm's) and the accepted set equal an uninterrupted run's. The
killed runs stream every batch
(`data.in_memory_max_bytes=0`) and the uninterrupted one holds the data on the
device, so this also checks that both input paths train on the same batches."""

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from helpers import REPO_ROOT, run_arms

_FLAGS = (
    '--config.data.name=tfds:covid19_3way',
    '--config.data.resolution=28', '--config.data.channels=1',
    '--config.gan.g_base_width=32', '--config.gan.d_base_width=8',
    '--config.gan.batch_size=16', '--config.gan.num_steps=40',
    '--config.gan.log_every=5', '--config.gan.checkpoint_every=10',
    '--config.gan.sample_every=5',
    '--config.synthesis.require_class_agreement=False',
    '--config.synthesis.target_value=40', '--config.synthesis.batch_size=16',
    '--config.classifier.max_epochs=5', '--config.classifier.patience=5',
    '--config.classifier.steps_per_epoch=2',
    '--config.classifier.checkpoint_every_seconds=0',
)


def run_protocol(workdir, cache_dir, runner=None, point=None, seeds=2,
                 extra_flags=(), config='configs/covid_acgan.py:smoke'):
  """The protocol of `config` with _FLAGS and `seeds` seeds by `python -m
  gan_aug.main`, or by tests/support/<runner> (which interrupts itself at
  `point`); the records are prepared beside `cache_dir`."""
  env = dict(os.environ, XLA_FLAGS='', PYTHONUNBUFFERED='1',
             PYTHONPATH=REPO_ROOT,
             JAX_COMPILATION_CACHE_DIR=cache_dir,
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0')
  command = ([sys.executable, os.path.join(REPO_ROOT, 'tests', 'support', runner),
              point, '--']
             if runner else [sys.executable, '-m', 'gan_aug.main'])
  flags = [f'--config={config}'] + list(_FLAGS) + list(extra_flags) + [
      f'--config.protocol.seeds={seeds}', f'--workdir={workdir}',
      f'--config.data.prepared_dir={os.path.join(os.path.dirname(cache_dir), "prepared")}']
  return subprocess.run(command + flags,
                        cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                        timeout=600)


def _outcome(workdir):
  with open(os.path.join(workdir, 'report.json')) as f:
    report = json.load(f)
  synth_dir = report['runs'][-1]['stages']['synthesis']
  with open(os.path.join(synth_dir, 'synthetic', 'manifest.json')) as f:
    manifest = json.load(f)
  with np.load(os.path.join(synth_dir, 'synthetic', 'images.npz')) as arrays:
    images = arrays['images']
  metrics = {'summary': report['arms'], 'runs': [run_arms(report, i)
                                                  for i in range(len(report['runs']))]}
  return metrics, report['runs'][-1]['gan']['final_metrics'], manifest['images'], images


def assert_same_outcome(workdir_a, workdir_b, seeds=2):
  """Both runs' report metrics, GAN metrics and accepted sets are equal."""
  metrics_a, gan_a, records_a, images_a = _outcome(workdir_a)
  metrics_b, gan_b, records_b, images_b = _outcome(workdir_b)
  assert metrics_a == metrics_b and len(metrics_a['runs']) == seeds
  assert gan_a == gan_b
  assert records_a == records_b and len(records_a) == 120
  np.testing.assert_array_equal(images_a, images_b)


@pytest.mark.slow
def test_sigkill_in_every_stage_then_rerun_equals_uninterrupted_run(tmp_path):
  cache = str(tmp_path / 'jax_cache')
  two = {'config': 'tests/support/two_generators.py', 'seeds': 1}
  straight = run_protocol(str(tmp_path / 'straight'), cache, **two)
  assert straight.returncode == 0, straight.stderr[-3000:]

  workdir = str(tmp_path / 'killed')
  logs = []
  streamed = ['--config.data.in_memory_max_bytes=0']
  # Stage order: the controls' classifiers; then per generator its GAN,
  # synthesis and classifiers. Each kill lands in the second generator's stage
  # (the first's of that kind, or the second's when the first runs again).
  for point in ('gan:2', 'synthesis', 'classifier:3'):
    killed = run_protocol(workdir, cache, 'kill_runner.py', point,
                          extra_flags=streamed, **two)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not os.path.exists(os.path.join(workdir, 'report.json'))
    logs.append(killed.stderr)
  final = run_protocol(workdir, cache, extra_flags=streamed, **two)
  assert final.returncode == 0, final.stderr[-3000:]
  logs.append(final.stderr)
  for i, log in enumerate(logs):
    with open(tmp_path / f'run{i}.log', 'w') as f:
      f.write(log)

  # Each rerun continued where the kill left it, not from the start. Orbax
  # writes in the background: a save still in flight at the kill is discarded
  # and the one before it used.
  assert 'Stage gan complete' in logs[0]  # The first generator's, then the kill.
  assert re.search('Resuming GAN training from checkpoint step (10|20) ', logs[1])
  assert 'Stage gan already complete' in logs[2]
  assert 'already done in an earlier run (40 accepted)' in logs[2]
  assert re.search('Resuming classifier training after epoch [12] ', logs[3])
  assert 'GAN input: streamed' in logs[0] and 'GAN input: streamed' in logs[1]
  assert re.search(r"Classifier input of arm\(s\) \['gan'\]: streamed", logs[3])
  assert 'GAN input: held on the devices' in straight.stderr

  assert_same_outcome(str(tmp_path / 'straight'), workdir, seeds=1)
  with open(os.path.join(workdir, 'report.json')) as f:
    assert list(run_arms(json.load(f))) == ['real', 'gan', 'ema']
