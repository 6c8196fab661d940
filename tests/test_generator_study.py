"""The stronger-generator study: settings that share a trained model, the choice
on validation, the verdict per generator, and configs/generators_pneumonia.py."""

import os
import sys

import pytest

from gan_aug.core import errors
from gan_aug.core.fingerprints import fingerprint
from gan_aug.metrics import intervals
from gan_aug.pipeline import config_validation
from gan_aug.pipeline import stages
from gan_aug.protocol import arms as arms_lib
from gan_aug.protocol import axes
from gan_aug.report import generators
from helpers import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, 'configs'))
import gan_small_data  # pylint: disable=g-import-not-at-top,wrong-import-position
import generators_pneumonia  # pylint: disable=g-import-not-at-top,wrong-import-position


def _keys(config, name):
  g = axes.generator_config(axes.seed_config(config, 0), name)
  gan_fp = fingerprint(stages.gan_stage_key(g, 'data'))
  return gan_fp, fingerprint(stages.synthesis_stage_key(g, gan_fp))


def test_sampling_settings_share_one_trained_model_and_key_the_synthesis():
  config = generators_pneumonia.get_config('settings')
  groups = generators_pneumonia.candidates()
  for group, names in groups.items():
    keys = {name: _keys(config, name) for name in names}
    # Every candidate of a generator is one training run ...
    assert len({gan for gan, _ in keys.values()}) == 1, group
    # ... sampled differently.
    assert len({syn for _, syn in keys.values()}) == len(names), group
  # The last length is the newest checkpoint (synthesis_step 0), whose key is
  # the ADA comparison's, so its synthesis stages are found again.
  small = gan_small_data.get_config('pneumonia')
  small.synthesis.batch_size = config.synthesis.batch_size
  assert _keys(config, 'paper_n1500') == _keys(small, 'paper')
  assert _keys(config, 'ada_r1_n1500') == _keys(small, 'ada_r1')
  # The GAN stage does not depend on the batch synthesis draws in.
  assert _keys(config, 'paper_n500')[0] == _keys(gan_small_data.get_config(), 'paper')[0]


def test_the_study_config_has_every_control_per_generator():
  config = generators_pneumonia.get_config()
  config_validation.validate(config)
  assert config.protocol.seeds == 3 and tuple(config.protocol.fractions) == (0.1,)
  bound = arms_lib.bindings(config.protocol.arms, axes.generator_names(config.protocol))
  for g in ('paper', 'ada_r1', 'edm'):
    assert {b.kind for b in bound if b.generator == g} == {
        'gan', 'gan_classical', 'gan_pretrain', 'real_oversampled'}
  assert config.protocol.generators.edm.name == 'edm'
  assert config.protocol.generators.edm.sample_steps == 18
  settings = generators_pneumonia.get_config('settings')
  config_validation.validate(settings)
  assert settings.protocol.seeds == 1
  # The chosen candidates are the study's generators: seed 0's synthesis
  # stages of the settings run are the study's.
  for generator, chosen in (('paper', 'paper_n1000'), ('ada_r1', 'ada_r1_n1000'),
                            ('edm', 'edm_s1_n400')):
    assert _keys(config, generator) == _keys(settings, chosen)
  assert set(settings.protocol.candidates['edm']) == {
      f'edm_s{s}_n{n}' for s in (0, 1, 2) for n in (200, 400)}


def test_candidates_must_name_generators_with_their_plain_arm():
  config = generators_pneumonia.get_config('settings')
  config.protocol.candidates = {'edm': ('edm_s0_n200', 'edm_s9')}
  with pytest.raises(errors.ConfigError, match='candidates.edm'):
    config_validation.validate(config)
  config.protocol.candidates = {'edm': 'edm_s0_n200'}
  with pytest.raises(errors.ConfigError, match='candidates.edm'):
    config_validation.validate(config)


def test_a_synthesis_step_must_be_a_whole_step():
  config = generators_pneumonia.get_config('settings')
  config.protocol.generators.paper_n500.synthesis_step = -1
  with pytest.raises(errors.ConfigError, match='synthesis_step'):
    config_validation.validate(config)


def _summary(mean, ci95=None):
  return {'mean': mean, 'std': None, 'ci95': ci95, 'values': [mean]}


def _result(kids, f1s):
  """A one-seed result whose candidates have these validation KIDs (kid,
  kid_std) and validation macro-F1s."""
  return {'protocol': {'fractions': ['0.1'], 'seeds': [0]},
          'by_generator': {n: {'synthetic_quality_val': {'0.1': {
              'kid': _summary(k), 'kid_std': _summary(s)}}} for n, (k, s) in kids.items()},
          'validation': {n: {'0.1': {'macro_f1': _summary(f)}} for n, f in f1s.items()}}


def test_the_lowest_validation_kid_is_chosen():
  result = _result({'a': (0.30, 0.01), 'b': (0.10, 0.01), 'c': (0.50, 0.01)},
                   {'a': 0.9, 'b': 0.7, 'c': 0.95})
  choice = generators.choose(result, {'g': ['a', 'b', 'c']})['g']
  assert choice['chosen'] == 'b' and choice['tied'] == ['b']


def test_a_tie_within_one_kid_std_goes_to_validation_macro_f1():
  result = _result({'a': (0.12, 0.01), 'b': (0.10, 0.03), 'c': (0.14, 0.01)},
                   {'a': 0.85, 'b': 0.80, 'c': 0.99})
  choice = generators.choose(result, {'g': ['a', 'b', 'c']})['g']
  # c lies 0.04 above the lowest, more than b's std of 0.03: no tie.
  assert choice['lowest'] == 'b' and choice['tied'] == ['a', 'b']
  assert choice['chosen'] == 'a'


def test_no_choice_without_every_candidates_kid():
  result = _result({'a': (0.12, 0.01)}, {'a': 0.85})
  choice = generators.choose(result, {'g': ['a', 'missing']})['g']
  assert choice['chosen'] is None and 'missing' in choice['reason']


def _verdict_result(differences, stopped=True):
  bound = arms_lib.bindings(('real', 'g', 'real_oversampled_g'), ['g'])
  d = intervals.mean_ci95(differences)
  arm = {'stopped_early': stopped}
  return bound, {
      'classifier': {'name': 'cnn'},
      'paired': {'g_minus_real_oversampled_g': {'0.1': {'macro_f1': d}}},
      'runs': [{'fraction': 0.1, 'seed': s, 'classifiers': {'cnn': {'arms': {
          'g': arm, 'real_oversampled_g': arm}}}} for s in range(len(differences))]}


@pytest.mark.parametrize('differences,expected', [
    ([0.05, 0.06, 0.07], 'helps'),
    ([-0.05, -0.06, -0.07], 'hurts'),
    ([-0.05, 0.0, 0.06], 'none shown'),
    ([0.05], 'one seed'),
])
def test_the_verdict_against_the_count_matched_control(differences, expected):
  bound, result = _verdict_result(differences)
  row = generators.verdicts(result, bound)['g']['0.1']
  assert row['verdict'] == expected
  assert row['comparison'] == 'g − real_oversampled_g'


def test_an_arm_that_did_not_stop_early_overrides_the_verdict():
  bound, result = _verdict_result([0.05, 0.06, 0.07], stopped=False)
  row = generators.verdicts(result, bound)['g']['0.1']
  assert row['verdict'] == 'not converged'
  assert 'g seed 0' in row['reason'] and 'real_oversampled_g seed 2' in row['reason']


def test_the_report_shows_the_choice_and_the_verdicts():
  result = _result({'a': (0.12, 0.01), 'b': (0.10, 0.03)}, {'a': 0.85, 'b': 0.80})
  result['generators'] = {n: {'overrides': {'guidance': 2.0}, 'arms': [n],
                              'family': 'edm'} for n in ('a', 'b')}
  result['settings_choice'] = generators.choose(result, {'g': ['a', 'b']})
  bound, verdict_result = _verdict_result([0.05, 0.06, 0.07])
  result['verdicts'] = generators.verdicts(verdict_result, bound)
  result['protocol']['seeds'] = [0, 1, 2]
  text = '\n'.join(generators.sections(result))
  assert '## Settings chosen on validation' in text
  assert '| g | a | {\'guidance\': 2.0} | 0.1200 | 0.0100 | 0.850 | yes | **chosen** |' in text
  assert '**helps**' in text and 't(2) = 4.30' in text
  assert generators.sections({'generators': {'one': {}}}) == []
