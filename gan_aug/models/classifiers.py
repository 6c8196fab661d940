"""Image classifiers by name, as pure Flax modules: `apply(vars, images, train)` -> logits.

Inputs are float images scaled to [0, 1] (Keras' `rescale=1/255`); outputs are
class logits (the softmax lives in the loss and in `predict`).

  custom_cnn      paper 003 §6.2's CNN;
  gmd_cnn         papers 000/002's "GMD" CNN;
  vgg16, resnet50 paper 003's transfer models: backbone + its new dense head;
  alexnet, squeezenet1_1, googlenet, resnet18
                  paper 001's transfer models: the torchvision network with a new
                  last layer for the data set's classes.
The transfer models take ImageNet weights converted from torchvision
(`scripts/convert_torchvision.py`; see `gan_aug/models/transfer.py`).
"""

import dataclasses
import functools
from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from gan_aug.core import registry
from gan_aug.models import backbones
from gan_aug.models import conv_layers
from gan_aug.models import transfer


@dataclasses.dataclass(frozen=True)
class Classifier:
  """A registered classifier: `build(config.classifier, num_classes)` -> module, and
  the smallest input side it accepts (valid convolutions and poolings must leave
  at least one pixel)."""
  build: Callable[[ml_collections.ConfigDict, int], nn.Module]
  min_resolution: int


CLASSIFIERS: registry.Registry[Classifier] = registry.Registry('classifier')


def max_pool_2x2(x: jnp.ndarray) -> jnp.ndarray:
  """2x2 max pooling, stride 2, odd edges dropped (as Keras' 'valid' pooling).

  Written as a reshape and max: the same values as `nn.max_pool`, with a
  gradient that XLA:CPU computes far faster than its select-and-scatter.
  """
  n, h, w, c = x.shape
  x = x[:, :h // 2 * 2, :w // 2 * 2]
  return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def conv_layer(conv_impl: str, features: int, padding: str, name: str,
               param_dtype: Any = jnp.float32) -> nn.Module:
  """A 3x3 stride-1 convolution with bias, in `conv_impl`'s form
  (`conv_layers.conv`: Flax's, or the same layer as a matrix product with
  several times faster gradients on XLA:CPU)."""
  return conv_layers.conv(conv_impl, features, (3, 3), padding=padding, name=name,
                          param_dtype=param_dtype)


class CustomCNN(nn.Module):
  """Paper 003 §6.2: input batch norm, conv 64 -> pool -> conv 64 -> pool -> dropout ->
  conv 32 (valid) -> pool -> dropout -> dense 128 -> dropout -> dense.

  At 224x224x3 with three classes this has the paper's 3,043,695 parameters.
  """
  num_classes: int
  conv_dropout: float = 0.25
  dense_dropout: float = 0.5
  param_dtype: Any = jnp.float32
  conv_impl: str = 'lax'  # lax | matmul (`conv_layer`)

  @nn.compact
  def __call__(self, x, train: bool = True):
    conv = functools.partial(conv_layer, self.conv_impl, param_dtype=self.param_dtype)
    pool = max_pool_2x2
    # Keras BatchNormalization defaults (momentum 0.99, epsilon 1e-3).
    x = nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3,
                     param_dtype=self.param_dtype)(x)
    x = pool(nn.relu(conv(64, padding='SAME', name='Conv_0')(x)))
    x = pool(nn.relu(conv(64, padding='SAME', name='Conv_1')(x)))
    x = nn.Dropout(self.conv_dropout, deterministic=not train)(x)
    x = pool(nn.relu(conv(32, padding='VALID', name='Conv_2')(x)))
    x = nn.Dropout(self.conv_dropout, deterministic=not train)(x)
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(128, param_dtype=self.param_dtype)(x))
    x = nn.Dropout(self.dense_dropout, deterministic=not train)(x)
    return nn.Dense(self.num_classes, param_dtype=self.param_dtype)(x)


class GMDCNN(nn.Module):
  """Papers 000/002's GMD CNN: conv 256 -> conv 128 -> pool -> (conv 128, 64, 32,
  each followed by a 2x2 max pool) -> dense 100 -> dense 60 -> dense (classes).

  3x3 kernels; the papers name no padding or activation, so these are Keras'
  defaults for a Conv2D ('valid') with ReLU, as for the dense layers.
  """
  num_classes: int
  param_dtype: Any = jnp.float32
  conv_impl: str = 'lax'  # lax | matmul (`conv_layer`)

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train  # No batch norm or dropout.
    conv = functools.partial(conv_layer, self.conv_impl, padding='VALID',
                             param_dtype=self.param_dtype)
    x = nn.relu(conv(256, name='Conv_0')(x))
    x = max_pool_2x2(nn.relu(conv(128, name='Conv_1')(x)))
    for i, width in enumerate((128, 64, 32)):
      x = max_pool_2x2(nn.relu(conv(width, name=f'Conv_{i + 2}')(x)))
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(100, param_dtype=self.param_dtype)(x))
    x = nn.relu(nn.Dense(60, param_dtype=self.param_dtype)(x))
    return nn.Dense(self.num_classes, param_dtype=self.param_dtype)(x)


def _conv_impl(cfg: ml_collections.ConfigDict) -> str:
  return conv_layers.resolve_conv_impl(cfg.get('conv_impl', 'auto'),
                                 'config.classifier.conv_impl')


def _gmd_cnn(cfg: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
  return GMDCNN(num_classes=num_classes, conv_impl=_conv_impl(cfg))


CLASSIFIERS.register('gmd_cnn')(Classifier(_gmd_cnn, min_resolution=48))


def _register_transfer(name: str, head: str) -> None:
  def build(cfg: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
    return transfer.TransferClassifier(
        backbone=name, num_classes=num_classes, head=head,
        frozen=transfer.backbone_is_frozen(cfg, name),
        dense_dropout=cfg.dense_dropout,
        pretrained=bool(transfer.weights_path(cfg, name)))
  CLASSIFIERS.register(name)(Classifier(
      build, min_resolution=backbones.BACKBONES.get(name).min_resolution))


for _name, _head in (('vgg16', 'vgg16_keras'), ('resnet50', 'resnet50_keras'),
                     ('alexnet', 'replace_last'), ('squeezenet1_1', 'replace_last'),
                     ('googlenet', 'replace_last'), ('resnet18', 'replace_last')):
  _register_transfer(_name, _head)


def _custom_cnn(cfg: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
  return CustomCNN(num_classes=num_classes, conv_dropout=cfg.conv_dropout,
                   dense_dropout=cfg.dense_dropout, conv_impl=_conv_impl(cfg))


# Its last pooling needs a 2x2 map.
CLASSIFIERS.register('custom_cnn')(Classifier(_custom_cnn, min_resolution=16))


def build_classifier(cfg: ml_collections.ConfigDict, num_classes: int,
                     name: str = '') -> nn.Module:
  """Returns the module named `name` (default `cfg.name`; cfg is config.classifier)."""
  name = name or cfg.name
  return CLASSIFIERS.get(name, 'config.classifier.name').build(cfg, num_classes)
