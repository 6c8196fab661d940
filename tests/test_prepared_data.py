"""The prepared (TFDS) data sets on fixtures in their real layouts and on the shared
data: counts, labels, patient separation, the listed problems, and that a prepared
rerun decodes nothing."""

import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

from gan_aug import data as data_lib
from gan_aug.config_blocks import blocks
from gan_aug.core.errors import (ConfigError, DatasetError, DatasetNotFoundError,
                                 PHANTOM_COMMAND)
from gan_aug.data import images as images_lib
from gan_aug.data import layouts
from gan_aug.data import npz as npz_lib


def _png(path, seed, size=24, mode='L'):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  rng = np.random.default_rng(seed)
  if mode == 'I;16':  # 12 bits used of 16, as medical exports do.
    array = rng.integers(0, 4096, (size, size), dtype=np.uint16)
    Image.fromarray(array).save(path)
    return
  shape = (size, size) if mode == 'L' else (size, size, 3)
  Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)


def _truncate(path):
  with open(path, 'rb') as f:
    data = f.read()
  with open(path, 'wb') as f:
    f.write(data[:len(data) // 2])


@pytest.fixture(scope='module')
def radiography(tmp_path_factory):
  """The COVID-19 Radiography Database as Kaggle ships it, in small: each class
  folder's images/ beside masks/, metadata files, a README, __MACOSX; one 16-bit
  PNG, one truncated file, and one image under two classes."""
  root = str(tmp_path_factory.mktemp('radiography') / 'COVID-19_Radiography_Dataset')
  counts = {'COVID': 7, 'Lung_Opacity': 5, 'Normal': 8, 'Viral Pneumonia': 6}
  seed = 0
  for name, count in counts.items():
    for i in range(1, count + 1):
      seed += 1
      _png(os.path.join(root, name, 'images', f'{name}-{i}.png'), seed)
      _png(os.path.join(root, name, 'masks', f'{name}-{i}.png'), 1000 + seed)
    with open(os.path.join(root, f'{name}.metadata.xlsx'), 'wb') as f:
      f.write(b'PK\x03\x04 not a spreadsheet reader test')
  with open(os.path.join(root, 'README.md.txt'), 'w') as f:
    f.write('COVID-19 Radiography Database\n')
  _png(os.path.join(root, '__MACOSX', 'COVID', 'images', '._COVID-1.png'), 99)
  _png(os.path.join(root, 'Normal', 'images', 'Normal-16bit.png'), 500, mode='I;16')
  _truncate(os.path.join(root, 'COVID', 'images', 'COVID-7.png'))
  # The same pixels under COVID and Viral Pneumonia.
  _png(os.path.join(root, 'Viral Pneumonia', 'images', 'Viral Pneumonia-7.png'), 1)
  return root


def _cfg(name, tmp_path, **values):
  values = {'channels': 1, 'resolution': 16, **values}
  return blocks.data(name=name, prepared_dir=str(tmp_path / 'prepared'),
                     **values)


@pytest.fixture
def count_decodes(monkeypatch):
  """The number of image files decoded so far (a list of one count)."""
  count = [0]
  load_file = images_lib.load_file

  def counted(*args, **kwargs):
    count[0] += 1
    return load_file(*args, **kwargs)
  monkeypatch.setattr(images_lib, 'load_file', counted)
  return count


def test_radiography_reads_papers_classes_not_masks_and_lists_problems(
    radiography, tmp_path, count_decodes):
  cfg = _cfg('tfds:covid19_radiography', tmp_path, dir=radiography)
  dataset = data_lib.load_dataset(cfg, 0)
  # Paper 003's three classes; 7 + 9 + 7 images, masks and metadata unread.
  assert dataset.class_names == ['COVID', 'Normal', 'Viral Pneumonia']
  assert count_decodes[0] == 7 + 9 + 7
  info = dataset.info
  assert [b['file'] for b in info['skipped_files']] == ['COVID/images/COVID-7.png']
  assert {'COVID/masks/', 'Normal/masks/', 'Lung_Opacity/'} <= set(info['ignored_files'])
  assert not any('__MACOSX' in s for split in dataset.splits.values()
                 for s in split.sources)
  conflict, = info['label_conflicts']
  assert sorted(i.split(':', 1)[1] for i in conflict['images']) == [
      'COVID/images/COVID-1.png (COVID)',
      'Viral Pneumonia/images/Viral Pneumonia-7.png (Viral Pneumonia)']
  everywhere = [s for split in dataset.splits.values() for s in split.sources]
  # 22 readable images; the conflicting pair is kept out of training only.
  assert 20 <= len(everywhere) <= 22
  assert not {'COVID/images/COVID-1.png', 'Viral Pneumonia/images/Viral Pneumonia-7.png'
              } & set(dataset.splits['train'].sources)
  # The 16-bit PNG is stretched from its own range, as the folder loader does.
  direct = data_lib.load_image_folder(
      radiography, channels=1, resolution=16, val_fraction=0.15, test_fraction=0.2,
      seed=0)
  assert direct.class_names == list(layouts.RADIOGRAPHY_CLASSES)  # All four.
  sixteen = images_lib.load_file(os.path.join(radiography, 'Normal', 'images',
                                              'Normal-16bit.png'), 1, 16)[0]
  assert sixteen.max() > 128  # 12 bits of 16 scaled by /257 would stay <= 15.
  found = [split.images[split.sources.index('Normal/images/Normal-16bit.png')]
           for split in dataset.splits.values()
           if 'Normal/images/Normal-16bit.png' in split.sources]
  assert len(found) == 1
  np.testing.assert_array_equal(found[0], sixteen)

  count_decodes[0] = 0
  again = data_lib.load_dataset(cfg, 0)
  assert count_decodes[0] == 0, 'a prepared rerun decoded images again'
  assert not again.info['prepared']['prepared_now']
  for name in ('train', 'val', 'test'):
    np.testing.assert_array_equal(again.splits[name].images,
                                  dataset.splits[name].images)
  assert again.info['label_conflicts'] == info['label_conflicts']


def test_radiography_classes_selectable_and_label_conflicts_kept_on_request(
    radiography, tmp_path):
  cfg = _cfg('tfds:covid19_radiography', tmp_path, dir=radiography,
             include_classes=layouts.RADIOGRAPHY_CLASSES, label_conflict_policy='keep')
  for seed in range(8):  # Wherever carving puts the conflicting copies.
    dataset = data_lib.load_dataset(cfg, seed)
    assert dataset.class_names == list(layouts.RADIOGRAPHY_CLASSES)
    assert sum(len(s) for s in dataset.splits.values()) == 27  # 28 files, 1 truncated.
    assert len(dataset.info['label_conflicts']) == 1
  cfg.include_classes = ('COVID', 'Pneumonia')
  with pytest.raises(DatasetError, match=r"include_classes names \['Pneumonia'\]"):
    data_lib.load_dataset(cfg, 0)


def test_class_folder_builder_equals_the_image_folder_loader(radiography, tmp_path):
  prepared = data_lib.load_dataset(_cfg('tfds:class_folder', tmp_path, dir=radiography), 3)
  direct = data_lib.load_dataset(_cfg('image_folder', tmp_path, dir=radiography), 3)
  assert prepared.class_names == direct.class_names
  for name in ('train', 'val', 'test'):
    a, b = prepared.splits[name], direct.splits[name]
    assert a.sources == b.sources and a.digests == b.digests
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_a_changed_folder_is_prepared_anew(radiography, tmp_path):
  root = str(tmp_path / 'copy')
  for name in ('COVID', 'Normal'):
    for i in range(4):
      _png(os.path.join(root, name, f'{name}-{i}.png'), 10 * i + len(name))
  cfg = _cfg('tfds:class_folder', tmp_path, dir=root)
  first = data_lib.load_dataset(cfg, 0)
  _png(os.path.join(root, 'Normal', 'Normal-9.png'), 77)
  second = data_lib.load_dataset(cfg, 0)
  assert second.info['prepared']['prepared_now']
  assert second.info['prepared']['dir'] != first.info['prepared']['dir']
  assert sum(map(len, second.splits.values())) == 9


def test_prepared_dir_inside_the_raw_data_is_refused(radiography):
  cfg = blocks.data(name='tfds:covid19_radiography', dir=radiography,
                    prepared_dir=os.path.join(radiography, 'prepared'))
  with pytest.raises(DatasetError, match='inside the raw data'):
    data_lib.load_dataset(cfg, 0)
  assert not os.path.exists(os.path.join(radiography, 'prepared'))


@pytest.mark.parametrize('folder', ['none', ''])
def test_missing_data_set_names_builder_download_layout_and_phantom(tmp_path, folder):
  cfg = _cfg('tfds:covid19_radiography', tmp_path,
             dir=str(tmp_path / folder) if folder else '')
  with pytest.raises(DatasetNotFoundError) as error:
    data_lib.load_dataset(cfg, 0)
  message = str(error.value)
  for part in ('tfds:covid19_radiography', 'covid19-radiography-database',
               'images/*.png', PHANTOM_COMMAND):
    assert part in message


@pytest.fixture(scope='module')
def kermany(tmp_path_factory):
  """Kermany et al.'s chest_xray/ as some downloads unpack it: a duplicated inner
  chest_xray/ and a __MACOSX/ copy; patients with several images."""
  root = str(tmp_path_factory.mktemp('kermany') / 'chest_xray')
  seed = 0
  files = {
      'train': {'NORMAL': [f'IM-0{100 + p}-000{k}.jpeg' for p in range(6) for k in (1, 2)]
                          + ['NORMAL2-IM-1427-0001.jpeg', 'NORMAL2-IM-1427-0002.jpeg'],
                'PNEUMONIA': [f'person{p}_{kind}_{k}.jpeg' for p in range(1, 8)
                              for kind, k in (('virus', 1), ('bacteria', 2))]},
      'val': {'NORMAL': ['NORMAL2-IM-1440-0001.jpeg'],
              'PNEUMONIA': ['person1946_bacteria_4874.jpeg']},
      'test': {'NORMAL': ['IM-0001-0001.jpeg', 'IM-0003-0001.jpeg'],
               'PNEUMONIA': ['person100_bacteria_475.jpeg', 'person101_virus_188.jpeg']},
  }
  for split, classes in files.items():
    for name, file_names in classes.items():
      for file_name in file_names:
        seed += 1
        for top in ('', 'chest_xray', os.path.join('__MACOSX', 'chest_xray')):
          path = os.path.join(root, top, split, name, file_name)
          _png(path, seed)
  return os.path.dirname(root)  # The archive's outer folder.


def test_kermany_patients_never_on_both_sides_and_val_rule(kermany, tmp_path):
  cfg = _cfg('tfds:chest_xray_pneumonia', tmp_path, dir=kermany, val_fraction=0.3)
  dataset = data_lib.load_dataset(cfg, 0)
  assert dataset.class_names == ['NORMAL', 'PNEUMONIA']
  train, val, test = (dataset.splits[k] for k in ('train', 'val', 'test'))
  assert len(test) == 4 and all(s.startswith('test/') for s in test.sources)
  assert len(train) + len(val) == 14 + 14 + 2  # Inner copy and __MACOSX not read.
  assert all(not s.startswith(('chest_xray/', '__MACOSX')) for s in train.sources)
  assert len(val) >= 4
  assert not set(train.groups) & set(val.groups), 'a patient on both sides'
  assert {'person1', 'IM-0100', 'NORMAL2-IM-1427'} <= set(train.groups + val.groups)
  assert 'val/NORMAL/NORMAL2-IM-1440-0001.jpeg' in train.sources + val.sources
  assert dataset.info['notes']['val_rule'] == layouts.CHEST_XRAY_VAL_RULE
  assert dataset.info['patients_removed'] == []
  # Split strings that put one patient's images on both sides: kept out of train.
  cfg.split_strings.test = 'train[:6]'
  mixed = data_lib.load_dataset(cfg, 0)
  held = set(mixed.splits['test'].groups) | set(mixed.splits['val'].groups)
  assert not held & set(mixed.splits['train'].groups)
  removed = mixed.info['patients_removed']
  assert removed and all(r['patient'] in held for r in removed)
  assert 'chest_xray/ (a duplicate of the outer folder)' in dataset.info['ignored_files']


def test_patient_ids_of_kermany_file_names():
  assert layouts.patient_id('person1_virus_6.jpeg') == 'person1'
  assert layouts.patient_id('person1946_bacteria_4874.jpeg') == 'person1946'
  assert layouts.patient_id('IM-0115-0001.jpeg') == 'IM-0115'
  assert layouts.patient_id('NORMAL2-IM-1427-0001.jpeg') == 'NORMAL2-IM-1427'
  assert layouts.patient_id('scan.png') is None


def test_covid19_3way_through_tfds_equals_todays_folder_loader(covid_dir, tmp_path,
                                                               count_decodes):
  cfg = _cfg('tfds:covid19_3way', tmp_path, dir=covid_dir, channels=3)
  prepared = data_lib.load_dataset(cfg, 0)
  direct = data_lib.load_image_folder(covid_dir, channels=3, resolution=16,
                                      val_fraction=0.15, test_fraction=0.2, seed=0)
  assert prepared.class_names == direct.class_names
  for name in ('train', 'val', 'test'):
    a, b = prepared.splits[name], direct.splits[name]
    assert a.sources == b.sources and a.digests == b.digests
    np.testing.assert_array_equal(a.images, b.images)
  for key in ('duplicates_removed', 'duplicates_within_split', 'label_conflicts'):
    assert prepared.info[key] == direct.info[key]
  assert len(prepared.info['duplicates_removed']) == 6
  count_decodes[0] = 0
  data_lib.load_dataset(cfg, 0)
  assert count_decodes[0] == 0
  assert 'tensorflow' not in sys.modules  # TFDS read and wrote without it.


def test_split_strings_select_records_before_hygiene(covid_dir, tmp_path):
  cfg = _cfg('tfds:covid19_3way', tmp_path, dir=covid_dir)
  full = data_lib.load_dataset(cfg, 0)
  cfg.split_strings.train = 'train[:50%]'
  cfg.split_strings.test = 'test[:10]'
  half = data_lib.load_dataset(cfg, 0)
  assert len(half.splits['test']) == 10
  assert set(half.splits['test'].sources) <= set(full.splits['test'].sources)
  train_val = half.splits['train'].sources + half.splits['val'].sources
  removed = [r['source'] for r in half.info['duplicates_removed']]
  assert len(train_val) + len(removed) == round(251 / 2)  # Of the 251 train files.
  assert half.info['prepared']['split_strings'] == {'train': 'train[:50%]',
                                                    'test': 'test[:10]'}
  for bad in ('validation', 'test[:0]'):
    cfg.split_strings.test = bad
    with pytest.raises(DatasetError, match='split_strings.test'):
      data_lib.load_dataset(cfg, 0)


def test_medmnist_at_any_size_equals_the_npz_loader(tmp_path, count_decodes):
  rng = np.random.default_rng(0)
  path = str(tmp_path / 'bloodmnist_64.npz')  # A MedMNIST+ file at 64 px, RGB.
  arrays = {f'{s}_images': rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
            for s, n in (('train', 30), ('val', 8), ('test', 8))}
  arrays.update({f'{s}_labels': rng.integers(0, 3, (len(arrays[f'{s}_images']), 1))
                 for s in ('train', 'val', 'test')})
  arrays['test_images'][0] = arrays['train_images'][0]  # A leak.
  np.savez(path, **arrays)
  cfg = _cfg('tfds:medmnist', tmp_path, path=path, channels=3, resolution=32)
  decodes = []
  decode_npz = npz_lib.decode_npz
  npz_lib.decode_npz = lambda *a, **k: decodes.append(1) or decode_npz(*a, **k)
  try:
    prepared = data_lib.load_dataset(cfg, 0)
    data_lib.load_dataset(cfg, 0)
  finally:
    npz_lib.decode_npz = decode_npz
  assert len(decodes) == 1
  direct = data_lib.load_npz(path, channels=3, resolution=32, val_fraction=0.15,
                             test_fraction=0.2, seed=0)
  assert prepared.class_names == direct.class_names == ['class_0', 'class_1', 'class_2']
  for name in ('train', 'val', 'test'):
    np.testing.assert_array_equal(prepared.splits[name].images,
                                  direct.splits[name].images)
  assert len(prepared.info['duplicates_removed']) == 1
  with open(os.path.join(prepared.info['prepared']['dir'], 'prepared.json')) as f:
    assert json.load(f)['given_splits'] == ['test', 'train', 'val']


def test_bad_file_policy_error_refuses_before_any_record_is_kept(radiography, tmp_path):
  cfg = _cfg('tfds:covid19_radiography', tmp_path, dir=radiography,
             bad_file_policy='error')
  with pytest.raises(DatasetError, match='COVID-7.png'):
    data_lib.load_dataset(cfg, 0)
  prepared = [os.path.join(d, f) for d, _, files in os.walk(tmp_path / 'prepared')
              for f in files if f.endswith(('.json', '-of-00001'))
              and 'incomplete' not in d and '.config' not in d]
  assert not prepared, prepared


def test_include_classes_is_refused_where_nothing_reads_it():
  cfg = blocks.data(name='image_folder', include_classes=('COVID',))
  with pytest.raises(ConfigError, match='data.include_classes'):
    data_lib.validate(cfg)
  cfg.name = 'tfds:covid19_radiography'
  data_lib.validate(cfg)


def test_new_data_fields_at_their_defaults_keep_earlier_gan_stage_keys():
  from gan_aug.pipeline import stages  # pylint: disable=g-import-not-at-top
  config = blocks.config(data=blocks.data(),
                                  gan=blocks.gan())
  key = stages.gan_stage_key(config, 'data-fingerprint')
  assert not {'include_classes', 'split_strings', 'label_conflict_policy',
              'prepared_dir'} & set(key['data'])
  config.data.split_strings.train = 'train[:50%]'
  config.data.label_conflict_policy = 'keep'
  config.data.prepared_dir = '/elsewhere'
  key = stages.gan_stage_key(config, 'data-fingerprint')
  assert {'split_strings', 'label_conflict_policy'} <= set(key['data'])
  assert 'prepared_dir' not in key['data']
