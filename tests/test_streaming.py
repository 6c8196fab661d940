"""The streaming input path: the batches it reads are the device path's, from the
prepared records as from host memory, and a streamed GAN trains as a held one.
(SIGKILL and rerun on the streaming path: test_kill_resume.py.)"""

import json
import os

import jax
import numpy as np
import pytest

import helpers
from gan_aug import data as data_lib
from gan_aug.config_blocks import blocks
from gan_aug.core.errors import ConfigError
from gan_aug.data import batch_order
from gan_aug.data import streaming
from gan_aug.generator import loop as gan_loop
from gan_aug.pipeline import config_validation


def test_host_rows_equal_the_device_batches_across_epochs():
  key = jax.random.PRNGKey(3)
  rows = streaming.epoch_rows(key, 2, 12, num_examples=37, batch_size=8)
  device = [np.asarray(batch_order.batch_indices(key, s, 37, 8)) for s in range(2, 12)]
  np.testing.assert_array_equal(rows, np.stack(device))  # 4 steps an epoch.

  class_rows = [np.array([0, 3, 4, 7, 9, 11, 12, 20, 21]), np.array([1, 2, 5, 30])]
  rows = streaming.per_class_rows(key, 0, 7, class_rows, batch_size=2)
  counts = np.array([9, 4])
  for step in range(7):
    for c in range(2):
      index = batch_order.padded_batch_indices(jax.random.fold_in(key, c), step,
                                           counts[c], 9, 2)
      np.testing.assert_array_equal(rows[step, c], class_rows[c][np.asarray(index)])
  assert streaming.epoch_rows(key, 5, 5, 37, 8).shape == (0, 8)


def test_stream_reads_prepared_records_in_split_order(covid_dir, tmp_path):
  cfg = blocks.data(name='tfds:covid19_3way', dir=covid_dir, channels=1,
                    resolution=16, prepared_dir=str(tmp_path / 'prepared'),
                    stream_threads=2, stream_prefetch=2)
  dataset = data_lib.load_dataset(cfg, 0)
  record_dir = dataset.info['prepared']['dir']
  for name in ('train', 'val', 'test'):
    split = dataset.splits[name]
    source = streaming.source_of(split, record_dir)
    assert isinstance(source, streaming.RecordSource) and len(source) == len(split)
    rows = np.random.default_rng(0).permutation(len(split))[:20]
    np.testing.assert_array_equal(source.read(rows), split.images[rows])
  # The records are not stored in listing order, so positions are looked up.
  positions = [p for _, p in dataset.splits['train'].record_positions]
  assert positions != sorted(positions)

  train = dataset.splits['train']
  rows = streaming.epoch_rows(jax.random.PRNGKey(0), 0, 5, len(train), 8)
  read = list(streaming.batches(streaming.source_of(train, record_dir), train.labels,
                                rows, 0, cfg))
  assert len(read) == 5
  for (images, labels), step_rows in zip(read, rows):
    np.testing.assert_array_equal(images, train.images[step_rows])
    np.testing.assert_array_equal(labels, train.labels[step_rows])


def _metrics(stage_dir):
  with open(os.path.join(stage_dir, 'metrics.jsonl')) as f:
    return [{k: v for k, v in json.loads(line).items() if k != 'steps_per_sec'}
            for line in f]


def test_streamed_per_class_gan_equals_the_held_one_and_resumes(tmp_path):
  config = helpers.tiny_config(name='dcgan_per_class', g_base_width=8,
                               d_base_width=8, batch_size=8, num_steps=6,
                               checkpoint_every=3)
  config.data.resolution = 16
  dataset = data_lib.load_dataset(config.data, 0)
  held = gan_loop.train_gan(config, dataset, str(tmp_path / 'held'))
  config.data.in_memory_max_bytes = 0
  streamed = gan_loop.train_gan(config, dataset, str(tmp_path / 'streamed'))
  assert _metrics(tmp_path / 'held') == _metrics(tmp_path / 'streamed')
  assert held['final_metrics'] == streamed['final_metrics']
  # A rerun of a finished stage resumes at its last step: nothing left to read.
  again = gan_loop.train_gan(config, dataset, str(tmp_path / 'streamed'))
  assert again['steps_this_run'] == 0


def test_bad_streaming_values_are_refused():
  config = helpers.tiny_config()
  for field, value in (('in_memory_max_bytes', -1), ('stream_threads', 0),
                       ('stream_prefetch', 0)):
    bad = helpers.tiny_config()
    bad.data[field] = value
    with pytest.raises(ConfigError, match=f'data.{field}'):
      config_validation.validate(bad)
  config_validation.validate(config)
