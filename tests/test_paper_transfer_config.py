"""Paper 001 as a `:smoke` run: low data, seeds summarised, transfer classifiers."""

import os

import numpy as np
import pytest

from helpers import run_arms
from paper_runs import check_schema, run_config


@pytest.mark.slow
def test_transfer_config_summarises_seeds_over_several_models(data_dir, tmp_path):
  report, _ = run_config('pneumonia_dcgan_transfer', 'smoke', tmp_path, **{
      'data.path': os.path.join(data_dir, 'pneumoniamnist.npz')})
  # PneumoniaMNIST's official test split, 32 images per class in a smoke run.
  check_schema(report, 64)
  assert report['protocol']['seeds'] == [0, 1]
  runs = report['runs']
  # 2 % of the 4707 training images (stratified), a different subset per seed.
  assert all(r['train_images'] == 94 for r in runs)
  assert runs[0]['stages']['gan'] != runs[1]['stages']['gan']
  assert runs[0]['data_fingerprint'] != runs[1]['data_fingerprint']
  assert report['classifier']['models'] == ['resnet18', 'squeezenet1_1']
  for arm in ('real', 'gan'):
    for model, summary in (('resnet18', report['arms']),
                           ('squeezenet1_1', report['other_classifiers']['squeezenet1_1'])):
      values = [run_arms(report, i, model)[arm]['test']['accuracy'] for i in (0, 1)]
      entry = summary[arm]['0.02']['accuracy']
      assert entry['values'] == values
      assert entry['mean'] == pytest.approx(np.mean(values))
      assert entry['std'] == pytest.approx(np.std(values, ddof=1))
  weights = report['classifier']['weights']['resnet18']
  assert weights['pretrained'] is None and 'end to end' in weights['note']
  with open(os.path.join(str(tmp_path), 'pneumonia_dcgan_transfer',
                         'report.md')) as f:
    text = f.read()
  assert 'seeds [0, 1]' in text and 'Classifier `squeezenet1_1`' in text
