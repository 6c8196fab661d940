"""torchvision's SqueezeNet 1.1.

Submodules are named after torchvision's Sequential indices (`features.3.squeeze`
-> `features_3/squeeze`, `classifier.1` -> `classifier_1`).
"""

from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from gan_aug.models.backbones import layers

# (Sequential index, squeeze, expand1x1, expand3x3) of each Fire module; a 3x3/2
# ceil-mode max pool precedes the Fire modules at indices 3, 6 and 9.
FIRES = ((3, 16, 64, 64), (4, 16, 64, 64), (6, 32, 128, 128), (7, 32, 128, 128),
         (9, 48, 192, 192), (10, 48, 192, 192), (11, 64, 256, 256), (12, 64, 256, 256))
POOLED_BEFORE = (3, 6, 9)


class Fire(nn.Module):
  """1x1 squeeze, then 1x1 and 3x3 expands concatenated along channels."""
  squeeze_planes: int
  expand1x1_planes: int
  expand3x3_planes: int

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    conv = dict(kernel_init=layers.kaiming_uniform_fan_in, bias_init=nn.initializers.zeros)
    x = nn.relu(layers.conv2d(x, self.squeeze_planes, 1, name='squeeze', **conv))
    return jnp.concatenate([
        nn.relu(layers.conv2d(x, self.expand1x1_planes, 1, name='expand1x1', **conv)),
        nn.relu(layers.conv2d(x, self.expand3x3_planes, 3, padding=1, name='expand3x3',
                              **conv)),
    ], axis=-1)


class SqueezeNet1_1(nn.Module):  # pylint: disable=invalid-name
  """torchvision.models.squeezenet1_1: 1,235,496 parameters at 1000 classes.

  `__call__(x, train)` takes NHWC images normalized with the ImageNet mean and
  std and returns logits, or with include_top=False the last Fire module's map
  averaged over space [N, 512]. The classifier is dropout, a 1x1 conv to the
  classes, ReLU and global average pooling.
  """
  num_classes: int = 1000
  include_top: bool = True
  dropout: float = 0.5
  # Smallest square input side torch accepts (the third pool needs a 2x2 map).
  min_resolution: ClassVar[int] = 17

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    x = nn.relu(layers.conv2d(x, 64, 3, 2, kernel_init=layers.kaiming_uniform_fan_in,
                              bias_init=nn.initializers.zeros, name='features_0'))
    for index, squeeze, expand1x1, expand3x3 in FIRES:
      if index in POOLED_BEFORE:
        x = layers.max_pool(x, 3, 2, ceil_mode=True)
      x = Fire(squeeze, expand1x1, expand3x3, name=f'features_{index}')(x)
    if not self.include_top:
      return layers.global_avg_pool(x)
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = nn.relu(layers.conv2d(x, self.num_classes, 1, kernel_init=nn.initializers.normal(0.01),
                              bias_init=nn.initializers.zeros, name='classifier_1'))
    return layers.global_avg_pool(x)
