"""The GAN families' networks by name: each builds a `GANModel` (generator, discriminator, conditioning).

Families:
  acgan            paper 003's CovidGAN: G(z, y), D(x) -> (realness, class logits);
  dcgan_per_class  papers 000/001/002: one unconditional DCGAN per class, trained
                   together (parameters stacked on a leading class axis);
  cgan             paper 004's MLP conditional GAN: G(z, y), D(x, y) -> realness.
Every module is called as `G(z, labels, train)` and `D(x, labels, train)` ->
(realness logit, class logits or None); modules that do not use labels ignore them.
"""

import dataclasses
from typing import Callable

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from gan_aug.core import registry
from gan_aug.models import acgan
from gan_aug.models import cgan
from gan_aug.models import conv_layers
from gan_aug.models import dcgan


@dataclasses.dataclass(frozen=True)
class GANModel:
  """A generator/discriminator pair and how it is conditioned on the class."""
  generator: nn.Module
  discriminator: nn.Module
  num_classes: int
  # One unconditional GAN per class; every state leaf has a leading class axis.
  one_per_class: bool = False
  # D has a class head, so synthesis can require it to agree with the label.
  has_class_head: bool = False
  # The objective D is trained under (`gan_aug.gan.objectives`): what its
  # realness output means, to the train step and to the filter.
  objective: str = 'bce'


GANS: registry.Registry[Callable[..., GANModel]] = registry.Registry('GAN')

# config.gan.compute_dtype -> the modules' `dtype` (None: the parameters' dtype).
COMPUTE_DTYPES = {'float32': None, 'bfloat16': jnp.bfloat16}


def compute_dtype(gan: ml_collections.ConfigDict):
  """The modules' compute dtype for `config.gan` (None = float32 throughout)."""
  return COMPUTE_DTYPES[gan.get('compute_dtype', 'float32')]


@GANS.register('acgan')
def _acgan(config: ml_collections.ConfigDict, num_classes: int) -> GANModel:
  gan, data = config.gan, config.data
  acgan.num_upsamplings(data.resolution)
  conv_impl = conv_layers.resolve_conv_impl(gan.get('conv_impl', 'auto'))
  generator = acgan.ACGANGenerator(
      num_classes=num_classes, resolution=data.resolution, channels=data.channels,
      base_width=gan.g_base_width, label_embedding_dim=gan.label_embedding_dim,
      kernel_size=gan.g_kernel_size, conv_impl=conv_impl, dtype=compute_dtype(gan))
  discriminator = acgan.ACGANDiscriminator(
      num_classes=num_classes, resolution=data.resolution,
      base_width=gan.d_base_width, dropout_rate=gan.d_dropout,
      leaky_slope=gan.leaky_slope, conv_impl=conv_impl, dtype=compute_dtype(gan))
  return GANModel(generator, discriminator, num_classes, has_class_head=True)


@GANS.register('dcgan_per_class')
def _dcgan_per_class(config: ml_collections.ConfigDict, num_classes: int) -> GANModel:
  gan, data = config.gan, config.data
  dcgan.num_doublings(data.resolution)
  conv_impl = conv_layers.resolve_conv_impl(gan.get('conv_impl', 'auto'))
  generator = dcgan.DCGANGenerator(resolution=data.resolution, channels=data.channels,
                                   base_width=gan.g_base_width, conv_impl=conv_impl,
                                   dtype=compute_dtype(gan))
  discriminator = dcgan.DCGANDiscriminator(resolution=data.resolution,
                                           base_width=gan.d_base_width,
                                           leaky_slope=gan.leaky_slope,
                                           conv_impl=conv_impl,
                                           dtype=compute_dtype(gan))
  return GANModel(generator, discriminator, num_classes, one_per_class=True)


@GANS.register('cgan')
def _cgan(config: ml_collections.ConfigDict, num_classes: int) -> GANModel:
  gan, data = config.gan, config.data
  generator = cgan.CGANGenerator(
      num_classes=num_classes, resolution=data.resolution, channels=data.channels,
      hidden_widths=tuple(gan.g_hidden_widths), leaky_slope=gan.leaky_slope,
      dtype=compute_dtype(gan))
  discriminator = cgan.CGANDiscriminator(
      num_classes=num_classes, hidden_widths=tuple(gan.d_hidden_widths),
      dropout_rate=gan.d_dropout, leaky_slope=gan.leaky_slope,
      dtype=compute_dtype(gan))
  return GANModel(generator, discriminator, num_classes)


def build_gan(config: ml_collections.ConfigDict, num_classes: int) -> GANModel:
  """Returns the `GANModel` for `config.gan.name` trained under
  `config.gan.objective`; ValueError on an impossible shape."""
  model = GANS.get(config.gan.name, 'config.gan.name')(config, num_classes)
  return dataclasses.replace(model, objective=config.gan.get('objective', 'bce'))

