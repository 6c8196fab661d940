"""`covid_acgan.py:smoke` with the hinge objective and R1, and with the
least-squares objective and R1, through the command line as a user runs it:
as the two generators of one protocol (tests/support/objective_generators.py),
so the real arm trains once for both. (ADA through the runner:
`gan_small_data.py:smoke` in tests/test_protocol.py.)"""

import glob
import json
import os

import pytest

from helpers import COVID_TEST_IMAGES
from paper_runs import check_schema, run_command


@pytest.mark.slow
def test_each_objective_with_r1_runs_through_the_runner(covid_dir, tmp_path):
  workdir = run_command('tests/support/objective_generators.py', None, tmp_path,
                        **{'data.dir': covid_dir})
  with open(os.path.join(workdir, 'report.json')) as f:
    report = json.load(f)
  check_schema(report, COVID_TEST_IMAGES)
  assert list(report['generators']) == ['hinge', 'lsgan']
  run = report['runs'][0]
  for name, objective in (('hinge', 'hinge'), ('lsgan', 'lsgan')):
    facts = run['generators'][name]
    assert facts['overrides']['objective'] == objective
    assert 'r1' in facts['gan']['final_losses']
    with open(os.path.join(facts['stages']['gan'], 'stage.json')) as f:
      assert json.load(f)['gan']['objective'] == objective
    with open(os.path.join(facts['stages']['gan'], 'metrics.jsonl')) as f:
      logged = [json.loads(line) for line in f]
    # Lazy R1 (every 16 steps): taken in the first step only of this 6-step run.
    assert logged[0]['r1'] > 0 and all(row['r1'] == 0 for row in logged[1:])
    syn = facts['synthesis']
    # A quantile of the real validation images' raw scores, not a probability.
    assert 'no probability' in syn['filter']
    assert syn['threshold'] == pytest.approx(syn['real_scores']['val']['q05'])
    # The accepted fakes are measured against the validation images too.
    assert 'kid' in facts['classifiers']['custom_cnn']['synthetic_quality'][
        'validation']
  assert 'synthetic_quality_val' in report
  assert len(glob.glob(os.path.join(workdir, 'stages', 'classifiers-*'))) == 3
