"""Convolution layers by implementation: one factory for every model family.

`conv_impl` 'lax' gives Flax's `nn.Conv` / `nn.ConvTranspose`; 'matmul' gives
`matmul_conv.Conv` / `matmul_conv.ConvTranspose`, the same layers (parameters,
names, initialisers, outputs) computed as matrix products, whose gradients
XLA:CPU runs several times faster; config 'auto' picks 'matmul' on CPU and 'lax'
elsewhere. Model modules call `conv` / `conv_transpose` and never branch on the
implementation.
"""

import jax
import flax.linen as nn

from gan_aug.models import matmul_conv

CONV_IMPLS = ('lax', 'matmul')


def check_conv_impl(conv_impl: str, field: str = 'config.gan.conv_impl') -> None:
  """Raises ValueError unless `conv_impl` is one of CONV_IMPLS."""
  if conv_impl not in CONV_IMPLS:
    raise ValueError(f'{field}={conv_impl!r} is not one of '
                     f'auto, {", ".join(CONV_IMPLS)}.')


def resolve_conv_impl(conv_impl: str, field: str = 'config.gan.conv_impl') -> str:
  """'auto' -> 'matmul' on CPU, 'lax' on other backends; checks the name."""
  if conv_impl == 'auto':
    return 'matmul' if jax.default_backend() == 'cpu' else 'lax'
  check_conv_impl(conv_impl, field)
  return conv_impl


def conv(conv_impl: str, features: int, kernel_size, **kwargs) -> nn.Module:
  """An `nn.Conv(features, kernel_size, **kwargs)` layer in `conv_impl`'s form."""
  check_conv_impl(conv_impl)
  layer = nn.Conv if conv_impl == 'lax' else matmul_conv.Conv
  return layer(features, tuple(kernel_size), **kwargs)


def conv_transpose(conv_impl: str, features: int, kernel_size, **kwargs) -> nn.Module:
  """An `nn.ConvTranspose(features, kernel_size, **kwargs)` layer in `conv_impl`'s
  form."""
  check_conv_impl(conv_impl)
  layer = nn.ConvTranspose if conv_impl == 'lax' else matmul_conv.ConvTranspose
  return layer(features, tuple(kernel_size), **kwargs)


def inference_form(module: nn.Module) -> nn.Module:
  """`module` with Flax's convolutions where it trains with matrix-product ones
  (`conv_impl='matmul'`): the same parameters and outputs. The products are the
  faster form for gradients on XLA:CPU, but forward they copy every patch: the
  GMD CNN at 48 px, batch 32, ran 1.10 s with them and 0.49 s without; paper
  003's ACGAN synthesis step (112 px, batch 64) 3.62 s and 2.78 s."""
  if getattr(module, 'conv_impl', None) == 'matmul':
    return module.clone(conv_impl='lax')
  return module
