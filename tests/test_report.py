"""The runner on a tiny phantom run: report keys, figures, arms and predictions."""

import copy
import csv
import json
import os

import pytest

from gan_aug.pipeline import runner
from gan_aug.report import markdown as report
from helpers import run_arms, tiny_config


def _accept_all_config():
  """A 4-step GAN whose every fake is accepted, to exercise the gan arm."""
  config = tiny_config()
  config.synthesis.threshold_mode = 'none'
  config.synthesis.require_class_agreement = False
  config.synthesis.batch_size = 16
  config.classifier.max_epochs = 3
  return config


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('run'))
  result = runner.run(_accept_all_config(), workdir)
  with open(os.path.join(workdir, 'report.json')) as f:
    return workdir, result, json.load(f)


def test_report_has_the_documented_keys(finished):
  _, _, report = finished
  assert {'name', 'class_names', 'splits', 'duplicates_removed'} <= set(report['dataset'])
  run = report['runs'][0]
  assert {'steps', 'final_losses', 'images_per_sec'} <= set(run['gan'])
  assert set(run['gan']['final_losses']) == {'d_loss', 'g_loss'}
  syn = run['synthesis']
  assert {'threshold', 'requested', 'generated', 'accepted', 'acceptance_rate',
          'per_class', 'real_score_distribution'} <= set(syn)
  assert set(syn['per_class']) == set(report['dataset']['class_names'])
  for stats in syn['per_class'].values():
    assert {'requested', 'generated', 'accepted', 'acceptance_rate'} <= set(stats)
  assert 0.0 <= run['classifiers']['custom_cnn']['gan_test_accuracy'] <= 1.0
  assert report['gan_test']['1.0']['values'] == [
      run['classifiers']['custom_cnn']['gan_test_accuracy']]
  for arm, entry in run_arms(report).items():
    test = entry['test']
    assert report['arms'][arm]['1.0']['accuracy']['values'] == [test['accuracy']]
    assert {'accuracy', 'macro_f1', 'precision_macro', 'recall_macro', 'per_class',
            'confusion_matrix'} <= set(test)
    for stats in test['per_class'].values():
      assert set(stats) == {'precision', 'recall', 'f1', 'support'}
  assert report['provenance']['seed'] == 0


def test_both_arms_same_steps_real_validation_and_test(finished):
  _, result, report = finished
  real, gan = run_arms(report)['real'], run_arms(report)['gan']
  assert real['steps'] == gan['steps'] > 0
  splits = report['dataset']['splits']
  syn = report['runs'][0]['synthesis']
  assert real['train_images'] == splits['train']
  assert gan['train_images'] == splits['train'] + syn['accepted']
  assert syn['accepted'] == syn['requested'] == 24
  for arm in (real, gan):
    assert arm['val_images'] == splits['val']  # Real validation only.
    assert arm['test']['num_examples'] == splits['test']
    assert sum(map(sum, arm['test']['confusion_matrix'])) == splits['test']


def test_markdown_figures_and_predictions_are_written(finished):
  workdir, _, report = finished
  with open(os.path.join(workdir, 'report.md')) as f:
    text = f.read()
  assert 'PHANTOM DATA' in text and '| macro_f1 |' in text and 'GAN-test' in text
  for path in report['figures'].values():
    assert os.path.getsize(path) > 1000, path
  with open(report['predictions_file']) as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == report['dataset']['splits']['test']
  assert {'source', 'true_class', 'real_predicted', 'gan_predicted'} <= set(rows[0])
  correct = sum(r['true_class'] == r['real_predicted'] for r in rows)
  assert correct / len(rows) == pytest.approx(
      run_arms(report)['real']['test']['accuracy'])


def test_rerun_skips_every_stage(finished, caplog):
  workdir, _, report = finished
  config = _accept_all_config()
  with caplog.at_level('INFO'):
    again = runner.run(config, workdir)
  # GAN, synthesis, and the classifier stages of the real arm and of the gan arm.
  assert caplog.text.count('already complete') == 4
  assert run_arms(again)['real']['test'] == run_arms(report)['real']['test']


def test_report_md_lists_skipped_files(finished):
  _, result, _ = finished
  assert 'unreadable file' not in report.markdown(result)
  skipped = {'file': 'Covid/cut.jpg',
             'error': '/data/Covid/cut.jpg: not a readable image (truncated)'}
  dataset = dict(result['dataset'], skipped_files=[skipped])
  text = report.markdown(dict(result, dataset=dataset))
  assert '**1 unreadable file(s) skipped**' in text
  assert '- /data/Covid/cut.jpg: not a readable image (truncated)' in text


def test_report_md_states_the_classifier_filters_circularity_when_it_ran(finished):
  result = copy.deepcopy(finished[2])
  assert 'Circularity' not in report.markdown(result)
  result['runs'][0]['synthesis']['classifier_filter'] = {'model': 'custom_cnn'}
  assert 'Circularity: The filter\'s classifier was trained on the same real' in (
      report.markdown(result))
  # A family without a scorer (edm) filtered by classifier agreement alone: its
  # pass counts are shown.
  result['runs'][0]['synthesis']['real_score_distribution'] = {}
  text = report.markdown(result)
  assert 'Circularity' in text and '| all |' in text
