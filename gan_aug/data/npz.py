"""MedMNIST-style .npz files: `<split>_images` [N, H, W(, C)] uint8 and `<split>_labels`."""

import os
import zipfile
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image

from gan_aug.core.errors import DatasetError, DatasetNotFoundError
from gan_aug.data import dataset as dataset_lib
from gan_aug.data import images as images_lib

LAYOUT_HELP = ('    one .npz file with arrays train_images [N, H, W] or [N, H, W, C] '
               '(uint8) and train_labels [N] or [N, 1];\n'
               '    optionally val_* and test_* likewise (MedMNIST layout)')


def _read_arrays(path: str) -> Dict[str, np.ndarray]:
  """Every array in the file; DatasetError when it is not a readable .npz."""
  try:
    data = np.load(path)
    if not hasattr(data, 'files'):
      raise ValueError('it holds one unnamed array, not named arrays')
    with data:
      return {k: data[k] for k in data.files}
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise DatasetError(
        f'{path}: not a readable .npz file ({type(e).__name__}: {e}).\n'
        f'  Layout expected:\n{LAYOUT_HELP}') from e


def _check_images(path: str, images: np.ndarray, split: str) -> None:
  """Refuses image arrays that are not uint8 [N, H, W] or [N, H, W, 1|3|4]."""
  key = f'{split}_images'
  if images.dtype != np.uint8:
    raise DatasetError(
        f'{path}: {key} must be uint8, got {images.dtype}; scale it to 0..255 '
        'and store it as uint8.')
  if images.ndim not in (3, 4) or (images.ndim == 4 and
                                   images.shape[-1] not in (1, 3, 4)):
    raise DatasetError(
        f'{path}: {key} has shape {images.shape}; expected [N, H, W] or '
        '[N, H, W, C] with C in 1, 3, 4.')
  if not len(images):
    raise DatasetError(
        f'{path}: {key} holds no images; leave the {split}_* arrays out instead.')


def _check_labels(path: str, labels: np.ndarray, num_images: int,
                  split: str) -> np.ndarray:
  """The labels as int32 [N]; DatasetError on a count, shape or type mismatch."""
  key = f'{split}_labels'
  labels = np.asarray(labels)
  if labels.ndim == 0 or len(labels) != num_images:
    count = 'a scalar' if labels.ndim == 0 else f'{len(labels)} labels'
    raise DatasetError(
        f'{path}: {split}_images holds {num_images} images but {key} holds '
        f'{count}; every image needs exactly one label.')
  labels = labels.reshape(len(labels), -1)
  if labels.shape[1] != 1:
    raise DatasetError(
        f'{path}: {key} must hold one label per image (multi-label data is not '
        f'supported), got shape {labels.shape}.')
  labels = labels[:, 0]
  whole = (labels.dtype.kind in 'iub' or
           (labels.dtype.kind == 'f' and np.all(np.isfinite(labels)) and
            np.all(labels == np.round(labels))))
  if not whole:
    raise DatasetError(
        f'{path}: {key} must hold whole-number class indices, got dtype '
        f'{labels.dtype}.')
  if (labels < 0).any():
    first = int(np.flatnonzero(labels < 0)[0])
    raise DatasetError(
        f'{path}: {key}[{first}] = {labels[first]} is negative; labels must be '
        'class indices 0, 1, 2, ...')
  return labels.astype(np.int32)


def _split_from_arrays(path: str, images: np.ndarray, labels: np.ndarray,
                       split: str, channels: int,
                       resolution: int) -> dataset_lib.Split:
  _check_images(path, images, split)
  labels = _check_labels(path, labels, len(images), split)
  arrays, digests = [], []
  for image in images:
    pil = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1
                          else image)
    arrays.append(images_lib.to_array(pil, channels, resolution))
    digests.append(images_lib.pixel_digest(pil, channels))
  sources = [f'{split}[{i}]' for i in range(len(images))]
  return dataset_lib.Split(np.stack(arrays), labels, sources, digests)


def class_names_of(path: str, splits: Dict[str, dataset_lib.Split],
                 class_names: Optional[Sequence[str]]) -> List[str]:
  """config.data.class_names, or class_0..class_K-1 from the largest label."""
  num_classes = int(max(s.labels.max() for s in splits.values())) + 1
  if not class_names and num_classes < 2:
    raise DatasetError(
        f'{path}: every label is 0, so the file holds a single class; a '
        'classifier needs at least two classes to tell apart. Add images of '
        'the other classes with labels 1, 2, ...')
  if not class_names:
    return [f'class_{i}' for i in range(num_classes)]
  if len(class_names) < num_classes:
    split = next(k for k, s in splits.items() if s.labels.max() == num_classes - 1)
    raise DatasetError(
        f'{path}: {split}_labels go up to {num_classes - 1} but '
        f'config.data.class_names has {len(class_names)} names '
        f'{list(class_names)}; labels must be below {len(class_names)}. Fix the '
        'labels, or name every class in config.data.class_names.')
  return list(class_names)


def missing_file_error(path: str) -> DatasetNotFoundError:
  """The error for a .npz file that is not there."""
  return DatasetNotFoundError(
      os.path.abspath(path), 'The .npz data set',
      'MedMNIST (e.g. pneumoniamnist.npz, or pneumoniamnist_224.npz of MedMNIST+ at '
      '28, 64, 128 or 224 px; CC BY 4.0, Yang et al. 2023), downloaded by you from '
      'the MedMNIST release.', LAYOUT_HELP)


def decode_npz(path: str, *, channels: int,
               resolution: int) -> Dict[str, dataset_lib.Split]:
  """The file's splits, each image converted to uint8 [resolution, resolution,
  channels] by the loaders' one resize (see module docstring for the layout)."""
  if not os.path.isfile(path):
    raise missing_file_error(path)
  arrays = _read_arrays(path)
  if 'train_images' not in arrays:
    raise DatasetError(
        f'{path}: no train_images array (found {sorted(arrays)}).\n'
        f'  Layout expected:\n{LAYOUT_HELP}')
  splits = {}
  for split in dataset_lib.SPLITS:
    has_images, has_labels = (f'{split}_images' in arrays,
                              f'{split}_labels' in arrays)
    if has_images != has_labels:
      present, missing = ((f'{split}_images', f'{split}_labels') if has_images
                          else (f'{split}_labels', f'{split}_images'))
      raise DatasetError(
          f'{path}: {present} without {missing} (found {sorted(arrays)}); '
          'store both arrays of the split, or neither.')
    if has_images:
      splits[split] = _split_from_arrays(path, arrays[f'{split}_images'],
                                         arrays[f'{split}_labels'], split,
                                         channels, resolution)
  return splits


def load_npz(path: str, *, channels: int, resolution: int, val_fraction: float,
             test_fraction: float, seed: int,
             class_names: Optional[Sequence[str]] = None,
             label_conflict_policy: str = 'exclude',
             name: Optional[str] = None) -> dataset_lib.Dataset:
  """Reads a MedMNIST-style .npz file into a Dataset (official splits kept)."""
  splits = decode_npz(path, channels=channels, resolution=resolution)
  return dataset_lib.finalize(
      name or os.path.splitext(os.path.basename(path))[0],
      class_names_of(path, splits, class_names), splits,
      val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
      label_conflict_policy=label_conflict_policy,
      info={'source': os.path.abspath(path), 'skipped_files': [],
            'ignored_files': []})
