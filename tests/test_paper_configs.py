"""Papers 000, 002 and 004 as `:smoke` runs on the real COVID-19 folder."""

import importlib
import os

import pytest

from gan_aug.pipeline import config_validation
from helpers import COVID_TEST_IMAGES
from paper_runs import check_schema, run_config


@pytest.mark.slow
def test_per_class_dcgan_config(data_dir, tmp_path):
  report, config = run_config('covid_dcgan', 'smoke', tmp_path,
                        **{'data.dir': os.path.join(data_dir, 'covid19_3way')})
  check_schema(report, COVID_TEST_IMAGES)
  assert config.gan.name == 'dcgan_per_class'
  # No class head: class agreement is not part of the filter.
  assert report['runs'][0]['synthesis']['require_class_agreement'] is False
  assert 'aux_acc_real' not in report['runs'][0]['gan']['final_metrics']
  assert report['classifier']['name'] == 'gmd_cnn'


@pytest.mark.slow
def test_eye_config_smoke(covid_dir, tmp_path):
  # After the covid_dcgan run above: the same programs, read from the cache.
  report, _ = run_config('eye_dcgan', 'smoke', tmp_path, **{'data.dir': covid_dir})
  check_schema(report, COVID_TEST_IMAGES)


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
  # The same GAN, but for the per-class batch rule: 128 per class fits paper
  # 000's 300 images per class, not covid19_3way's classes (covid_dcgan.py).
  assert (config.gan.batch_size_rule, covid.gan.batch_size_rule) == (
      'fixed', 'smallest_class')
  covid.gan.batch_size_rule = 'fixed'
  assert smoke.gan.to_dict() == covid.gan.to_dict()


@pytest.mark.slow
def test_cgan_config_balances_the_classes(data_dir, tmp_path):
  report, _ = run_config('covid_cgan', 'smoke', tmp_path,
                         **{'data.dir': os.path.join(data_dir, 'covid19_3way')})
  check_schema(report, COVID_TEST_IMAGES)
  counts = report['dataset']['class_counts']['train']
  per_class = report['runs'][0]['synthesis']['per_class']
  for name, count in zip(report['dataset']['class_names'], counts):
    assert per_class[name]['requested'] == max(counts) - count


@pytest.mark.parametrize('name', ['eye_dcgan', 'covid_dcgan', 'pneumonia_dcgan_transfer',
                                  'covid_cgan'])
def test_cpu_variant_is_a_valid_smaller_run_of_the_same_pipeline(name):
  module = importlib.import_module(name)
  paper, cpu = module.get_config(), module.get_config('cpu')
  config_validation.validate(cpu)
  assert cpu.gan.name == paper.gan.name
  assert cpu.classifier.name == paper.classifier.name
  assert cpu.data.resolution <= paper.data.resolution
  assert 0 < cpu.gan.num_steps


# The `:cpu` sizes of the rows of docs/results.md ("The papers' default protocols
# at `:cpu` sizes"): GAN input side, batch and steps; the classifier's side,
# optimizer, learning rate, steps per epoch, most epochs and patience.
MEASURED_CPU_SIZES = {
    'covid_acgan': (56, 64, 1200, (56, 'adam', 1e-4, 25, 40, 3)),
    'covid_cgan': (56, 64, 3000, (56, 'adam', 1e-4, 25, 40, 3)),
    'covid_dcgan': (32, 32, 1200, (48, 'adam', 5e-4, 5, 30, 3)),
    'pneumonia_dcgan_transfer': (32, 32, 500, (32, 'sgd', 1e-3, 20, 30, 3)),
}


@pytest.mark.parametrize('name', sorted(MEASURED_CPU_SIZES))
def test_cpu_sizes_are_those_measured(name):
  """A change here needs the row re-measured (and this pin moved with it)."""
  c = importlib.import_module(name).get_config('cpu')
  clf = c.classifier
  assert (c.data.resolution, c.gan.batch_size, c.gan.num_steps,
          (clf.resolution, clf.optimizer, clf.learning_rate, clf.steps_per_epoch,
           clf.max_epochs, clf.patience)) == MEASURED_CPU_SIZES[name]
  assert c.protocol.seeds == 3 and clf.patience >= 3


def test_covid_cpu_rows_of_papers_003_and_004_share_their_control_arms():
  """Same data, split, seeds, protocol and classifier: their real and classical
  arms are the same runs (configs/covid_cgan.py and docs/results.md say so)."""
  acgan = importlib.import_module('covid_acgan').get_config('cpu')
  cgan = importlib.import_module('covid_cgan').get_config('cpu')
  assert acgan.classifier.to_dict() == cgan.classifier.to_dict()
  assert acgan.data.to_dict() == cgan.data.to_dict()
  assert ({k: v for k, v in acgan.protocol.to_dict().items() if k != 'arms'}
          == {k: v for k, v in cgan.protocol.to_dict().items() if k != 'arms'})
  assert acgan.seed == cgan.seed
