"""Transfer-learning classifiers: a torchvision backbone, ImageNet weights, a new head.

Heads:
  replace_last    paper 001: the network as torchvision defines it, with its last
                  layer replaced by one for the data set's classes;
  vgg16_keras     paper 003: VGG16's convolutional features (flattened) -> dense 128
                  (ReLU) -> dropout -> dense (classes);
  resnet50_keras  paper 003: ResNet50's globally pooled features -> dense 128 ->
                  dense 64 (ReLU) -> dropout 0.5 -> dense (classes).

Inputs in [0, 1] are normalised with ImageNet's mean and std (torchvision's
convention, since the weights are torchvision's); a grey image is repeated over
three channels. With converted weights in `classifier.pretrained_dir`
(`<backbone>.msgpack`, written by `scripts/convert_torchvision.py`) every backbone
leaf that matches is loaded; with `classifier.freeze_backbone` those leaves stay
fixed and the backbone's batch norm keeps its ImageNet statistics, as in the
papers. Without weights a frozen backbone would be random features, so the whole
network trains from scratch, and the report says so.
"""

import os
from typing import Any, Dict, Tuple

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import traverse_util

from gan_aug.models import backbones
from gan_aug.models import torch_convert

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HEADS = ('replace_last', 'vgg16_keras', 'resnet50_keras')


def weights_path(cfg: ml_collections.ConfigDict, backbone: str) -> str:
  """Where the converted ImageNet weights of `backbone` are, or '' if none is set."""
  directory = cfg.get('pretrained_dir', '')
  return os.path.join(directory, f'{backbone}.msgpack') if directory else ''


def backbone_is_frozen(cfg: ml_collections.ConfigDict, backbone: str) -> bool:
  """Frozen only when asked for and pretrained weights are given."""
  return bool(cfg.get('freeze_backbone', False)) and bool(weights_path(cfg, backbone))


class TransferClassifier(nn.Module):
  """A torchvision backbone (submodule `backbone`) with one of `HEADS`."""
  backbone: str
  num_classes: int
  head: str = 'replace_last'
  frozen: bool = False
  dense_dropout: float = 0.5
  # torchvision's ImageNet GoogLeNet expects its `transform_input` rescaling.
  pretrained: bool = False

  @nn.compact
  def __call__(self, x, train: bool = True):
    if x.shape[-1] == 1:
      x = jnp.repeat(x, 3, axis=-1)
    x = (x - jnp.asarray(IMAGENET_MEAN, x.dtype)) / jnp.asarray(IMAGENET_STD, x.dtype)
    module = backbones.BACKBONES.get(self.backbone, 'config.classifier.name')
    backbone_train = train and not self.frozen
    extra = ({'transform_input': self.pretrained} if self.backbone == 'googlenet'
             else {})
    if self.head == 'replace_last':
      return module(num_classes=self.num_classes, name='backbone', **extra)(
          x, train=backbone_train)
    h = module(include_top=False, name='backbone', **extra)(x, train=backbone_train)
    h = nn.relu(nn.Dense(128)(h))
    if self.head == 'resnet50_keras':
      h = nn.relu(nn.Dense(64)(h))
    elif self.head != 'vgg16_keras':
      raise ValueError(f'Unknown head {self.head!r}; valid: {HEADS}.')
    h = nn.Dropout(self.dense_dropout, deterministic=not train)(h)
    return nn.Dense(self.num_classes)(h)


def load_pretrained(variables: Dict, path: str) -> Tuple[Dict, Dict[str, Any]]:
  """Loads converted weights into `variables['*']['backbone']`.

  Returns (variables, info) where info has `loaded` (leaf count), `kept_initial`
  (backbone leaves left at their initial values, e.g. a new last layer) and
  `trainable` (a tree of bools over params: False for every loaded leaf).
  """
  if not os.path.exists(path):
    raise FileNotFoundError(
        f'No converted weights at {path}. Convert torchvision weights with '
        '`python scripts/convert_torchvision.py --arch=NAME --pth=FILE.pth '
        '--out=DIR/NAME.msgpack`, or leave classifier.pretrained_dir empty to '
        'train from scratch.')
  pretrained = torch_convert.load_variables(path)
  target = {collection: dict(tree).get('backbone', {})
            for collection, tree in variables.items()}
  merged, info = torch_convert.merge_pretrained(target, pretrained)
  result = {collection: {**dict(tree), 'backbone': merged.get(collection, {})}
            if 'backbone' in tree else tree for collection, tree in variables.items()}
  loaded = _loaded_paths(target.get('params', {}), pretrained.get('params', {}))
  flat = traverse_util.flatten_dict(result['params'])
  trainable = traverse_util.unflatten_dict({
      key: not (key[0] == 'backbone' and key[1:] in loaded) for key in flat})
  return result, {'loaded': info['loaded'], 'kept_initial': info['kept_initial'],
                  'trainable': trainable}


def _loaded_paths(target: Dict, pretrained: Dict) -> set:
  """Parameter paths present in both trees with equal shapes."""
  flat_target = traverse_util.flatten_dict(target)
  flat_pre = traverse_util.flatten_dict(pretrained)
  return {key for key, value in flat_target.items()
          if key in flat_pre and np.shape(flat_pre[key]) == np.shape(value)}
