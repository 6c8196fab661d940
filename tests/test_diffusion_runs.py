"""`gan_small_data.py:smoke,diffusion` - the paper GAN and the EDM diffusion
family as the two generators of one protocol - through `python -m gan_aug.main`;
and the same killed by SIGKILL during the diffusion model's training, then run
again: the same report metrics as the uninterrupted run."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from conftest import CLI_ENV
from gan_aug.synthesis import synthesize
from helpers import REPO_ROOT, run_arms
from paper_runs import check_schema


def _run(workdir, data_dir, kill_at=None):
  flags = ['--config=configs/gan_small_data.py:smoke,diffusion', f'--workdir={workdir}',
           '--config.data.path=' + os.path.join(data_dir, 'pneumoniamnist.npz')]
  command = ([sys.executable, os.path.join(REPO_ROOT, 'tests', 'support',
                                           'kill_runner.py'), kill_at, '--']
             if kill_at else [sys.executable, '-m', 'gan_aug.main'])
  return subprocess.run(command + flags, cwd=REPO_ROOT,
                        env=dict(os.environ, **CLI_ENV, PYTHONPATH=REPO_ROOT),
                        capture_output=True, text=True, timeout=900)


def _report(workdir):
  with open(os.path.join(workdir, 'report.json')) as f:
    return json.load(f)


@pytest.mark.slow
def test_paper_gan_and_edm_run_as_one_protocol_and_survive_a_sigkill(data_dir,
                                                                     tmp_path):
  straight = str(tmp_path / 'straight')
  done = _run(straight, data_dir)
  assert done.returncode == 0, done.stderr[-3000:]
  report = _report(straight)
  check_schema(report, 64)
  assert list(report['generators']) == ['paper', 'edm']
  assert list(run_arms(report)) == ['real', 'paper', 'edm']
  edm = report['runs'][0]['generators']['edm']
  assert edm['gan']['family'] == 'edm' and edm['arms'] == {'edm': 'gan'}
  assert set(edm['gan']['final_losses']) == {'loss', 'loss_low', 'loss_mid',
                                             'loss_high'}
  assert edm['synthesis']['filter'] == synthesize.NO_FILTER
  assert edm['synthesis']['accepted'] == 32  # 16 per class, every sample kept.
  with open(os.path.join(straight, 'report.md')) as f:
    text = f.read()
  assert '## Generators' in text and 'edm − paper' in text
  assert os.path.exists(os.path.join(edm['stages']['gan'], 'samples',
                                     'step_0000006.png'))

  # Killed at the second step-6 sample grid - the diffusion model's, after its
  # step-6 checkpoint was handed to Orbax - then the same command again.
  workdir = str(tmp_path / 'killed')
  killed = _run(workdir, data_dir, kill_at='gan@6:2')
  assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
  assert 'GAN edm:' in killed.stderr
  again = _run(workdir, data_dir)
  assert again.returncode == 0, again.stderr[-3000:]
  assert 'Stage gan already complete' in again.stderr  # The paper GAN's.
  assert re.search('Resuming GAN training from checkpoint step [36] ', again.stderr)
  resumed = _report(workdir)
  assert resumed['arms'] == report['arms']
  for run_a, run_b in zip(report['runs'], resumed['runs']):
    assert run_a['generators']['edm']['gan']['final_losses'] == (
        run_b['generators']['edm']['gan']['final_losses'])
