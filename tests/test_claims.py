"""A paper's claim beside the measurement: the verdict rule and its overrides."""

import ml_collections
import pytest

from gan_aug.core import errors
from gan_aug.metrics import intervals
from gan_aug.report import claims
from gan_aug.report import markdown as report


@pytest.mark.parametrize('d, lo, hi, gain, expected', [
    (0.05, 0.02, 0.08, 0.04, 'as claimed'),
    (0.04, 0.01, 0.07, 0.04, 'as claimed'),    # d == g counts as claimed
    (0.03, 0.01, 0.05, 0.04, 'smaller'),
    (0.01, 0.0, 0.02, 0.04, 'none shown'),     # lo == 0 is not > 0
    (0.00, -0.02, 0.02, 0.04, 'none shown'),
    (-0.01, -0.03, 0.0, 0.04, 'none shown'),   # hi == 0 is not < 0
    (-0.05, -0.08, -0.02, 0.04, 'worse'),
])
def test_verdict_rule_on_constructed_intervals(d, lo, hi, gain, expected):
  assert claims.verdict(d, lo, hi, gain) == expected


def _result(before, after, stopped=True, seeds=(0, 1, 2)):
  """A report.json-like result with arms real and gan of classifier `cnn`."""
  arms = {'real': {'1.0': {'accuracy': intervals.mean_ci95(before)}},
          'gan': {'1.0': {'accuracy': intervals.mean_ci95(after)}}}
  runs = [{'fraction': 1.0, 'seed': s, 'classifiers': {'cnn': {'arms': {
      arm: {'stopped_early': stopped or arm == 'real', 'best_step': 30, 'steps': 30}
      for arm in arms}}}} for s in seeds]
  return {'classifier': {'name': 'cnn'}, 'arms': arms, 'runs': runs,
          'synthetic_quality': {'1.0': {'fid': intervals.mean_ci95([40.0, 42.0]),
                                        'kid': intervals.mean_ci95([0.5, 0.7])}},
          'dataset': {'class_names': ['a', 'b']}}


def _claims(**fields):
  out = ml_collections.ConfigDict()
  out.main = claims.claim(**{'metric': 'accuracy', 'classifier': 'cnn',
                             'before': 0.80, 'after': 0.85, 'source': 'Table 1',
                             **fields})
  return out


def test_compare_pairs_the_seeds_and_applies_the_rule():
  before, after = [0.80, 0.82, 0.84], [0.86, 0.87, 0.90]
  row = claims.compare(_claims(), _result(before, after))['main']
  d = intervals.paired_difference(after, before)
  assert row['difference']['values'] == pytest.approx([0.06, 0.05, 0.06])
  assert row['interval'] == pytest.approx([d['mean'] - d['ci95'], d['mean'] + d['ci95']])
  assert row['verdict'] == claims.verdict(d['mean'], *row['interval'], 0.05)
  assert row['verdict'] == 'as claimed'
  assert claims.compare(_claims(), _result(before, before))['main']['verdict'] == (
      'none shown')


def test_overrides_not_converged_one_seed_not_comparable_not_measured():
  before, after = [0.80, 0.82, 0.84], [0.86, 0.87, 0.90]
  row = claims.compare(_claims(), _result(before, after, stopped=False))['main']
  assert row['verdict'] == 'not converged'
  assert 'gan seed 0' in row['reason'] and 'real seed' not in row['reason']
  row = claims.compare(_claims(), _result(before[:1], after[:1], seeds=(0,)))['main']
  assert row['verdict'] == 'one seed'
  row = claims.compare(_claims(not_comparable='its test set held GAN images'),
                       _result(before, after))['main']
  assert (row['verdict'], row['reason']) == ('not comparable',
                                             'its test set held GAN images')
  row = claims.compare(_claims(classifier='vgg16'), _result(before, after))['main']
  assert row['verdict'] == 'not measured' and 'vgg16' in row['reason']
  row = claims.compare(_claims(after_arm='gan_classical'),
                       _result(before, after))['main']
  assert row['verdict'] == 'not measured' and 'gan_classical' in row['reason']


def test_a_single_fid_is_shown_in_its_feature_space_and_never_compared():
  entry = ml_collections.ConfigDict()
  entry.fid = claims.claim(metric='fid', classifier='', before=None, after=2.349,
                           source='Table 4', not_comparable='unknown reference set')
  row = claims.compare(entry, _result([0.8, 0.8], [0.8, 0.8], seeds=(0, 1)))['fid']
  assert row['verdict'] == 'not comparable'
  assert row['measured']['after']['mean'] == 41.0
  assert 'not the paper' in row['feature_space']
  assert row['measured']['also']['kid']['mean'] == 0.6
  table = '\n'.join(
      report._claims_section({'fid': row}))  # pylint: disable=protected-access
  assert "| fid 41.000 ± 12.706; kid 0.600 ± 1.271 (real arm's features) | n/a |" in table
  assert '**not comparable**' in table and 'unknown reference set' in table


def test_a_claimed_inception_fid_is_shown_with_the_inception_kid_only():
  entry = ml_collections.ConfigDict()
  entry.fid = claims.claim(metric='fid', classifier='', before=None, after=2.349,
                           source='Table 4', not_comparable='unknown reference set')
  result = _result([0.8, 0.8], [0.8, 0.8], seeds=(0, 1))
  result['synthetic_quality_inception'] = {'1.0': {
      'fid': intervals.mean_ci95([80.0, 82.0]), 'kid': intervals.mean_ci95([0.1, 0.3])}}
  row = claims.compare(entry, result)['fid']
  assert row['space_label'] == 'Inception-v3 pool3'
  assert row['measured']['after']['mean'] == 81.0
  assert row['measured']['also']['kid']['mean'] == 0.2  # Not the real arm's 0.6.
  del result['synthetic_quality']
  del result['synthetic_quality_inception']
  row = claims.compare(entry, result)['fid']
  assert row['verdict'] == 'not measured'
  table = '\n'.join(
      report._claims_section({'fid': row}))  # pylint: disable=protected-access
  assert '| n/a | n/a | **not measured** |' in table


def test_claims_table_shows_values_verdict_and_notes():
  result = _result([0.80, 0.82, 0.84], [0.86, 0.87, 0.90])
  rows = claims.compare(_claims(note='validation accuracy in the paper'), result)
  lines = report._claims_section(rows)  # pylint: disable=protected-access
  text = '\n'.join(lines)
  assert text.startswith('## Claim vs this run')
  assert '0.800 → 0.850' in text and '**as claimed**' in text
  assert 'validation accuracy in the paper.' in text


def test_bad_claims_are_refused():
  with pytest.raises(errors.ConfigError, match='claims.main.split'):
    claims.validate(_claims(split='training'))
  with pytest.raises(errors.ConfigError, match='claims.main.source'):
    bad = _claims()
    bad.main.source = ''
    claims.validate(bad)
  with pytest.raises(errors.UnknownComponentError):
    claims.validate(_claims(after_arm='no_such_arm'))
