"""Bad data end in a clear message naming the file, or a listed skip.

Each test builds its bad input in tmp_path (from a few real chest X-rays where
that helps) and calls the loaders directly: no training. Bad config values:
tests/test_bad_config_values.py.
"""

import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from gan_aug.data import DatasetError, images, load_image_folder, load_npz

REAL_IMAGES = {'Covid': ('COVID-00031.jpg', 'COVID-00027.jpg', '068.jpg', '067.jpg'),
               'Normal': ('01.jpeg', '010.jpeg', '011.jpeg', '012.jpeg')}
CSV_BYTES = b'patient,finding\n1,covid\n2,normal\n'


def _real_folder(tmp_path, covid_dir) -> str:
  """<tmp>/xray/<class>/ with four real training images per class."""
  root = tmp_path / 'xray'
  for name, files in REAL_IMAGES.items():
    (root / name).mkdir(parents=True)
    for file_name in files:
      shutil.copy(os.path.join(covid_dir, 'train', name, file_name), root / name)
  return str(root)


def _synthetic_folder(tmp_path, classes=('a', 'b'), size=16) -> str:
  """<tmp>/tiny/<class>/ with four small distinct greyscale PNGs per class."""
  root = tmp_path / 'tiny'
  for label, name in enumerate(classes):
    (root / name).mkdir(parents=True)
    for i in range(4):
      pixels = np.full((size, size), 20 * i + 100 * label, np.uint8)
      Image.fromarray(pixels).save(root / name / f'{i}.png')
  return str(root)


def _load(root, policy='skip', channels=1, resolution=16):
  return load_image_folder(root, channels=channels, resolution=resolution,
                           val_fraction=0.25, test_fraction=0.25, seed=0,
                           bad_file_policy=policy)


def _truncated_jpeg(covid_dir) -> bytes:
  with open(os.path.join(covid_dir, 'train', 'Covid', '068.jpg'), 'rb') as f:
    data = f.read()
  return data[:len(data) // 2]


# name in the class folder, bytes (None: build from the real data), reason shown.
_UNREADABLE = [
    ('cut.jpg', None, 'image file is truncated'),
    ('empty.png', b'', 'empty file (0 bytes)'),
    ('table.png', CSV_BYTES, 'not an image file PIL can read'),
]


@pytest.mark.parametrize('file_name,data,reason', _UNREADABLE,
                         ids=[u[0] for u in _UNREADABLE])
def test_unreadable_file_is_skipped_and_listed_in_the_summary(
    tmp_path, covid_dir, file_name, data, reason):
  root = _real_folder(tmp_path, covid_dir)
  with open(os.path.join(root, 'Covid', file_name), 'wb') as f:
    f.write(_truncated_jpeg(covid_dir) if data is None else data)
  summary = _load(root, 'skip').summary()
  assert summary['bad_file_policy'] == 'skip'
  assert [s['file'] for s in summary['skipped_files']] == [f'Covid/{file_name}']
  assert reason in summary['skipped_files'][0]['error']
  assert sum(summary['splits'].values()) == 8  # Every good image still loaded.


@pytest.mark.parametrize('file_name,data,reason', _UNREADABLE,
                         ids=[u[0] for u in _UNREADABLE])
def test_unreadable_file_with_error_policy_refuses_to_start(
    tmp_path, covid_dir, file_name, data, reason):
  root = _real_folder(tmp_path, covid_dir)
  with open(os.path.join(root, 'Normal', file_name), 'wb') as f:
    f.write(_truncated_jpeg(covid_dir) if data is None else data)
  with pytest.raises(DatasetError) as info:
    _load(root, 'error')
  message = str(info.value)
  assert os.path.join(root, 'Normal', file_name) in message
  assert reason in message
  assert "bad_file_policy='error'" in message
  assert '--config.data.bad_file_policy=skip' in message


def test_non_image_extension_is_listed_as_ignored(tmp_path, covid_dir):
  root = _real_folder(tmp_path, covid_dir)
  for name in ('notes.txt', 'labels.csv'):
    with open(os.path.join(root, 'Normal', name), 'wb') as f:
      f.write(CSV_BYTES)
  ds = _load(root)
  assert ds.info['ignored_files'] == ['Normal/labels.csv', 'Normal/notes.txt']
  assert ds.info['skipped_files'] == []


def test_empty_class_folder_names_the_folder(tmp_path):
  root = _synthetic_folder(tmp_path)
  os.mkdir(os.path.join(root, 'c'))
  with pytest.raises(DatasetError) as info:
    _load(root)
  message = str(info.value)
  assert "class 'c' has no training images" in message
  assert os.path.join(root, 'c') in message and 'the folder is empty' in message
  assert 'Add images to it, or remove the folder' in message


def test_class_folder_of_other_file_types_says_to_convert(tmp_path):
  root = _synthetic_folder(tmp_path)
  os.mkdir(os.path.join(root, 'c'))
  with open(os.path.join(root, 'c', 'scan.dcm'), 'wb') as f:
    f.write(b'DICM')
  with pytest.raises(DatasetError, match=r"'scan.dcm'\); convert them to PNG"):
    _load(root)


def test_class_of_only_unreadable_files_is_refused_after_skipping(tmp_path):
  root = _synthetic_folder(tmp_path)
  os.mkdir(os.path.join(root, 'c'))
  with open(os.path.join(root, 'c', 'x.png'), 'wb') as f:
    f.write(CSV_BYTES)
  with pytest.raises(DatasetError, match="class 'c' has no training images left"):
    _load(root)


def test_single_class_folder_is_refused(tmp_path, covid_dir):
  root = _real_folder(tmp_path, covid_dir)
  shutil.rmtree(os.path.join(root, 'Normal'))
  with pytest.raises(DatasetError) as info:
    _load(root)
  message = str(info.value)
  assert "only one class folder ('Covid')" in message
  assert 'at least two classes' in message and root in message


def test_empty_given_test_split_is_refused(tmp_path):
  root = _synthetic_folder(tmp_path)
  os.rename(root, os.path.join(str(tmp_path), 'train'))
  for name in ('a', 'b'):
    os.makedirs(tmp_path / 'test' / name)
  with pytest.raises(DatasetError, match='the test split is empty: its folder'):
    _load(str(tmp_path))


def test_images_directly_in_the_root_are_explained(tmp_path):
  root = tmp_path / 'flat'
  root.mkdir()
  Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / 'a.png')
  with pytest.raises(DatasetError, match='holds 1 image file'):
    _load(str(root))


def _encode(image: Image.Image, **save_args) -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, format='PNG', **save_args)
  return buffer.getvalue()


def _load_bytes(tmp_path, data: bytes, channels: int, resolution: int):
  path = tmp_path / 'image.png'
  path.write_bytes(data)
  return images.load_file(str(path), channels, resolution)[0]


@pytest.mark.parametrize('channels', [1, 3])
def test_16bit_png_is_scaled_to_8bit_not_clipped(tmp_path, channels):
  raw = np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (8, 1))
  data = _encode(Image.fromarray(raw))
  assert Image.open(io.BytesIO(data)).mode == 'I;16'
  array = _load_bytes(tmp_path, data, channels, 64)[:8]
  assert array.shape == (8, 64, channels)
  expected = np.round(raw / 257.0)
  # Clipping to 255 would give 255 almost everywhere; scaling keeps the ramp.
  assert np.abs(array.astype(int) - expected[..., None]).max() <= 1
  assert (array[0, :, 0] == 255).sum() == 1


def test_flat_16bit_png_keeps_its_level(tmp_path):
  raw = np.full((8, 8), 65535, np.uint16)
  assert (_load_bytes(tmp_path, _encode(Image.fromarray(raw)), 1, 8) == 255).all()


def _palette_image(transparency: bool) -> Image.Image:
  """Left half palette index 0 (light grey), right half index 1 (dark grey)."""
  indices = np.zeros((8, 8), np.uint8)
  indices[:, 4:] = 1
  image = Image.fromarray(indices, mode='P')
  image.putpalette([200, 200, 200, 40, 40, 40] + [0, 0, 0] * 254)
  if transparency:
    image.info['transparency'] = 0
  return image


@pytest.mark.parametrize('transparency', [False, True])
@pytest.mark.parametrize('channels', [1, 3])
def test_palette_png_loads_with_its_colours(tmp_path, transparency, channels):
  image = _palette_image(transparency)
  data = _encode(image, **({'transparency': 0} if transparency else {}))
  decoded = Image.open(io.BytesIO(data))
  assert decoded.mode == 'P' and ('transparency' in decoded.info) == transparency
  array = _load_bytes(tmp_path, data, channels, 8)
  assert array.shape == (8, 8, channels)
  assert (array[:, :4] == 200).all() and (array[:, 4:] == 40).all()


def test_16bit_and_palette_pngs_load_from_a_folder(tmp_path):
  root = _synthetic_folder(tmp_path)
  raw = np.tile(np.arange(16, dtype=np.uint16) * 4000, (16, 1))
  Image.fromarray(raw).save(os.path.join(root, 'a', 'deep.png'))
  _palette_image(True).save(os.path.join(root, 'b', 'palette.png'), transparency=0)
  _palette_image(False).save(os.path.join(root, 'b', 'plain.png'))
  ds = _load(root, 'error', channels=3)
  sources = [s for split in ds.splits.values() for s in split.sources]
  assert {'a/deep.png', 'b/palette.png', 'b/plain.png'} <= set(sources)
  assert ds.info['skipped_files'] == []


@pytest.mark.filterwarnings('ignore::PIL.Image.DecompressionBombWarning')
@pytest.mark.parametrize('limit', [1000, 3000])  # PIL raises over 2x, warns over 1x.
def test_image_over_the_decompression_bomb_limit_is_skipped(tmp_path, monkeypatch,
                                                             limit):
  root = _synthetic_folder(tmp_path)
  Image.fromarray(np.zeros((64, 64), np.uint8)).save(os.path.join(root, 'a', 'big.png'))
  monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', limit)
  summary = _load(root, 'skip').summary()
  assert [s['file'] for s in summary['skipped_files']] == ['a/big.png']
  assert 'decompression-bomb limit' in summary['skipped_files'][0]['error']
  assert sum(summary['splits'].values()) == 8
  with pytest.raises(DatasetError) as info:
    _load(root, 'error')
  assert 'big.png' in str(info.value) and 'decompression-bomb' in str(info.value)
  assert Image.MAX_IMAGE_PIXELS == limit  # The limit is kept, not lifted.


def test_decompression_bomb_message_gives_size_and_limit(monkeypatch):
  monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 3000)
  data = _encode(Image.fromarray(np.zeros((64, 64), np.uint8)))
  with pytest.warns(Image.DecompressionBombWarning):
    with pytest.raises(images.ImageDecodeError) as info:
      images.decode(data, 'big.png')
  assert 'big.png: 64x64 = 4096 pixels' in str(info.value)
  assert 'limit of 3000 pixels' in str(info.value)


def _write_npz(tmp_path, **arrays) -> str:
  path = str(tmp_path / 'set.npz')
  np.savez(path, **arrays)
  return path


def _npz_images(n):
  return (np.arange(n * 64) % 251).astype(np.uint8).reshape(n, 8, 8)


_NPZ_CASES = {
    'no_train_images': ({'train_labels': np.zeros(4)}, 'no train_images array'),
    'no_train_labels': ({'train_images': _npz_images(4)},
                        'train_images without train_labels'),
    'val_labels_only': ({'train_images': _npz_images(4),
                         'train_labels': np.array([0, 1, 0, 1]),
                         'val_labels': np.array([0, 1])},
                        'val_labels without val_images'),
    'negative_label': ({'train_images': _npz_images(4),
                        'train_labels': np.array([0, 1, -1, 1])},
                       'train_labels[2] = -1 is negative'),
    'count_mismatch': ({'train_images': _npz_images(4),
                        'train_labels': np.array([0, 1, 0])},
                       'train_images holds 4 images but train_labels holds 3 labels'),
    'fractional_label': ({'train_images': _npz_images(4),
                          'train_labels': np.array([0, 0.5, 1, 1])},
                         'whole-number class indices'),
    'wrong_dtype': ({'train_images': _npz_images(4).astype(np.float32),
                     'train_labels': np.array([0, 1, 0, 1])},
                    'train_images must be uint8'),
}


@pytest.mark.parametrize('case', sorted(_NPZ_CASES))
def test_bad_npz_names_the_file_and_the_array(tmp_path, case):
  arrays, message = _NPZ_CASES[case]
  path = _write_npz(tmp_path, **arrays)
  with pytest.raises(DatasetError) as info:
    load_npz(path, channels=1, resolution=8, val_fraction=0.25, test_fraction=0.25,
             seed=0)
  assert path in str(info.value) and message in str(info.value)


def test_npz_label_beyond_the_class_names_is_refused(tmp_path):
  path = _write_npz(tmp_path, train_images=_npz_images(6),
                    train_labels=np.array([0, 1, 0, 1, 0, 1]),
                    test_images=_npz_images(2), test_labels=np.array([0, 2]))
  with pytest.raises(DatasetError) as info:
    load_npz(path, channels=1, resolution=8, val_fraction=0.25, test_fraction=0.25,
             seed=0, class_names=['normal', 'pneumonia'])
  message = str(info.value)
  assert path in message and 'test_labels go up to 2' in message
  assert "config.data.class_names has 2 names ['normal', 'pneumonia']" in message


def test_npz_with_a_single_class_is_refused(tmp_path):
  path = _write_npz(tmp_path, train_images=_npz_images(6), train_labels=np.zeros(6))
  with pytest.raises(DatasetError) as info:
    load_npz(path, channels=1, resolution=8, val_fraction=0.25, test_fraction=0.25,
             seed=0)
  message = str(info.value)
  assert path in message and 'single class' in message
  assert 'at least two classes' in message


def test_file_that_is_not_an_npz_is_refused(tmp_path):
  path = tmp_path / 'set.npz'
  path.write_bytes(CSV_BYTES)
  with pytest.raises(DatasetError, match='not a readable .npz file'):
    load_npz(str(path), channels=1, resolution=8, val_fraction=0.25,
             test_fraction=0.25, seed=0)
