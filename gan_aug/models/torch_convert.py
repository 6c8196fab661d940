"""torchvision state dicts -> Flax variables for `gan_aug.models.backbones`, in numpy.

`convert_state_dict` takes torchvision's keys and shapes (a `.pth` loaded with
torch and turned into numpy arrays) and returns {'params', 'batch_stats'} in
the structure `model.init` gives. The converted file format is flax's msgpack
of that numpy tree (`save_variables` / `load_variables`); `merge_pretrained`
puts it into a freshly initialized model, e.g. one with a new number of classes.
Nothing here imports torch.
"""

import os
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

from absl import logging
from flax import serialization
import numpy as np

from gan_aug.models.backbones import alexnet, googlenet, squeezenet, vgg
from gan_aug.models.backbones.resnet import Bottleneck, ResNet18, ResNet50

# The last layer's bias, whose length gives the number of classes.
_HEAD_BIAS = {
    'resnet18': 'fc.bias',
    'resnet50': 'fc.bias',
    'vgg16': 'classifier.6.bias',
    'alexnet': 'classifier.6.bias',
    'squeezenet1_1': 'classifier.1.bias',
    'googlenet': 'fc.bias',
}
# torchvision's GoogLeNet checkpoint carries the auxiliary classifiers, which
# the port leaves out.
_SKIPPED_PREFIXES = {'googlenet': ('aux1.', 'aux2.')}


class StateDictMismatchError(ValueError):
  """A state dict whose keys or shapes are not those of the named architecture."""


class _Leaf(NamedTuple):
  shape: Tuple[int, ...]  # torch's shape
  collection: str  # 'params' or 'batch_stats'
  path: Tuple[str, ...]  # Flax path inside the collection
  kind: str  # 'conv', 'linear', 'vector'
  chw: Optional[Tuple[int, int, int]] = None  # (c, h, w) torch flattened into a linear


def _flax_path(module: str) -> Tuple[str, ...]:
  """'layer1.0.downsample.1' -> ('layer1_0', 'downsample_1')."""
  path: List[str] = []
  for part in module.split('.'):
    if part.isdigit() and path:
      path[-1] += f'_{part}'
    else:
      path.append(part)
  return tuple(path)


class _Spec:
  """The expected torchvision keys of one architecture, and where each one goes."""

  def __init__(self):
    self.leaves: Dict[str, _Leaf] = {}
    self.batch_norms: List[str] = []

  def _add(self, key, shape, collection, leaf, kind, chw=None):
    module, _ = key.rsplit('.', 1)
    self.leaves[key] = _Leaf(tuple(shape), collection, _flax_path(module) + (leaf,), kind, chw)

  def conv(self, name, in_channels, out_channels, kernel_size, bias=True):
    self._add(f'{name}.weight', (out_channels, in_channels, kernel_size, kernel_size),
              'params', 'kernel', 'conv')
    if bias:
      self._add(f'{name}.bias', (out_channels,), 'params', 'bias', 'vector')

  def batch_norm(self, name, channels):
    self.batch_norms.append(name)
    self._add(f'{name}.weight', (channels,), 'params', 'scale', 'vector')
    self._add(f'{name}.bias', (channels,), 'params', 'bias', 'vector')
    self._add(f'{name}.running_mean', (channels,), 'batch_stats', 'mean', 'vector')
    self._add(f'{name}.running_var', (channels,), 'batch_stats', 'var', 'vector')

  def linear(self, name, in_features, out_features, chw=None):
    self._add(f'{name}.weight', (out_features, in_features), 'params', 'kernel', 'linear',
              chw)
    self._add(f'{name}.bias', (out_features,), 'params', 'bias', 'vector')


def _resnet_spec(model_cls, num_classes: int) -> _Spec:
  spec = _Spec()
  spec.conv('conv1', 3, 64, 7, bias=False)
  spec.batch_norm('bn1', 64)
  bottleneck = model_cls.block is Bottleneck
  inplanes = 64
  for stage, (blocks, planes) in enumerate(zip(model_cls.stage_sizes, (64, 128, 256, 512))):
    for index in range(blocks):
      stride = 2 if stage > 0 and index == 0 else 1
      prefix = f'layer{stage + 1}.{index}'
      out = planes * model_cls.block.expansion
      if bottleneck:
        convs = ((inplanes, planes, 1), (planes, planes, 3), (planes, out, 1))
      else:
        convs = ((inplanes, planes, 3), (planes, planes, 3))
      for number, (cin, cout, kernel) in enumerate(convs, 1):
        spec.conv(f'{prefix}.conv{number}', cin, cout, kernel, bias=False)
        spec.batch_norm(f'{prefix}.bn{number}', cout)
      if stride != 1 or inplanes != out:
        spec.conv(f'{prefix}.downsample.0', inplanes, out, 1, bias=False)
        spec.batch_norm(f'{prefix}.downsample.1', out)
      inplanes = out
  spec.linear('fc', inplanes, num_classes)
  return spec


def _vgg16_spec(num_classes: int) -> _Spec:
  spec, index, in_channels = _Spec(), 0, 3
  for width in vgg.VGG16_CONFIG:
    if width == 'M':
      index += 1
    else:
      spec.conv(f'features.{index}', in_channels, width, 3)
      in_channels, index = width, index + 2
  size = vgg.POOLED_SIZE
  spec.linear('classifier.0', in_channels * size * size, 4096, chw=(in_channels, size, size))
  spec.linear('classifier.3', 4096, 4096)
  spec.linear('classifier.6', 4096, num_classes)
  return spec


def _alexnet_spec(num_classes: int) -> _Spec:
  spec, in_channels = _Spec(), 3
  for index, width, kernel, _, _ in alexnet.CONVS:
    spec.conv(f'features.{index}', in_channels, width, kernel)
    in_channels = width
  size = alexnet.POOLED_SIZE
  spec.linear('classifier.1', in_channels * size * size, 4096, chw=(in_channels, size, size))
  spec.linear('classifier.4', 4096, 4096)
  spec.linear('classifier.6', 4096, num_classes)
  return spec


def _squeezenet1_1_spec(num_classes: int) -> _Spec:
  spec, in_channels = _Spec(), 64
  spec.conv('features.0', 3, 64, 3)
  for index, squeeze, expand1x1, expand3x3 in squeezenet.FIRES:
    spec.conv(f'features.{index}.squeeze', in_channels, squeeze, 1)
    spec.conv(f'features.{index}.expand1x1', squeeze, expand1x1, 1)
    spec.conv(f'features.{index}.expand3x3', squeeze, expand3x3, 3)
    in_channels = expand1x1 + expand3x3
  spec.conv('classifier.1', in_channels, num_classes, 1)
  return spec


def _googlenet_spec(num_classes: int) -> _Spec:
  spec = _Spec()

  def basic_conv(name, cin, cout, kernel):
    spec.conv(f'{name}.conv', cin, cout, kernel, bias=False)
    spec.batch_norm(f'{name}.bn', cout)

  basic_conv('conv1', 3, 64, 7)
  basic_conv('conv2', 64, 64, 1)
  basic_conv('conv3', 64, 192, 3)
  in_channels = 192
  for name, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj in googlenet.INCEPTIONS:
    basic_conv(f'{name}.branch1', in_channels, ch1x1, 1)
    basic_conv(f'{name}.branch2.0', in_channels, ch3x3red, 1)
    basic_conv(f'{name}.branch2.1', ch3x3red, ch3x3, 3)
    basic_conv(f'{name}.branch3.0', in_channels, ch5x5red, 1)
    basic_conv(f'{name}.branch3.1', ch5x5red, ch5x5, 3)
    basic_conv(f'{name}.branch4.1', in_channels, pool_proj, 1)
    in_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
  spec.linear('fc', in_channels, num_classes)
  return spec


_SPECS = {
    'resnet18': lambda num_classes: _resnet_spec(ResNet18, num_classes),
    'resnet50': lambda num_classes: _resnet_spec(ResNet50, num_classes),
    'vgg16': _vgg16_spec,
    'alexnet': _alexnet_spec,
    'squeezenet1_1': _squeezenet1_1_spec,
    'googlenet': _googlenet_spec,
}
ARCHITECTURES = tuple(_SPECS)


def _check_arch(arch: str) -> None:
  if arch not in _SPECS:
    raise ValueError(f'Unknown architecture {arch!r}. Valid: {", ".join(ARCHITECTURES)}.')


def infer_num_classes(arch: str, state_dict: Mapping[str, Any]) -> int:
  """Number of classes of a torchvision state dict: the length of its last bias."""
  _check_arch(arch)
  key = _HEAD_BIAS[arch]
  if key not in state_dict:
    raise StateDictMismatchError(f'{arch} state dict is missing key {key!r}.')
  shape = np.shape(state_dict[key])
  if len(shape) != 1:
    raise StateDictMismatchError(
        f'{arch} state dict key {key!r} has shape {shape}; expected (num_classes,).')
  return shape[0]


def _key_list(keys: List[str], limit: int = 8) -> str:
  shown = ', '.join(repr(key) for key in keys[:limit])
  return shown + (f' and {len(keys) - limit} more' if len(keys) > limit else '')


def _to_flax(leaf: _Leaf, value: np.ndarray) -> np.ndarray:
  if leaf.kind == 'conv':
    return np.ascontiguousarray(value.transpose(2, 3, 1, 0))  # OIHW -> HWIO
  if leaf.kind == 'linear':
    if leaf.chw is not None:
      # torch flattened NCHW maps, (c, h, w) order; Flax flattens NHWC, (h, w, c).
      c, h, w = leaf.chw
      value = value.reshape(-1, c, h, w).transpose(0, 2, 3, 1).reshape(value.shape[0], -1)
    return np.ascontiguousarray(value.T)  # (out, in) -> (in, out)
  return np.array(value)


def convert_state_dict(arch: str, state_dict: Mapping[str, Any],
                       num_classes: Optional[int] = None) -> Dict[str, Any]:
  """torchvision state dict of `arch` -> {'params': ..., 'batch_stats': ...} of numpy arrays.

  Args:
    arch: a name in `gan_aug.models.backbones.BACKBONES`.
    state_dict: torchvision's keys -> arrays (anything np.asarray accepts).
    num_classes: classes of the checkpoint; by default the length of its last bias.

  Returns:
    The variables `BACKBONES.get(arch)(num_classes=...).init` produces; like
    those, they have no 'batch_stats' for the architectures without batch norm.

  Raises:
    StateDictMismatchError: on a missing key, an unexpected key or a shape other
      than torchvision's, naming the keys. BatchNorm's `num_batches_tracked`
      and GoogLeNet's auxiliary classifiers (`aux1.*`, `aux2.*`) are skipped.
  """
  _check_arch(arch)
  if num_classes is None:
    num_classes = infer_num_classes(arch, state_dict)
  spec = _SPECS[arch](num_classes)
  tracked = {f'{name}.num_batches_tracked' for name in spec.batch_norms}
  skipped_prefixes = _SKIPPED_PREFIXES.get(arch, ())
  skipped = [key for key in state_dict if key.startswith(skipped_prefixes)]
  unexpected = [key for key in state_dict
                if key not in spec.leaves and key not in tracked and
                not key.startswith(skipped_prefixes)]
  if unexpected:
    raise StateDictMismatchError(
        f'{arch} state dict has {len(unexpected)} unexpected key(s): '
        f'{_key_list(unexpected)}.')
  missing = [key for key in spec.leaves if key not in state_dict]
  if missing:
    raise StateDictMismatchError(
        f'{arch} state dict is missing {len(missing)} key(s): {_key_list(missing)}.')
  if skipped:
    logging.info('%s: skipped %d auxiliary-classifier keys (%s).', arch, len(skipped),
                 ', '.join(f'{prefix}*' for prefix in skipped_prefixes))

  variables: Dict[str, Any] = {'params': {}, 'batch_stats': {}}
  for key, leaf in spec.leaves.items():
    value = np.asarray(state_dict[key])
    if value.shape != leaf.shape:
      raise StateDictMismatchError(
          f'{arch} state dict key {key!r} has shape {value.shape}; expected {leaf.shape}.')
    node = variables[leaf.collection]
    for part in leaf.path[:-1]:
      node = node.setdefault(part, {})
    node[leaf.path[-1]] = _to_flax(leaf, value)
  if not variables['batch_stats']:
    del variables['batch_stats']  # As model.init: no batch norm, no collection.
  return variables


def _to_numpy_tree(tree: Any) -> Any:
  if isinstance(tree, Mapping):
    return {key: _to_numpy_tree(value) for key, value in tree.items()}
  return np.asarray(tree)


def save_variables(path: str, variables: Mapping[str, Any]) -> None:
  """Writes `variables` (numpy or jax leaves) as flax msgpack, atomically."""
  data = serialization.msgpack_serialize(_to_numpy_tree(variables))
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  tmp = f'{path}.tmp{os.getpid()}'
  with open(tmp, 'wb') as f:
    f.write(data)
  os.replace(tmp, path)


def load_variables(path: str) -> Dict[str, Any]:
  """Reads a file written by `save_variables`: nested dicts of numpy arrays."""
  with open(path, 'rb') as f:
    return serialization.msgpack_restore(f.read())


def _leaf_paths(tree: Mapping[str, Any], prefix: Tuple[str, ...] = ()):
  for key, value in tree.items():
    if isinstance(value, Mapping):
      yield from _leaf_paths(value, prefix + (key,))
    else:
      yield prefix + (key,), value


def _lookup(tree: Mapping[str, Any], path: Tuple[str, ...]) -> Any:
  node: Any = tree
  for part in path:
    if not isinstance(node, Mapping) or part not in node:
      return None
    node = node[part]
  return None if isinstance(node, Mapping) else node


def merge_pretrained(target_variables: Mapping[str, Any],
                     pretrained_variables: Mapping[str, Any]
                     ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
  """Copies pretrained leaves into `target_variables` where path and shape agree.

  Leaves of the target without such a counterpart keep their initial values
  (e.g. a last layer sized for another number of classes); pretrained leaves
  the target lacks (e.g. the head, for include_top=False) are dropped.

  Returns:
    (merged variables as nested dicts, info) with info = {'loaded': number of
    leaves copied, 'kept_initial': ['params/fc/kernel', ...]}.

  Raises:
    ValueError: if no leaf matches (the pretrained tree is of another model).
  """
  merged: Dict[str, Any] = {}
  loaded, kept = 0, []
  for path, target in _leaf_paths(target_variables):
    value = _lookup(pretrained_variables, path)
    if value is not None and np.shape(value) == np.shape(target):
      value = np.asarray(value, dtype=target.dtype)
      loaded += 1
    else:
      value = target
      kept.append('/'.join(path))
    node = merged
    for part in path[:-1]:
      node = node.setdefault(part, {})
    node[path[-1]] = value
  if not loaded:
    raise ValueError('No pretrained variable matches the target model in path and shape; '
                     'are the pretrained weights of another architecture?')
  return merged, {'loaded': loaded, 'kept_initial': kept}
