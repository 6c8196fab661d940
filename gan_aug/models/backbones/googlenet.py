"""torchvision's GoogLeNet (Inception v1) without the auxiliary classifiers.

Submodule names follow torchvision's state-dict keys with '.<index>' folded into
'_<index>' (`inception3a.branch2.1.conv` -> `inception3a/branch2_1/conv`).
"""

from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from gan_aug.models.backbones import layers

# Name, then torchvision's Inception arguments after in_channels: ch1x1,
# ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj. A 3x3/2 ceil-mode max pool
# precedes 4a and a 2x2/2 one precedes 5a.
INCEPTIONS = (
    ('inception3a', 64, 96, 128, 16, 32, 32),
    ('inception3b', 128, 128, 192, 32, 96, 64),
    ('inception4a', 192, 96, 208, 16, 48, 64),
    ('inception4b', 160, 112, 224, 24, 64, 64),
    ('inception4c', 128, 128, 256, 24, 64, 64),
    ('inception4d', 112, 144, 288, 32, 64, 64),
    ('inception4e', 256, 160, 320, 32, 128, 128),
    ('inception5a', 256, 160, 320, 32, 128, 128),
    ('inception5b', 384, 192, 384, 48, 128, 128),
)
BN_EPSILON = 1e-3
# Conv and Linear weights: torchvision's trunc_normal_(std=0.01, a=-2, b=2),
# whose cut at +-200 standard deviations never binds.
_KERNEL_INIT = nn.initializers.normal(0.01)


class BasicConv2d(nn.Module):
  """Conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU."""
  features: int
  kernel_size: int
  stride: int = 1
  padding: int = 0

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    x = layers.conv2d(x, self.features, self.kernel_size, self.stride, self.padding,
                      use_bias=False, kernel_init=_KERNEL_INIT, name='conv')
    return nn.relu(layers.BatchNorm(epsilon=BN_EPSILON, name='bn')(x, train))


class Inception(nn.Module):
  """Four branches concatenated: 1x1; 1x1 -> 3x3; 1x1 -> 3x3; 3x3 max pool -> 1x1.

  The third branch uses a 3x3 conv where the paper has 5x5, as torchvision does
  (its weights have that shape).
  """
  ch1x1: int
  ch3x3red: int
  ch3x3: int
  ch5x5red: int
  ch5x5: int
  pool_proj: int

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    branch1 = BasicConv2d(self.ch1x1, 1, name='branch1')(x, train)
    branch2 = BasicConv2d(self.ch3x3red, 1, name='branch2_0')(x, train)
    branch2 = BasicConv2d(self.ch3x3, 3, padding=1, name='branch2_1')(branch2, train)
    branch3 = BasicConv2d(self.ch5x5red, 1, name='branch3_0')(x, train)
    branch3 = BasicConv2d(self.ch5x5, 3, padding=1, name='branch3_1')(branch3, train)
    branch4 = layers.max_pool(x, 3, 1, 1, ceil_mode=True)
    branch4 = BasicConv2d(self.pool_proj, 1, name='branch4_1')(branch4, train)
    return jnp.concatenate([branch1, branch2, branch3, branch4], axis=-1)


def transform_input(x: jnp.ndarray) -> jnp.ndarray:
  """torchvision's `_transform_input`: from ImageNet mean/std normalization to (x - 0.5) / 0.5.

  The scaling the original (Caffe-trained) GoogLeNet weights expect.
  """
  return jnp.concatenate([
      x[..., 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5,
      x[..., 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5,
      x[..., 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5,
  ], axis=-1)


class GoogLeNet(nn.Module):
  """torchvision.models.googlenet(aux_logits=False): 6,624,904 parameters at 1000 classes.

  `__call__(x, train)` takes NHWC images normalized with the ImageNet mean and
  std and returns logits, or with include_top=False the globally pooled
  features [N, 1024]. torchvision's ImageNet weights expect transform_input=True
  (its `googlenet(weights=...)` sets it).
  """
  num_classes: int = 1000
  include_top: bool = True
  transform_input: bool = False
  dropout: float = 0.2
  # Smallest square input side torch accepts (the third pool needs a 2x2 map).
  min_resolution: ClassVar[int] = 15

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    if self.transform_input:
      x = transform_input(x)
    x = BasicConv2d(64, 7, 2, 3, name='conv1')(x, train)
    x = layers.max_pool(x, 3, 2, ceil_mode=True)
    x = BasicConv2d(64, 1, name='conv2')(x, train)
    x = BasicConv2d(192, 3, padding=1, name='conv3')(x, train)
    x = layers.max_pool(x, 3, 2, ceil_mode=True)
    for name, *widths in INCEPTIONS:
      if name == 'inception4a':
        x = layers.max_pool(x, 3, 2, ceil_mode=True)
      elif name == 'inception5a':
        x = layers.max_pool(x, 2, 2, ceil_mode=True)
      x = Inception(*widths, name=name)(x, train)
    x = layers.global_avg_pool(x)
    if not self.include_top:
      return x
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return layers.dense(x, self.num_classes, kernel_init=_KERNEL_INIT, name='fc')
