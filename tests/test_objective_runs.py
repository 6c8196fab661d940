"""`covid_acgan.py:smoke` with the hinge and least-squares objectives and the R1
penalty (the latter with ADA too), through the command line as a user runs it."""

import glob
import json
import os

import pytest

from helpers import COVID_TEST_IMAGES
from paper_runs import check_schema, run_config


@pytest.mark.slow
@pytest.mark.parametrize('objective, filter_overrides', [
    ('hinge', {}),
    # Also a quantile filter on lsgan's raw scores (the smoke run keeps every
    # fake), and ADA.
    ('lsgan', {'synthesis.threshold_mode': 'real_quantile',
               'synthesis.require_class_agreement': False, 'gan.ada': True}),
])
def test_an_objective_with_r1_runs_through_the_runner(objective, filter_overrides,
                                                      covid_dir, tmp_path):
  report, _ = run_config('covid_acgan', 'smoke', tmp_path,
                         **{'data.dir': covid_dir, 'gan.objective': objective,
                            'gan.r1_gamma': 1, **filter_overrides})
  check_schema(report, COVID_TEST_IMAGES)
  run = report['runs'][0]
  assert 'r1' in run['gan']['final_losses']
  (gan_stage,) = glob.glob(os.path.join(tmp_path, 'covid_acgan', 'stages', 'gan-*'))
  with open(os.path.join(gan_stage, 'metrics.jsonl')) as f:
    logged = [json.loads(line) for line in f]
  # Lazy R1 (every 16 steps): taken in the first step only of this 6-step run.
  assert logged[0]['r1'] > 0 and all(row['r1'] == 0 for row in logged[1:])
  syn = run['synthesis']
  assert 'no probability' in syn['filter']
  # The accepted fakes are measured against the validation images too.
  assert 'kid' in run['classifiers']['custom_cnn']['synthetic_quality']['validation']
  assert 'synthetic_quality_val' in report
  if objective == 'lsgan':
    assert syn['threshold'] == pytest.approx(run['synthesis']['real_scores']['val']
                                             ['q05'])
    assert 0.0 <= logged[-1]['ada_p'] <= 1.0 and 'ada_sign' in logged[-1]
  else:
    assert syn['threshold'] is None
