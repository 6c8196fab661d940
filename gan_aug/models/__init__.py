"""GAN families by name: each builds a (generator, discriminator) pair from a config."""

from typing import Callable, Tuple

import flax.linen as nn
import ml_collections

from gan_aug import registry
from gan_aug.models.acgan import ACGANDiscriminator, ACGANGenerator

GANS: registry.Registry[Callable[..., Tuple[nn.Module, nn.Module]]] = (
    registry.Registry('GAN'))


@GANS.register('acgan')
def _acgan(config: ml_collections.ConfigDict, num_classes: int):
  gan, data = config.gan, config.data
  generator = ACGANGenerator(
      num_classes=num_classes, resolution=data.resolution, channels=data.channels,
      base_width=gan.g_base_width, label_embedding_dim=gan.label_embedding_dim,
      kernel_size=gan.g_kernel_size)
  discriminator = ACGANDiscriminator(
      num_classes=num_classes, resolution=data.resolution,
      base_width=gan.d_base_width, dropout_rate=gan.d_dropout,
      leaky_slope=gan.leaky_slope)
  return generator, discriminator


def build_gan(config: ml_collections.ConfigDict, num_classes: int):
  """Returns (generator, discriminator) for `config.gan.name`."""
  return GANS.get(config.gan.name, 'config.gan.name')(config, num_classes)


__all__ = ['GANS', 'ACGANGenerator', 'ACGANDiscriminator', 'build_gan']
