"""The Inception-v3 of pytorch-fid ("FID Inception"), up to its 2048-d pool3 features.

torchvision's Inception3 layout with pytorch-fid's blocks, which reproduce the
TensorFlow graph the FID weights come from: the average-pooling branches of
Mixed_5b-5d, 6b-6e and 7b leave the zero padding out of the mean
(count_include_pad=False), and Mixed_7c pools its last branch with a 3x3 max
pool instead. Every conv is BasicConv2d: conv (no bias) -> BatchNorm (eps
1e-3) -> ReLU. Inference only (running statistics; no dropout, no fc).

Submodule names are pytorch-fid's state-dict keys (`Mixed_5b.branch1x1.conv`
-> `Mixed_5b/branch1x1/conv`); `gan_aug.synthesis.inception_features` converts
its checkpoint.
"""

from typing import Any, ClassVar, Tuple, Union

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_aug.models.backbones import layers

BN_EPSILON = 1e-3
FEATURE_DIM = 2048
IntOrPair = Union[int, Tuple[int, int]]


def _pair(value: IntOrPair) -> Tuple[int, int]:
  return (value, value) if isinstance(value, int) else tuple(value)


class BasicConv2d(nn.Module):
  """Conv (no bias) -> BatchNorm (eps 1e-3, running statistics) -> ReLU."""
  features: int
  kernel_size: IntOrPair
  stride: int = 1
  padding: IntOrPair = 0
  precision: Any = None

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    pad_h, pad_w = _pair(self.padding)
    x = nn.Conv(self.features, _pair(self.kernel_size), strides=(self.stride, self.stride),
                padding=((pad_h, pad_h), (pad_w, pad_w)), use_bias=False,
                kernel_init=layers.torch_default_kernel_init, precision=self.precision,
                name='conv')(x)
    return nn.relu(layers.BatchNorm(epsilon=BN_EPSILON, name='bn')(x, train=False))


def _avg_pool_3x3(x: jnp.ndarray) -> jnp.ndarray:
  """avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)."""
  return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)),
                     count_include_pad=False)


class InceptionA(nn.Module):
  """FIDInceptionA: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1."""
  pool_features: int
  precision: Any = None

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    conv = lambda *args, **kw: BasicConv2d(*args, precision=self.precision, **kw)
    branch1x1 = conv(64, 1, name='branch1x1')(x)
    branch5x5 = conv(48, 1, name='branch5x5_1')(x)
    branch5x5 = conv(64, 5, padding=2, name='branch5x5_2')(branch5x5)
    branch3x3dbl = conv(64, 1, name='branch3x3dbl_1')(x)
    branch3x3dbl = conv(96, 3, padding=1, name='branch3x3dbl_2')(branch3x3dbl)
    branch3x3dbl = conv(96, 3, padding=1, name='branch3x3dbl_3')(branch3x3dbl)
    branch_pool = conv(self.pool_features, 1, name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([branch1x1, branch5x5, branch3x3dbl, branch_pool], axis=-1)


class InceptionB(nn.Module):
  """torchvision's InceptionB (Mixed_6a): strided 3x3 | 1x1 -> 3x3 -> strided 3x3 | max pool."""
  precision: Any = None

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    conv = lambda *args, **kw: BasicConv2d(*args, precision=self.precision, **kw)
    branch3x3 = conv(384, 3, stride=2, name='branch3x3')(x)
    branch3x3dbl = conv(64, 1, name='branch3x3dbl_1')(x)
    branch3x3dbl = conv(96, 3, padding=1, name='branch3x3dbl_2')(branch3x3dbl)
    branch3x3dbl = conv(96, 3, stride=2, name='branch3x3dbl_3')(branch3x3dbl)
    branch_pool = layers.max_pool(x, 3, 2)
    return jnp.concatenate([branch3x3, branch3x3dbl, branch_pool], axis=-1)


class InceptionC(nn.Module):
  """FIDInceptionC: 1x1 | factorized 7x7 | two factorized 7x7 | avg pool -> 1x1."""
  channels_7x7: int
  precision: Any = None

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    conv = lambda *args, **kw: BasicConv2d(*args, precision=self.precision, **kw)
    c7 = self.channels_7x7
    branch1x1 = conv(192, 1, name='branch1x1')(x)
    branch7x7 = conv(c7, 1, name='branch7x7_1')(x)
    branch7x7 = conv(c7, (1, 7), padding=(0, 3), name='branch7x7_2')(branch7x7)
    branch7x7 = conv(192, (7, 1), padding=(3, 0), name='branch7x7_3')(branch7x7)
    branch7x7dbl = conv(c7, 1, name='branch7x7dbl_1')(x)
    branch7x7dbl = conv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(branch7x7dbl)
    branch7x7dbl = conv(c7, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(branch7x7dbl)
    branch7x7dbl = conv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(branch7x7dbl)
    branch7x7dbl = conv(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(branch7x7dbl)
    branch_pool = conv(192, 1, name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([branch1x1, branch7x7, branch7x7dbl, branch_pool], axis=-1)


class InceptionD(nn.Module):
  """torchvision's InceptionD (Mixed_7a), halving the map.

  Branches: 1x1 -> strided 3x3 | 1x1 -> 1x7 -> 7x1 -> strided 3x3 | max pool.
  """
  precision: Any = None

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    conv = lambda *args, **kw: BasicConv2d(*args, precision=self.precision, **kw)
    branch3x3 = conv(192, 1, name='branch3x3_1')(x)
    branch3x3 = conv(320, 3, stride=2, name='branch3x3_2')(branch3x3)
    branch7x7x3 = conv(192, 1, name='branch7x7x3_1')(x)
    branch7x7x3 = conv(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(branch7x7x3)
    branch7x7x3 = conv(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(branch7x7x3)
    branch7x7x3 = conv(192, 3, stride=2, name='branch7x7x3_4')(branch7x7x3)
    branch_pool = layers.max_pool(x, 3, 2)
    return jnp.concatenate([branch3x3, branch7x7x3, branch_pool], axis=-1)


class InceptionE(nn.Module):
  """FIDInceptionE_1 (avg pool, Mixed_7b) or FIDInceptionE_2 (max pool, Mixed_7c).

  Branches: 1x1 | 1x1 -> (1x3, 3x1) | 1x1 -> 3x3 -> (1x3, 3x1) | pool -> 1x1.
  """
  max_pool: bool = False
  precision: Any = None

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    conv = lambda *args, **kw: BasicConv2d(*args, precision=self.precision, **kw)
    branch1x1 = conv(320, 1, name='branch1x1')(x)
    branch3x3 = conv(384, 1, name='branch3x3_1')(x)
    branch3x3 = jnp.concatenate([
        conv(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(branch3x3),
        conv(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(branch3x3),
    ], axis=-1)
    branch3x3dbl = conv(448, 1, name='branch3x3dbl_1')(x)
    branch3x3dbl = conv(384, 3, padding=1, name='branch3x3dbl_2')(branch3x3dbl)
    branch3x3dbl = jnp.concatenate([
        conv(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(branch3x3dbl),
        conv(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(branch3x3dbl),
    ], axis=-1)
    pooled = layers.max_pool(x, 3, 1, 1) if self.max_pool else _avg_pool_3x3(x)
    branch_pool = conv(192, 1, name='branch_pool')(pooled)
    return jnp.concatenate([branch1x1, branch3x3, branch3x3dbl, branch_pool], axis=-1)


class FIDInceptionV3(nn.Module):
  """pytorch-fid's `fid_inception_v3()` trunk: NHWC images in [-1, 1] -> pool3 [N, 2048].

  The input is what pytorch-fid feeds its first conv (images in [0, 1] mapped
  by 2x - 1); any square or rectangular side of at least `min_resolution`
  works, 299 being the one FID is defined at. `precision` is the convs'
  (default HIGHEST: float32 throughout, on every backend).
  """
  precision: Any = jax.lax.Precision.HIGHEST
  # Smallest side for which Mixed_7a still leaves a 1x1 map.
  min_resolution: ClassVar[int] = 75

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    if x.ndim != 4 or x.shape[-1] != 3:
      raise ValueError(f'Expected NHWC RGB images [N, H, W, 3]; got shape {x.shape}.')
    if min(x.shape[1:3]) < self.min_resolution:
      raise ValueError(f'Input of {x.shape[1]}x{x.shape[2]} pixels is too small for the '
                       f'FID Inception; it needs at least {self.min_resolution} per side.')
    conv = lambda *args, **kw: BasicConv2d(*args, precision=self.precision, **kw)
    x = conv(32, 3, stride=2, name='Conv2d_1a_3x3')(x)
    x = conv(32, 3, name='Conv2d_2a_3x3')(x)
    x = conv(64, 3, padding=1, name='Conv2d_2b_3x3')(x)
    x = layers.max_pool(x, 3, 2)
    x = conv(80, 1, name='Conv2d_3b_1x1')(x)
    x = conv(192, 3, name='Conv2d_4a_3x3')(x)
    x = layers.max_pool(x, 3, 2)
    x = InceptionA(32, self.precision, name='Mixed_5b')(x)
    x = InceptionA(64, self.precision, name='Mixed_5c')(x)
    x = InceptionA(64, self.precision, name='Mixed_5d')(x)
    x = InceptionB(self.precision, name='Mixed_6a')(x)
    for name, channels_7x7 in (('Mixed_6b', 128), ('Mixed_6c', 160), ('Mixed_6d', 160),
                               ('Mixed_6e', 192)):
      x = InceptionC(channels_7x7, self.precision, name=name)(x)
    x = InceptionD(self.precision, name='Mixed_7a')(x)
    x = InceptionE(max_pool=False, precision=self.precision, name='Mixed_7b')(x)
    x = InceptionE(max_pool=True, precision=self.precision, name='Mixed_7c')(x)
    return layers.global_avg_pool(x)  # AdaptiveAvgPool2d((1, 1)), flattened.
