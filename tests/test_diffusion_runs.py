"""`gan_small_data.py:smoke,diffusion` - the paper GAN and the EDM diffusion
family as the two generators of one protocol - through `python -m gan_aug.main`.
(A diffusion stage killed by SIGKILL and rerun: tests/test_edm.py.)"""

import json
import os

import pytest

from gan_aug.synthesis import synthesize
from helpers import run_arms
from paper_runs import check_schema, run_command


@pytest.mark.slow
def test_paper_gan_and_edm_run_as_one_protocol(data_dir, tmp_path):
  straight = run_command('gan_small_data', 'smoke,diffusion', tmp_path, **{
      'data.path': os.path.join(data_dir, 'pneumoniamnist.npz')})
  with open(os.path.join(straight, 'report.json')) as f:
    report = json.load(f)
  check_schema(report, 64)
  assert list(report['generators']) == ['paper', 'edm']
  assert list(run_arms(report)) == ['real', 'paper', 'edm']
  edm = report['runs'][0]['generators']['edm']
  assert edm['gan']['family'] == 'edm' and edm['arms'] == {'edm': 'gan'}
  assert set(edm['gan']['final_losses']) == {'loss', 'loss_low', 'loss_mid',
                                             'loss_high'}
  assert edm['synthesis']['filter'] == synthesize.NO_FILTER
  assert edm['synthesis']['accepted'] == 32  # 16 per class, every sample kept.
  with open(os.path.join(straight, 'report.md')) as f:
    text = f.read()
  assert '## Generators' in text and 'edm − paper' in text
  assert os.path.exists(os.path.join(edm['stages']['gan'], 'samples',
                                     'step_0000006.png'))
