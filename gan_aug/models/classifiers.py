"""Image classifiers by name, as pure Flax modules: `apply(vars, images, train)` -> logits.

Inputs are float images scaled to [0, 1] (Keras' `rescale=1/255`); outputs are
class logits (the softmax lives in the loss and in `predict`).
"""

import functools
from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from gan_aug import registry

# Smallest input side the custom CNN accepts (its last pooling needs a 2x2 map).
CUSTOM_CNN_MIN_RESOLUTION = 16

CLASSIFIERS: registry.Registry[Callable[..., nn.Module]] = registry.Registry('classifier')


def max_pool_2x2(x: jnp.ndarray) -> jnp.ndarray:
  """2x2 max pooling, stride 2, odd edges dropped (as Keras' 'valid' pooling).

  Written as a reshape and max: the same values as `nn.max_pool`, with a
  gradient that XLA:CPU computes far faster than its select-and-scatter.
  """
  n, h, w, c = x.shape
  x = x[:, :h // 2 * 2, :w // 2 * 2]
  return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class CustomCNN(nn.Module):
  """Paper 003 §6.2: input batch norm, conv 64 -> pool -> conv 64 -> pool -> dropout ->
  conv 32 (valid) -> pool -> dropout -> dense 128 -> dropout -> dense.

  At 224x224x3 with three classes this has the paper's 3,043,695 parameters.
  """
  num_classes: int
  conv_dropout: float = 0.25
  dense_dropout: float = 0.5
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    conv = functools.partial(nn.Conv, kernel_size=(3, 3), param_dtype=self.param_dtype)
    pool = max_pool_2x2
    # Keras BatchNormalization defaults (momentum 0.99, epsilon 1e-3).
    x = nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3,
                     param_dtype=self.param_dtype)(x)
    x = pool(nn.relu(conv(64, padding='SAME')(x)))
    x = pool(nn.relu(conv(64, padding='SAME')(x)))
    x = nn.Dropout(self.conv_dropout, deterministic=not train)(x)
    x = pool(nn.relu(conv(32, padding='VALID')(x)))
    x = nn.Dropout(self.conv_dropout, deterministic=not train)(x)
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(128, param_dtype=self.param_dtype)(x))
    x = nn.Dropout(self.dense_dropout, deterministic=not train)(x)
    return nn.Dense(self.num_classes, param_dtype=self.param_dtype)(x)


@CLASSIFIERS.register('custom_cnn')
def _custom_cnn(cfg: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
  return CustomCNN(num_classes=num_classes, conv_dropout=cfg.conv_dropout,
                   dense_dropout=cfg.dense_dropout)


def build_classifier(cfg: ml_collections.ConfigDict, num_classes: int) -> nn.Module:
  """Returns the module named by `cfg.name` (config.classifier)."""
  return CLASSIFIERS.get(cfg.name, 'config.classifier.name')(cfg, num_classes)
