"""The DCGAN of Radford et al. (2015), as papers 000, 001 and 002 use it.

Generator: z -> 4x4 transposed convolution (stride 1) -> stride-2 4x4 transposed
convolutions halving the width at each doubling, batch norm + ReLU after every
layer but the last, tanh at the end. At 64x64 that is the papers' five transposed
convolutions, four batch norms and four ReLUs (paper 001 §5.1).

Discriminator: stride-2 4x4 convolutions doubling the width, LeakyReLU(0.2) after
each, batch norm on all but the first, then a 4x4 valid convolution to one logit.
At 64x64: five convolutions, four LeakyReLUs, three batch norms.

Layer shapes, paddings (torch padding 1 for the stride-2 layers), bias-free
convolutions, N(0, 0.02) weights and batch norm (momentum 0.1 in torch terms,
epsilon 1e-5) follow the PyTorch DCGAN example the papers print; at 64x64x3 with
z = 100 and ngf = ndf = 64 the generator has 3,576,704 parameters and the
discriminator 2,765,568 (before batch norm's running statistics), as that example.

`conv_impl` picks how the 4x4 layers are computed (`gan_aug.models.conv_layers`):
'lax' (Flax's `nn.Conv` / `nn.ConvTranspose`) or 'matmul' (the same maths as
matrix products, with the same parameters). Both give the same outputs and
gradients (tested in float64); config.gan.conv_impl 'auto' takes 'matmul' on
CPU, where it is several times faster, and 'lax' (cuDNN and friends) elsewhere.

The modules take (and ignore) class labels so that one unconditional DCGAN per
class fits the project's conditional interface.
"""

import math
from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from gan_aug.models import conv_layers

BASE_SIZE = 4  # The generator's first feature map is 4x4.
_INIT = nn.initializers.normal(0.02)
# torch's ConvTranspose2d(k=4, s=2, p=1) pads the dilated input by k - 1 - p = 2.
_UP_PADDING = ((2, 2), (2, 2))
_DOWN_PADDING = ((1, 1), (1, 1))


def num_doublings(resolution: int) -> int:
  """Stride-2 layers from 4x4 to `resolution`; raises unless 4 * 2**k (k >= 1)."""
  k = round(math.log2(resolution / BASE_SIZE)) if resolution > 0 else 0
  if k < 1 or BASE_SIZE * 2 ** k != resolution:
    valid = ', '.join(str(BASE_SIZE * 2 ** i) for i in range(1, 7))
    raise ValueError(
        f'config.data.resolution={resolution} cannot be produced by the DCGAN '
        f'generator, which doubles a 4x4 map: use one of {valid}.')
  return k


def _batch_norm(train: bool, param_dtype: Any, dtype: Any) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                      param_dtype=param_dtype, dtype=dtype)


class DCGANGenerator(nn.Module):
  """G(z) -> images in [-1, 1]; `labels` is accepted and ignored."""
  resolution: int = 64
  channels: int = 3
  base_width: int = 64  # ngf
  conv_impl: str = 'lax'
  param_dtype: Any = jnp.float32
  dtype: Optional[Any] = None  # compute dtype; bfloat16 = mixed precision

  def _layer(self, index: int, width: int):
    """The index-th 4x4 transposed convolution (index 0: 1x1 -> 4x4)."""
    stride, padding = ((1, 1), 'VALID') if index == 0 else ((2, 2), _UP_PADDING)
    return conv_layers.conv_transpose(
        self.conv_impl, width, (4, 4), strides=stride, padding=padding,
        use_bias=False, kernel_init=_INIT, param_dtype=self.param_dtype,
        dtype=self.dtype)

  @nn.compact
  def __call__(self, z, labels: Optional[Any] = None, train: bool = True):
    del labels
    k = num_doublings(self.resolution)
    h = z.reshape(z.shape[0], 1, 1, z.shape[-1]).astype(self.dtype or z.dtype)
    for i in range(k):
      h = self._layer(i, self.base_width * 2 ** (k - 1 - i))(h)
      h = nn.relu(_batch_norm(train, self.param_dtype, self.dtype)(h))
    return jnp.tanh(self._layer(k, self.channels)(h)).astype(self.param_dtype)


class DCGANDiscriminator(nn.Module):
  """D(x) -> (real/fake logit [N], None): no class head."""
  resolution: int = 64
  base_width: int = 64  # ndf
  leaky_slope: float = 0.2
  conv_impl: str = 'lax'
  param_dtype: Any = jnp.float32
  dtype: Optional[Any] = None  # compute dtype; bfloat16 = mixed precision

  def _layer(self, index: int, width: int, last: bool):
    """The index-th 4x4 convolution (the last one: 4x4 -> 1x1)."""
    stride, padding = ((1, 1), 'VALID') if last else ((2, 2), _DOWN_PADDING)
    return conv_layers.conv(self.conv_impl, width, (4, 4), strides=stride,
                            padding=padding, use_bias=False, kernel_init=_INIT,
                            param_dtype=self.param_dtype, dtype=self.dtype)

  @nn.compact
  def __call__(self, x, labels: Optional[Any] = None, train: bool = True):
    del labels
    k = num_doublings(self.resolution)
    h = x.astype(self.dtype or x.dtype)
    for i in range(k):
      h = self._layer(i, self.base_width * 2 ** i, last=False)(h)
      if i > 0:
        h = _batch_norm(train, self.param_dtype, self.dtype)(h)
      h = nn.leaky_relu(h, self.leaky_slope)
    h = self._layer(k, 1, last=True)(h)
    return h.reshape(h.shape[0]).astype(self.param_dtype), None
