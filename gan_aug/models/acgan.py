"""CovidGAN: the auxiliary-classifier GAN of paper 003 (Calabrese & Marabotto, §7.2).

Generator: label -> 50-d embedding -> dense 7*7 (linear) -> 7x7x1; latent ->
dense 7*7*width -> ReLU -> 7x7xwidth; concatenated; then 5x5 stride-2 transposed
convolutions halving the width at each doubling of resolution, each followed by
batch norm and ReLU, the last one to the image channels with tanh. At the paper's
sizes (latent 100, width 1024, 112x112x3) it has 22.3 M parameters, matching the
paper's "approximately 22 million".

Discriminator: 3x3 stride-2 convolutions 64 -> 128 -> 256 -> 512 (112 -> 7), each
followed by batch norm, LeakyReLU(0.2) and dropout(0.5); flattened into two heads,
a real/fake logit (sigmoid) and class logits (softmax). The paper says the stride
"changes alternatively from (1, 1) to (2, 2)" yet lists only four convolutions
that halve the resolution four times; four stride-2 convolutions give 1.6 M
parameters, matching its "approximately 2 million", while inserting stride-1
convolutions would triple that. Heads return logits; losses apply the sigmoid and
softmax in their numerically stable forms.

`conv_impl` picks how the convolutions are computed (`gan_aug.models.conv_layers`:
Flax's layers, or the same layers as matrix products, several times faster to
train on XLA:CPU).

Weights start from N(0, 0.02) as in the DCGAN/ACGAN Keras recipes; batch norm
uses Keras's defaults (momentum 0.99, epsilon 1e-3), as the paper trained in Keras.
Convolutions followed by batch norm have no bias: batch norm subtracts it again, so
its gradient is pure rounding noise that Adam would blow up to full-size steps.
"""

import functools
import math

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from gan_aug.models import conv_layers

BASE_SIZE = 7  # The generator's first feature map is 7x7, as in the paper.
_INIT = nn.initializers.normal(0.02)


def num_upsamplings(resolution: int) -> int:
  """Doublings from 7x7 to `resolution`; raises if 7 * 2**k != resolution."""
  k = round(math.log2(max(resolution, 1) / BASE_SIZE)) if resolution > 0 else 0
  if k < 1 or BASE_SIZE * 2 ** k != resolution:
    valid = ', '.join(str(BASE_SIZE * 2 ** i) for i in range(1, 7))
    raise ValueError(
        f'config.data.resolution={resolution} cannot be produced by the ACGAN '
        f'generator, which doubles a 7x7 map: use one of {valid}.')
  return k


def _batch_norm(train: bool, param_dtype: Any, dtype: Any) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3,
                      param_dtype=param_dtype, dtype=dtype)


class ACGANGenerator(nn.Module):
  """G(z, y): latent vectors and class labels to images in [-1, 1]."""
  num_classes: int
  resolution: int = 112
  channels: int = 3
  base_width: int = 1024
  label_embedding_dim: int = 50
  kernel_size: int = 5
  conv_impl: str = 'lax'
  param_dtype: Any = jnp.float32
  dtype: Optional[Any] = None  # compute dtype; bfloat16 = mixed precision

  @nn.compact
  def __call__(self, z, labels, train: bool = True):
    n_up = num_upsamplings(self.resolution)
    s = BASE_SIZE
    dense = functools.partial(nn.Dense, kernel_init=_INIT,
                              param_dtype=self.param_dtype, dtype=self.dtype)
    up = functools.partial(conv_layers.conv_transpose, self.conv_impl,
                           kernel_size=(self.kernel_size, self.kernel_size),
                           strides=(2, 2), padding='SAME', kernel_init=_INIT,
                           param_dtype=self.param_dtype, dtype=self.dtype)
    y = nn.Embed(self.num_classes, self.label_embedding_dim, embedding_init=_INIT,
                 param_dtype=self.param_dtype, dtype=self.dtype)(labels)
    y = dense(s * s)(y).reshape(-1, s, s, 1)
    h = nn.relu(dense(s * s * self.base_width)(z)).reshape(-1, s, s, self.base_width)
    h = jnp.concatenate([h, y], axis=-1)
    for i in range(1, n_up):
      h = up(max(self.base_width // 2 ** i, 1), use_bias=False)(h)
      h = nn.relu(_batch_norm(train, self.param_dtype, self.dtype)(h))
    return jnp.tanh(up(self.channels)(h)).astype(self.param_dtype)


class ACGANDiscriminator(nn.Module):
  """D(x) -> (real/fake logit [N], class logits [N, num_classes])."""
  num_classes: int
  resolution: int = 112
  base_width: int = 64
  dropout_rate: float = 0.5
  leaky_slope: float = 0.2
  conv_impl: str = 'lax'
  param_dtype: Any = jnp.float32
  dtype: Optional[Any] = None  # compute dtype; bfloat16 = mixed precision

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    del labels  # D infers the class; the signature matches the other families.
    n_down = num_upsamplings(self.resolution)
    h = x.astype(self.dtype or x.dtype)
    for i in range(n_down):
      h = conv_layers.conv(self.conv_impl, self.base_width * 2 ** i, (3, 3),
                           strides=(2, 2), padding='SAME', use_bias=False,
                           kernel_init=_INIT, param_dtype=self.param_dtype,
                           dtype=self.dtype)(h)
      h = _batch_norm(train, self.param_dtype, self.dtype)(h)
      h = nn.leaky_relu(h, self.leaky_slope)
      h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    h = h.reshape(h.shape[0], -1)
    dense = functools.partial(nn.Dense, kernel_init=_INIT,
                              param_dtype=self.param_dtype, dtype=self.dtype)
    realness = dense(1)(h)[:, 0]
    class_logits = dense(self.num_classes)(h)
    return realness.astype(self.param_dtype), class_logits.astype(self.param_dtype)
