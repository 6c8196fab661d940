"""A small class-conditional U-Net for EDM: F(c_in x; c_noise, class).

Residual blocks (group norm, SiLU, 3x3 convolutions, the noise-and-class
embedding added between them, dropout), a sinusoidal embedding of c_noise, a
learned class embedding whose last row is the null class (classifier-free
guidance trains on it with probability `label_dropout`), self-attention at the
resolutions named in `attention_resolutions` (by default the lowest), average
pooling down and nearest-neighbour up, skip connections by concatenation. The
last convolution starts at zero, so F starts at 0 and D(x; sigma) at c_skip x.
Convolutions come from `gan_aug.models.conv_layers` (matrix products on CPU).
"""

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_aug.models import conv_layers


def sinusoidal_embedding(values: jax.Array, dim: int,
                         max_period: float = 10000.0) -> jax.Array:
  """[B] -> [B, dim]: cos and sin of values x frequencies from 1 to 1/max_period."""
  half = dim // 2
  freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
  angles = values.astype(jnp.float32)[:, None] * freqs[None]
  return jnp.concatenate([jnp.cos(angles), jnp.sin(angles)], axis=-1)


def _groups(channels: int) -> int:
  return math.gcd(channels, 32) if channels >= 8 else 1


class ResBlock(nn.Module):
  """GroupNorm-SiLU-conv, plus the embedding, GroupNorm-SiLU-dropout-conv, and the
  input (1x1-projected when the width changes)."""
  features: int
  dropout: float
  conv_impl: str = 'lax'

  @nn.compact
  def __call__(self, x, emb, train: bool):
    conv = lambda features, kernel, **kw: conv_layers.conv(
        self.conv_impl, features, (kernel, kernel), padding='SAME', **kw)
    h = nn.silu(nn.GroupNorm(_groups(x.shape[-1]))(x))
    h = conv(self.features, 3)(h)
    h = h + nn.Dense(self.features)(nn.silu(emb))[:, None, None, :]
    h = nn.silu(nn.GroupNorm(_groups(self.features))(h))
    h = nn.Dropout(self.dropout, deterministic=not train)(h)
    h = conv(self.features, 3)(h)
    if x.shape[-1] != self.features:
      x = conv(self.features, 1)(x)
    return (x + h) / math.sqrt(2.0)


class SelfAttention(nn.Module):
  """Multi-head self-attention over the pixels, with a residual connection."""
  num_heads: int = 1

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    y = nn.GroupNorm(_groups(c))(x).reshape(b, h * w, c)
    y = nn.MultiHeadDotProductAttention(num_heads=self.num_heads,
                                        qkv_features=c, out_features=c)(y, y)
    return (x + y.reshape(b, h, w, c)) / math.sqrt(2.0)


class UNet(nn.Module):
  """F(x_in, c_noise, labels): x_in [B, H, W, C], c_noise [B], labels [B] in
  0..num_classes (num_classes is the null class). `widths` per resolution level
  (each level after the first halves the side), `blocks` residual blocks per
  level, attention at the sides in `attention_resolutions`."""
  num_classes: int
  out_channels: int
  widths: Sequence[int] = (32, 64, 64)
  blocks: int = 1
  attention_resolutions: Sequence[int] = (7,)
  dropout: float = 0.1
  conv_impl: str = 'lax'

  @nn.compact
  def __call__(self, x, c_noise, labels, train: bool = False):
    emb_dim = 4 * self.widths[0]
    emb = sinusoidal_embedding(c_noise, self.widths[0])
    emb = nn.Dense(emb_dim)(nn.silu(nn.Dense(emb_dim)(emb)))
    emb = emb + nn.Embed(self.num_classes + 1, emb_dim)(labels)
    block = lambda f: ResBlock(f, self.dropout, self.conv_impl)
    attend = lambda h: (SelfAttention()(h) if h.shape[1] in self.attention_resolutions
                        else h)
    h = conv_layers.conv(self.conv_impl, self.widths[0], (3, 3), padding='SAME')(x)
    skips = [h]
    for level, width in enumerate(self.widths):
      if level:
        h = nn.avg_pool(h, (2, 2), (2, 2))
        skips.append(h)
      for _ in range(self.blocks):
        h = attend(block(width)(h, emb, train))
        skips.append(h)
    h = attend(block(self.widths[-1])(h, emb, train))
    h = block(self.widths[-1])(h, emb, train)
    for level, width in reversed(list(enumerate(self.widths))):
      for _ in range(self.blocks + 1):
        h = attend(block(width)(jnp.concatenate([h, skips.pop()], -1), emb, train))
      if level:
        h = jax.image.resize(h, (h.shape[0], skips[-1].shape[1], skips[-1].shape[2],
                                 h.shape[-1]), 'nearest')
    h = nn.silu(nn.GroupNorm(_groups(h.shape[-1]))(h))
    return conv_layers.conv(self.conv_impl, self.out_channels, (3, 3), padding='SAME',
                            kernel_init=nn.initializers.zeros)(h)
