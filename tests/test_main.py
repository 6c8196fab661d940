"""The command line as a user runs it: real COVID folder, reruns, and clear failures."""

import json
import os
import subprocess
import sys

import pytest

from conftest import CLI_ENV, FAST_COMPILE_XLA_FLAGS
from helpers import REPO_ROOT, run_arms


def _main(*args, timeout=600):
  env = dict(os.environ, **CLI_ENV, XLA_FLAGS=FAST_COMPILE_XLA_FLAGS,
             PYTHONUNBUFFERED='1')
  return subprocess.run([sys.executable, '-m', 'gan_aug.main', *args], cwd=REPO_ROOT,
                        env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_smoke_run_on_real_covid_folder_then_rerun(covid_dir, tmp_path):
  workdir = str(tmp_path / 'w')
  args = ['--config=configs/covid_acgan.py:smoke', f'--config.data.dir={covid_dir}',
          f'--workdir={workdir}']
  first = _main(*args)
  assert first.returncode == 0, first.stderr[-3000:]
  log = first.stderr
  assert '6 image(s) kept out of training' in log
  assert 'test/Covid/COVID-00003b.jpg' in log
  assert 'step 6/6' in log and 'ETA' in log
  with open(os.path.join(workdir, 'dataset.json')) as f:
    assert len(json.load(f)['duplicates_removed']) == 6
  stages = sorted(os.listdir(os.path.join(workdir, 'stages')))
  assert [s.split('-')[0] for s in stages] == ['classifiers', 'gan', 'synthesis']
  stage_dir = os.path.join(workdir, 'stages', stages[1])
  assert '6' in os.listdir(os.path.join(stage_dir, 'checkpoints'))
  assert 'step_0000006.png' in os.listdir(os.path.join(stage_dir, 'samples'))
  assert "atomicity.py" not in log  # Library INFO chatter is filtered out.
  with open(os.path.join(workdir, 'report.json')) as f:
    report = json.load(f)
  arms = run_arms(report)
  assert list(arms) == ['real', 'gan']
  for arm in arms.values():  # Every real test image, both arms.
    assert arm['test']['num_examples'] == 66
    assert sum(map(sum, arm['test']['confusion_matrix'])) == 66
  assert 'Test accuracy (66 real images, mean of 1 seed)' in first.stdout

  second = _main(*args)
  assert second.returncode == 0, second.stderr[-3000:]
  assert 'already complete' in second.stderr


def test_missing_data_set_exits_nonzero_with_instructions(tmp_path):
  missing = str(tmp_path / 'no_such_folder')
  result = _main('--config=configs/covid_acgan.py', f'--config.data.dir={missing}',
                 f'--workdir={tmp_path / "w"}')
  assert result.returncode == 2
  assert missing in result.stderr
  assert 'Layout expected' in result.stderr
  assert 'configs/covid_acgan.py:phantom' in result.stderr
  assert 'Traceback' not in result.stderr


def test_unknown_component_and_bad_value_exit_nonzero(tmp_path):
  result = _main('--config=configs/covid_acgan.py:phantom', '--config.gan.name=wgan',
                 f'--workdir={tmp_path / "w"}')
  assert result.returncode == 2
  assert "Unknown GAN 'wgan'" in result.stderr and 'acgan' in result.stderr
  result = _main('--config=configs/covid_acgan.py:phantom',
                 '--config.gan.batch_size=-4', f'--workdir={tmp_path / "w"}')
  assert result.returncode == 2 and 'config.gan.batch_size=-4' in result.stderr
