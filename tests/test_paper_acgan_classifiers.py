"""Paper 003's VGG16 and ResNet50 classifiers in a `:smoke` run of its config."""

import pytest

from helpers import run_arms
from paper_runs import check_schema, run_config


@pytest.mark.slow
def test_covidgan_config_with_its_transfer_classifiers(tmp_path):
  # custom_cnn, the default, runs on the real folder in test_main.py; here VGG16
  # and ResNet50 with paper 003's heads, trained on one GAN's synthetic set of
  # the phantom (small held-out splits: these networks are slow on CPU).
  # Their convolutions run slower unoptimised than their optimised compile costs
  # (measured on 2 cores: 393 s vs 242 s for this test).
  report, _ = run_config('covid_acgan', 'phantom,smoke', tmp_path, **{
      'classifier.name': 'vgg16', 'classifier.other_models': "('resnet50',)",
      'fast_compile': False})
  check_schema(report, 24)
  assert report['classifier']['models'] == ['vgg16', 'resnet50']
  assert list(run_arms(report, model='resnet50')) == ['real', 'gan']
  assert set(report['other_classifiers']['resnet50']) == {'real', 'gan'}
  for name in ('vgg16', 'resnet50'):
    assert 'end to end' in report['classifier']['weights'][name]['note']
