"""An arm registered by a test module runs through the runner with no edit elsewhere."""

import glob
import os

import numpy as np
import pytest

from gan_aug.pipeline import runner
from gan_aug.protocol import arms
from helpers import run_arms, tiny_config


def _real_twice_one_flipped(real, synthetic):
  del synthetic
  images, labels = real
  return np.concatenate([images, images[:, :, ::-1]]), np.concatenate([labels, labels])


arms.ARMS.register('mirrored')(arms.Arm(
    'real images and their mirror images', _real_twice_one_flipped))


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
  config = tiny_config()
  config.protocol.arms = ('real', 'mirrored')
  config.classifier.max_epochs = 2
  workdir = str(tmp_path_factory.mktemp('arm'))
  return workdir, runner.run(config, workdir)


def test_registered_arm_trains_tests_and_is_summarised(finished):
  workdir, report = finished
  real, mirrored = run_arms(report)['real'], run_arms(report)['mirrored']
  assert mirrored['train_images'] == 2 * real['train_images']
  assert mirrored['steps'] == real['steps'] > 0  # Lockstep with real.
  assert mirrored['test']['num_examples'] == report['dataset']['splits']['test']
  assert report['arms']['mirrored']['1.0']['accuracy']['values'] == [
      mirrored['test']['accuracy']]
  assert 'mirrored_minus_real' in report['paired']
  # Neither arm needs synthetic images: no GAN was trained.
  stages = os.listdir(os.path.join(workdir, 'stages'))
  assert [s.split('-')[0] for s in stages] == ['classifiers']
  with open(os.path.join(workdir, 'report.md')) as f:
    assert '| mirrored |' in f.read()


def test_classifier_curves_go_to_tensorboard(finished):
  workdir, report = finished
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  stage_dir = report['runs'][0]['stages']['classifiers']['custom_cnn']
  files = glob.glob(os.path.join(stage_dir, 'events.out.tfevents.*'))
  assert files
  events = event_accumulator.EventAccumulator(stage_dir)
  events.Reload()
  tags = set(events.Tags()['scalars'])
  assert {'classifier/real/val_loss', 'classifier/mirrored/train_accuracy'} <= tags
  losses = [e.value for e in events.Scalars('classifier/real/val_loss')]
  assert len(losses) == run_arms(report)['real']['epochs']
