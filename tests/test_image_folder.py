"""The image-folder loader on the real COVID folder and on generated fixtures."""

import os

import numpy as np
import pytest
from PIL import Image

from gan_aug.data import DatasetError, DatasetNotFoundError, load_image_folder
from helpers import COVID_TEST_IMAGES

LEAKED_TEST_IMAGES = {
    'test/Covid/COVID-00003b.jpg', 'test/Covid/COVID-00012.jpg',
    'test/Covid/COVID-00022.jpg', 'test/Covid/COVID-00033.jpg',
    'test/Covid/COVID-00037.jpg',
    'test/Covid/radiopaedia-2019-novel-coronavirus-infected-pneumonia.jpg'}


@pytest.fixture(scope='module')
def covid(covid_dir):
  return load_image_folder(covid_dir, channels=3, resolution=28, val_fraction=0.15,
                           test_fraction=0.2, seed=0)


def test_covid_folder_classes_and_splits(covid):
  assert covid.class_names == ['Covid', 'Normal', 'Viral Pneumonia']
  train, val, test = (covid.splits[k] for k in ('train', 'val', 'test'))
  assert len(test) == COVID_TEST_IMAGES and test.class_counts(3) == [26, 20, 20]
  # 251 training files, 6 leaked copies dropped, the rest split train/val.
  assert len(train) + len(val) == 251 - 6
  assert train.images.shape[1:] == (28, 28, 3) and train.images.dtype == np.uint8
  assert all(s.startswith('train/') for s in train.sources + val.sources)


def test_covid_leaked_test_images_are_kept_out_of_training(covid):
  removed = covid.info['duplicates_removed']
  assert len(removed) == 6
  assert {r['identical_to'][0].split(':', 1)[1] for r in removed} == LEAKED_TEST_IMAGES
  assert 'train/Covid/069.jpg' in {r['source'] for r in removed}
  held_out = set(covid.splits['test'].digests) | set(covid.splits['val'].digests)
  assert not held_out & set(covid.splits['train'].digests)


def test_covid_val_is_stratified_and_keeps_duplicates_together(covid):
  val = covid.splits['val']
  counts = val.class_counts(3)
  assert all(5 <= c <= 20 for c in counts), counts
  train_sources = set(covid.splits['train'].sources)
  # Known within-train duplicate pairs land on the same side of the split.
  for pair in (('train/Normal/019.jpeg', 'train/Normal/020.jpeg'),
               ('train/Normal/093.jpeg', 'train/Normal/094.jpeg')):
    assert (pair[0] in train_sources) == (pair[1] in train_sources)
  within = covid.info['duplicates_within_split']
  assert ['test/Covid/0112.jpg',
          'test/Covid/auntminnie-2020_01_31_20_24_2322_2020_01_31_x-ray_coronavirus_US.jpg'
          ] in within['test']


def test_covid_carving_is_seeded(covid_dir, covid):
  again = load_image_folder(covid_dir, channels=3, resolution=28, val_fraction=0.15,
                            test_fraction=0.2, seed=0)
  other = load_image_folder(covid_dir, channels=3, resolution=28, val_fraction=0.15,
                            test_fraction=0.2, seed=1)
  assert again.splits['val'].sources == covid.splits['val'].sources
  assert other.splits['val'].sources != covid.splits['val'].sources


def _write_fixture_folder(root):
  """<root>/<class>/ layout with every mode, a class name with a space, junk files."""
  rng = np.random.default_rng(0)
  classes = {'clear lungs': 0, 'opacity': 1}
  for name, offset in classes.items():
    os.makedirs(os.path.join(root, name))
    for i in range(6):
      pixels = rng.integers(0, 256, (20 + 3 * i, 24, 3), dtype=np.uint8)
      pixels[..., 0] = offset * 200 + i  # Distinct images.
      rgb = Image.fromarray(pixels)
      variants = {
          f'{i}_rgb.png': rgb, f'{i}_l.jpg': rgb.convert('L'),
          f'{i}_rgba.PNG': rgb.convert('RGBA'), f'{i}_p.png': rgb.convert('P'),
          f'{i}_16.png': Image.fromarray(
              (np.asarray(rgb.convert('L'), np.uint16) * 250 + i)),
          f'{i}_cmyk.jpeg': rgb.convert('CMYK'),
      }
      for file_name, image in variants.items():
        image.save(os.path.join(root, name, file_name))
  with open(os.path.join(root, 'opacity', 'notes.txt'), 'w') as f:
    f.write('not an image')
  with open(os.path.join(root, 'opacity', 'truncated.png'), 'wb') as f:
    f.write(b'\x89PNG\r\n\x1a\n\x00\x00')
  return classes


@pytest.mark.parametrize('channels', [1, 3])
def test_fixture_folder_every_mode(tmp_path, channels):
  root = str(tmp_path / 'fundus')
  _write_fixture_folder(root)
  ds = load_image_folder(root, channels=channels, resolution=14, val_fraction=0.2,
                         test_fraction=0.2, seed=3)
  assert ds.class_names == ['clear lungs', 'opacity']
  total = sum(len(s) for s in ds.splits.values())
  assert total == 2 * 6 * 6
  for split in ds.splits.values():
    assert split.images.shape[1:] == (14, 14, channels)
  assert ds.splits['test'].class_counts(2)[0] > 0
  assert [b['file'] for b in ds.info['skipped_files']] == ['opacity/truncated.png']
  assert ds.info['ignored_files'] == ['opacity/notes.txt']
  assert 'carved' in ds.info['split_origin']['test']


def test_bad_file_policy_error_stops_before_training(tmp_path):
  root = str(tmp_path / 'fundus')
  _write_fixture_folder(root)
  with pytest.raises(DatasetError, match='truncated.png'):
    load_image_folder(root, channels=1, resolution=14, val_fraction=0.2,
                      test_fraction=0.2, seed=0, bad_file_policy='error')


def test_empty_class_is_a_clear_error(tmp_path):
  root = tmp_path / 'ds' / 'train'
  (root / 'empty class').mkdir(parents=True)
  (root / 'full').mkdir()
  for i in range(4):
    Image.fromarray(np.full((8, 8), i * 40, np.uint8)).save(root / 'full' / f'{i}.png')
  with pytest.raises(DatasetError, match="'empty class' has no training images"):
    load_image_folder(str(tmp_path / 'ds'), channels=1, resolution=8,
                      val_fraction=0.25, test_fraction=0.25, seed=0)


def test_missing_folder_error_says_where_how_and_what_to_try(tmp_path):
  missing = str(tmp_path / 'nowhere')
  with pytest.raises(DatasetNotFoundError) as info:
    load_image_folder(missing, channels=3, resolution=28, val_fraction=0.1,
                      test_fraction=0.2, seed=0)
  message = str(info.value)
  assert missing in message
  assert '<root>/train/<class name>/' in message
  assert 'Kaggle' in message
  assert 'configs/covid_acgan.py:phantom' in message
