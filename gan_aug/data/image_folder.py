"""Image folders as Kaggle ships them: <root>/<split>/<class>/* or <root>/<class>/*.

Class names are the folder names (spaces allowed), sorted. Files with extensions
.png/.jpg/.jpeg (any case) are read; other files are listed as ignored. Images
that cannot be decoded (empty, truncated, not an image, over PIL's
decompression-bomb limit) are skipped and listed in the data set summary, or
stop the run before any training, according to `bad_file_policy` ('skip' or
'error').

Layouts no run can use are refused before any image is decoded: fewer than two
class folders, or a training class folder with no image files in it.
"""

import concurrent.futures
import os
from typing import Dict, List, Optional, Tuple

import numpy as np

from gan_aug.data import dataset as dataset_lib
from gan_aug.data import images as images_lib
from gan_aug.errors import DatasetError, DatasetNotFoundError

_SPLIT_ALIASES = {'train': 'train', 'training': 'train', 'val': 'val',
                  'valid': 'val', 'validation': 'val', 'test': 'test',
                  'testing': 'test'}
LAYOUT_HELP = ('    <root>/train/<class name>/*.png|jpg|jpeg (and optionally '
               '<root>/test/<class name>/..., <root>/val/<class name>/...)\n'
               '    or <root>/<class name>/*.png|jpg|jpeg (test and val are then '
               'carved from it)')
BAD_FILE_POLICIES = ('skip', 'error')


def _subdirs(path: str) -> List[str]:
  return sorted(d for d in os.listdir(path)
                if not d.startswith('.') and os.path.isdir(os.path.join(path, d)))


def _split_dirs(root: str) -> Dict[str, str]:
  """Maps split name -> folder when `root` has split folders, else {}."""
  found = {}
  for d in _subdirs(root):
    split = _SPLIT_ALIASES.get(d.lower())
    if split:
      if split in found:
        raise DatasetError(
            f'{root}: two folders name the {split!r} split: {found[split]!r} and {d!r}.')
      found[split] = d
  return {k: os.path.join(root, v) for k, v in found.items()}


def _list_files(class_dir: str) -> Tuple[List[str], List[str]]:
  images, ignored = [], []
  for name in sorted(os.listdir(class_dir)):
    path = os.path.join(class_dir, name)
    if name.startswith('.') or not os.path.isfile(path):
      continue
    if name.lower().endswith(images_lib.IMAGE_EXTENSIONS):
      images.append(path)
    else:
      ignored.append(path)
  return images, ignored


def _check_classes(train_dir: str, class_names: List[str]) -> None:
  """Refuses fewer than two classes, or a class folder without image files."""
  if not class_names:
    loose, _ = _list_files(train_dir)
    hint = (f'\n  It holds {len(loose)} image file(s) directly: point the config '
            'at the folder above it, or sort them into one folder per class.'
            if loose else '')
    raise DatasetError(
        f'{train_dir}: no class folders found.{hint}\n'
        f'  Layout expected:\n{LAYOUT_HELP}')
  if len(class_names) < 2:
    raise DatasetError(
        f'{train_dir}: only one class folder ({class_names[0]!r}) found; a '
        'classifier needs at least two classes to tell apart.\n'
        '  Add a folder of images for each other class beside it.\n'
        f'  Layout expected:\n{LAYOUT_HELP}')
  for name in class_names:
    class_dir = os.path.join(train_dir, name)
    files, other = _list_files(class_dir)
    if files:
      continue
    found = (f'it holds only {len(other)} file(s) of other types (e.g. '
             f'{os.path.basename(other[0])!r}); convert them to PNG'
             if other else 'the folder is empty')
    raise DatasetError(
        f'class {name!r} has no training images: {class_dir} holds no '
        f'{"/".join(images_lib.IMAGE_EXTENSIONS)} files ({found}).\n'
        '  Add images to it, or remove the folder if the class is not wanted.')


def _read_split(split_dir: str, class_names: List[str], root: str,
                channels: int, resolution: int, bad_files: List[Dict],
                ignored: List[str]) -> dataset_lib.Split:
  jobs = []
  for label, name in enumerate(class_names):
    class_dir = os.path.join(split_dir, name)
    if not os.path.isdir(class_dir):
      continue
    files, other = _list_files(class_dir)
    ignored.extend(os.path.relpath(p, root) for p in other)
    jobs.extend((path, label) for path in files)

  def load(job):
    path, label = job
    try:
      array, digest = images_lib.load_file(path, channels, resolution)
      return path, label, array, digest, None
    except images_lib.ImageDecodeError as e:
      return path, label, None, None, str(e)

  with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
    results = list(pool.map(load, jobs))
  arrays, labels, sources, digests = [], [], [], []
  for path, label, array, digest, error in results:
    rel = os.path.relpath(path, root)
    if error is not None:
      bad_files.append({'file': rel, 'error': error})
      continue
    arrays.append(array)
    labels.append(label)
    sources.append(rel)
    digests.append(digest)
  images = (np.stack(arrays) if arrays else
            np.zeros((0, resolution, resolution, channels), np.uint8))
  return dataset_lib.Split(images, np.asarray(labels, np.int32), sources, digests)


def load_image_folder(root: str, *, channels: int, resolution: int,
                      val_fraction: float, test_fraction: float, seed: int,
                      bad_file_policy: str = 'skip',
                      name: Optional[str] = None) -> dataset_lib.Dataset:
  """Reads an image-folder data set into memory (see module docstring)."""
  if bad_file_policy not in BAD_FILE_POLICIES:
    raise DatasetError(
        f'config.data.bad_file_policy must be one of {BAD_FILE_POLICIES}, got '
        f'{bad_file_policy!r}.')
  if not os.path.isdir(root):
    raise DatasetNotFoundError(
        os.path.abspath(root), 'Image folder',
        'a folder of chest X-rays such as the Kaggle "Covid-19 Image Dataset" '
        '(3 classes: Covid, Normal, Viral Pneumonia), downloaded and unpacked by you.',
        LAYOUT_HELP)
  split_dirs = _split_dirs(root)
  if not split_dirs:
    split_dirs = {'train': root}
  elif 'train' not in split_dirs:
    raise DatasetError(
        f'{root}: split folders {sorted(split_dirs)} found but no train/ folder.\n'
        f'  Layout expected:\n{LAYOUT_HELP}')
  class_names = _subdirs(split_dirs['train'])
  _check_classes(split_dirs['train'], class_names)
  unknown = {s: sorted(set(_subdirs(d)) - set(class_names))
             for s, d in split_dirs.items() if s != 'train'}
  unknown = {s: c for s, c in unknown.items() if c}
  if unknown:
    raise DatasetError(
        f'{root}: class folders {unknown} are not in train/ (classes there: '
        f'{class_names}).')

  bad_files: List[Dict] = []
  ignored: List[str] = []
  splits = {s: _read_split(d, class_names, root, channels, resolution,
                           bad_files, ignored)
            for s, d in split_dirs.items()}
  if bad_files and bad_file_policy == 'error':
    listing = '\n'.join(f'    {b["error"]}' for b in bad_files)
    raise DatasetError(
        f'{root}: {len(bad_files)} unreadable image file(s) and '
        "config.data.bad_file_policy='error'; nothing was trained.\n"
        f'{listing}\n  Remove or fix them, or set --config.data.bad_file_policy=skip '
        'to leave them out (they are then listed in the data set summary).')
  return dataset_lib.finalize(
      name or os.path.basename(os.path.normpath(root)), class_names, splits,
      val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
      info={'source': os.path.abspath(root), 'bad_file_policy': bad_file_policy,
            'skipped_files': bad_files, 'ignored_files': ignored})
