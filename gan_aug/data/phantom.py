"""A generated chest X-ray PHANTOM: the project's own offline demo data (not medical data).

Three classes, drawn with numpy from simple shapes (body, two lung fields, heart,
spine, ribs, diaphragm) with per-image random anatomy:
  0 `phantom_clear`                 clear lungs;
  1 `phantom_bilateral_patchy`      patchy opacities scattered through both lungs;
  2 `phantom_lobar_consolidation`   one dense, smooth-edged opacity filling the
                                    lower or upper part of one lung.
Every image is a deterministic function of (seed, split, index); nothing is
downloaded. Class names carry the `phantom_` prefix and the data set is flagged
`is_phantom` so that every report and figure says so.
"""

import hashlib
from typing import Dict

import numpy as np

from gan_aug.data import dataset as dataset_lib

CLASS_NAMES = ('phantom_clear', 'phantom_bilateral_patchy',
               'phantom_lobar_consolidation')
_SPLIT_IDS = {'train': 0, 'val': 1, 'test': 2}


def _ellipse(x, y, cx, cy, rx, ry, softness):
  r = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
  return np.clip((1.0 - r) / softness, 0.0, 1.0)


def render(label: int, resolution: int, rng: np.random.Generator) -> np.ndarray:
  """Draws one phantom radiograph of class `label` as float32 [H, W] in [0, 1]."""
  coords = (np.arange(resolution) + 0.5) / resolution * 2.0 - 1.0
  x, y = np.meshgrid(coords, coords)  # y grows downwards, x to the image right.
  soft = 2.0 / resolution * 3.0
  jitter = lambda scale: rng.uniform(-scale, scale)

  image = 0.04 + np.zeros_like(x)
  body = _ellipse(x, y, jitter(0.03), 0.08, 0.86 + jitter(0.04), 1.05, soft * 4)
  image += 0.42 * body
  lungs = np.zeros_like(x)
  for side in (-1.0, 1.0):
    cx = side * (0.37 + jitter(0.03))
    lung = _ellipse(x, y, cx, -0.05 + jitter(0.04), 0.29 + jitter(0.03),
                    0.62 + jitter(0.05), soft * 6)
    diaphragm = np.clip((0.42 + jitter(0.05) + 0.25 * (x - cx) ** 2 - y) / (soft * 4),
                        0.0, 1.0)
    lungs = np.maximum(lungs, lung * diaphragm)
  ribs = (np.cos((y + 0.35 * x ** 2) * (17.0 + jitter(1.5)) + jitter(np.pi)) > 0.55)
  image -= 0.30 * lungs
  image += 0.07 * lungs * ribs
  heart = _ellipse(x, y, 0.15 + jitter(0.04), 0.25 + jitter(0.04),
                   0.3 + jitter(0.03), 0.25 + jitter(0.03), soft * 5)
  image += 0.22 * heart * (0.5 + 0.5 * lungs)
  spine = np.clip((0.075 - np.abs(x - jitter(0.01))) / soft, 0.0, 1.0) * body
  image += 0.18 * spine

  if label == 1:  # Bilateral patchy opacities.
    opacity = np.zeros_like(x)
    for side in (-1.0, 1.0):
      for _ in range(rng.integers(4, 8)):
        cx, cy = side * rng.uniform(0.2, 0.55), rng.uniform(-0.45, 0.35)
        sigma = rng.uniform(0.04, 0.10)
        opacity += rng.uniform(0.25, 0.4) * np.exp(
            -((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma ** 2))
    image += np.minimum(opacity, 0.5) * lungs
  elif label == 2:  # One-sided lobar consolidation.
    side = rng.choice([-1.0, 1.0])
    lower = rng.random() < 0.6
    edge = rng.uniform(0.0, 0.2) if lower else rng.uniform(-0.35, -0.15)
    lobe = np.clip(((y - edge) if lower else (edge - y)) / 0.06, 0.0, 1.0)
    image += rng.uniform(0.4, 0.5) * lungs * lobe * (side * x > 0)
  elif label != 0:
    raise ValueError(f'phantom label must be 0, 1 or 2, got {label}.')

  image += rng.normal(0.0, 0.015, size=image.shape)
  # Spread the drawing over most of the 8-bit range, as a windowed radiograph.
  return np.clip(image * 1.6, 0.0, 1.0).astype(np.float32)


def make_split(split: str, per_class: int, resolution: int, channels: int,
               seed: int) -> dataset_lib.Split:
  """Generates `per_class` images of each class for one split."""
  images, labels, sources, digests = [], [], [], []
  for label in range(len(CLASS_NAMES)):
    for index in range(per_class):
      rng = np.random.default_rng([seed, _SPLIT_IDS[split], label, index])
      pixels = np.round(render(label, resolution, rng) * 255).astype(np.uint8)
      array = np.repeat(pixels[..., None], channels, axis=-1)
      images.append(array)
      labels.append(label)
      sources.append(f'phantom:{split}/{CLASS_NAMES[label]}/{index}')
      digests.append(hashlib.sha256(array.tobytes()).hexdigest())
  return dataset_lib.Split(np.stack(images), np.asarray(labels, np.int32),
                           sources, digests)


def load_phantom(*, channels: int, resolution: int, seed: int,
                 per_class: Dict[str, int]) -> dataset_lib.Dataset:
  """The phantom data set with its own train/val/test splits."""
  splits = {split: make_split(split, int(per_class[split]), resolution, channels,
                              seed)
            for split in dataset_lib.SPLITS}
  return dataset_lib.finalize(
      'phantom_cxr', CLASS_NAMES, splits, val_fraction=0.0, test_fraction=0.0,
      seed=seed, is_phantom=True,
      info={'source': f'generated phantom (seed {seed}); NOT medical data',
            'skipped_files': [], 'ignored_files': []})
