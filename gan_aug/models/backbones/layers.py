"""Layers with PyTorch's semantics, shared by the torchvision ports (NHWC throughout).

torch pads max pooling with -inf, lets ceil-mode windows run past the edge, and
bins adaptive average pooling as start=floor(i*in/out), end=ceil((i+1)*in/out);
its BatchNorm updates the running variance with the unbiased batch variance.
Keeping these exactly is what makes converted torchvision weights give
torchvision's outputs at every input size.
"""

import math
from typing import Any, Callable, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Initializer = Callable[..., Any]

# torch.nn.Conv2d / nn.Linear default weight init: kaiming_uniform_(a=sqrt(5)),
# i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
torch_default_kernel_init = nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform')
# kaiming_normal_(mode='fan_out', nonlinearity='relu').
kaiming_normal_fan_out = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')
# kaiming_uniform_() with its default a=0.
kaiming_uniform_fan_in = nn.initializers.variance_scaling(2.0, 'fan_in', 'uniform')


def torch_default_bias_init(fan_in: int) -> Initializer:
  """torch's default bias init for a layer with `fan_in` inputs: U(+-1/sqrt(fan_in))."""
  bound = 1 / math.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def conv2d(x: jnp.ndarray, features: int, kernel_size: int, stride: int = 1,
           padding: int = 0, use_bias: bool = True,
           kernel_init: Initializer = torch_default_kernel_init,
           bias_init: Optional[Initializer] = None, name: Optional[str] = None):
  """nn.Conv2d(in, features, kernel_size, stride, padding) on NHWC `x`.

  Call inside a compact method (the conv becomes a submodule called `name`).
  `bias_init` defaults to torch's fan-in uniform.
  """
  if bias_init is None:
    bias_init = torch_default_bias_init(x.shape[-1] * kernel_size * kernel_size)
  return nn.Conv(features, (kernel_size, kernel_size), strides=(stride, stride),
                 padding=((padding, padding), (padding, padding)), use_bias=use_bias,
                 kernel_init=kernel_init, bias_init=bias_init, name=name)(x)


def dense(x: jnp.ndarray, features: int,
          kernel_init: Initializer = torch_default_kernel_init,
          bias_init: Optional[Initializer] = None, name: Optional[str] = None):
  """nn.Linear(in, features) on `x` [..., in]; `bias_init` defaults to torch's."""
  if bias_init is None:
    bias_init = torch_default_bias_init(x.shape[-1])
  return nn.Dense(features, kernel_init=kernel_init, bias_init=bias_init, name=name)(x)


def pool_output_size(size: int, kernel: int, stride: int, padding: int = 0,
                     ceil_mode: bool = False) -> int:
  """Output length of torch's pooling along one axis; ValueError if below 1."""
  out = (size + 2 * padding - kernel + (stride - 1 if ceil_mode else 0)) // stride + 1
  if ceil_mode and (out - 1) * stride >= size + padding:
    # The last window must start inside the input or the left padding.
    out -= 1
  if out < 1:
    raise ValueError(f'Input of size {size} is too small for max pooling with kernel '
                     f'{kernel}, stride {stride}, padding {padding}.')
  return out


def max_pool(x: jnp.ndarray, kernel: int, stride: int, padding: int = 0,
             ceil_mode: bool = False) -> jnp.ndarray:
  """nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil_mode) on NHWC `x`."""
  n, h, w, c = x.shape
  out_h, out_w = (pool_output_size(s, kernel, stride, padding, ceil_mode) for s in (h, w))
  # How far the windows reach from the padded top-left corner; past the input
  # they see -inf.
  reach_h, reach_w = (out_h - 1) * stride + kernel, (out_w - 1) * stride + kernel
  if kernel == stride and padding == 0:
    # Non-overlapping windows as a reshape and max: XLA:CPU differentiates this
    # far faster than reduce_window.
    x = x[:, :reach_h, :reach_w]
    x = jnp.pad(x, ((0, 0), (0, reach_h - x.shape[1]), (0, reach_w - x.shape[2]), (0, 0)),
                constant_values=-jnp.inf)
    return x.reshape(n, out_h, kernel, out_w, kernel, c).max(axis=(2, 4))
  pads = [(padding, max(0, reach - size - padding))
          for reach, size in ((reach_h, h), (reach_w, w))]
  return nn.max_pool(x, (kernel, kernel), strides=(stride, stride), padding=pads)


def _adaptive_pool_matrix(size: int, out: int) -> np.ndarray:
  """[out, size] matrix averaging torch's adaptive bins along one axis."""
  matrix = np.zeros((out, size), np.float32)
  for i in range(out):
    start, end = (i * size) // out, -(-((i + 1) * size) // out)
    matrix[i, start:end] = 1 / (end - start)
  return matrix


def adaptive_avg_pool(x: jnp.ndarray, output_size: Tuple[int, int]) -> jnp.ndarray:
  """nn.AdaptiveAvgPool2d(output_size) on NHWC `x` (any input size, also smaller)."""
  n, h, w, c = x.shape
  out_h, out_w = output_size
  if h % out_h == 0 and w % out_w == 0:
    return x.reshape(n, out_h, h // out_h, out_w, w // out_w, c).mean(axis=(2, 4))
  return jnp.einsum('nhwc,ih,jw->nijc', x, _adaptive_pool_matrix(h, out_h),
                    _adaptive_pool_matrix(w, out_w), precision=jax.lax.Precision.HIGHEST)


class BatchNorm(nn.Module):
  """nn.BatchNorm2d over the last axis, with flax's variable names.

  Parameters 'scale' and 'bias', statistics 'mean' and 'var' in 'batch_stats'
  (torch's weight, bias, running_mean, running_var). With train=True it
  normalizes by the batch mean and biased variance and moves the running
  statistics towards the batch mean and the *unbiased* variance, as torch does;
  `momentum` is the running statistics' decay (torch's momentum 0.1 is 0.9 here).
  """
  epsilon: float = 1e-5
  momentum: float = 0.9

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool) -> jnp.ndarray:
    features = x.shape[-1]
    scale = self.param('scale', nn.initializers.ones, (features,))
    bias = self.param('bias', nn.initializers.zeros, (features,))
    running_mean = self.variable('batch_stats', 'mean', jnp.zeros, (features,), jnp.float32)
    running_var = self.variable('batch_stats', 'var', jnp.ones, (features,), jnp.float32)
    if train:
      axes = tuple(range(x.ndim - 1))
      mean = x.mean(axes)
      var = jnp.square(x - mean).mean(axes)
      if not self.is_initializing():
        count = x.size // features
        if count < 2:
          raise ValueError('BatchNorm in training mode needs more than one value per '
                           f'channel; got input shape {x.shape}.')
        decay = self.momentum
        running_mean.value = decay * running_mean.value + (1 - decay) * mean
        running_var.value = (decay * running_var.value +
                             (1 - decay) * var * (count / (count - 1)))
    else:
      mean, var = running_mean.value, running_var.value
    return (x - mean) * (scale * jax.lax.rsqrt(var + self.epsilon)) + bias


def flatten(x: jnp.ndarray) -> jnp.ndarray:
  """[N, ...] -> [N, prod(...)] (torch.flatten(x, 1) on NHWC: (h, w, c) order)."""
  return x.reshape(x.shape[0], -1)


def global_avg_pool(x: jnp.ndarray) -> jnp.ndarray:
  """Mean over the spatial axes: [N, H, W, C] -> [N, C]."""
  return x.mean(axis=(1, 2))

