"""The command line as a user runs it: real COVID folder, reruns, and clear failures."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import CLI_ENV
from helpers import COVID_TEST_IMAGES, REPO_ROOT, run_arms


def _main(*args, timeout=600):
  env = dict(os.environ, **CLI_ENV, PYTHONUNBUFFERED='1')
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
  # The real arm's stage and the gan arm's.
  assert [s.split('-')[0] for s in stages] == ['classifiers', 'classifiers', 'gan',
                                               'synthesis']
  stage_dir = os.path.join(workdir, 'stages', stages[2])
  assert '6' in os.listdir(os.path.join(stage_dir, 'checkpoints'))
  assert 'step_0000006.png' in os.listdir(os.path.join(stage_dir, 'samples'))
  assert "atomicity.py" not in log  # Library INFO chatter is filtered out.
  with open(os.path.join(workdir, 'report.json')) as f:
    report = json.load(f)
  arms = run_arms(report)
  assert list(arms) == ['real', 'gan']
  for arm in arms.values():  # Every real test image, both arms.
    assert arm['test']['num_examples'] == COVID_TEST_IMAGES
    assert sum(map(sum, arm['test']['confusion_matrix'])) == COVID_TEST_IMAGES
  assert (f'Test accuracy ({COVID_TEST_IMAGES} real images, mean of 1 seed)'
          in first.stdout)

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


def test_compilation_set_up_uses_the_default_cache_and_the_config_switch(
    tmp_path, monkeypatch):
  import jax  # pylint: disable=g-import-not-at-top
  import covid_acgan  # pylint: disable=g-import-not-at-top
  from gan_aug.runtime import cli  # pylint: disable=g-import-not-at-top
  from gan_aug.pipeline import stages  # pylint: disable=g-import-not-at-top
  session_cache = jax.config.jax_compilation_cache_dir
  session_min_time = jax.config.jax_persistent_cache_min_compile_time_secs
  monkeypatch.delenv('JAX_COMPILATION_CACHE_DIR', raising=False)
  monkeypatch.setenv('HOME', str(tmp_path))
  monkeypatch.setenv('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
  try:
    cli.set_up_compilation(covid_acgan.get_config('phantom'))
    assert jax.config.jax_compilation_cache_dir == os.path.join(
        str(tmp_path), '.cache', 'gan_aug', 'jax_compilation_cache')
    assert cli.FAST_COMPILE_XLA_FLAG not in os.environ['XLA_FLAGS']
    smoke = covid_acgan.get_config('phantom,smoke')
    cli.set_up_compilation(smoke)
    assert os.environ['XLA_FLAGS'] == (
        f'--xla_force_host_platform_device_count=8 {cli.FAST_COMPILE_XLA_FLAG}')
  finally:
    jax.config.update('jax_compilation_cache_dir', session_cache)
    jax.config.update('jax_persistent_cache_min_compile_time_secs', session_min_time)
  # Stages computed by unoptimised programs are not an optimised run's.
  optimised = smoke.copy_and_resolve_references()
  optimised.fast_compile = False
  assert (stages.gan_stage_key(smoke, 'fp') !=
          stages.gan_stage_key(optimised, 'fp'))
  assert 'fast_compile' not in stages.gan_stage_key(optimised, 'fp')


@pytest.mark.slow
def test_smoke_run_on_a_radiography_layout_counts_only_the_xrays(tmp_path):
  # The COVID-19 Radiography Database's layout, in small: <class>/images/ beside
  # <class>/masks/, metadata spreadsheets at the top.
  root = tmp_path / 'COVID-19_Radiography_Dataset'
  rng = np.random.default_rng(0)
  for name in ('COVID', 'Lung_Opacity', 'Normal', 'Viral Pneumonia'):
    for folder in ('images', 'masks'):
      (root / name / folder).mkdir(parents=True)
      for i in range(12):
        Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(
            root / name / folder / f'{name}-{i + 1}.png')
    (root / f'{name}.metadata.xlsx').write_bytes(b'PK\x03\x04')
  workdir = str(tmp_path / 'w')
  result = _main('--config=configs/covid_acgan.py:smoke', f'--config.data.dir={root}',
                 '--config.data.resolution=28', '--config.classifier.resolution=28',
                 f'--workdir={workdir}')
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(workdir, 'dataset.json')) as f:
    dataset = json.load(f)
  assert dataset['class_names'] == ['COVID', 'Lung_Opacity', 'Normal', 'Viral Pneumonia']
  assert sum(dataset['splits'].values()) == 4 * 12  # The X-rays, not the masks.
  assert set(dataset['splits']) == {'train', 'val', 'test'}
  assert 'COVID/masks/' in dataset['ignored_files']
