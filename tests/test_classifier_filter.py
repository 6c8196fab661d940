"""Classifier agreement as a filter: the keep rule, synthesis keeping exactly the
fakes a constructed classifier assigns to their class, and the filter's stage:
trained on the training split alone (its recorded inputs; the held-out splits
cannot be read), resumed after an interruption, reused by a rerun, and feeding
a generator's synthesis."""

import dataclasses
import json
import math
import os

import jax
import ml_collections
import numpy as np
import pytest

from gan_aug import data as data_lib
from gan_aug.classifier import training as classifier_lib
from gan_aug.core import errors
from gan_aug.generator import loop as gan_loop
from gan_aug.pipeline import config_validation
from gan_aug.pipeline import stages
from gan_aug.pipeline import subset_run
from gan_aug.synthesis import accepted_set
from gan_aug.synthesis import agreement
from gan_aug.synthesis import synthesize
from helpers import tiny_edm_config


def test_the_keep_rule_is_the_predicted_class_and_the_confidence():
  probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5], [0.2, 0.8], [0.7, 0.3]])
  np.testing.assert_array_equal(agreement.keep_mask(probs, 0, 0.0),
                                [True, False, True, False, True])
  np.testing.assert_array_equal(agreement.keep_mask(probs, 0, 0.8),
                                [True, False, False, False, False])
  np.testing.assert_array_equal(agreement.keep_mask(probs, 1, 0.7),
                                [False, False, False, True, False])


def test_synthesis_keeps_exactly_the_fakes_the_classifier_assigns_to_their_class():
  # A constructed generator: fake i is a flat image of grey level 37 i mod 256;
  # a constructed classifier calls an image class 1 (p = 0.9) when its mean
  # is at least 128, else class 0 (p = 0.9).
  def generate(state, key, start, label):
    del state, key, label
    levels = (start + np.arange(8)) * 37 % 256
    images = np.broadcast_to(levels[:, None, None, None], (8, 4, 4, 1)).astype(np.uint8)
    return images, np.ones(8, np.float32), None

  def classify(images, label):
    bright = images.reshape(len(images), -1).mean(1) >= 128
    p1 = np.where(bright, 0.9, 0.1)
    probs = np.stack([1 - p1, p1], -1)
    return agreement.keep_mask(probs, label, 0.0), probs[:, label]

  for label in (0, 1):
    draw, complete = synthesize.accept_class(
        generate, [(0, None)], seed=0, label=label, target=10, cap=64,
        threshold=-math.inf, require_agreement=False, batch_size=8, agree=classify)
    bright = [i for i in range(64) if i * 37 % 256 >= 128]
    expected = bright if label else [i for i in range(64) if i not in bright]
    assert complete
    assert [a['latent_index'] for a in draw.accepted] == expected[:10]
    assert all(a['filter_probability'] == pytest.approx(0.9) for a in draw.accepted)
    generated = range(draw.generated)
    assert draw.passed == sum(1 for i in generated if i in expected)


def test_bad_classifier_filter_fields_are_refused():
  for field, value in (('classifier_filter', 1), ('classifier_filter_epochs', 0),
                       ('classifier_filter_confidence', 1.0),
                       ('classifier_filter_confidence', -0.1)):
    config = tiny_edm_config()
    # A whole new block: ConfigDict refuses to retype one field in place.
    config.synthesis = ml_collections.ConfigDict(
        {**config.synthesis.to_dict(), field: value})
    with pytest.raises(errors.ConfigError, match=f'synthesis.{field}'):
      config_validation.validate(config)


class _HeldOut:
  """A split that fails any read: the filter's stage must never touch it."""

  def __getattr__(self, name):
    raise AssertionError(f'the filter classifier read a held-out split ({name})')

  def __len__(self):
    raise AssertionError('the filter classifier read a held-out split (len)')


def test_the_filter_stage_sees_the_training_split_alone_resumes_and_is_reused(
    tmp_path, monkeypatch, caplog):
  config = tiny_edm_config(num_steps=2)
  config.gan.checkpoint_every = config.gan.sample_every = 2
  config.synthesis.classifier_filter = True
  config.synthesis.classifier_filter_epochs = 3
  config.classifier.steps_per_epoch = 2
  config.classifier.checkpoint_every_seconds = 0
  config.classifier.resolution = 16
  config_validation.validate(config)
  full = data_lib.load_dataset(config.data, config.seed)
  train = full.splits['train']
  held_out_unreadable = dataclasses.replace(
      full, splits={'train': train, 'val': _HeldOut(), 'test': _HeldOut()})
  straight = agreement.train_stage(config, train, full.num_classes,
                                   str(tmp_path / 'straight'))
  assert straight['epochs'] == 3 and straight['steps'] == 6

  # Interrupted after its first epoch's save, then the same call again.
  workdir = str(tmp_path / 'run')
  real_save = classifier_lib.Checkpointer.save

  def save_then_die(self, step, *args, **kwargs):
    real_save(self, step, *args, **kwargs)
    self.close()
    raise KeyboardInterrupt

  monkeypatch.setattr(classifier_lib.Checkpointer, 'save', save_then_die)
  with pytest.raises(KeyboardInterrupt):
    subset_run._filter_classifier(config, held_out_unreadable, workdir)  # pylint: disable=protected-access
  monkeypatch.setattr(classifier_lib.Checkpointer, 'save', real_save)
  with caplog.at_level('INFO'):
    filter_, filter_fp = subset_run._filter_classifier(  # pylint: disable=protected-access
        config, held_out_unreadable, workdir)
  assert 'Resuming classifier training after epoch 1' in caplog.text
  stage_dir = filter_.summary['stage']
  for a, b in zip(jax.tree.leaves(agreement.load_weights(stage_dir)),
                  jax.tree.leaves(agreement.load_weights(str(tmp_path / 'straight')))):
    np.testing.assert_array_equal(a, b)

  # Its recorded inputs: the training split's fingerprint and count, no other.
  with open(os.path.join(stage_dir, 'stage.json')) as f:
    key = json.load(f)
  assert key['train_fingerprint'] == agreement.train_fingerprint(train)
  assert 'data_fingerprint' not in key and key['epochs'] == 3
  with open(os.path.join(stage_dir, 'done.json')) as f:
    assert json.load(f)['inputs'] == {
        'train': {'images': len(train), 'fingerprint': key['train_fingerprint']}}

  caplog.clear()
  with caplog.at_level('INFO'):
    again, again_fp = subset_run._filter_classifier(  # pylint: disable=protected-access
        config, full, workdir)
  assert 'Stage filter_classifier already complete' in caplog.text
  assert (again.summary['stage'], again_fp) == (stage_dir, filter_fp)

  # A generator's synthesis filtered by it: every kept fake is one the
  # classifier assigns to its class, and the set says how it was filtered.
  gan_dir = str(tmp_path / 'gan')
  gan_loop.train_gan(config, full, gan_dir)
  config.synthesis.target, config.synthesis.target_value = 'count', 4
  summary = synthesize.synthesize(config, full, os.path.join(gan_dir, 'checkpoints'),
                                  str(tmp_path / 'synthesis'), agreement=filter_)
  assert summary['filter'].startswith('classifier agreement (custom_cnn')
  assert summary['classifier_filter']['inputs']['train']['images'] == len(train)
  images, labels, manifest = accepted_set.load_set(str(tmp_path / 'synthesis'))
  assert len(images)
  for label in range(full.num_classes):
    mine = labels == label
    if not mine.any():
      continue
    keep, probability = filter_.verdict(images[mine], label)
    assert keep.all()
    np.testing.assert_allclose([r['filter_probability'] for r, m in
                                zip(manifest['images'], mine) if m],
                               probability, atol=1e-6)
  # The filter's key is part of the synthesis stage's, and absent when off.
  key_on = stages.synthesis_stage_key(config, 'gan', filter_fp)
  config.synthesis.classifier_filter = False
  key_off = stages.synthesis_stage_key(config, 'gan')
  assert key_on['filter_classifier_stage'] == filter_fp
  assert 'filter_classifier_stage' not in key_off
  assert not {'classifier_filter', 'classifier_filter_epochs',
              'classifier_filter_confidence'} & set(key_off['synthesis'])
