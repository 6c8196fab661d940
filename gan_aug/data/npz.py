"""MedMNIST-style .npz files: `<split>_images` [N, H, W(, C)] uint8 and `<split>_labels`."""

import os
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from gan_aug.data import dataset as dataset_lib
from gan_aug.data import images as images_lib
from gan_aug.data.errors import DatasetNotFoundError

LAYOUT_HELP = ('    one .npz file with arrays train_images [N, H, W] or [N, H, W, C] '
               '(uint8) and train_labels [N] or [N, 1];\n'
               '    optionally val_* and test_* likewise (MedMNIST layout)')


def _split_from_arrays(images: np.ndarray, labels: np.ndarray, split: str,
                       channels: int, resolution: int) -> dataset_lib.Split:
  if images.dtype != np.uint8:
    raise dataset_lib.DatasetError(
        f'{split}_images must be uint8, got {images.dtype}.')
  labels = np.asarray(labels).reshape(len(labels), -1)
  if labels.shape[1] != 1:
    raise dataset_lib.DatasetError(
        f'{split}_labels must hold one label per image (multi-label data is not '
        f'supported), got shape {labels.shape}.')
  arrays, digests = [], []
  for image in images:
    pil = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1
                          else image)
    arrays.append(images_lib.to_array(pil, channels, resolution))
    digests.append(images_lib.pixel_digest(pil, channels))
  sources = [f'{split}[{i}]' for i in range(len(images))]
  return dataset_lib.Split(np.stack(arrays), labels[:, 0].astype(np.int32),
                           sources, digests)


def load_npz(path: str, *, channels: int, resolution: int, val_fraction: float,
             test_fraction: float, seed: int,
             class_names: Optional[Sequence[str]] = None,
             name: Optional[str] = None) -> dataset_lib.Dataset:
  """Reads a MedMNIST-style .npz file into a Dataset (official splits kept)."""
  if not os.path.isfile(path):
    raise DatasetNotFoundError(
        os.path.abspath(path), 'The .npz data set',
        'MedMNIST (e.g. pneumoniamnist.npz, CC BY 4.0, Yang et al. 2023), '
        'downloaded by you from the MedMNIST release.', LAYOUT_HELP)
  with np.load(path) as data:
    arrays = {k: data[k] for k in data.files}
  splits = {}
  for split in dataset_lib.SPLITS:
    if f'{split}_images' in arrays:
      if f'{split}_labels' not in arrays:
        raise dataset_lib.DatasetError(f'{path}: {split}_images without {split}_labels.')
      splits[split] = _split_from_arrays(arrays[f'{split}_images'],
                                         arrays[f'{split}_labels'], split,
                                         channels, resolution)
  if 'train' not in splits:
    raise dataset_lib.DatasetError(
        f'{path}: no train_images array (found {sorted(arrays)}).\n'
        f'  Layout expected:\n{LAYOUT_HELP}')
  num_classes = int(max(s.labels.max() for s in splits.values())) + 1
  if class_names:
    if len(class_names) < num_classes:
      raise dataset_lib.DatasetError(
          f'{path}: labels go up to {num_classes - 1} but config.data.class_names '
          f'has {len(class_names)} names.')
    names = list(class_names)
  else:
    names = [f'class_{i}' for i in range(num_classes)]
  return dataset_lib.finalize(
      name or os.path.splitext(os.path.basename(path))[0], names, splits,
      val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
      info={'source': os.path.abspath(path), 'skipped_files': [],
            'ignored_files': []})
