"""Image grids a person can look at: one row per class, labelled, as PNG."""

from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

from gan_aug.core import atomic_files

_LABEL_WIDTH = 150
PHANTOM_BANNER = '[PHANTOM DATA - not medical images]'


def class_grid(rows: Sequence[np.ndarray], row_names: Sequence[str],
               title: str, path: str, footer: Optional[str] = None) -> None:
  """Writes a PNG: row i shows uint8 images rows[i] [K, H, W, C] named row_names[i]."""
  height, width = rows[0].shape[1:3]
  label_width = max(_LABEL_WIDTH, 7 * max(len(n) for n in row_names) + 10)
  columns = max(len(r) for r in rows)
  pad = 2
  top = 22
  bottom = 18 if footer else 0
  canvas = Image.new('RGB', (label_width + columns * (width + pad) + pad,
                             top + len(rows) * (height + pad) + pad + bottom),
                     (255, 255, 255))
  draw = ImageDraw.Draw(canvas)
  draw.text((4, 4), title, fill=(0, 0, 0))
  for r, (images, name) in enumerate(zip(rows, row_names)):
    y = top + pad + r * (height + pad)
    draw.text((4, y + height // 2 - 6), name, fill=(0, 0, 0))
    for c, image in enumerate(images):
      tile = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
      canvas.paste(tile.convert('RGB'), (label_width + pad + c * (width + pad), y))
  if footer:
    draw.text((4, canvas.height - bottom + 2), footer, fill=(160, 0, 0))
  atomic_files.save_image(path, canvas)
