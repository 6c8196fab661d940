"""python -m gan_aug.generate: N accepted fakes per class from a run's GAN stage,
reproducible, written whole or not at all, and clear refusals."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import CLI_ENV
from gan_aug import generate
from gan_aug.core import atomic_files
from gan_aug.core import errors
from gan_aug.pipeline import runner
from gan_aug.synthesis import accepted_set
from gan_aug.synthesis import synthesize
from helpers import REPO_ROOT, crash_image_saves_after, tiny_config


@pytest.fixture(scope='module')
def workdir(tmp_path_factory, covid_dir):
  """A run stopped after its GAN stage: 4 steps of a narrow ACGAN on the real
  COVID-19 folder at 28x28 (checkpoints at steps 2 and 4; the filter of
  covid_acgan:smoke, no realness threshold, without class agreement), and the
  config.json that gan_aug.main writes when a run starts."""
  config = tiny_config()
  config.data.name = 'image_folder'
  config.data.dir = covid_dir
  # An untrained class head agrees with few requests; keep every fake.
  config.synthesis.require_class_agreement = False
  path = str(tmp_path_factory.mktemp('run'))
  runner.run_gan_only(config, path)
  atomic_files.write_json(os.path.join(path, 'config.json'), config.to_dict())
  return path


@pytest.fixture(scope='module')
def first(workdir, tmp_path_factory):
  """(output folder, manifest) of one generation of 5 per class."""
  out = str(tmp_path_factory.mktemp('gen') / 'out')
  return out, generate.generate(generate.open_stage(workdir), out, 5)


def _files(folder):
  return sorted(os.path.relpath(os.path.join(root, name), folder)
                for root, _, names in os.walk(folder) for name in names)


def _read(folder):
  return {name: open(os.path.join(folder, name), 'rb').read() for name in _files(folder)}


def test_n_per_class_and_a_manifest_row_per_file(first):
  out, manifest = first
  names = ['Covid', 'Normal', 'Viral Pneumonia']
  assert manifest['class_names'] == names
  assert sorted(os.listdir(out)) == sorted(names + ['manifest.json'])
  for name in names:
    assert len(os.listdir(os.path.join(out, name))) == 5
  rows = manifest['images']
  assert sorted(r['file'] for r in rows) == [f for f in _files(out)
                                             if f != 'manifest.json']
  with open(os.path.join(out, 'manifest.json')) as f:
    assert json.load(f) == manifest
  assert manifest['checkpoint_steps'] == [4] and manifest['seed'] == 0
  assert manifest['threshold_mode'] == 'none' and manifest['threshold'] is None
  assert not manifest['require_class_agreement']  # As the run's config.json says.
  for row in rows:
    assert row['checkpoint_step'] == 4 and os.path.isdir(row['checkpoint'])
    assert sorted(row['class_probs']) == names
    assert sum(row['class_probs'].values()) == pytest.approx(1.0, abs=1e-5)
    image = np.asarray(Image.open(os.path.join(out, row['file'])))
    assert image.shape == (28, 28) and image.dtype == np.uint8


def test_same_command_is_byte_identical_and_another_seed_differs(workdir, first,
                                                                 tmp_path):
  out, _ = first
  stage = generate.open_stage(workdir)
  generate.generate(stage, str(tmp_path / 'again'), 5)
  assert _read(str(tmp_path / 'again')) == _read(out)
  generate.generate(stage, str(tmp_path / 'seed7'), 5, seed=7)
  other = _read(str(tmp_path / 'seed7'))
  assert other.keys() == _read(out).keys()
  assert all(other[f] != data for f, data in _read(out).items() if f.endswith('.png'))


def test_default_seed_gives_the_runs_own_synthetic_set(workdir, first, tmp_path):
  _, manifest = first
  stage = generate.open_stage(workdir)
  config = stage.config.copy_and_resolve_references()
  config.synthesis.target_value = 5
  dataset, _ = generate.training_data(stage)
  synthesize.synthesize(config, dataset, stage.checkpoint_dir, str(tmp_path))
  run_images, _, run_manifest = accepted_set.load_set(str(tmp_path))
  assert ([(r['label'], r['checkpoint_step'], r['latent_index'])
           for r in run_manifest['images']]
          == [(r['label'], r['checkpoint_step'], r['latent_index'])
              for r in manifest['images']])
  out, _ = first
  ours = [np.asarray(Image.open(os.path.join(out, r['file'])))
          for r in manifest['images']]
  np.testing.assert_array_equal(np.stack(ours), run_images[..., 0])


def test_checkpoint_step_and_a_crash_leaves_no_folder(workdir, tmp_path,
                                                      monkeypatch):
  stage = generate.open_stage(workdir)
  with pytest.raises(errors.ConfigError, match=r'steps \[2, 4\]'):
    generate.generate(stage, str(tmp_path / 'x'), 2, checkpoint_step=3)
  restore_save = crash_image_saves_after(monkeypatch, 3)
  with pytest.raises(OSError, match='simulated crash'):
    generate.generate(stage, str(tmp_path / 'out'), 2, checkpoint_step=2)
  restore_save()
  assert os.listdir(tmp_path) == []  # Neither DIR nor its temporary folder.
  manifest = generate.generate(stage, str(tmp_path / 'out'), 2, checkpoint_step=2)
  assert manifest['checkpoint_steps'] == [2]
  assert {r['checkpoint_step'] for r in manifest['images']} == {2}


def _with_synthesis(workdir, folder, **overrides):
  """A workdir sharing `workdir`'s GAN stage (a link) whose config.json has other
  config.synthesis values."""
  os.makedirs(folder / 'stages')
  for name in generate.gan_stage_names(workdir):
    os.symlink(os.path.join(workdir, 'stages', name), folder / 'stages' / name)
  with open(os.path.join(workdir, 'config.json')) as f:
    config = json.load(f)
  config['synthesis'].update(overrides)
  atomic_files.write_json(str(folder / 'config.json'), config)
  return generate.open_stage(str(folder))


def test_two_checkpoints_alternate_batches_as_the_run_does(workdir, tmp_path):
  stage = _with_synthesis(workdir, tmp_path / 'run', num_checkpoints=2)
  manifest = generate.generate(stage, str(tmp_path / 'out'), 40)
  assert manifest['checkpoint_steps'] == [2, 4]
  config = stage.config.copy_and_resolve_references()
  config.synthesis.target_value = 40
  dataset, _ = generate.training_data(stage)
  synthesize.synthesize(config, dataset, stage.checkpoint_dir, str(tmp_path / 'synth'))
  _, _, run_manifest = accepted_set.load_set(str(tmp_path / 'synth'))
  ours = [(r['label'], r['checkpoint_step'], r['latent_index'])
          for r in manifest['images']]
  assert ours == [(r['label'], r['checkpoint_step'], r['latent_index'])
                  for r in run_manifest['images']]
  assert ours[31:33] == [(0, 2, 31), (0, 4, 0)]  # Batch 2 is the newer checkpoint's.


def test_a_filter_that_rejects_keeps_the_runs_own_fakes(workdir, first, tmp_path):
  # The median realness of the unfiltered fakes: about half of them fail it.
  threshold = float(np.median([r['realness'] for r in first[1]['images']]))
  stage = _with_synthesis(workdir, tmp_path / 'run', threshold_mode='fixed',
                          threshold=threshold,
                          target='count', target_value=6, max_attempts_multiple=20.0)
  manifest = generate.generate(stage, str(tmp_path / 'out'), 6)
  assert any(c['passed'] < c['generated'] for c in manifest['counts'].values())
  dataset, _ = generate.training_data(stage)
  synthesize.synthesize(stage.config, dataset, stage.checkpoint_dir,
                        str(tmp_path / 'synth'))
  _, _, run_manifest = accepted_set.load_set(str(tmp_path / 'synth'))
  key = lambda r: (r['label'], r['checkpoint_step'], r['latent_index'])
  assert [key(r) for r in manifest['images']] == [key(r)
                                                  for r in run_manifest['images']]


def test_a_filter_nothing_passes_is_refused(workdir, tmp_path):
  stage = _with_synthesis(workdir, tmp_path / 'run', threshold_mode='fixed',
                          threshold=1.0)
  with pytest.raises(errors.SynthesisError, match='only 0 of 3 fakes passed'):
    generate.generate(stage, str(tmp_path / 'out'), 3)
  assert sorted(os.listdir(tmp_path)) == ['run']


def test_refusals(workdir, tmp_path):
  with pytest.raises(errors.SynthesisError, match='has no GAN stage'):
    generate.open_stage(str(tmp_path))
  two = tmp_path / 'two'
  for name in ('gan-aaaa', 'gan-bbbb'):
    os.makedirs(two / 'stages' / name)
    atomic_files.write_json(str(two / 'stages' / name / 'stage.json'),
                            {'seed': 0, 'gan': {'name': 'acgan'}})
  with pytest.raises(errors.ConfigError, match='2 GAN stages') as e:
    generate.open_stage(str(two))
  assert '--gan_stage=stages/gan-aaaa' in str(e.value)
  assert '--gan_stage=stages/gan-bbbb' in str(e.value)
  with pytest.raises(errors.ConfigError, match='not a GAN stage'):
    generate.open_stage(str(two), 'stages/gan-cccc')
  with pytest.raises(errors.SynthesisError, match='config.json not found'):
    generate.open_stage(str(two), 'stages/gan-aaaa')
  stage = generate.open_stage(workdir)
  with pytest.raises(errors.ConfigError, match='at least 1'):
    generate.generate(stage, str(tmp_path / 'out'), 0)
  full = tmp_path / 'full'
  os.makedirs(full)
  (full / 'mine.txt').write_text('keep me')
  with pytest.raises(errors.ConfigError, match='not an empty folder'):
    generate.generate(stage, str(full), 2)
  assert os.listdir(full) == ['mine.txt']


def test_command_line_refuses_with_a_message_and_status_2(workdir, tmp_path):
  (tmp_path / 'mine.txt').write_text('keep me')
  result = subprocess.run(
      [sys.executable, '-m', 'gan_aug.generate', f'--workdir={workdir}',
       f'--out={tmp_path}', '--per_class=2'], cwd=REPO_ROOT,
      env=dict(os.environ, **CLI_ENV), capture_output=True, text=True, timeout=120)
  assert result.returncode == 2, result.stderr[-2000:]
  assert 'error (generate): --out=' in result.stderr
  assert 'Traceback' not in result.stderr
