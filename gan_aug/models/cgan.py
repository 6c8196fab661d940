"""The MLP conditional GAN of paper 004 (224x224x1 chest X-rays).

Generator: noise z (128) multiplied element-wise by a 128-d embedding of the label
(Keras `Multiply`), then dense layers 128 -> 256 -> 512 -> 1024, each followed by
LeakyReLU(0.2) and batch norm, and a dense layer to H*W*C with tanh, reshaped to
the image ("five Dense layers, four hidden ones normalised by batch norm").

Discriminator: the flattened image multiplied by an H*W*C embedding of the label
(the Keras CGAN recipe's way of conditioning D), then four dense layers of 512
with LeakyReLU(0.2); batch norm on the second, third and fourth and dropout
after the second and third ("four LeakyReLU, three batch normalisation, two
dropout"), and a dense layer to one logit (the paper's sigmoid lives in the loss).
D has no class head. D's batch norm comes before its LeakyReLU: the paper does not
give the order, and with batch norm last (after the activation, right before the
linear output layer) the batch-mean logit of a training batch no longer depends
on the batch, so D, which sees all-real and all-fake batches (the paper's "half
batch of actual data and a half batch of synthetic data"), cannot learn: measured,
D(x) = D(G(z)) = 0.500 for 1000 steps on covid19_3way.

Batch norm uses Keras's defaults (momentum 0.99, epsilon 1e-3); dense weights use
Keras's Glorot-uniform default and embeddings Keras's uniform(-0.05, 0.05).
"""

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def _keras_embedding_init(key, shape, dtype=jnp.float32):
  """Keras' Embedding default: uniform in [-0.05, 0.05]."""
  return jax.random.uniform(key, shape, dtype, -0.05, 0.05)


def _dense(features: int, param_dtype: Any, dtype: Any) -> nn.Dense:
  return nn.Dense(features, kernel_init=nn.initializers.glorot_uniform(),
                  param_dtype=param_dtype, dtype=dtype)


def _batch_norm(train: bool, param_dtype: Any, dtype: Any) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3,
                      param_dtype=param_dtype, dtype=dtype)


class CGANGenerator(nn.Module):
  """G(z, y) -> images in [-1, 1] of shape [N, resolution, resolution, channels]."""
  num_classes: int
  resolution: int = 224
  channels: int = 1
  hidden_widths: Sequence[int] = (128, 256, 512, 1024)
  leaky_slope: float = 0.2
  param_dtype: Any = jnp.float32
  dtype: Optional[Any] = None  # compute dtype; bfloat16 = mixed precision

  @nn.compact
  def __call__(self, z, labels, train: bool = True):
    embedding = nn.Embed(self.num_classes, z.shape[-1],
                         embedding_init=_keras_embedding_init,
                         param_dtype=self.param_dtype, dtype=self.dtype)(labels)
    h = z.astype(self.dtype or z.dtype) * embedding
    for width in self.hidden_widths:
      h = _dense(width, self.param_dtype, self.dtype)(h)
      h = nn.leaky_relu(h, self.leaky_slope)
      h = _batch_norm(train, self.param_dtype, self.dtype)(h)
    size = self.resolution * self.resolution * self.channels
    h = jnp.tanh(_dense(size, self.param_dtype, self.dtype)(h))
    return h.reshape(-1, self.resolution, self.resolution,
                     self.channels).astype(self.param_dtype)


class CGANDiscriminator(nn.Module):
  """D(x, y) -> (real/fake logit [N], None)."""
  num_classes: int
  hidden_widths: Sequence[int] = (512, 512, 512, 512)
  dropout_rate: float = 0.4
  leaky_slope: float = 0.2
  param_dtype: Any = jnp.float32
  dtype: Optional[Any] = None  # compute dtype; bfloat16 = mixed precision

  @nn.compact
  def __call__(self, x, labels, train: bool = True):
    h = x.reshape(x.shape[0], -1).astype(self.dtype or x.dtype)
    h = h * nn.Embed(self.num_classes, h.shape[-1],
                     embedding_init=_keras_embedding_init,
                     param_dtype=self.param_dtype, dtype=self.dtype)(labels)
    last = len(self.hidden_widths) - 1
    for i, width in enumerate(self.hidden_widths):
      h = _dense(width, self.param_dtype, self.dtype)(h)
      if i >= 1:
        h = _batch_norm(train, self.param_dtype, self.dtype)(h)
      h = nn.leaky_relu(h, self.leaky_slope)
      if 1 <= i < last:
        h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    return _dense(1, self.param_dtype, self.dtype)(h)[:, 0].astype(self.param_dtype), None
