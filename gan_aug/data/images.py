"""Decoding image files of any common size and mode into fixed-size uint8 arrays.

The one resize used everywhere (real images for the GAN, the classifiers, and
synthetic images written to disk) is `to_array`: EXIF orientation applied, the
first frame taken, the mode converted to the requested channels, then the whole
image resized to `resolution x resolution` with PIL's antialiased bilinear filter
(non-square images are stretched, not cropped, so no anatomy is cut away).

Mode handling:
  * 8-bit modes (L, LA, RGB, RGBA, P, CMYK, ...) go through PIL's own conversion;
    alpha is dropped (chest X-rays carry no meaning in it).
  * 16-bit and 32-bit integer or float greyscale (I;16, I;16B, I, F) is stretched
    per image from its own min..max to 0..255, because medical exports often use
    only 10-12 of the 16 bits and a fixed /257 scaling would leave them black.
"""

import hashlib
import io
from typing import Tuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg')
RESAMPLE = Image.Resampling.BILINEAR
_HIGH_DEPTH_MODES = ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I', 'F')


class ImageDecodeError(ValueError):
  """A file could not be read as an image."""


def _stretch_to_uint8(array: np.ndarray) -> np.ndarray:
  array = array.astype(np.float64)
  low, high = float(array.min()), float(array.max())
  if high <= low:
    return np.zeros(array.shape, np.uint8)
  return np.round((array - low) * (255.0 / (high - low))).astype(np.uint8)


def to_mode_8bit(image: Image.Image, channels: int) -> Image.Image:
  """Converts a PIL image of any mode to 8-bit 'L' (channels=1) or 'RGB' (3)."""
  if channels not in (1, 3):
    raise ValueError(f'channels must be 1 or 3, got {channels}.')
  if image.mode in _HIGH_DEPTH_MODES:
    image = Image.fromarray(_stretch_to_uint8(np.asarray(image)), mode='L')
  elif image.mode in ('P', 'PA'):
    image = image.convert('RGBA')
  target = 'L' if channels == 1 else 'RGB'
  if image.mode != target:
    image = image.convert(target)
  return image


def decode(data: bytes, source: str = '<bytes>') -> Image.Image:
  """Decodes encoded image bytes; raises ImageDecodeError naming `source`."""
  try:
    image = Image.open(io.BytesIO(data))
    image.seek(0)
    image.load()
    return ImageOps.exif_transpose(image)
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    raise ImageDecodeError(f'{source}: not a readable image ({e}).') from e


def to_array(image: Image.Image, channels: int, resolution: int) -> np.ndarray:
  """Returns the image as uint8 [resolution, resolution, channels]."""
  image = to_mode_8bit(image, channels)
  if image.size != (resolution, resolution):
    image = image.resize((resolution, resolution), RESAMPLE)
  array = np.asarray(image, dtype=np.uint8)
  if array.ndim == 2:
    array = array[..., None]
  return array


def pixel_digest(image: Image.Image, channels: int) -> str:
  """sha256 of the decoded pixels at native size: equal digests = identical images.

  Hashing pixels rather than file bytes also catches the same image saved twice
  with different metadata or in a lossless re-encoding.
  """
  array = np.asarray(to_mode_8bit(image, channels))
  header = f'{array.shape}'.encode()
  return hashlib.sha256(header + array.tobytes()).hexdigest()


def load_file(path: str, channels: int,
              resolution: int) -> Tuple[np.ndarray, str]:
  """Reads one image file; returns (uint8 HWC array, pixel digest)."""
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except OSError as e:
    raise ImageDecodeError(f'{path}: cannot be read ({e}).') from e
  image = decode(data, path)
  return to_array(image, channels, resolution), pixel_digest(image, channels)


def resize_batch(images: np.ndarray, resolution: int) -> np.ndarray:
  """Resizes uint8 images [N, H, W, C] to `resolution` with the loader's resampling.

  Real and synthetic images both pass through this one function before a
  classifier sees them, so neither gets a different interpolation.
  """
  images = np.asarray(images, np.uint8)
  if images.shape[1:3] == (resolution, resolution):
    return images.copy()
  out = np.empty((len(images), resolution, resolution, images.shape[-1]), np.uint8)
  for i, image in enumerate(images):
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    resized = np.asarray(pil.resize((resolution, resolution), RESAMPLE), np.uint8)
    out[i] = resized.reshape(resolution, resolution, -1)
  return out
