"""Image folders as Kaggle ships them: <root>/<split>/<class>/* or <root>/<class>/*.

Class names are the folder names (spaces allowed), sorted. Files with extensions
.png/.jpg/.jpeg (any case) are read, from a class folder's `images/` subfolder
when it has one (gan_aug.data.layouts); other files and folders are listed as
ignored. Images that cannot be decoded (empty, truncated, not an image, over
PIL's decompression-bomb limit) are skipped and listed in the data set summary,
or stop the run before any training, according to `bad_file_policy` ('skip' or
'error'). The prepared data sets (gan_aug.data.prepared) decode their listings
with `decode_listing` too.

Layouts no run can use are refused before any image is decoded: fewer than two
class folders, or a training class folder with no image files in it.
"""

import concurrent.futures
import os
from typing import Dict, List, Optional, Tuple

import numpy as np

from gan_aug.core.errors import DatasetError, DatasetNotFoundError
from gan_aug.data import dataset as dataset_lib
from gan_aug.data import images as images_lib
from gan_aug.data import layouts

LAYOUT_HELP = layouts.LAYOUT_HELP
BAD_FILE_POLICIES = ('skip', 'error')


def _decode_split(files: List[layouts.File], root: str, channels: int,
                  resolution: int, bad_files: List[Dict]) -> dataset_lib.Split:
  """Decodes one split's files on all cores, in the listing's order."""
  def load(file):
    try:
      return images_lib.load_file(file.path, channels, resolution) + (None,)
    except images_lib.ImageDecodeError as e:
      return None, None, str(e)

  with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
    results = list(pool.map(load, files))
  arrays, labels, sources, digests, groups = [], [], [], [], []
  for file, (array, digest, error) in zip(files, results):
    rel = os.path.relpath(file.path, root)
    if error is not None:
      bad_files.append({'file': rel, 'error': error})
      continue
    arrays.append(array)
    labels.append(file.label)
    sources.append(rel)
    digests.append(digest)
    groups.append(file.group if file.group is not None else digest)
  images = (np.stack(arrays) if arrays else
            np.zeros((0, resolution, resolution, channels), np.uint8))
  return dataset_lib.Split(images, np.asarray(labels, np.int32), sources, digests,
                           groups)


def decode_listing(listing: layouts.Listing, *, channels: int, resolution: int,
                   bad_file_policy: str) -> Tuple[Dict[str, dataset_lib.Split],
                                                  List[Dict]]:
  """Every listed file decoded to uint8 [resolution, resolution, channels]:
  (splits, unreadable files). With bad_file_policy 'error' an unreadable file
  raises DatasetError listing them all; with 'skip' they are left out."""
  if bad_file_policy not in BAD_FILE_POLICIES:
    raise DatasetError(
        f'config.data.bad_file_policy must be one of {BAD_FILE_POLICIES}, got '
        f'{bad_file_policy!r}.')
  bad_files: List[Dict] = []
  splits = {s: _decode_split(files, listing.root, channels, resolution, bad_files)
            for s, files in listing.files.items()}
  if bad_files and bad_file_policy == 'error':
    listing_text = '\n'.join(f'    {b["error"]}' for b in bad_files)
    raise DatasetError(
        f'{listing.root}: {len(bad_files)} unreadable image file(s) and '
        "config.data.bad_file_policy='error'; nothing was trained.\n"
        f'{listing_text}\n  Remove or fix them, or set '
        '--config.data.bad_file_policy=skip to leave them out (they are then '
        'listed in the data set summary).')
  return splits, bad_files


def missing_folder_error(root: str) -> DatasetNotFoundError:
  """The error for an image folder that is not there."""
  return DatasetNotFoundError(
      os.path.abspath(root), 'Image folder',
      'a folder of chest X-rays such as the Kaggle "Covid-19 Image Dataset" '
      '(3 classes: Covid, Normal, Viral Pneumonia), downloaded and unpacked by you.',
      LAYOUT_HELP)


def load_image_folder(root: str, *, channels: int, resolution: int,
                      val_fraction: float, test_fraction: float, seed: int,
                      bad_file_policy: str = 'skip',
                      label_conflict_policy: str = 'exclude',
                      name: Optional[str] = None) -> dataset_lib.Dataset:
  """Reads an image-folder data set into memory (see module docstring)."""
  if not os.path.isdir(root):
    raise missing_folder_error(root)
  listing = layouts.class_folders(root)
  splits, bad_files = decode_listing(listing, channels=channels,
                                     resolution=resolution,
                                     bad_file_policy=bad_file_policy)
  return dataset_lib.finalize(
      name or os.path.basename(os.path.normpath(root)), listing.class_names, splits,
      val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
      label_conflict_policy=label_conflict_policy,
      info={'source': os.path.abspath(root), 'bad_file_policy': bad_file_policy,
            'skipped_files': bad_files, 'ignored_files': listing.ignored})
