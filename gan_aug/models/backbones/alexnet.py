"""torchvision's AlexNet (the one-GPU variant of "One weird trick", 64/192/384/256/256).

Submodules are named after torchvision's Sequential indices (`features.3` ->
`features_3`, `classifier.1` -> `classifier_1`).
"""

from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from gan_aug.models.backbones import layers

# (Sequential index, width, kernel, stride, padding) of each conv; a 3x3/2 max
# pool follows the convs at indices 0, 3 and 10.
CONVS = ((0, 64, 11, 4, 2), (3, 192, 5, 1, 2), (6, 384, 3, 1, 1),
         (8, 256, 3, 1, 1), (10, 256, 3, 1, 1))
POOLED_AFTER = (0, 3, 10)
POOLED_SIZE = 6


class AlexNet(nn.Module):
  """torchvision.models.alexnet: 61,100,840 parameters at 1000 classes.

  `__call__(x, train)` takes NHWC images normalized with the ImageNet mean and
  std and returns logits, or with include_top=False the 6x6 adaptively pooled
  map flattened in (h, w, c) order [N, 9216]; the converter permutes the first
  classifier layer from torch's (c, h, w) order to match.
  """
  num_classes: int = 1000
  include_top: bool = True
  dropout: float = 0.5
  # Smallest square input side torch accepts (the third pool needs a 3x3 map).
  min_resolution: ClassVar[int] = 63

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    for index, width, kernel, stride, padding in CONVS:
      x = nn.relu(layers.conv2d(x, width, kernel, stride, padding,
                                name=f'features_{index}'))
      if index in POOLED_AFTER:
        x = layers.max_pool(x, 3, 2)
    x = layers.flatten(layers.adaptive_avg_pool(x, (POOLED_SIZE, POOLED_SIZE)))
    if not self.include_top:
      return x
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = nn.relu(layers.dense(x, 4096, name='classifier_1'))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = nn.relu(layers.dense(x, 4096, name='classifier_4'))
    return layers.dense(x, self.num_classes, name='classifier_6')
