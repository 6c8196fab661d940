"""Every config's `:smoke` runs through `python -m gan_aug.main`.

The paper configs' smoke runs are checked in detail where their features are
tested (covid_acgan in test_main.py, covid_dcgan and covid_cgan in
test_paper_configs.py, pneumonia_dcgan_transfer in test_paper_transfer_config.py,
pneumonia_lowdata in test_protocol.py); here are the others.
"""

import json
import os

import pytest

from paper_runs import check_schema, run_command


@pytest.mark.slow
def test_eye_config_smoke(covid_dir, tmp_path):
  workdir = run_command('eye_dcgan', 'smoke', tmp_path, **{'data.dir': covid_dir})
  with open(os.path.join(workdir, 'report.json')) as f:
    check_schema(json.load(f), 66)


@pytest.mark.slow
def test_covid_experiment_smoke_with_the_shortcut_control(covid_dir, tmp_path):
  workdir = run_command('covid_experiment', 'smoke', tmp_path, **{'data.dir': covid_dir})
  with open(os.path.join(workdir, 'report.json')) as f:
    report = json.load(f)
  check_schema(report, 66)
  assert report['protocol']['arms'][-1] == 'borders_only'
  assert len(report['arms']['borders_only']['1.0']['accuracy']['values']) == len(
      report['protocol']['seeds'])


@pytest.mark.slow
def test_gan_small_data_smoke_compares_its_variants(data_dir, tmp_path):
  workdir = run_command('gan_small_data', 'smoke', tmp_path, **{
      'data.path': os.path.join(data_dir, 'pneumoniamnist.npz')})
  with open(os.path.join(workdir, 'variants.json')) as f:
    variants = json.load(f)
  assert list(variants['variants']) == ['paper', 'diffaug', 'diffaug_ema']
  for name in variants['variants']:
    with open(os.path.join(workdir, name, 'report.json')) as f:
      check_schema(json.load(f), 624)
