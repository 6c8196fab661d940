"""covid_experiment's `:smoke` through `python -m gan_aug.main`.

Every config's smoke run is tested as a user runs it, each beside the tests of
what it exercises (and of the compiled programs it shares): covid_acgan in
test_main.py, covid_dcgan, eye_dcgan and covid_cgan in test_paper_configs.py,
pneumonia_dcgan_transfer in test_paper_transfer_config.py, pneumonia_lowdata and
gan_small_data in test_protocol.py, covid_experiment here.
"""

import json
import os

import pytest

from helpers import COVID_TEST_IMAGES
from paper_runs import check_schema, run_command


@pytest.mark.slow
def test_covid_experiment_smoke_with_the_shortcut_control(covid_dir, tmp_path):
  workdir = run_command('covid_experiment', 'smoke', tmp_path,
                        **{'data.dir': covid_dir})
  with open(os.path.join(workdir, 'report.json')) as f:
    report = json.load(f)
  check_schema(report, COVID_TEST_IMAGES)
  assert report['protocol']['arms'][-1] == 'borders_only'
  assert len(report['arms']['borders_only']['1.0']['accuracy']['values']) == len(
      report['protocol']['seeds'])
