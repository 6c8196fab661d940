"""Data sets prepared once into TFDS records and read back without TensorFlow.

`config.data.name = 'tfds:<source>'` names one of `SOURCES`: the COVID-19
Radiography Database (paper 003), Kermany et al.'s chest X-rays (paper 001), the
3-class COVID-19 folder, any class-folder layout, and MedMNIST(+) `.npz` files.
The first run decodes the raw files with the project's own image code (the
image-folder and .npz loaders' `decode_listing` / `decode_npz`, so 16-bit PNGs
are stretched as everywhere and pixels equal the direct loaders') and writes, per
split, array_record files of uint8 pixels at the config's channels and
resolution, each with its pixel digest, label, source file and group (patient),
plus `prepared.json` (skipped and ignored files, notes, a fingerprint of the
records). Later runs read the records: no image is decoded again.

Where: `<data.prepared_dir>/<source>/<C>ch-<R>px-<key>/<version>/`, the key a
hash of the source folder's path, the chosen classes, the bad-file policy and
the listing (every file's name, size and modification time), so a changed
folder is prepared anew, never read stale. Preparation writes into TFDS's
`incomplete.*` folder and renames it when done: a killed preparation leaves
nothing that a rerun would read.

`data.split_strings.<split>` (TFDS split syntax, e.g. 'train[:50%]') chooses
which records form a split before the hygiene of gan_aug.data.dataset.finalize
(duplicates, label conflicts, carving); the protocol's training fractions are
applied after it, as for every source.

Features are `Scalar(np.object_)` bytes, `ClassLabel`, `Text` and `Scalar(int64)`:
TFDS serialises and reads those without TensorFlow; `tfds.features.Image`
encodes through TensorFlow and holds only 8-bit images.
"""

import dataclasses
import json
import os
import time
from typing import Callable, Dict, List, Optional, Tuple

import ml_collections
import numpy as np

from gan_aug.core import atomic_files
from gan_aug.core.errors import DatasetError, DatasetNotFoundError
from gan_aug.core.fingerprints import fingerprint
from gan_aug.data import dataset as dataset_lib
from gan_aug.data import image_folder
from gan_aug.data import layouts
from gan_aug.data import npz

# Bump when the decoding (gan_aug.data.images) or a listing rule
# (gan_aug.data.layouts) changes: records of an older version are then not read.
VERSION = '1.0.0'
PREPARED_FILE = 'prepared.json'
DEFAULT_PREPARED_DIR = os.path.join('~', '.cache', 'gan_aug', 'prepared')


@dataclasses.dataclass(frozen=True)
class Source:
  """A raw data set a user downloads, and how its files are listed."""
  title: str
  origin: str                 # where to download it, what to unpack
  layout: str
  listing: Optional[Callable[..., layouts.Listing]] = None  # folder sources
  reads: str = 'dir'          # the config.data field naming it: dir | path


SOURCES: Dict[str, Source] = {
    'covid19_radiography': Source(
        'COVID-19 Radiography Database', layouts.RADIOGRAPHY_ORIGIN,
        layouts.RADIOGRAPHY_LAYOUT, layouts.covid19_radiography),
    'chest_xray_pneumonia': Source(
        'Chest X-Ray Images (Pneumonia), Kermany et al.', layouts.CHEST_XRAY_ORIGIN,
        layouts.CHEST_XRAY_LAYOUT, layouts.chest_xray_pneumonia),
    'covid19_3way': Source(
        'Covid-19 Image Dataset (3 classes)',
        'the Kaggle dataset "pranavraikokte/covid19-image-dataset" (317 images: '
        'Covid, Normal, Viral Pneumonia): unpack it and point --config.data.dir at '
        'the folder holding train/ and test/.',
        '    <root>/{train,test}/{Covid,Normal,Viral Pneumonia}/*', layouts.class_folders),
    'class_folder': Source(
        'Class-folder images', 'any folder of images sorted into one folder per class.',
        layouts.LAYOUT_HELP, layouts.class_folders),
    'medmnist': Source(
        'MedMNIST(+) .npz file',
        'MedMNIST v2 or MedMNIST+ (e.g. pneumoniamnist.npz, pneumoniamnist_224.npz at '
        '28, 64, 128 or 224 px; CC BY 4.0, Yang et al. 2023).', npz.LAYOUT_HELP,
        reads='path'),
}


def manual_download_instructions(name: str) -> str:
  """What a user downloads and where it goes, for the source `name`."""
  source = SOURCES[name]
  field = 'config.data.dir' if source.reads == 'dir' else 'config.data.path'
  return (f'{source.title}: {source.origin}\nLayout expected:\n{source.layout}\n'
          f'Point {field} at it; the prepared records go to config.data.prepared_dir.')


def _not_found(name: str, path: str) -> DatasetNotFoundError:
  source = SOURCES[name]
  return DatasetNotFoundError(
      os.path.abspath(path), f'Data set tfds:{name} ({source.title})',
      source.origin, source.layout)


class _Raw:
  """The raw data a config names: its classes, listing signature and decoder."""

  def __init__(self, name: str, cfg: ml_collections.ConfigDict):
    self.name, self.cfg = name, cfg
    source = SOURCES[name]
    if not cfg[source.reads]:
      raise _not_found(name, f'<config.data.{source.reads} is empty>')
    self.path = os.path.abspath(os.path.expanduser(cfg[source.reads]))
    if source.reads == 'dir':
      if not os.path.isdir(self.path):
        raise _not_found(name, self.path)
      self.listing = source.listing(self.path, tuple(cfg.include_classes))
      self.class_names = self.listing.class_names
      self.signature = self.listing.signature()
    else:
      if not os.path.isfile(self.path):
        raise _not_found(name, self.path)
      stat = os.stat(self.path)
      self.listing = None
      self.class_names = None  # Known once the labels are read.
      self.signature = [stat.st_size, stat.st_mtime_ns]

  def key(self) -> str:
    return fingerprint({'source': self.name, 'path': self.path,
                         'include_classes': list(self.cfg.include_classes),
                         'class_names': list(self.cfg.class_names),
                         'bad_file_policy': self.cfg.bad_file_policy,
                         'files': self.signature})

  def decode(self) -> Tuple[List[str], Dict[str, dataset_lib.Split], Dict]:
    """(class names, splits, what else the records keep) decoded from the files."""
    cfg = self.cfg
    if self.listing is None:
      splits = npz.decode_npz(self.path, channels=cfg.channels,
                              resolution=cfg.resolution)
      class_names = npz.class_names_of(self.path, splits, list(cfg.class_names))
      return class_names, splits, {'skipped_files': [], 'ignored_files': []}
    splits, bad_files = image_folder.decode_listing(
        self.listing, channels=cfg.channels, resolution=cfg.resolution,
        bad_file_policy=cfg.bad_file_policy)
    return self.class_names, splits, {'skipped_files': bad_files,
                                      'ignored_files': self.listing.ignored,
                                      'notes': self.listing.notes}


def _builder(raw: _Raw, prepared_dir: str):
  """The TFDS builder of `raw`'s records (tensorflow_datasets imported here only)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  class Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Decoded X-rays of one source at one size (see gan_aug.data.prepared)."""
    name = raw.name
    VERSION = tfds.core.Version(VERSION)
    MANUAL_DOWNLOAD_INSTRUCTIONS = manual_download_instructions(raw.name)
    # No checksum file next to the code (nothing is downloaded); TFDS would
    # otherwise look for one through importlib_resources.
    code_path = None

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self, description=SOURCES[raw.name].title,
          features=tfds.features.FeaturesDict({
              'pixels': tfds.features.Scalar(dtype=np.object_),
              'label': tfds.features.Scalar(dtype=np.int64),
              'index': tfds.features.Scalar(dtype=np.int64),
              'source': tfds.features.Text(),
              'digest': tfds.features.Text(),
              'group': tfds.features.Text(),
          }))

    def _split_generators(self, dl_manager):
      del dl_manager  # The raw files are read through the listing.
      start = time.time()
      class_names, splits, kept = raw.decode()
      records = {name: split for name, split in splits.items() if len(split)}
      atomic_files.write_json(os.path.join(self.data_path, PREPARED_FILE), {
          'source': raw.path, 'class_names': class_names,
          'given_splits': sorted(splits), **kept,
          'records_fingerprint': fingerprint(
              {k: [v.digests, v.labels.tolist(), v.sources, v.groups]
               for k, v in records.items()}),
          'decode_seconds': round(time.time() - start, 2)})
      return {name: self._generate_examples(split) for name, split in records.items()}

    def _generate_examples(self, split):
      for i in range(len(split)):
        yield i, {'pixels': split.images[i].tobytes(), 'label': int(split.labels[i]),
                  'index': i, 'source': split.sources[i],
                  'digest': split.digests[i], 'group': split.groups[i]}

  cfg = raw.cfg
  config = tfds.core.BuilderConfig(
      name=f'{cfg.channels}ch-{cfg.resolution}px-{raw.key()}')
  return Builder(data_dir=prepared_dir, config=config, file_format='array_record')


def prepared_dir_of(cfg: ml_collections.ConfigDict, raw_path: str) -> str:
  """config.data.prepared_dir (or the default under the home folder); refused
  inside the raw data, which stays as the user downloaded it."""
  path = os.path.abspath(os.path.expanduser(cfg.prepared_dir or DEFAULT_PREPARED_DIR))
  if os.path.isdir(raw_path) and os.path.commonpath([path, raw_path]) == raw_path:
    raise DatasetError(
        f'config.data.prepared_dir {path!r} is inside the raw data {raw_path!r}; '
        'prepared records go elsewhere (the default is under your home folder).')
  return path


def _read_split(builder, split_string: str, shape) -> dataset_lib.Split:
  """The records `split_string` names, in their listing order."""
  source = builder.as_data_source(split=split_string)
  records = source.__getitems__(range(len(source)))
  order = sorted(range(len(records)), key=lambda i: records[i]['index'])
  records = [records[i] for i in order]
  text = lambda r, k: r[k].decode() if isinstance(r[k], bytes) else r[k]
  images = np.frombuffer(b''.join(r['pixels'] for r in records), np.uint8)
  return dataset_lib.Split(
      images.reshape((len(records),) + shape),
      np.asarray([r['label'] for r in records], np.int32),
      [text(r, 'source') for r in records], [text(r, 'digest') for r in records],
      [text(r, 'group') for r in records], [(split_string, i) for i in order])


def load_prepared(name: str, cfg: ml_collections.ConfigDict,
                  seed: int) -> dataset_lib.Dataset:
  """The data set `tfds:<name>` at cfg's size, prepared first if it is not yet."""
  raw = _Raw(name, cfg)
  builder = _builder(raw, prepared_dir_of(cfg, raw.path))
  start = time.time()
  prepared_now = not os.path.isfile(os.path.join(builder.data_path, PREPARED_FILE))
  if prepared_now:
    builder.download_and_prepare()
  try:
    with open(os.path.join(builder.data_path, PREPARED_FILE)) as f:
      kept = json.load(f)
  except (OSError, ValueError) as e:
    raise DatasetError(
        f'{builder.data_path}: the prepared records lack a readable {PREPARED_FILE} '
        f'({e}); remove that folder and rerun to prepare them again.') from e
  shape = (cfg.resolution, cfg.resolution, cfg.channels)
  available = set(builder.info.splits)
  splits = {}
  for split in dataset_lib.SPLITS:
    chosen = cfg.split_strings[split]
    if not chosen and split not in kept['given_splits']:
      continue  # Carved from train by finalize.
    if not chosen and split not in available:
      splits[split] = dataset_lib.Split(np.zeros((0,) + shape, np.uint8),
                                        np.zeros(0, np.int32), [], [])
      continue  # Given but unreadable: finalize says so.
    try:
      splits[split] = _read_split(builder, chosen or split, shape)
    except (ValueError, KeyError, AssertionError) as e:
      raise DatasetError(
          f'config.data.split_strings.{split}={chosen!r} could not be read from the '
          f'prepared tfds:{name} (its splits: {sorted(available)}; TFDS syntax '
          f"such as 'train[:50%]'; an empty selection is refused too): {e}") from e
  info = {'source': raw.path, 'bad_file_policy': cfg.bad_file_policy,
          'skipped_files': kept['skipped_files'], 'ignored_files': kept['ignored_files'],
          'notes': kept.get('notes', {}),
          'prepared': {'dir': str(builder.data_path), 'prepared_now': prepared_now,
                       'records_fingerprint': kept['records_fingerprint'],
                       'seconds': round(time.time() - start, 2),
                       'split_strings': {k: v for k, v in cfg.split_strings.items() if v}}}
  return dataset_lib.finalize(
      f'tfds:{name}', kept['class_names'], splits, val_fraction=cfg.val_fraction,
      test_fraction=cfg.test_fraction, seed=seed,
      label_conflict_policy=cfg.label_conflict_policy, info=info)
