"""Convolutions written as matrix products (same maths, faster on CPU): the DCGAN's
4x4 layers, and the classifiers' stride-1 convolutions (`MatmulConv`).

XLA:CPU runs the gradients of convolutions, and transposed convolutions above
all, at a fraction of its matrix-multiply rate; a DCGAN step built from
`nn.ConvTranspose`/`nn.Conv` ran about 8x slower than PyTorch on the same two
cores (7 against 56 images/s). Every layer of the DCGAN is a 4x4 kernel that
halves or doubles the image, and each can be written exactly as one 2-D matrix
product plus shifted slices and sums, whose gradients are 2-D products again:

  * stride-2 convolution (D): pad by 1 and space-to-depth by 2, so that each
    output reads a 2x2 window of blocks; multiply every block by the four 2x2
    sub-kernels at once and sum the four shifted products (with fewer than 8
    input channels: one product of the 2x2 windows side by side instead);
  * stride-2 transposed convolution (G): each output phase (row and column
    parity) is a 2x2 convolution of the input padded by 1, so one product of the
    padded input's 2x2 windows with the four phases' sub-kernels, then the phases
    interleaved (with fewer than 8 outputs: every pixel times all 16 taps, then
    each output sums the 4 taps that reach it);
  * the 4x4 'VALID' layers at G's input (1x1 -> 4x4) and D's output (4x4 -> 1x1)
    are dense layers.
The products run over padded borders too: about 1.5x the FLOPs of the plain
convolutions at DCGAN-64 sizes, still several times faster on XLA:CPU.
Parameters keep the shapes, names and initialisers of the Flax layers they
replace (kernel [4, 4, in, out]), so the two forms share checkpoints and are
tested equal, to float64 rounding, with their gradients.
"""

from typing import Any, Callable, Tuple

import flax.linen as nn
import jax.numpy as jnp


def _matmul(x: jnp.ndarray, w: jnp.ndarray) -> jnp.ndarray:
  """[..., k] x [k, m] as one 2-D product (the form XLA:CPU runs fastest, and
  whose gradients are 2-D products too)."""
  lead = x.shape[:-1]
  return (x.reshape(-1, x.shape[-1]) @ w).reshape(lead + (w.shape[-1],))


# Below this many channels a matrix product is too narrow to run fast, and the
# other formulation of the layer is used (measured on XLA:CPU, DCGAN-64 shapes).
_NARROW = 8


def _space_to_depth_padded(x: jnp.ndarray) -> jnp.ndarray:
  """`x` padded by 1, then each 2x2 block as one pixel: [n, h/2 + 1, w/2 + 1,
  (si, sj, c)] holding padded pixel (2i + si, 2j + sj)."""
  n, h, w, c = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  blocks = xp.reshape(n, h // 2 + 1, 2, w // 2 + 1, 2, c).transpose(0, 1, 3, 2, 4, 5)
  return blocks.reshape(n, h // 2 + 1, w // 2 + 1, 4 * c)


def _shifted_2x2(x: jnp.ndarray) -> jnp.ndarray:
  """The 2x2 patches of NHWC `x` side by side: [n, h - 1, w - 1, (ti, tj, c)]."""
  _, h, w, _ = x.shape
  return jnp.concatenate([x[:, ti:ti + h - 1, tj:tj + w - 1]
                          for ti in (0, 1) for tj in (0, 1)], axis=-1)


def conv4x4_stride2(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  """`nn.Conv(out, (4, 4), strides=2, padding=1)` of NHWC `x` (even sides)."""
  n, h, w, c = x.shape
  out = kernel.shape[-1]
  blocks = _space_to_depth_padded(x)
  # Output (m, q) reads blocks (m + ti, q + tj), ti, tj in {0, 1}, and meets
  # kernel[2ti + si, 2tj + sj] there.
  k = kernel.reshape(2, 2, 2, 2, c, out)  # [ti, si, tj, sj, c, o]
  if c < _NARROW:  # Few input channels: one product of the 2x2 patches.
    k = k.transpose(0, 2, 1, 3, 4, 5).reshape(16 * c, out)
    return _matmul(_shifted_2x2(blocks), k)
  # Every block times the four (ti, tj) sub-kernels, then each output sums the
  # four products that reach it.
  k = k.transpose(1, 3, 4, 0, 2, 5).reshape(4 * c, 4 * out)  # [(si sj c), (ti tj o)]
  z = _matmul(blocks, k).reshape(n, h // 2 + 1, w // 2 + 1, 2, 2, out)
  return sum(z[:, ti:ti + h // 2, tj:tj + w // 2, ti, tj]
             for ti in (0, 1) for tj in (0, 1))


def _interleave(phases) -> jnp.ndarray:
  """[[p00, p01], [p10, p11]] of shape [n, h, w, o] -> [n, 2h, 2w, o] with
  output (2m + a, 2q + b) = phases[a][b][m, q]."""
  n, h, w, out = phases[0][0].shape
  rows = [jnp.stack(row, axis=3) for row in phases]  # [n, m, q, b, o]
  return jnp.stack(rows, axis=2).reshape(n, 2 * h, 2 * w, out)


def conv_transpose4x4_stride2(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  """`nn.ConvTranspose(out, (4, 4), strides=2, padding=((2, 2), (2, 2)))` of NHWC
  `x`, i.e. torch's ConvTranspose2d(k=4, s=2, p=1): output sides doubled."""
  n, h, w, c = x.shape
  out = kernel.shape[-1]
  # Output (2m + a, 2q + b) = sum over t, u in {0, 1} of
  # x[m - 1 + a + t, q - 1 + b + u] . kernel[a + 2t, b + 2u] = (with x padded
  # by 1) the padded pixels (m + a + t, q + b + u).
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  k = kernel.reshape(2, 2, 2, 2, c, out)  # [t, a, u, b, c, o]
  if out < _NARROW:  # Few outputs: every pixel times all 16 taps, then sums.
    k = k.transpose(4, 0, 2, 1, 3, 5).reshape(c, 16 * out)  # [c, (t u a b o)]
    z = _matmul(xp, k).reshape(n, h + 2, w + 2, 2, 2, 2, 2, out)
    return _interleave([[sum(z[:, a + t:a + t + h, b + u:b + u + w, t, u, a, b]
                             for t in (0, 1) for u in (0, 1))
                         for b in (0, 1)] for a in (0, 1)])
  # One product of the 2x2 patches with each phase's 2x2 sub-kernel; phase
  # (a, b) reads the patch at (m + a, q + b).
  k = k.transpose(0, 2, 4, 1, 3, 5).reshape(4 * c, 4 * out)  # [(t u c), (a b o)]
  z = _matmul(_shifted_2x2(xp), k).reshape(n, h + 1, w + 1, 2, 2, out)
  return _interleave([[z[:, a:a + h, b:b + w, a, b] for b in (0, 1)]
                      for a in (0, 1)])


def project_1x1_to_4x4(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  """`nn.ConvTranspose(out, (4, 4), padding='VALID')` of a [N, 1, 1, C] input."""
  # A 1x1 input meets the kernel flipped: output (i, j) = x . kernel[3 - i, 3 - j].
  return jnp.einsum('nc,klco->nklo', x.reshape(x.shape[0], -1),
                    kernel[::-1, ::-1])


def reduce_4x4_to_1x1(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  """`nn.Conv(out, (4, 4), padding='VALID')` of a [N, 4, 4, C] input."""
  return jnp.einsum('nklc,klco->no', x, kernel)[:, None, None, :]


def conv_stride1(x: jnp.ndarray, kernel: jnp.ndarray, padding: str) -> jnp.ndarray:
  """`nn.Conv(out, (kh, kw), padding=padding)` (stride 1, 'SAME' or 'VALID', odd
  kernel sides for 'SAME') of NHWC `x`, as one matrix product.

  The kw horizontal shifts of the input side by side are multiplied by the kh
  kernel rows at once; output row r then sums kernel row i's product at input
  row r + i. With fewer than 8 input channels all kh x kw taps go side by side
  instead (one product, no sum). On XLA:CPU, whose convolution gradients are
  slow at these shapes, paper 003's custom CNN ran its forward and backward
  pass 1.4x (28x28 grey, batch 64) and 4x (64x64 grey, batch 32) faster this
  way; its forward pass alone ran about 2x slower.
  """
  kh, kw, c, out = kernel.shape
  if padding == 'SAME':
    x = jnp.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
  elif padding != 'VALID':
    raise ValueError(f"padding must be 'SAME' or 'VALID'; got {padding!r}.")
  n, hp, wp, _ = x.shape
  h, w = hp - kh + 1, wp - kw + 1
  if c < _NARROW:
    taps = jnp.concatenate([x[:, i:i + h, j:j + w] for i in range(kh)
                            for j in range(kw)], axis=-1)  # [n, h, w, (i j c)]
    return _matmul(taps, kernel.reshape(kh * kw * c, out))
  rows = jnp.concatenate([x[:, :, j:j + w] for j in range(kw)], axis=-1)
  k = kernel.transpose(1, 2, 0, 3).reshape(kw * c, kh * out)  # [(j c), (i o)]
  z = _matmul(rows, k).reshape(n, hp, w, kh, out)
  return sum(z[:, i:i + h, :, i] for i in range(kh))


class MatmulConv(nn.Module):
  """`nn.Conv(features, kernel_size, padding)` for stride 1 and 'SAME'/'VALID',
  computed by `conv_stride1`: the same parameters (`kernel` [kh, kw, in, out],
  `bias` [out]), initialisers and outputs."""
  features: int
  kernel_size: Tuple[int, int]
  padding: str = 'SAME'
  use_bias: bool = True
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros_init()
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    kh, kw = self.kernel_size
    if self.padding == 'SAME' and not (kh % 2 and kw % 2):
      raise ValueError(f'MatmulConv with SAME padding needs odd kernel sides; got '
                       f'{self.kernel_size}.')
    kernel = self.param('kernel', self.kernel_init, (kh, kw, x.shape[-1],
                                                     self.features), self.param_dtype)
    y = conv_stride1(x, kernel.astype(x.dtype), self.padding)
    if self.use_bias:
      y = y + self.param('bias', self.bias_init, (self.features,),
                         self.param_dtype).astype(y.dtype)
    return y


_LAYERS = {
    'conv4x4_stride2': conv4x4_stride2,
    'conv_transpose4x4_stride2': conv_transpose4x4_stride2,
    'project_1x1_to_4x4': project_1x1_to_4x4,
    'reduce_4x4_to_1x1': reduce_4x4_to_1x1,
}


class MatmulConv4x4(nn.Module):
  """A bias-free 4x4 layer of the DCGAN (`layer` one of the functions above) with
  the parameter `kernel` [4, 4, in, features], as `nn.Conv`/`nn.ConvTranspose`."""
  features: int
  layer: str
  kernel_init: Callable = nn.initializers.lecun_normal()
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', self.kernel_init,
                        (4, 4, x.shape[-1], self.features), self.param_dtype)
    return _LAYERS[self.layer](x, kernel.astype(x.dtype))
