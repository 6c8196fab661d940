"""Paper 001 as a `:smoke` run: low data, trials averaged, transfer classifiers."""

import os

import numpy as np
import pytest

from paper_runs import check_schema, run_config


@pytest.mark.slow
def test_transfer_config_averages_trials_over_several_models(data_dir, tmp_path):
  report, config = run_config('pneumonia_dcgan_transfer', 'smoke', tmp_path, **{
      'data.path': os.path.join(data_dir, 'pneumoniamnist.npz')})
  check_schema(report, 624)  # PneumoniaMNIST's official test split.
  assert report['num_trials'] == 2
  trials = report['trials']
  assert [t['seed'] for t in trials] == [0, 1]
  # 2 % of the 4707 training images (stratified), a different subset per trial.
  assert all(t['train_images'] == 94 for t in trials)
  assert trials[0]['stages']['gan'] != trials[1]['stages']['gan']
  for arm in ('real', 'augmented'):
    entry = report['classifiers'][arm]
    assert set(entry['models']) == {'resnet18', 'squeezenet1_1'}
    for model in (entry, entry['models']['squeezenet1_1']):
      values = [t['test']['accuracy'] for t in model['trials']]
      assert len(values) == 2
      assert model['mean']['accuracy'] == pytest.approx(np.mean(values))
      assert model['std']['accuracy'] == pytest.approx(np.std(values, ddof=1))
      assert model['test']['accuracy'] == pytest.approx(np.mean(values))
  weights = report['classifiers']['weights']['resnet18']
  assert weights['pretrained'] is None and 'end to end' in weights['note']
  with open(os.path.join(str(tmp_path), 'pneumonia_dcgan_transfer',
                         'report.md')) as f:
    text = f.read()
  assert 'Mean over 2 trials' in text and 'squeezenet1_1' in text
