"""pool3 features of pytorch-fid's Inception-v3, for FID and KID comparable with the literature.

The weights are pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (the
TensorFlow FID graph in torch), which the project does not ship:
`scripts/convert_inception_fid.py` turns the user's copy into flax msgpack with
`convert_state_dict` and `torch_convert.save_variables`.

  variables = load_inception('weights/inception_fid.msgpack')
  extract = make_extractor(variables, batch_size=50)
  features = extract(images)  # uint8 or [0, 1] floats [N, H, W, 1|3] -> float64 [N, 2048]

Images are resized to 299x299 with PIL's bicubic filter, one channel at a time
in float (PIL mode 'F', no rounding to uint8 in between), clipped to [0, 1] and
mapped to [-1, 1]; grey images are repeated over three channels. pytorch-fid
itself resizes bilinearly inside the network, so its numbers on images of
another size differ slightly from these; at 299x299 there is no resize and the
features are pytorch-fid's. Nothing here imports torch.
"""

import functools
import os
from typing import Any, Callable, Dict, Mapping, Tuple

from flax import traverse_util
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from gan_aug.models import torch_convert
from gan_aug.models.backbones.inception_fid import FEATURE_DIM, FIDInceptionV3

INPUT_SIZE = 299
DEFAULT_WEIGHTS_PATH = os.path.join('weights', 'inception_fid.msgpack')
PTH_NAME = 'pt_inception-2015-12-05-6726825d.pth'
PTH_URL = ('https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/' +
           PTH_NAME)
# pytorch-fid's classifier (2048 -> 1008 classes); FID does not use it.
_FC_SHAPES = {'fc.weight': (1008, FEATURE_DIM), 'fc.bias': (1008,)}
# Flax leaf name -> torch's, by collection.
_TORCH_NAMES = {
    ('params', 'kernel'): 'weight',
    ('params', 'scale'): 'weight',
    ('params', 'bias'): 'bias',
    ('batch_stats', 'mean'): 'running_mean',
    ('batch_stats', 'var'): 'running_var',
}

StateDictMismatchError = torch_convert.StateDictMismatchError


@functools.lru_cache(maxsize=None)
def variable_shapes() -> Dict[Tuple[str, ...], Tuple[int, ...]]:
  """Flax path ('params', 'Mixed_5b', 'branch1x1', 'conv', 'kernel') -> shape, of the model."""
  side = FIDInceptionV3.min_resolution
  shapes = jax.eval_shape(lambda: FIDInceptionV3().init(
      jax.random.PRNGKey(0), jnp.zeros((1, side, side, 3), jnp.float32)))
  return {path: tuple(leaf.shape)
          for path, leaf in traverse_util.flatten_dict(shapes).items()}


def _torch_layout() -> Dict[str, Tuple[Tuple[str, ...], Tuple[int, ...]]]:
  """pytorch-fid key -> (Flax path, torch shape) for every converted tensor."""
  layout = {}
  for path, shape in variable_shapes().items():
    collection, *modules, leaf = path
    key = '.'.join(modules + [_TORCH_NAMES[collection, leaf]])
    if leaf == 'kernel':
      shape = (shape[3], shape[2], shape[0], shape[1])  # HWIO -> OIHW
    layout[key] = (path, shape)
  return layout


def _key_list(keys, limit: int = 8) -> str:
  shown = ', '.join(repr(key) for key in keys[:limit])
  return shown + (f' and {len(keys) - limit} more' if len(keys) > limit else '')


def convert_state_dict(state_dict: Mapping[str, Any]) -> Dict[str, Any]:
  """pytorch-fid's FID Inception state dict -> {'params', 'batch_stats'} of float32 numpy.

  Args:
    state_dict: pytorch-fid's keys (`Conv2d_1a_3x3.conv.weight`,
      `Mixed_5b.branch1x1.bn.running_mean`, ...) -> arrays (anything
      np.asarray accepts). `fc.*` (the unused 1008-class head) and BatchNorm's
      `num_batches_tracked` are ignored.

  Returns:
    The variables `FIDInceptionV3().init` produces, holding the checkpoint's values.

  Raises:
    StateDictMismatchError: on a missing key, an unexpected key or a shape other
      than pytorch-fid's, naming the keys; also when `fc` is not the
      1008-class head of the FID weights (another Inception-v3 checkpoint, such
      as torchvision's ImageNet one, would give other features).
  """
  layout = _torch_layout()
  batch_norms = {key.rsplit('.', 1)[0] for key in layout if key.endswith('.running_mean')}
  ignored = set(_FC_SHAPES) | {f'{name}.num_batches_tracked' for name in batch_norms}
  unexpected = [key for key in state_dict if key not in layout and key not in ignored]
  if unexpected:
    hint = ''
    if any(key.startswith('AuxLogits.') for key in unexpected):
      hint = (f' (AuxLogits belong to torchvision\'s ImageNet Inception-v3; FID needs '
              f'pytorch-fid\'s {PTH_NAME})')
    raise StateDictMismatchError(
        f'FID Inception state dict has {len(unexpected)} unexpected key(s): '
        f'{_key_list(unexpected)}{hint}.')
  missing = [key for key in layout if key not in state_dict]
  if missing:
    raise StateDictMismatchError(
        f'FID Inception state dict is missing {len(missing)} key(s): {_key_list(missing)}.')
  for key, expected in _FC_SHAPES.items():
    if key in state_dict and np.shape(state_dict[key]) != expected:
      raise StateDictMismatchError(
          f'FID Inception state dict key {key!r} has shape {np.shape(state_dict[key])}; '
          f'pytorch-fid\'s FID weights have {expected}: is this another Inception-v3 '
          f'checkpoint than {PTH_NAME}?')

  flat = {}
  for key, (path, shape) in layout.items():
    value = np.asarray(state_dict[key])
    if value.shape != shape:
      raise StateDictMismatchError(
          f'FID Inception state dict key {key!r} has shape {value.shape}; expected {shape}.')
    if path[-1] == 'kernel':
      value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    flat[path] = np.ascontiguousarray(value, dtype=np.float32)
  return traverse_util.unflatten_dict(flat)


def _missing_weights_message(path: str) -> str:
  return (f'FID Inception weights not found at {os.path.abspath(path)}. The project does '
          f'not ship them: download pytorch-fid\'s {PTH_NAME} ({PTH_URL}) and convert it '
          f'with\n  python scripts/convert_inception_fid.py --pth={PTH_NAME} --out={path}\n'
          '(needs torch, not torchvision).')


def load_inception(path: str = DEFAULT_WEIGHTS_PATH) -> Dict[str, Any]:
  """Reads converted FID Inception weights (flax msgpack) and checks their structure.

  Raises:
    FileNotFoundError: if `path` does not exist, saying how to make it.
    ValueError: if the file holds variables of another model.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(_missing_weights_message(path))
  variables = torch_convert.load_variables(path)
  expected = variable_shapes()
  flat = traverse_util.flatten_dict(variables) if isinstance(variables, Mapping) else {}
  shapes = {key: tuple(np.shape(value)) for key, value in flat.items()}
  if shapes != expected:
    wrong = sorted('/'.join(key) for key in set(shapes) ^ set(expected))
    wrong += sorted('/'.join(key) for key in set(shapes) & set(expected)
                    if shapes[key] != expected[key])
    raise ValueError(f'{path} does not hold FID Inception variables (differing: '
                     f'{_key_list(wrong)}); make it with scripts/convert_inception_fid.py.')
  return variables


def _resize(channel: np.ndarray, size: int) -> np.ndarray:
  """PIL bicubic resize of one float32 [H, W] channel to [size, size]."""
  if channel.shape == (size, size):
    return channel
  resized = Image.fromarray(channel).resize((size, size), Image.Resampling.BICUBIC)
  return np.asarray(resized, np.float32)


def preprocess(images: Any, size: int = INPUT_SIZE) -> np.ndarray:
  """The project's images -> the Inception's input: float32 [N, size, size, 3] in [-1, 1].

  Args:
    images: [N, H, W, C] with C 1 (grey, repeated to RGB) or 3, either uint8
      or floats in [0, 1].
    size: output side; FID is defined at 299.

  Raises:
    ValueError: on another shape or dtype, or floats outside [0, 1].
  """
  images = np.asarray(images)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f'Expected images [N, H, W, C] with C 1 or 3; got shape {images.shape}.')
  if images.dtype == np.uint8:
    images = images.astype(np.float32) / 255
  elif np.issubdtype(images.dtype, np.floating):
    images = images.astype(np.float32)
    if images.size and not (np.isfinite(images).all() and images.min() >= 0 and
                            images.max() <= 1):
      raise ValueError(f'Expected float images in [0, 1]; got values in '
                       f'[{np.nanmin(images)}, {np.nanmax(images)}]' +
                       ('' if np.isfinite(images).all() else ' and non-finite ones') +
                       '. Images in [-1, 1] map to [0, 1] with (x + 1) / 2.')
  else:
    raise ValueError(f'Expected uint8 images or floats in [0, 1]; got dtype {images.dtype}.')
  n, _, _, channels = images.shape
  out = np.empty((n, size, size, channels), np.float32)
  for i in range(n):
    for c in range(channels):
      out[i, :, :, c] = _resize(np.ascontiguousarray(images[i, :, :, c]), size)
  out = np.clip(out, 0, 1) * 2 - 1
  return np.repeat(out, 3, axis=-1) if channels == 1 else out


def make_extractor(variables: Mapping[str, Any], batch_size: int = 50,
                   image_size: int = INPUT_SIZE) -> Callable[[Any], np.ndarray]:
  """Returns extract(images) -> float64 pool3 features [N, 2048].

  `images` are what `preprocess` takes; they are preprocessed and run through a
  jitted forward pass `batch_size` at a time, the last batch padded so that
  the network compiles once. Preprocessing the next batch overlaps with the
  device's work on the current one.

  Args:
    variables: from `load_inception` (or `convert_state_dict`).
    batch_size: images per forward pass.
    image_size: input side; 299 for FID, at least 75.
  """
  if batch_size < 1:
    raise ValueError(f'batch_size must be positive; got {batch_size}.')
  if image_size < FIDInceptionV3.min_resolution:
    raise ValueError(f'image_size must be at least {FIDInceptionV3.min_resolution}; '
                     f'got {image_size}.')
  model = FIDInceptionV3()
  device_variables = jax.device_put(dict(variables))
  forward = jax.jit(model.apply)

  def extract(images: Any) -> np.ndarray:
    count = len(images)
    outputs = []
    pending = None
    for start in range(0, count, batch_size):
      batch = preprocess(images[start:start + batch_size], image_size)
      valid = len(batch)
      if valid < batch_size:
        batch = np.concatenate(
            [batch, np.zeros((batch_size - valid,) + batch.shape[1:], batch.dtype)])
      result = forward(device_variables, batch)  # Dispatched asynchronously.
      if pending is not None:
        outputs.append(np.asarray(pending[0])[:pending[1]])
      pending = (result, valid)
    if pending is not None:
      outputs.append(np.asarray(pending[0])[:pending[1]])
    if not outputs:
      return np.zeros((0, FEATURE_DIM), np.float64)
    return np.concatenate(outputs).astype(np.float64)

  return extract
