"""The MedMNIST .npz loader on PneumoniaMNIST, and the generated phantom."""

import os

import numpy as np
import pytest

from gan_aug.data import (DatasetNotFoundError, cap_held_out, load_npz, load_phantom,
                          phantom)
from helpers import PNEUMONIA_TEST_IMAGES


def test_pneumoniamnist_official_splits_and_leak_removal(data_dir):
  ds = load_npz(os.path.join(data_dir, 'pneumoniamnist.npz'), channels=1,
                resolution=28, val_fraction=0.1, test_fraction=0.2, seed=0,
                class_names=['normal', 'pneumonia'])
  assert ds.class_names == ['normal', 'pneumonia']
  assert ds.splits['val'].class_counts(2) == [135, 389]
  assert ds.splits['test'].class_counts(2) == [234, 390]
  assert ds.info['split_origin'] == {'train': 'given', 'val': 'given', 'test': 'given'}
  # Train images equal to a val image are dropped (none equal a test image).
  removed = ds.info['duplicates_removed']
  assert removed and all(r['removed_from'] == 'train' for r in removed)
  assert all(r['identical_to'][0].startswith('val:') for r in removed)
  assert len(ds.splits['train']) == 4707 - len(removed)
  assert not set(ds.splits['train'].digests) & set(ds.splits['val'].digests)
  assert ds.splits['train'].images.shape[1:] == (28, 28, 1)


def test_held_out_cap_keeps_the_first_images_of_each_class_and_all_training(data_dir):
  ds = load_npz(os.path.join(data_dir, 'pneumoniamnist.npz'), channels=1,
                resolution=28, val_fraction=0.1, test_fraction=0.2, seed=0)
  capped = cap_held_out(ds, 32)
  assert cap_held_out(ds, 0) is ds
  assert capped.splits['train'] is ds.splits['train']
  for name in ('val', 'test'):
    split, full = capped.splits[name], ds.splits[name]
    assert split.class_counts(2) == [32, 32]
    for label in (0, 1):
      first = [s for s, y in zip(full.sources, full.labels) if y == label][:32]
      assert [s for s, y in zip(split.sources, split.labels) if y == label] == first
  assert capped.summary()['held_out_per_class'] == 32


def test_npz_resizes_and_expands_channels(data_dir):
  ds = load_npz(os.path.join(data_dir, 'pneumoniamnist.npz'), channels=3,
                resolution=56, val_fraction=0.1, test_fraction=0.2, seed=0)
  assert ds.splits['test'].images.shape == (PNEUMONIA_TEST_IMAGES, 56, 56, 3)
  assert ds.class_names == ['class_0', 'class_1']


def test_missing_npz_error(tmp_path):
  with pytest.raises(DatasetNotFoundError, match='MedMNIST'):
    load_npz(str(tmp_path / 'x.npz'), channels=1, resolution=28, val_fraction=0.1,
             test_fraction=0.2, seed=0)


def test_phantom_is_deterministic_labelled_and_class_dependent():
  kwargs = dict(channels=1, resolution=56, seed=4,
                per_class={'train': 12, 'val': 2, 'test': 2})
  a, b = load_phantom(**kwargs), load_phantom(**kwargs)
  assert a.is_phantom and a.summary()['is_phantom']
  assert all(name.startswith('phantom_') for name in a.class_names)
  np.testing.assert_array_equal(a.splits['train'].images, b.splits['train'].images)
  other = load_phantom(**{**kwargs, 'seed': 5})
  assert not np.array_equal(a.splits['train'].images, other.splits['train'].images)
  # Opacities brighten the lung fields: class means differ in the expected order.
  train = a.splits['train']
  lungs = train.images[:, 14:40, 6:50, 0].astype(float).mean(axis=(1, 2))
  means = [lungs[train.labels == c].mean() for c in range(3)]
  assert means[0] < means[1] and means[0] < means[2], means


def test_phantom_consolidation_is_one_sided():
  rng = np.random.default_rng(0)
  clear_rng = np.random.default_rng(0)
  image = phantom.render(2, 64, rng)
  clear = phantom.render(0, 64, clear_rng)
  left = (image - clear)[:, :32].sum()
  right = (image - clear)[:, 32:].sum()
  assert max(left, right) > 5 * max(min(left, right), 1e-3)


def test_exported_phantom_reads_back_as_an_image_folder(tmp_path):
  import subprocess
  import sys
  from gan_aug.data import load_image_folder
  from helpers import REPO_ROOT
  out = str(tmp_path / 'phantom')
  subprocess.run([sys.executable, 'scripts/export_phantom.py', f'--out={out}',
                  '--resolution=28', '--train=4', '--val=2', '--test=2'],
                 cwd=REPO_ROOT, check=True, capture_output=True)
  ds = load_image_folder(out, channels=1, resolution=28, val_fraction=0.1,
                         test_fraction=0.1, seed=0)
  assert sorted(ds.class_names) == sorted(phantom.CLASS_NAMES)
  assert {k: len(v) for k, v in ds.splits.items()} == {'train': 12, 'val': 6, 'test': 6}
  generated = phantom.make_split('test', 2, 28, 1, 0)
  as_bytes = lambda split: sorted(image.tobytes() for image in split.images)
  assert as_bytes(ds.splits['test']) == as_bytes(generated)  # Lossless export.
