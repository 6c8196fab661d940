"""Decoding files of every size and mode into the configured channels and resolution."""

import io

import numpy as np
import pytest
from PIL import Image

from gan_aug.data import images


def _encode(image: Image.Image, fmt: str = 'PNG') -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, format=fmt)
  return buffer.getvalue()


def _gradient(width=40, height=30):
  return (np.arange(width)[None, :] * 255 // (width - 1)).repeat(height, 0).astype(np.uint8)


@pytest.mark.parametrize('mode', ['L', 'RGB', 'RGBA', 'P', 'LA'])
@pytest.mark.parametrize('channels', [1, 3])
def test_8bit_modes_convert_to_channels_and_resolution(mode, channels):
  base = Image.fromarray(_gradient()).convert(mode)
  decoded = images.decode(_encode(base))
  array = images.to_array(decoded, channels, 16)
  assert array.shape == (16, 16, channels) and array.dtype == np.uint8
  # The left-to-right gradient survives every conversion.
  assert array[:, 0].mean() < 30 and array[:, -1].mean() > 220


def test_16bit_greyscale_is_stretched_not_truncated():
  # 12-bit data stored in 16 bits, as medical exports often are.
  raw = (np.arange(64)[None, :] * 4095 // 63).repeat(8, 0).astype(np.uint16)
  decoded = images.decode(_encode(Image.fromarray(raw)))
  assert decoded.mode.startswith('I')
  array = images.to_array(decoded, 1, 64)
  assert array.min() == 0 and array.max() == 255  # A fixed /257 would give max 15.


def test_jpeg_and_non_square_resize_to_square():
  image = Image.fromarray(_gradient(80, 20)).convert('RGB')
  array = images.to_array(images.decode(_encode(image, 'JPEG')), 3, 28)
  assert array.shape == (28, 28, 3)


def test_corrupt_bytes_raise_decode_error_naming_the_source():
  with pytest.raises(images.ImageDecodeError, match='broken.png'):
    images.decode(b'\x89PNG\r\n\x1a\n not really a png', 'broken.png')


def test_pixel_digest_ignores_encoding_but_not_pixels():
  image = Image.fromarray(_gradient()).convert('RGB')
  fast, small = io.BytesIO(), io.BytesIO()
  image.save(fast, format='PNG', compress_level=0)
  image.save(small, format='PNG', compress_level=9)
  assert fast.getvalue() != small.getvalue()
  a = images.pixel_digest(images.decode(fast.getvalue()), 3)
  b = images.pixel_digest(images.decode(small.getvalue()), 3)
  changed = np.asarray(image).copy()
  changed[0, 0, 0] ^= 1
  assert a == b
  assert a != images.pixel_digest(Image.fromarray(changed), 3)
