"""torchvision's ResNet-18 and ResNet-50 (v1.5: the stride sits in the 3x3 conv).

Submodule names follow torchvision's state-dict keys with '.<index>' folded
into '_<index>' (`layer1.0.downsample.1` -> `layer1_0/downsample_1`).
"""

from typing import ClassVar, Sequence, Type

import flax.linen as nn
import jax.numpy as jnp

from gan_aug.models.backbones import layers


def _conv(x, features, kernel_size, stride=1, padding=0, name=None):
  return layers.conv2d(x, features, kernel_size, stride, padding, use_bias=False,
                       kernel_init=layers.kaiming_normal_fan_out, name=name)


class BasicBlock(nn.Module):
  """Two 3x3 convs plus the identity, or a strided 1x1 projection where shapes change."""
  planes: int
  stride: int = 1
  expansion: ClassVar[int] = 1

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    out = _conv(x, self.planes, 3, self.stride, 1, name='conv1')
    out = nn.relu(layers.BatchNorm(name='bn1')(out, train))
    out = _conv(out, self.planes, 3, 1, 1, name='conv2')
    out = layers.BatchNorm(name='bn2')(out, train)
    return nn.relu(out + _shortcut(x, self.planes * self.expansion, self.stride, train))


class Bottleneck(nn.Module):
  """1x1 reduce, strided 3x3, 1x1 expand (x4) plus the identity or a projection."""
  planes: int
  stride: int = 1
  expansion: ClassVar[int] = 4

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    out = _conv(x, self.planes, 1, name='conv1')
    out = nn.relu(layers.BatchNorm(name='bn1')(out, train))
    out = _conv(out, self.planes, 3, self.stride, 1, name='conv2')
    out = nn.relu(layers.BatchNorm(name='bn2')(out, train))
    out = _conv(out, self.planes * self.expansion, 1, name='conv3')
    out = layers.BatchNorm(name='bn3')(out, train)
    return nn.relu(out + _shortcut(x, self.planes * self.expansion, self.stride, train))


def _shortcut(x, features, stride, train):
  """Identity, or torchvision's `downsample` (1x1 conv + BN) when the shape changes."""
  if stride == 1 and x.shape[-1] == features:
    return x
  x = _conv(x, features, 1, stride, name='downsample_0')
  return layers.BatchNorm(name='downsample_1')(x, train)


class ResNet(nn.Module):
  """torchvision.models.ResNet; subclasses set `block` and `stage_sizes`.

  `__call__(x, train)` takes NHWC images normalized with the ImageNet mean and
  std and returns logits, or with include_top=False the globally pooled
  features [N, 512 * block.expansion].
  """
  num_classes: int = 1000
  include_top: bool = True
  block: ClassVar[Type[nn.Module]] = BasicBlock
  stage_sizes: ClassVar[Sequence[int]] = ()
  # Smallest square input side torch accepts (every stage keeps a 1x1 map).
  min_resolution: ClassVar[int] = 1

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    x = _conv(x, 64, 7, 2, 3, name='conv1')
    x = nn.relu(layers.BatchNorm(name='bn1')(x, train))
    x = layers.max_pool(x, 3, 2, 1)
    for stage, (blocks, planes) in enumerate(zip(self.stage_sizes, (64, 128, 256, 512))):
      for index in range(blocks):
        stride = 2 if stage > 0 and index == 0 else 1
        x = self.block(planes, stride, name=f'layer{stage + 1}_{index}')(x, train)
    x = layers.global_avg_pool(x)
    if not self.include_top:
      return x
    return layers.dense(x, self.num_classes, name='fc')


class ResNet18(ResNet):
  """torchvision.models.resnet18: 11,689,512 parameters at 1000 classes."""
  block = BasicBlock
  stage_sizes = (2, 2, 2, 2)


class ResNet50(ResNet):
  """torchvision.models.resnet50: 25,557,032 parameters at 1000 classes."""
  block = Bottleneck
  stage_sizes = (3, 4, 6, 3)
