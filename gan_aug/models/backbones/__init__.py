"""torchvision's ImageNet classifiers as Flax modules, by name.

Each is called as `model.apply(variables, x, train=...)` on NHWC float images
already normalized with the ImageNet mean and std, and matches torchvision
number for number once `gan_aug.models.torch_convert` has converted its weights.
With include_top=False a model returns the features its classifier would read.
"""

from typing import Type

import flax.linen as nn

from gan_aug.core import registry
from gan_aug.models.backbones.alexnet import AlexNet
from gan_aug.models.backbones.googlenet import GoogLeNet
from gan_aug.models.backbones.resnet import ResNet18, ResNet50
from gan_aug.models.backbones.squeezenet import SqueezeNet1_1
from gan_aug.models.backbones.vgg import VGG16

BACKBONES: registry.Registry[Type[nn.Module]] = registry.Registry('backbone')
BACKBONES.register('resnet18')(ResNet18)
BACKBONES.register('resnet50')(ResNet50)
BACKBONES.register('vgg16')(VGG16)
BACKBONES.register('alexnet')(AlexNet)
BACKBONES.register('squeezenet1_1')(SqueezeNet1_1)
BACKBONES.register('googlenet')(GoogLeNet)

__all__ = ['BACKBONES', 'AlexNet', 'GoogLeNet', 'ResNet18', 'ResNet50', 'SqueezeNet1_1',
           'VGG16']
