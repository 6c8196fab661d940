"""Every paper config runs end to end as `:smoke` on the real data sets.

Each run is the command line a user types, on one CPU device; runs share a JAX
compilation cache, so trials and reruns compile each program once.
"""

import importlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from helpers import REPO_ROOT

_CACHE = tempfile.mkdtemp(prefix='gan_aug_test_cli_cache_')


def _run(name, variants, tmp_path, **overrides):
  workdir = str(tmp_path / name)
  env = dict(os.environ, XLA_FLAGS='', JAX_COMPILATION_CACHE_DIR=_CACHE,
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0',
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES='0')
  args = [f'--config=configs/{name}.py:{variants}', f'--workdir={workdir}'] + [
      f'--config.{field}={value}' for field, value in overrides.items()]
  done = subprocess.run([sys.executable, '-m', 'gan_aug.main', *args], cwd=REPO_ROOT,
                        env=env, capture_output=True, text=True, timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  with open(os.path.join(workdir, 'report.json')) as f:
    report = json.load(f)
  config = importlib.import_module(name).get_config(variants)
  return report, config


def _check_schema(report, num_test):
  for arm in ('real', 'augmented'):
    test = report['classifiers'][arm]['test']
    assert test['num_examples'] == num_test
    assert set(test) >= {'accuracy', 'macro_f1', 'per_class', 'confusion_matrix'}
  syn = report['synthesis']
  assert syn['accepted'] > 0 and syn['accepted'] == sum(
      c['accepted'] for c in syn['per_class'].values())
  assert os.path.exists(report['figures']['real_vs_synthetic'])


@pytest.mark.slow
def test_per_class_dcgan_config(data_dir, tmp_path):
  report, config = _run('covid_dcgan', 'smoke', tmp_path,
                        **{'data.dir': os.path.join(data_dir, 'covid19_3way')})
  _check_schema(report, 66)
  assert config.gan.name == 'dcgan_per_class'
  # No class head: class agreement is not part of the filter.
  assert report['synthesis']['require_class_agreement'] is False
  assert 'aux_acc_real' not in report['gan']['final_metrics']
  assert report['classifiers']['name'] == 'gmd_cnn'


def test_eye_config_is_paper_000_on_a_class_folder():
  """eye_dcgan runs the code of covid_dcgan (tested above) with paper 000's values."""
  eye = importlib.import_module('eye_dcgan')
  config, smoke = eye.get_config(), eye.get_config('smoke')
  assert (config.gan.name, config.data.resolution, config.classifier.name,
          config.classifier.resolution) == ('dcgan_per_class', 64, 'gmd_cnn', 64)
  assert (config.classifier.optimizer, config.classifier.learning_rate,
          config.synthesis.threshold) == ('sgd', 1e-3, 0.76)
  assert smoke.data.name == 'image_folder'
  assert smoke.data.dir.endswith('covid19_3way')
  covid = importlib.import_module('covid_dcgan').get_config('smoke')
  assert smoke.gan.to_dict() == covid.gan.to_dict()


@pytest.mark.slow
def test_cgan_config_balances_the_classes(data_dir, tmp_path):
  report, _ = _run('covid_cgan', 'smoke', tmp_path,
                   **{'data.dir': os.path.join(data_dir, 'covid19_3way')})
  _check_schema(report, 66)
  counts = report['dataset']['class_counts']['train']
  per_class = report['synthesis']['per_class']
  for name, count in zip(report['dataset']['class_names'], counts):
    assert per_class[name]['requested'] == max(counts) - count


@pytest.mark.slow
def test_transfer_config_averages_trials_over_several_models(data_dir, tmp_path):
  report, config = _run('pneumonia_dcgan_transfer', 'smoke', tmp_path, **{
      'data.path': os.path.join(data_dir, 'pneumoniamnist.npz')})
  _check_schema(report, 624)  # PneumoniaMNIST's official test split.
  assert report['num_trials'] == 2
  trials = report['trials']
  assert [t['seed'] for t in trials] == [0, 1]
  # 2 % of the 4707 training images (stratified), a different subset per trial.
  assert all(t['train_images'] == 94 for t in trials)
  assert trials[0]['stages']['gan'] != trials[1]['stages']['gan']
  for arm in ('real', 'augmented'):
    entry = report['classifiers'][arm]
    assert set(entry['models']) == {'resnet18', 'squeezenet1_1'}
    for model in (entry, entry['models']['squeezenet1_1']):
      values = [t['test']['accuracy'] for t in model['trials']]
      assert len(values) == 2
      assert model['mean']['accuracy'] == pytest.approx(np.mean(values))
      assert model['std']['accuracy'] == pytest.approx(np.std(values, ddof=1))
      assert model['test']['accuracy'] == pytest.approx(np.mean(values))
  weights = report['classifiers']['weights']['resnet18']
  assert weights['pretrained'] is None and 'end to end' in weights['note']
  with open(os.path.join(str(tmp_path), 'pneumonia_dcgan_transfer',
                         'report.md')) as f:
    text = f.read()
  assert 'Mean over 2 trials' in text and 'squeezenet1_1' in text


@pytest.mark.slow
def test_covidgan_config_with_its_transfer_classifiers(covid_dir, tmp_path):
  # custom_cnn, the default, runs in test_main.py; here VGG16 and ResNet50 with
  # paper 003's heads, trained on one GAN's synthetic set.
  report, _ = _run('covid_acgan', 'smoke', tmp_path, **{
      'data.dir': covid_dir, 'classifier.name': 'vgg16',
      'classifier.other_models': "('resnet50',)"})
  _check_schema(report, 66)
  assert report['classifiers']['name'] == 'vgg16'
  for arm in ('real', 'augmented'):
    assert set(report['classifiers'][arm]['models']) == {'vgg16', 'resnet50'}
  for name in ('vgg16', 'resnet50'):
    assert 'end to end' in report['classifiers']['weights'][name]['note']
