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
