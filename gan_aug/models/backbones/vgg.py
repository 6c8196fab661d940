"""torchvision's VGG-16 (configuration D, no batch norm).

Submodules are named after torchvision's Sequential indices (`features.28` ->
`features_28`, `classifier.6` -> `classifier_6`).
"""

from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from gan_aug.models.backbones import layers

# Conv widths and 'M' (2x2 max pool), in torchvision's `features` order.
VGG16_CONFIG = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M',
                512, 512, 512, 'M', 512, 512, 512, 'M')
POOLED_SIZE = 7


class VGG16(nn.Module):
  """torchvision.models.vgg16: 138,357,544 parameters at 1000 classes.

  `__call__(x, train)` takes NHWC images normalized with the ImageNet mean and
  std and returns logits, or with include_top=False the 7x7 adaptively pooled
  map flattened in (h, w, c) order [N, 25088]; the converter permutes the first
  classifier layer from torch's (c, h, w) order to match.
  """
  num_classes: int = 1000
  include_top: bool = True
  dropout: float = 0.5
  # Smallest square input side torch accepts (five 2x2 pools).
  min_resolution: ClassVar[int] = 32

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    index = 0
    for width in VGG16_CONFIG:
      if width == 'M':
        x = layers.max_pool(x, 2, 2)
        index += 1
      else:
        x = nn.relu(layers.conv2d(x, width, 3, padding=1,
                                  kernel_init=layers.kaiming_normal_fan_out,
                                  bias_init=nn.initializers.zeros,
                                  name=f'features_{index}'))
        index += 2  # Conv2d, ReLU.
    x = layers.flatten(layers.adaptive_avg_pool(x, (POOLED_SIZE, POOLED_SIZE)))
    if not self.include_top:
      return x
    dense_init = dict(kernel_init=nn.initializers.normal(0.01),
                      bias_init=nn.initializers.zeros)
    x = nn.relu(layers.dense(x, 4096, name='classifier_0', **dense_init))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = nn.relu(layers.dense(x, 4096, name='classifier_3', **dense_init))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return layers.dense(x, self.num_classes, name='classifier_6', **dense_init)
