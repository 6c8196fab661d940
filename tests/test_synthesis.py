"""Synthesis and filter: the keep rule, per-class targets, reproducible latents, crash safety."""

import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

from gan_aug import data as data_lib
from gan_aug.core import errors
from gan_aug.generator import loop as gan_loop
from gan_aug.runtime import sharding
from gan_aug.synthesis import accepted_set
from gan_aug.synthesis import filter as synthesis_filter
from gan_aug.synthesis import synthesize
from helpers import crash_image_saves_after, tiny_config


def test_filter_keeps_threshold_and_class_agreement():
  realness = np.array([0.76, 0.7599, 0.90, 0.99, 1.0], np.float32)
  predicted = np.array([1, 1, 0, 1, 2])
  keep = synthesis_filter.accept_mask(realness, predicted, requested=1, threshold=0.76)
  np.testing.assert_array_equal(keep, [True, False, False, True, False])
  keep = synthesis_filter.accept_mask(realness, predicted, requested=1, threshold=0.76,
                           require_class_agreement=False)
  np.testing.assert_array_equal(keep, [True, False, True, True, True])
  keep = synthesis_filter.accept_mask(realness, predicted, requested=0, threshold=0.95)
  np.testing.assert_array_equal(keep, [False] * 5)


def test_errd_fake_mode_is_the_papers_printed_loss_rule():
  # Papers 000/002's code: errD_fake = BCE(D(G(z)), 0) = -log(1 - D(G(z))) of one
  # image, kept when >= 0.76.
  realness = np.array([0.50, 0.53, 0.54, 0.76, 0.99])
  errd_fake = -np.log(1.0 - realness)
  by_hand = errd_fake >= 0.76
  cfg = tiny_config().synthesis
  cfg.threshold_mode, cfg.threshold = 'errd_fake', 0.76
  cfg.require_class_agreement = False
  threshold = synthesis_filter.filter_threshold(cfg, (realness, None))
  assert threshold == pytest.approx(1 - np.exp(-0.76))  # 0.532
  keep = synthesis_filter.accept_mask(realness, None, requested=0, threshold=threshold,
                                      require_class_agreement=False)
  np.testing.assert_array_equal(keep, by_hand)
  np.testing.assert_array_equal(keep, [False, False, True, True, True])
  cfg.threshold = 2.0  # a loss, not a probability: above 1 is allowed
  synthesis_filter.validate(cfg, has_class_head=False, gan_name='dcgan')
  cfg.threshold = -0.1
  with pytest.raises(errors.ConfigError, match='synthesis.threshold'):
    synthesis_filter.validate(cfg, has_class_head=False, gan_name='dcgan')


def test_target_modes_count_multiple_balance():
  counts = [10, 25, 40]
  assert synthesis_filter.class_targets('count', 7, counts) == [7, 7, 7]
  assert synthesis_filter.class_targets('multiple', 1.5, counts) == [15, 38, 60]
  assert synthesis_filter.class_targets('multiple', 0.0, counts) == [0, 0, 0]
  assert synthesis_filter.class_targets('balance', 1.0, counts) == [30, 15, 0]
  with pytest.raises(ValueError, match='balance'):
    synthesis_filter.class_targets('double', 1.0, counts)
  assert synthesis_filter.attempt_cap(30, 20.0, 64) == 600
  assert synthesis_filter.attempt_cap(1, 20.0, 64) == 64  # At least one batch.
  assert synthesis_filter.attempt_cap(0, 20.0, 64) == 0


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A tiny GAN trained for 4 steps, its data set and checkpoint folder."""
  config = tiny_config()
  config.synthesis.batch_size = 16
  dataset = data_lib.load_dataset(config.data, config.seed)
  stage_dir = str(tmp_path_factory.mktemp('gan'))
  gan_loop.train_gan(config, dataset, stage_dir)
  return config, dataset, os.path.join(stage_dir, 'checkpoints')


def _synthesize(trained, stage_dir, **synthesis_overrides):
  config, dataset, checkpoints = trained
  config = config.copy_and_resolve_references()
  config.synthesis.threshold_mode = 'fixed'
  config.synthesis.update(synthesis_overrides)
  return synthesize.synthesize(config, dataset, checkpoints, str(stage_dir))


def test_accepted_images_pass_the_filter_and_reach_their_targets(trained, tmp_path):
  # A 4-step GAN's realness scores sit in a narrow band: take their median as the
  # threshold, so that the filter accepts some fakes and rejects others.
  _synthesize(trained, tmp_path / 'all', target='count', target_value=16,
              threshold_mode='none', require_class_agreement=False)
  _, _, everything = accepted_set.load_set(str(tmp_path / 'all'))
  threshold = float(np.median([r['realness'] for r in everything['images']]))
  summary = _synthesize(trained, tmp_path, target='count', target_value=5,
                        threshold=threshold, max_attempts_multiple=20.0)
  images, labels, manifest = accepted_set.load_set(str(tmp_path))
  assert len(images) == len(labels) == summary['accepted'] > 0
  assert 0 < summary['passed'] < summary['generated']
  for stats in summary['per_class'].values():
    assert stats['accepted'] == min(stats['requested'], stats['passed'])
    assert stats['generated'] % 16 == 0 and stats['generated'] <= 16 * 7
  for record in manifest['images']:
    assert record['realness'] >= threshold
    probs = record['class_probs']
    assert max(probs, key=probs.get) == record['class']
  assert summary['real_score_distribution']['val']['count'] == 12


def test_manifest_latents_regenerate_the_saved_images(trained, tmp_path):
  config, dataset, checkpoints = trained
  _synthesize(trained, tmp_path, target='count', target_value=3, threshold_mode='none',
              require_class_agreement=False)
  images, _, manifest = accepted_set.load_set(str(tmp_path))
  mesh = sharding.make_mesh()
  family, networks, states = synthesize.restore(config, dataset, checkpoints, 1, mesh)
  generate = synthesize.make_generate_and_score(family, networks, mesh, 16,
                                                config.gan.latent_dim)
  for image, record in list(zip(images, manifest['images']))[::4]:
    step, state = states[0]
    assert record['checkpoint_step'] == step
    key = synthesize.latent_class_key(config.seed, step, record['label'])
    again, realness, _ = jax.device_get(
        generate(state, key, record['latent_index'], record['label']))
    np.testing.assert_array_equal(again[0], image)
    np.testing.assert_allclose(realness[0], record['realness'], rtol=1e-6)
    png = np.asarray(Image.open(os.path.join(str(tmp_path), 'synthetic',
                                             record['file'])))
    np.testing.assert_array_equal(png.reshape(image.shape), image)


def test_crash_while_writing_a_new_set_leaves_the_previous_one(trained, tmp_path,
                                                               monkeypatch):
  _synthesize(trained, tmp_path, target='count', target_value=4, threshold_mode='none',
              require_class_agreement=False)
  manifest_path = os.path.join(str(tmp_path), 'synthetic', 'manifest.json')
  with open(manifest_path, 'rb') as f:
    before = f.read()
  old_images, _, _ = accepted_set.load_set(str(tmp_path))

  restore_save = crash_image_saves_after(monkeypatch, 3)
  with pytest.raises(OSError, match='simulated crash'):
    _synthesize(trained, tmp_path, target='count', target_value=6, threshold_mode='none',
                require_class_agreement=False)
  restore_save()

  with open(manifest_path, 'rb') as f:
    assert f.read() == before
  images, labels, manifest = accepted_set.load_set(str(tmp_path))
  np.testing.assert_array_equal(images, old_images)
  # The failed write removed what it had written of the new set.
  assert len(manifest['images']) == 12 and len(os.listdir(tmp_path / 'sets')) == 1

  _synthesize(trained, tmp_path, target='count', target_value=6, threshold_mode='none',
              require_class_agreement=False)
  images, _, manifest = accepted_set.load_set(str(tmp_path))
  assert len(images) == 18 and len(json.load(open(manifest_path))['images']) == 18
  assert len(os.listdir(tmp_path / 'sets')) == 1  # The replaced set was removed.


def test_no_checkpoint_is_a_clear_error(trained, tmp_path):
  config, dataset, _ = trained
  with pytest.raises(errors.SynthesisError, match='No GAN checkpoint'):
    synthesize.synthesize(config, dataset, str(tmp_path / 'empty'), str(tmp_path))


def test_a_set_in_the_earlier_layout_still_loads(tmp_path):
  """Sets written before the manifest took `gan_aug.generate`'s schema had
  `<label>_<name>/` folders and `class_prob`/`predicted_class` entries: a
  finished synthesis stage of an older workdir loads as it is."""
  stage_dir = str(tmp_path)
  set_dir = os.path.join(stage_dir, 'sets', 'earlier')
  os.makedirs(os.path.join(set_dir, '00_Covid'))
  images = np.full((2, 8, 8, 1), 7, np.uint8)
  labels = np.zeros(2, np.int32)
  records = []
  for i, image in enumerate(images):
    name = f'00_Covid/{i:06d}.png'
    Image.fromarray(image[..., 0]).save(os.path.join(set_dir, name))
    records.append({'file': name, 'class': 'Covid', 'label': 0, 'realness': 0.9,
                    'class_prob': 0.8, 'predicted_class': 'Covid',
                    'checkpoint_step': 4, 'latent_index': i})
  np.savez(os.path.join(set_dir, 'images.npz'), images=images, labels=labels)
  with open(os.path.join(set_dir, 'manifest.json'), 'w') as f:
    json.dump({'class_names': ['Covid'], 'images': records}, f)
  os.symlink(os.path.join('sets', 'earlier'),
             os.path.join(stage_dir, accepted_set.SET_LINK))
  loaded_images, loaded_labels, manifest = accepted_set.load_set(stage_dir)
  np.testing.assert_array_equal(loaded_images, images)
  np.testing.assert_array_equal(loaded_labels, labels)
  assert manifest['images'][1]['predicted_class'] == 'Covid'
