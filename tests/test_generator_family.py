"""A generator family defined in a test module (tests/support/tiny_family.py) runs
through `python -m gan_aug.main` - generator stage, synthesis, classifier arms,
report - with no edit to the project; with a scorer (tiny_family_scored), the
filter applies it."""

import json
import os
import subprocess
import sys

import pytest

from conftest import CLI_ENV
from gan_aug.core import errors
from gan_aug.generator import family as family_lib
from gan_aug.pipeline import runner
from gan_aug.synthesis import accepted_set
from gan_aug.synthesis import synthesize
from helpers import REPO_ROOT, covid_acgan, run_arms

_SUPPORT = os.path.join(REPO_ROOT, 'tests', 'support')


def _run(tmp_path, family: str, *flags):
  workdir = str(tmp_path / family)
  env = dict(os.environ, **CLI_ENV,
             PYTHONPATH=os.pathsep.join([REPO_ROOT, _SUPPORT]))
  result = subprocess.run(
      [sys.executable, '-m', 'gan_aug.main',
       '--config=configs/covid_acgan.py:phantom,smoke', f'--workdir={workdir}',
       f'--config.gan.name={family}',
       # Neither tiny family has a class head to agree with (refused otherwise).
       '--config.synthesis.require_class_agreement=False', *flags],
      cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(workdir, 'report.json')) as f:
    report = json.load(f)
  with open(os.path.join(workdir, 'report.md')) as f:
    return workdir, report, f.read(), result.stderr


@pytest.mark.slow
def test_a_family_without_a_scorer_runs_and_keeps_every_sample(tmp_path):
  workdir, report, markdown, log = _run(tmp_path, 'tiny_family')
  run = report['runs'][0]
  assert run['gan']['family'] == 'tiny_family'
  assert set(run['gan']['final_losses']) == {'loss'}
  assert 'loss ' in log and 'd_loss' not in log  # The family's progress line.
  syn = run['synthesis']
  assert syn['filter'] == synthesize.NO_FILTER
  # Every generated sample passes; synthesis stops at each class's target.
  assert syn['passed'] == syn['generated'] > 0
  assert syn['accepted'] == syn['requested'] > 0
  assert 'Filter: none (the generator family has no scorer' in markdown
  arms = run_arms(report)
  assert set(arms) == {'real', 'gan'}
  assert arms['gan']['train_images'] == arms['real']['train_images'] + syn['accepted']
  assert os.path.exists(run['figures']['gan_curves'])
  assert 'realness_scores' not in run['figures']
  with open(os.path.join(run['stages']['gan'], 'metrics.jsonl')) as f:
    assert all('loss' in json.loads(line) for line in f)


def test_a_family_with_a_scorer_is_filtered_by_it(tmp_path):
  config = covid_acgan.get_config('phantom,smoke')
  config.gan.name = 'tiny_family_scored'
  config.synthesis.require_class_agreement = False
  config.synthesis.threshold_mode = 'real_quantile'
  workdir = str(tmp_path / 'scored')
  report = runner.run(config, workdir)
  run = report['runs'][0]
  syn = run['synthesis']
  assert syn['filter'] == 'closeness of the mean pixel to the class centre'
  assert 0 < syn['threshold'] == pytest.approx(syn['real_scores']['val']['q05'])
  _, _, manifest = accepted_set.load_set(run['stages']['synthesis'])
  kept = [row['realness'] for row in manifest['images']]
  assert len(kept) == syn['accepted'] > 0
  assert min(kept) >= syn['threshold']
  assert os.path.exists(run['figures']['realness_scores'])
  with open(os.path.join(workdir, 'report.md')) as f:
    assert 'Filter: closeness of the mean pixel' in f.read()


def test_an_unknown_family_lists_the_known_ones():
  with pytest.raises(errors.UnknownComponentError, match='acgan.*cgan.*dcgan_per_class'):
    family_lib.find('stylegan9')
  assert family_lib.find('acgan') is family_lib.FAMILIES.get('acgan')
