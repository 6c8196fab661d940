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
    A flat image (min == max) has no range to stretch and is scaled from the
    mode's nominal range instead (0..65535 for integers, 0..1 for floats).

Every way a file can fail (empty, truncated, not an image at all, over PIL's
decompression-bomb limit, a mode that cannot be converted) raises
`ImageDecodeError` naming the file, so loaders can skip and list it or refuse
to start; PIL's own limit (`PIL.Image.MAX_IMAGE_PIXELS`) is respected, never
lifted.
"""

import hashlib
import io
from typing import Optional, Tuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg')
RESAMPLE = Image.Resampling.BILINEAR
_HIGH_DEPTH_MODES = ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I', 'F')


class ImageDecodeError(ValueError):
  """A file could not be read as an image."""


def _stretch_to_uint8(array: np.ndarray) -> np.ndarray:
  """Maps min..max to 0..255; a flat image keeps its level in the nominal range."""
  nominal_max = 1.0 if array.dtype.kind == 'f' else 65535.0
  array = array.astype(np.float64)
  low, high = float(array.min()), float(array.max())
  if high <= low:
    level = np.clip(np.round(low * (255.0 / nominal_max)), 0, 255)
    return np.full(array.shape, level, np.uint8)
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


def _pixel_limit_error(image: Image.Image, source: str) -> Optional[str]:
  """The reason to refuse `image` when it is over PIL's decompression-bomb limit."""
  limit = Image.MAX_IMAGE_PIXELS
  width, height = image.size
  if limit is None or width * height <= limit:
    return None
  return (f'{source}: {width}x{height} = {width * height} pixels is over PIL\'s '
          f'decompression-bomb limit of {limit} pixels (PIL.Image.MAX_IMAGE_PIXELS), '
          'so it was not decoded. If the image is genuine, shrink it below the '
          'limit; otherwise remove it.')


def decode(data: bytes, source: str = '<bytes>') -> Image.Image:
  """Decodes encoded image bytes; raises ImageDecodeError naming `source`.

  Empty files, files that are not images whatever their extension, truncated
  files and images over PIL's decompression-bomb limit all raise
  ImageDecodeError with the reason.
  """
  if not data:
    raise ImageDecodeError(f'{source}: empty file (0 bytes); not an image.')
  try:
    image = Image.open(io.BytesIO(data))
  except UnidentifiedImageError as e:
    raise ImageDecodeError(
        f'{source}: not an image file PIL can read (its contents are not PNG '
        'or JPEG, whatever the file name says).') from e
  except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
    raise ImageDecodeError(
        f'{source}: over PIL\'s decompression-bomb limit ({e}); not decoded. If '
        'the image is genuine, shrink it below the limit; otherwise remove it.'
    ) from e
  except Exception as e:  # pylint: disable=broad-except
    raise ImageDecodeError(
        f'{source}: not a readable image ({type(e).__name__}: {e}).') from e
  reason = _pixel_limit_error(image, source)
  if reason:
    raise ImageDecodeError(reason)
  try:
    image.seek(0)
    image.load()
    return ImageOps.exif_transpose(image)
  except Exception as e:  # pylint: disable=broad-except
    # PIL signals damaged files with many types (OSError for truncation,
    # SyntaxError, ValueError, struct.error, ...): all mean "unreadable".
    raise ImageDecodeError(
        f'{source}: not a readable image ({type(e).__name__}: {e}).') from e


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
  try:
    return to_array(image, channels, resolution), pixel_digest(image, channels)
  except (ValueError, OSError, TypeError) as e:
    raise ImageDecodeError(
        f'{path}: image mode {image.mode!r} cannot be converted to '
        f'{channels} channel(s) ({type(e).__name__}: {e}).') from e


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
