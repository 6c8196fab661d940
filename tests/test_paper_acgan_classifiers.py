"""Paper 003's VGG16 classifier in a `:smoke` run of its config."""

import pytest

from helpers import run_arms
from paper_runs import check_schema, run_config


@pytest.mark.slow
def test_covidgan_config_with_its_transfer_classifiers(tmp_path):
  # custom_cnn, the default, runs on the real folder in test_main.py; here VGG16
  # with paper 003's head, trained on one GAN's synthetic set of the phantom
  # (small held-out splits: the network is slow on CPU). ResNet50's head sizes
  # and forward pass are checked in test_transfer_classifiers.py and
  # test_torchvision_ports.py; several classifier models in one run, in
  # test_paper_transfer_config.py. VGG16's convolutions run slower unoptimised
  # than their optimised compile costs, so this run compiles optimised.
  report, _ = run_config('covid_acgan', 'phantom,smoke', tmp_path, **{
      'classifier.name': 'vgg16', 'fast_compile': False})
  check_schema(report, 24)
  assert report['classifier']['models'] == ['vgg16']
  assert list(run_arms(report)) == ['real', 'gan']
  assert 'end to end' in report['classifier']['weights']['vgg16']['note']
