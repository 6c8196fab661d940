"""Data sets by name: image folders, MedMNIST-style .npz files, the generated
phantom, and `tfds:<source>`, the raw data sets prepared once into TFDS records
(gan_aug.data.prepared)."""

from typing import Callable

import ml_collections

from gan_aug.core import checks
from gan_aug.core import registry
from gan_aug.core.errors import DatasetError, DatasetNotFoundError
from gan_aug.data.dataset import (LABEL_CONFLICT_POLICIES, Dataset, Split,
                                  cap_held_out, keep_training_fraction)
from gan_aug.data import prepared  # TFDS itself is imported only when preparing or reading.
from gan_aug.data.image_folder import BAD_FILE_POLICIES, load_image_folder
from gan_aug.data.npz import load_npz
from gan_aug.data.phantom import load_phantom

DATASETS: registry.Registry[Callable[..., Dataset]] = registry.Registry('data set')


@DATASETS.register('image_folder')
def _image_folder(cfg: ml_collections.ConfigDict, seed: int) -> Dataset:
  return load_image_folder(
      cfg.dir, channels=cfg.channels, resolution=cfg.resolution,
      val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
      seed=seed, bad_file_policy=cfg.bad_file_policy,
      label_conflict_policy=cfg.label_conflict_policy)


@DATASETS.register('npz')
def _npz(cfg: ml_collections.ConfigDict, seed: int) -> Dataset:
  return load_npz(cfg.path, channels=cfg.channels, resolution=cfg.resolution,
                  val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
                  seed=seed, class_names=list(cfg.class_names) or None,
                  label_conflict_policy=cfg.label_conflict_policy)


@DATASETS.register('phantom')
def _phantom(cfg: ml_collections.ConfigDict, seed: int) -> Dataset:
  return load_phantom(channels=cfg.channels, resolution=cfg.resolution, seed=seed,
                      per_class=dict(cfg.phantom_per_class))


def _register_prepared(name: str) -> None:
  def load(cfg: ml_collections.ConfigDict, seed: int) -> Dataset:
    return prepared.load_prepared(name, cfg, seed)
  DATASETS.register(PREPARED_PREFIX + name)(load)


PREPARED_PREFIX = 'tfds:'
for _name in prepared.SOURCES:
  _register_prepared(_name)
_CLASS_FOLDER_SOURCES = tuple(PREPARED_PREFIX + n for n, source in prepared.SOURCES.items()
                              if source.reads == 'dir')


def load_dataset(cfg: ml_collections.ConfigDict, seed: int) -> Dataset:
  """Loads the data set that `cfg` (a config's `data` block) names."""
  dataset = DATASETS.get(cfg.name, 'config.data.name')(cfg, seed)
  return cap_held_out(dataset, cfg.get('held_out_per_class', 0))


__all__ = ['DATASETS', 'Dataset', 'DatasetError', 'DatasetNotFoundError', 'Split',
           'cap_held_out', 'keep_training_fraction', 'load_dataset',
           'load_image_folder', 'load_npz', 'load_phantom']


def validate(cfg: ml_collections.ConfigDict) -> None:
  """Raises ConfigError (UnknownComponentError for the name) for a bad config.data."""
  DATASETS.get(cfg.name, 'config.data.name')
  checks.check(cfg.channels in (1, 3), 'data.channels', cfg.channels, '1 or 3')
  checks.int_at_least(cfg, 'data', 'resolution', 1)
  checks.one_of(cfg, 'data', 'bad_file_policy', BAD_FILE_POLICIES)
  checks.one_of(cfg, 'data', 'label_conflict_policy', LABEL_CONFLICT_POLICIES)
  checks.check(not cfg.include_classes or cfg.name in _CLASS_FOLDER_SOURCES,
               'data.include_classes', tuple(cfg.include_classes),
               f'empty unless data.name is one of {", ".join(_CLASS_FOLDER_SOURCES)}')
  for split in ('train', 'val', 'test'):
    checks.check(isinstance(cfg.split_strings[split], str),
                 f'data.split_strings.{split}', cfg.split_strings[split],
                 "a TFDS split string such as 'train[:50%]', or '' for the split itself")
  for split in ('train', 'val', 'test'):
    checks.int_at_least(cfg.phantom_per_class, 'data.phantom_per_class', split, 1)
  checks.number_in(cfg, 'data', 'val_fraction', 0.0, 0.5)
  checks.number_in(cfg, 'data', 'test_fraction', 0.0, 0.5)
  checks.int_at_least(cfg, 'data', 'held_out_per_class', 0)
  checks.int_at_least(cfg, 'data', 'in_memory_max_bytes', 0)
  checks.int_at_least(cfg, 'data', 'stream_threads', 1)
  checks.int_at_least(cfg, 'data', 'stream_prefetch', 1)
