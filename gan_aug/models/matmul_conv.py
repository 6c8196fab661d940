"""Convolutions written as matrix products (same maths, faster on CPU): `Conv` and
`ConvTranspose`, drop-ins for Flax's layers at any kernel size and stride, with
hand-tuned forms for the DCGAN's 4x4 layers.

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
Other shapes (paper 003's ACGAN: 5x5 stride-2 transposed convolutions in G, 3x3
stride-2 convolutions in D; the classifiers' stride-1 convolutions) take general
forms built on one stride-1 product (`conv_stride1`): `conv_transpose_strided`
(output phases side by side) and `conv_strided` (space-to-depth by the stride).
At 4x4 stride 2 the general forms would multiply by zero taps the hand-tuned ones
skip (16 of 36 non-zero in G), so the hand-tuned ones are kept for that shape.
Parameters keep the shapes, names and initialisers of the Flax layers they
replace (kernel [kh, kw, in, out]), so the two forms share checkpoints and are
tested equal, to float64 rounding, with their gradients.
"""

from typing import Any, Callable, Optional, Tuple

import flax.linen as nn
import jax.numpy as jnp
import numpy as np


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


def _transpose_pads(k: int, s: int, padding) -> Tuple[int, int]:
  """The padding of the dilated input that `lax.conv_transpose` (so
  `nn.ConvTranspose`) applies in one dimension for `padding`."""
  if padding == 'SAME':
    pad_len = k + s - 2
    before = k - 1 if s > k - 1 else -(-pad_len // 2)
    return before, pad_len - before
  if padding == 'VALID':
    return k - 1, k + s - 2 + max(k - s, 0) - (k - 1)
  return tuple(padding)


def _phase_kernel(kernel: jnp.ndarray, k: int, s: int, before: int, axis: int):
  """Along kernel axis `axis`: the taps each output phase a (output index s*m + a)
  applies to input m + d, as a stride-1 kernel over offsets d_min..d_max with a
  new phase axis at the end; returns (kernel [..., L, ..., s], d_min)."""
  offsets = {(a, t): (a + t - before) // s for a in range(s) for t in range(k)
             if (a + t - before) % s == 0}
  d_min, d_max = min(offsets.values()), max(offsets.values())
  mask = np.zeros((d_max - d_min + 1, s), bool)
  index = np.zeros((d_max - d_min + 1, s), np.int32)
  for (a, t), d in offsets.items():
    index[d - d_min, a], mask[d - d_min, a] = t, True
  moved = jnp.moveaxis(kernel, axis, 0)
  picked = moved[index] * jnp.asarray(mask, kernel.dtype).reshape(
      mask.shape + (1,) * (moved.ndim - 1))  # [L, s, ...]
  picked = jnp.moveaxis(picked, 1, -1)  # [L, ..., s]
  return jnp.moveaxis(picked, 0, axis), d_min


def conv_transpose_strided(x: jnp.ndarray, kernel: jnp.ndarray,
                           strides: Tuple[int, int], padding) -> jnp.ndarray:
  """`nn.ConvTranspose(out, (kh, kw), strides, padding)` of NHWC `x` ('SAME',
  'VALID' or explicit pairs), as one stride-1 matrix-product convolution.

  Output index s*m + a (phase a) applies the taps t with a + t - pad = s*d to
  input m + d. Every phase's taps, zero where a phase has none at an offset, go
  side by side into one kernel over the offsets d_min..d_max, applied by
  `conv_stride1` to the input padded by the offsets; the phases are then
  interleaved. For paper 003's 5x5 stride-2 layers the offsets are -1..1: a 3x3
  kernel per phase of which 25 of 36 taps are non-zero.
  """
  (kh, kw), (sh, sw) = kernel.shape[:2], strides
  n, h, w, c = x.shape
  out = kernel.shape[-1]
  pad_h, pad_w = (padding, padding) if isinstance(padding, str) else padding
  (bh, ah), (bw, aw) = _transpose_pads(kh, sh, pad_h), _transpose_pads(kw, sw, pad_w)
  out_h = (h - 1) * sh + bh + ah - kh + 2
  out_w = (w - 1) * sw + bw + aw - kw + 2
  rows_h, rows_w = -(-out_h // sh), -(-out_w // sw)  # Outputs per phase.
  k, dh = _phase_kernel(kernel, kh, sh, bh, 0)  # [Lh, kw, c, o, sh]
  k, dw = _phase_kernel(k, kw, sw, bw, 1)  # [Lh, Lw, c, o, sh, sw]
  lh, lw = k.shape[:2]
  k = k.transpose(0, 1, 2, 4, 5, 3).reshape(lh, lw, c, sh * sw * out)
  # Padded row p holds input row p + d_min (rows past the input are zeros).
  size_h, size_w = rows_h + lh - 1, rows_w + lw - 1
  xp = jnp.pad(x, ((0, 0), (max(-dh, 0), max(size_h + dh - h, 0)),
                   (max(-dw, 0), max(size_w + dw - w, 0)), (0, 0)))
  xp = xp[:, max(dh, 0):max(dh, 0) + size_h, max(dw, 0):max(dw, 0) + size_w]
  z = conv_stride1(xp, k, 'VALID').reshape(n, rows_h, rows_w, sh, sw, out)
  z = z.transpose(0, 1, 3, 2, 4, 5).reshape(n, rows_h * sh, rows_w * sw, out)
  return z[:, :out_h, :out_w]


def conv_strided(x: jnp.ndarray, kernel: jnp.ndarray, strides: Tuple[int, int],
                 padding) -> jnp.ndarray:
  """`nn.Conv(out, (kh, kw), strides, padding)` of NHWC `x` ('SAME', 'VALID' or
  explicit pairs), as one stride-1 matrix-product convolution.

  Tap t = s*q + r of output m reads padded input s*(m + q) + r: the padded input
  space-to-depth by the strides is convolved (`conv_stride1`) with the kernel
  regrouped by (q, r), zero where s*q + r lies past the kernel. For paper 003's
  3x3 stride-2 layers that is a 2x2 kernel over 2x2 blocks, 9 of 16 taps
  non-zero.
  """
  import jax  # pylint: disable=g-import-not-at-top
  (kh, kw), (sh, sw) = kernel.shape[:2], strides
  n, h, w, c = x.shape
  out = kernel.shape[-1]
  if isinstance(padding, str):
    pads = jax.lax.padtype_to_pads((h, w), (kh, kw), strides, padding)
  else:
    pads = padding
  out_h = (h + sum(pads[0]) - kh) // sh + 1
  out_w = (w + sum(pads[1]) - kw) // sw + 1
  qh, qw = -(-kh // sh), -(-kw // sw)
  size_h, size_w = sh * (out_h + qh - 1), sw * (out_w + qw - 1)
  xp = jnp.pad(x, ((0, 0), (pads[0][0], max(size_h - h - pads[0][0], 0)),
                   (pads[1][0], max(size_w - w - pads[1][0], 0)), (0, 0)))
  xp = xp[:, :size_h, :size_w]
  blocks = xp.reshape(n, size_h // sh, sh, size_w // sw, sw, c).transpose(
      0, 1, 3, 2, 4, 5).reshape(n, size_h // sh, size_w // sw, sh * sw * c)
  k = jnp.pad(kernel, ((0, qh * sh - kh), (0, qw * sw - kw), (0, 0), (0, 0)))
  k = k.reshape(qh, sh, qw, sw, c, out).transpose(0, 2, 1, 3, 4, 5).reshape(
      qh, qw, sh * sw * c, out)
  return conv_stride1(blocks, k, 'VALID')


def _pairs(padding):
  return padding if isinstance(padding, str) else tuple(tuple(p) for p in padding)


def conv(x: jnp.ndarray, kernel: jnp.ndarray, strides: Tuple[int, int],
         padding) -> jnp.ndarray:
  """`nn.Conv(out, kernel.shape[:2], strides, padding)` without bias, by the
  fastest matrix-product form for the shape: the DCGAN's hand-tuned 4x4 layers,
  `conv_stride1`, else `conv_strided`."""
  kh, kw = kernel.shape[:2]
  strides, padding = tuple(strides), _pairs(padding)
  if (kh, kw) == (4, 4) and strides == (2, 2) and padding == ((1, 1), (1, 1)) and (
      x.shape[1] % 2 == 0 and x.shape[2] % 2 == 0):
    return conv4x4_stride2(x, kernel)
  if (kh, kw) == (4, 4) and x.shape[1:3] == (4, 4) and padding == 'VALID':
    return reduce_4x4_to_1x1(x, kernel)
  if strides == (1, 1) and (padding == 'VALID' or (padding == 'SAME'
                                                   and kh % 2 and kw % 2)):
    return conv_stride1(x, kernel, padding)
  return conv_strided(x, kernel, strides, padding)


def conv_transpose(x: jnp.ndarray, kernel: jnp.ndarray, strides: Tuple[int, int],
                   padding) -> jnp.ndarray:
  """`nn.ConvTranspose(out, kernel.shape[:2], strides, padding)` without bias, by
  the fastest matrix-product form for the shape: the DCGAN's hand-tuned 4x4
  layers, else `conv_transpose_strided`."""
  strides, padding = tuple(strides), _pairs(padding)
  if kernel.shape[:2] == (4, 4) and strides == (2, 2) and padding == ((2, 2), (2, 2)):
    return conv_transpose4x4_stride2(x, kernel)
  if kernel.shape[:2] == (4, 4) and x.shape[1:3] == (1, 1) and padding == 'VALID':
    return project_1x1_to_4x4(x, kernel)
  return conv_transpose_strided(x, kernel, strides, padding)


class _MatmulLayer(nn.Module):
  """A convolution layer with `nn.Conv`'s parameters (`kernel` [kh, kw, in,
  features], `bias` [features]), initialisers and dtype rules."""
  features: int
  kernel_size: Tuple[int, int]
  strides: Tuple[int, int] = (1, 1)
  padding: Any = 'SAME'
  use_bias: bool = True
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros_init()
  param_dtype: Any = jnp.float32
  dtype: Optional[Any] = None

  def _apply(self, x, kernel):
    raise NotImplementedError

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', self.kernel_init, tuple(self.kernel_size) + (
        x.shape[-1], self.features), self.param_dtype)
    bias = (self.param('bias', self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    y = self._apply(x, kernel)
    return y if bias is None else y + bias


# Named as Flax's layers, so that both forms get the same automatic module names
# and share checkpoints.
class Conv(_MatmulLayer):
  """`nn.Conv` computed as matrix products (`conv`)."""

  def _apply(self, x, kernel):
    return conv(x, kernel, self.strides, self.padding)


class ConvTranspose(_MatmulLayer):
  """`nn.ConvTranspose` computed as matrix products (`conv_transpose`)."""

  def _apply(self, x, kernel):
    return conv_transpose(x, kernel, self.strides, self.padding)
