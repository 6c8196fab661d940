"""Protocols: intervals, McNemar, the arms, config validation, and a multi-seed smoke run."""

import glob
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from gan_aug.classifier import augment
from gan_aug.core import errors
from gan_aug.diffusion import family as edm_family
from gan_aug.metrics import intervals
from gan_aug.pipeline import config_validation
from gan_aug.pipeline import runner
from gan_aug.protocol import arms
from gan_aug.protocol import axes as protocol
from gan_aug.report import figures
from gan_aug.synthesis import synthesize
from helpers import REPO_ROOT, run_arms
from paper_runs import check_schema, run_command

sys.path.insert(0, os.path.join(REPO_ROOT, 'configs'))
import covid_experiment  # pylint: disable=g-import-not-at-top,wrong-import-position
import gan_small_data  # pylint: disable=g-import-not-at-top,wrong-import-position
import pneumonia_lowdata  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_ci95_is_the_student_t_half_width():
  entry = intervals.mean_ci95([1.0, 2.0, 3.0])
  assert entry['mean'] == 2.0 and entry['values'] == [1.0, 2.0, 3.0]
  assert entry['std'] == pytest.approx(1.0)
  # t(0.975, 2) = 4.3027; std = 1; n = 3.
  assert entry['ci95'] == pytest.approx(4.302653 / np.sqrt(3), rel=1e-6)
  assert intervals.mean_ci95([0.5])['ci95'] is None
  assert intervals.mean_ci95([0.5])['std'] is None
  paired = intervals.paired_difference([0.9, 0.8, 0.85], [0.8, 0.8, 0.8])
  assert paired['values'] == pytest.approx([0.1, 0.0, 0.05])
  assert paired['ci95'] == pytest.approx(
      stats.t.ppf(0.975, 2) * np.std([0.1, 0.0, 0.05], ddof=1) / np.sqrt(3))


def test_mcnemar_counts_only_discordant_images():
  a = [1] * 8 + [0] * 2 + [1] * 50 + [0] * 5
  b = [0] * 8 + [1] * 2 + [1] * 50 + [0] * 5
  result = intervals.mcnemar(a, b)
  assert (result['a_only'], result['b_only']) == (8, 2)
  # Two-sided exact binomial: 2 * P(X <= 2 | n=10, p=1/2) = 2 * 56 / 1024.
  assert result['p_value'] == pytest.approx(112 / 1024)
  assert intervals.mcnemar([1, 0], [1, 0])['p_value'] == 1.0


def test_classical_augmentation_is_per_image_and_exact_when_off():
  images = jax.random.uniform(jax.random.PRNGKey(0), (6, 28, 28, 1))
  off = augment.classical_config(rotation_degrees=0.0, shear_degrees=0.0, zoom=0.0,
                                 shift=0.0, horizontal_flip=False)
  np.testing.assert_array_equal(
      augment.make_classical_augment(off)(jax.random.PRNGKey(1), images), images)
  flip = off.copy_and_resolve_references()
  flip.horizontal_flip = True
  flipped = jax.jit(augment.make_classical_augment(flip))(jax.random.PRNGKey(2), images)
  outcomes = [bool(jnp.array_equal(flipped[i], images[i, :, ::-1])) for i in range(6)]
  assert all(outcomes[i] or bool(jnp.array_equal(flipped[i], images[i]))
             for i in range(6))
  assert 0 < sum(outcomes) < 6  # Each image draws its own flip.
  # A flat image stays flat under any affine map (edges repeat outward).
  flat = jnp.full((4, 28, 28, 1), 0.3)
  moved = augment.make_classical_augment(augment.classical_config())(
      jax.random.PRNGKey(3), flat)
  np.testing.assert_allclose(moved, flat, atol=1e-6)
  varied = augment.make_classical_augment(augment.classical_config())(
      jax.random.PRNGKey(3), images)
  assert not np.allclose(varied, images)


def test_blank_centre_keeps_only_the_frame():
  images = np.full((2, 20, 10, 1), 7, np.uint8)
  out = arms.blank_centre(images, 0.2)
  assert out[:, 4:16, 2:8].max() == 0  # The centre: rows 4-15, columns 2-7.
  frame = np.ones((20, 10), bool)
  frame[4:16, 2:8] = False
  assert (out[:, frame] == 7).all() and (images == 7).all()  # Input untouched.


@pytest.mark.parametrize('module,variant', [
    (gan_small_data, 'pneumonia'), (gan_small_data, 'covid'),
    (gan_small_data, 'covid,smoke'), (gan_small_data, 'diffusion'),
    (covid_experiment, 'paper'),
    (covid_experiment, 'smoke')])
def test_protocol_configs_and_their_generators_validate(module, variant):
  config = module.get_config(variant)
  config_validation.validate(config)
  for name in config.protocol.generators:
    generator_config = protocol.generator_config(config, name)
    config_validation.validate(generator_config)
    for field, value in config.protocol.generators[name].items():
      assert generator_config.gan[field] == value
  if variant == 'diffusion':
    # The edm generator gets its family's fields; the paper GAN's class
    # agreement stays in the shared filter, unused by a family with no scorer.
    edm = protocol.generator_config(config, 'edm')
    assert edm.gan.name == 'edm' and edm.synthesis.require_class_agreement
    assert set(edm_family.FIELDS) <= set(edm.gan)


def test_generator_with_an_unknown_field_or_a_bad_name_is_refused():
  config = gan_small_data.get_config('pneumonia')
  config.protocol.generators = {'paper': {}, 'typo': {'diffaugment': 'color'}}
  config.protocol.arms = ('real', 'paper', 'typo')
  with pytest.raises(ValueError, match=r"generators.typo sets \['diffaugment'\]"):
    config_validation.validate(config)
  config.protocol.generators = {'paper': {}, 'a-b': {}}
  with pytest.raises(errors.ConfigError, match="generator named 'a-b'"):
    config_validation.validate(config)
  config.protocol.generators = {'paper': {}, 'paper_only': {}}
  config.protocol.arms = ('real', 'paper_only')
  with pytest.raises(errors.ConfigError, match="could mean gan of generator "
                     "'paper_only' or gan_only of generator 'paper'"):
    config_validation.validate(config)
  config.protocol.arms = ('real', 'gan')  # No generator is called gan here.
  with pytest.raises(errors.UnknownComponentError,
                     match="Unknown arm 'gan'.*Valid names:.*paper_classical"):
    config_validation.validate(config)


def test_bad_protocol_block_is_refused():
  config = pneumonia_lowdata.get_config('smoke')
  config.protocol.arms = ('classical', 'gan')
  with pytest.raises(ValueError, match='real among them'):
    config_validation.validate(config)
  config.protocol.arms = ('real', 'mixup')
  with pytest.raises(errors.UnknownComponentError, match="Unknown arm 'mixup'"):
    config_validation.validate(config)
  config.protocol.arms = ('real',)
  config.protocol.fractions = (0.0,)
  with pytest.raises(ValueError, match='fractions'):
    config_validation.validate(config)
  config.protocol.fractions = (1.0,)
  config.protocol.borders_only_frame = 0.6
  with pytest.raises(ValueError, match='borders_only_frame=0.6'):
    config_validation.validate(config)


@pytest.mark.slow
def test_smoke_protocol_writes_the_documented_layout(data_dir, tmp_path):
  # The config's own smoke run, as a user runs it, plus the shortcut control and
  # the two controls of the paper configs.
  config = pneumonia_lowdata.get_config('smoke')
  config.data.path = os.path.join(data_dir, 'pneumoniamnist.npz')
  config.protocol.arms = tuple(config.protocol.arms) + (
      'borders_only', 'real_oversampled', 'gan_pretrain')
  workdir = run_command('pneumonia_lowdata', 'smoke', tmp_path, **{
      'data.path': config.data.path, 'protocol.arms': repr(config.protocol.arms)})
  with open(os.path.join(workdir, 'report.json')) as f:
    saved = json.load(f)
  assert saved['protocol']['fractions'] == ['0.05']
  assert saved['protocol']['seeds'] == [0, 1]
  for arm in ('real', 'classical', 'gan', 'gan_classical'):
    for fkey in ('0.05',):
      entry = saved['arms'][arm][fkey]
      assert {'accuracy', 'macro_f1', 'auc', 'recall_normal',
              'recall_pneumonia'} <= set(entry)
      assert set(entry['accuracy']) == {'mean', 'std', 'ci95', 'values'}
      assert len(entry['accuracy']['values']) == 2
      assert entry['accuracy']['mean'] == pytest.approx(
          np.mean(entry['accuracy']['values']))
  diff = saved['paired']['gan_minus_real']['0.05']['accuracy']
  assert diff['values'] == pytest.approx(
      np.subtract(saved['arms']['gan']['0.05']['accuracy']['values'],
                  saved['arms']['real']['0.05']['accuracy']['values']))
  assert {'gan_minus_classical', 'gan_classical_minus_classical',
          'classical_minus_real'} <= set(saved['paired'])
  assert len(saved['mcnemar']['gan_vs_real']['0.05']) == 2
  for i, run in enumerate(saved['runs']):
    steps = {arm['steps'] for arm in run_arms(saved, i).values()}
    assert len(steps) == 1  # Every arm ran the same number of optimizer steps.
    assert run['synthesis']['accepted'] == 32
  assert [r['train_images'] for r in saved['runs']] == [235, 235]  # 5 % of 4707.
  for i in range(2):
    arms_of_run = run_arms(saved, i)
    assert (arms_of_run['real_oversampled']['train_images']
            == arms_of_run['gan']['train_images'] == 235 + 32)
    pretrain = arms_of_run['gan_pretrain']
    assert (pretrain['pretrain_epochs'], pretrain['pretrain_steps'],
            pretrain['num_pretrain_images'], pretrain['train_images']) == (1, 2, 32, 235)
    assert pretrain['best_step'] > pretrain['pretrain_steps']
  assert {'gan_minus_real_oversampled', 'gan_pretrain_minus_real'} <= set(saved['paired'])
  quality = saved['synthetic_quality']['0.05']
  assert {'kid', 'kid_std', 'fid', 'precision', 'recall', 'density', 'coverage',
          'fraction_suspicious'} <= set(quality)
  assert len(quality['kid']['values']) == 2
  for run in saved['runs']:
    per_seed = run['classifiers']['custom_cnn']['synthetic_quality']
    assert per_seed['overall']['fake_images'] == 32
    assert per_seed['overall']['real_images'] == 64  # Every (smoke) test image.
    assert set(per_seed['per_class']) == {'normal', 'pneumonia'}
    assert 0.0 <= per_seed['memorisation']['fraction_suspicious'] <= 1.0
    assert os.path.exists(per_seed['closest_pairs_grid'])
  with open(os.path.join(workdir, 'report.md')) as f:
    text = f.read()
  assert '## Training fraction 0.05' in text and 'gan − real' in text
  assert 'Per class (precision / recall / F1)' in text
  assert '| weighted_f1 |' in text and 'precision_weighted' in text
  assert 'Shortcut control (`borders_only`' in text
  assert 'Filter (D scores un-augmented images): seed 0: no threshold' in text
  # 32 test images per class in a smoke run.
  assert saved['runs'][0]['classifiers']['custom_cnn']['majority_class_rate'] == 0.5
  assert len(saved['arms']['borders_only']['0.05']['accuracy']['values']) == 2
  assert os.path.exists(saved['figures']['arms'])
  assert 'fractions' not in saved['figures']  # One fraction: no curves.
  # A rerun finds every stage done.
  again = runner.run(config, workdir)
  assert json.loads(json.dumps(again['arms'])) == saved['arms']

  # The config's filter sweep in the same workdir trains no GAN again.
  gan_stages = sorted(os.listdir(os.path.join(workdir, 'stages')))
  run_command('pneumonia_lowdata', 'smoke,filter_sweep', tmp_path,
              **{'data.path': config.data.path, 'protocol.seeds': 1})
  stages = sorted(os.listdir(os.path.join(workdir, 'stages')))
  assert set(s for s in stages if s.startswith('gan-')) == set(
      s for s in gan_stages if s.startswith('gan-'))
  with open(os.path.join(workdir, 'filter_sweep.json')) as f:
    saved_sweep = json.load(f)
  names = list(saved_sweep['settings'])
  assert set(names) == {'none', 'q05', 'fixed076'}
  thresholds = [saved_sweep['settings'][n]['0.05']['threshold']['mean']
                for n in names[1:]]
  assert names[0] == 'none' and thresholds == sorted(thresholds)  # By threshold.
  for name in names:
    with open(os.path.join(workdir, 'filter_sweep', name, 'report.json')) as f:
      setting = json.load(f)
    row = saved_sweep['settings'][name]['0.05']
    assert row['gan_macro_f1'] == setting['arms']['gan']['0.05']['macro_f1']
    assert row['gan_minus_real_macro_f1']['values'] == pytest.approx(
        np.subtract(setting['arms']['gan']['0.05']['macro_f1']['values'],
                    setting['arms']['real']['0.05']['macro_f1']['values']))
    if name != 'none':
      assert row['threshold']['values'] == [r['synthesis']['threshold']
                                            for r in setting['runs']]
  assert 'threshold' not in saved_sweep['settings']['none']['0.05']  # It has none.
  assert saved_sweep['settings']['none']['0.05']['acceptance_rate']['values'] == [1.0]
  assert saved_sweep['settings']['fixed076']['0.05']['threshold']['values'] == [0.76]
  with open(os.path.join(workdir, 'filter_sweep.md')) as f:
    sweep_text = f.read()
  assert '| none |' in sweep_text and '| fixed076 |' in sweep_text
  assert os.path.exists(saved_sweep['figure'])


def _classifier_stages(workdir):
  """{stage folder: the registered arms it trained}."""
  out = {}
  for path in glob.glob(os.path.join(workdir, 'stages', 'classifiers-*', 'stage.json')):
    with open(path) as f:
      out[os.path.dirname(path)] = json.load(f)['arms']
  return out


@pytest.mark.slow
def test_gan_small_data_smoke_runs_its_generators_as_one_protocol(data_dir, tmp_path):
  npz = {'data.path': os.path.join(data_dir, 'pneumoniamnist.npz')}
  # One generator first (as one machine of several would), then both: the real
  # arm and the first generator's stages are reused. Then the paper GAN beside
  # the EDM diffusion family (:smoke,diffusion) in the same workdir: only edm's
  # stages are new.
  workdir = run_command('gan_small_data', 'smoke', tmp_path,
                        flags=['--generators=paper'], **npz)
  with open(os.path.join(workdir, 'report.json')) as f:
    assert list(run_arms(json.load(f))) == ['real', 'paper', 'paper_classical']
  before = _classifier_stages(workdir)
  (controls,) = [d for d, arms in before.items() if arms == ['real']]
  trained_at = os.path.getmtime(os.path.join(controls, 'done.json'))
  run_command('gan_small_data', 'smoke', tmp_path, **npz)
  with open(os.path.join(workdir, 'report.json')) as f:
    report = json.load(f)
  check_schema(report, 64)
  after = _classifier_stages(workdir)
  # One classifier stage without synthetic images, one per generator; real
  # trained once, in the first run.
  assert sorted(after.values()) == [['gan', 'gan_classical']] * 2 + [['real']]
  assert set(before) < set(after)
  assert os.path.getmtime(os.path.join(controls, 'done.json')) == trained_at
  assert list(run_arms(report)) == ['real', 'paper', 'paper_classical', 'ada_r1',
                                    'ada_r1_classical']
  assert list(report['generators']) == ['paper', 'ada_r1']
  assert report['generators']['ada_r1']['overrides']['ada'] is True
  paired = set(report['paired'])
  assert {'paper_minus_real', 'ada_r1_minus_real', 'ada_r1_minus_paper',
          'ada_r1_classical_minus_paper_classical'} <= paired
  assert set(report['by_generator']) == {'paper', 'ada_r1'}
  run = report['runs'][0]
  assert run['generators']['ada_r1']['gan']['family'] == 'acgan'
  assert 'ada_p' in run['generators']['ada_r1']['gan']['final_metrics']
  with open(os.path.join(workdir, 'report.md')) as f:
    text = f.read()
  assert '## Generators' in text and 'ada_r1 − paper' in text
  with open(os.path.join(workdir, 'test_predictions.csv')) as f:
    header = f.readline()
  assert 'real_predicted' in header and 'ada_r1_classical_predicted' in header

  # The stronger-generator study's smoke in the same workdir: the paper GAN's
  # stages and the real arm are reused; edm and a candidate that shares its
  # training run (guidance 0, from its first checkpoint) are new.
  run_command('generators_pneumonia', 'smoke', tmp_path,
              workdir_name='gan_small_data', **npz)
  with open(os.path.join(workdir, 'report.json')) as f:
    report = json.load(f)
  check_schema(report, 64)
  assert len(_classifier_stages(workdir)) == len(after) + 2
  assert os.path.getmtime(os.path.join(controls, 'done.json')) == trained_at
  assert list(report['generators']) == ['paper', 'edm', 'edm_s0_n3']
  assert list(run_arms(report)) == ['real', 'paper', 'paper_classical', 'edm',
                                    'edm_classical', 'edm_pretrain',
                                    'real_oversampled_edm', 'edm_s0_n3']
  run = report['runs'][0]
  edm, candidate = run['generators']['edm'], run['generators']['edm_s0_n3']
  assert edm['gan']['family'] == 'edm'
  assert set(edm['gan']['final_losses']) == {'loss', 'loss_low', 'loss_mid',
                                             'loss_high'}
  assert edm['synthesis']['filter'] == synthesize.NO_FILTER
  assert edm['synthesis']['accepted'] == 32  # 16 per class, every sample kept.
  # One training run, sampled twice: at guidance 1 from the last checkpoint,
  # at guidance 0 from the first.
  assert candidate['stages']['gan'] == edm['stages']['gan']
  assert candidate['stages']['synthesis'] != edm['stages']['synthesis']
  assert edm['synthesis']['checkpoint_steps'] == [6]
  assert candidate['synthesis']['checkpoint_steps'] == [3]
  assert os.path.exists(os.path.join(edm['stages']['gan'], 'samples',
                                     'step_0000006.png'))
  assert 'macro_f1' in run_arms(report)['edm_s0_n3']['validation']
  choice = report['settings_choice']['edm']
  assert choice['chosen'] in ('edm', 'edm_s0_n3')
  assert [c['name'] for c in choice['candidates']] == ['edm', 'edm_s0_n3']
  assert report['verdicts']['edm']['0.05']['comparison'] == 'edm − real_oversampled_edm'
  assert report['verdicts']['edm']['0.05']['verdict'] == 'one seed'
  assert os.path.exists(os.path.join(workdir, 'figures', 'real_vs_synthetic_edm.png'))
  with open(os.path.join(workdir, 'report.md')) as f:
    text = f.read()
  assert '## Generators' in text and 'edm − paper' in text
  assert '## Settings chosen on validation' in text
  assert '## Each generator against its count-matched control' in text


def test_fraction_curves_are_drawn_for_several_fractions(tmp_path):
  entry = lambda m: {'mean': m, 'ci95': 0.02, 'values': [m - 0.01, m + 0.01]}
  result = {
      'dataset': {'name': 'x'}, 'protocol': {'fractions': ['0.1', '1.0']},
      'arms': {arm: {f: {'accuracy': entry(0.7 + d), 'macro_f1': entry(0.6 + d)}
                     for f, d in (('0.1', 0.0), ('1.0', 0.1))}
               for arm in ('real', 'gan')}}
  paths = figures.protocol_figures(str(tmp_path), result)
  assert set(paths) == {'arms', 'fractions'}
  assert os.path.getsize(paths['fractions']) > 1000


def test_filter_sweep_and_several_generators_together_are_refused():
  config = pneumonia_lowdata.get_config('filter_sweep')
  config_validation.validate(config)
  assert {'none', 'q05', 'fixed076'} <= set(config.protocol.filter_sweep)
  for name in config.protocol.filter_sweep:
    config_validation.validate(protocol.with_overrides(config, 'filter_sweep', name))
  config.protocol.generators = {'gan': {}, 'other': {'ema_decay': 0.99}}
  with pytest.raises(ValueError, match='several generators'):
    config_validation.validate(config)
  config.protocol.generators = {}
  config.protocol.filter_sweep = {'typo': {'treshold': 0.5}}
  with pytest.raises(ValueError, match=r"filter_sweep.typo sets \['treshold'\]"):
    protocol.with_overrides(config, 'filter_sweep', 'typo')


def test_fields_of_the_two_old_run_systems_are_refused_with_their_new_names():
  config = pneumonia_lowdata.get_config('smoke')
  config.trials = 3
  with pytest.raises(errors.ConfigError, match='config.trials is no longer read: use '
                     'config.protocol.seeds'):
    config_validation.validate(config)
  del config['trials']
  config.data.train_fraction = 0.1
  with pytest.raises(errors.ConfigError, match='config.protocol.fractions'):
    config_validation.validate(config)
