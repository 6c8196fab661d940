"""Plain torch.nn versions of six torchvision classifiers, with torchvision's state-dict keys.

They are the references the Flax ports are checked against, written without
torchvision: same layers, same attribute names and Sequential indices, same
forward pass (eval-mode output only; no pretrained-weight loading, default
torch initialization).
"""

import torch
from torch import nn
from torch.nn import functional as F


class BasicBlock(nn.Module):
  """torchvision.models.resnet.BasicBlock."""
  expansion = 1

  def __init__(self, inplanes, planes, stride=1, downsample=None):
    super().__init__()
    self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(planes)
    self.relu = nn.ReLU(inplace=True)
    self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(planes)
    self.downsample = downsample

  def forward(self, x):
    identity = x if self.downsample is None else self.downsample(x)
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    return self.relu(out + identity)


class Bottleneck(nn.Module):
  """torchvision.models.resnet.Bottleneck (stride in the 3x3 conv)."""
  expansion = 4

  def __init__(self, inplanes, planes, stride=1, downsample=None):
    super().__init__()
    self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(planes)
    self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(planes)
    self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
    self.bn3 = nn.BatchNorm2d(planes * 4)
    self.relu = nn.ReLU(inplace=True)
    self.downsample = downsample

  def forward(self, x):
    identity = x if self.downsample is None else self.downsample(x)
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    return self.relu(out + identity)


class ResNet(nn.Module):
  """torchvision.models.resnet.ResNet."""

  def __init__(self, block, stage_sizes, num_classes=1000):
    super().__init__()
    self.inplanes = 64
    self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
    self.bn1 = nn.BatchNorm2d(64)
    self.relu = nn.ReLU(inplace=True)
    self.maxpool = nn.MaxPool2d(3, 2, 1)
    self.layer1 = self._make_layer(block, 64, stage_sizes[0], 1)
    self.layer2 = self._make_layer(block, 128, stage_sizes[1], 2)
    self.layer3 = self._make_layer(block, 256, stage_sizes[2], 2)
    self.layer4 = self._make_layer(block, 512, stage_sizes[3], 2)
    self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
    self.fc = nn.Linear(512 * block.expansion, num_classes)

  def _make_layer(self, block, planes, blocks, stride):
    downsample = None
    if stride != 1 or self.inplanes != planes * block.expansion:
      downsample = nn.Sequential(
          nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
          nn.BatchNorm2d(planes * block.expansion))
    stage = [block(self.inplanes, planes, stride, downsample)]
    self.inplanes = planes * block.expansion
    stage += [block(self.inplanes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*stage)

  def forward(self, x):
    x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
    x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
    return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes=1000):
  return ResNet(BasicBlock, (2, 2, 2, 2), num_classes)


def resnet50(num_classes=1000):
  return ResNet(Bottleneck, (3, 4, 6, 3), num_classes)


class VGG(nn.Module):
  """torchvision.models.vgg.VGG without batch norm."""

  def __init__(self, config, num_classes=1000, dropout=0.5):
    super().__init__()
    modules, in_channels = [], 3
    for width in config:
      if width == 'M':
        modules.append(nn.MaxPool2d(2, 2))
      else:
        modules += [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=True)]
        in_channels = width
    self.features = nn.Sequential(*modules)
    self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
    self.classifier = nn.Sequential(
        nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(dropout),
        nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(dropout),
        nn.Linear(4096, num_classes))

  def forward(self, x):
    return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def vgg16(num_classes=1000):
  return VGG((64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M',
              512, 512, 512, 'M'), num_classes)


class AlexNet(nn.Module):
  """torchvision.models.alexnet.AlexNet."""

  def __init__(self, num_classes=1000, dropout=0.5):
    super().__init__()
    self.features = nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
    self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
    self.classifier = nn.Sequential(
        nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
        nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes))

  def forward(self, x):
    return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def alexnet(num_classes=1000):
  return AlexNet(num_classes)


class Fire(nn.Module):
  """torchvision.models.squeezenet.Fire."""

  def __init__(self, inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes):
    super().__init__()
    self.squeeze = nn.Conv2d(inplanes, squeeze_planes, 1)
    self.squeeze_activation = nn.ReLU(inplace=True)
    self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, 1)
    self.expand1x1_activation = nn.ReLU(inplace=True)
    self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, 3, padding=1)
    self.expand3x3_activation = nn.ReLU(inplace=True)

  def forward(self, x):
    x = self.squeeze_activation(self.squeeze(x))
    return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                      self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
  """torchvision.models.squeezenet.SqueezeNet, version 1_1."""

  def __init__(self, num_classes=1000, dropout=0.5):
    super().__init__()
    self.features = nn.Sequential(
        nn.Conv2d(3, 64, 3, 2), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        Fire(64, 16, 64, 64), Fire(128, 16, 64, 64),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        Fire(128, 32, 128, 128), Fire(256, 32, 128, 128),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
        Fire(384, 64, 256, 256), Fire(512, 64, 256, 256))
    self.classifier = nn.Sequential(
        nn.Dropout(dropout), nn.Conv2d(512, num_classes, 1), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d((1, 1)))

  def forward(self, x):
    return torch.flatten(self.classifier(self.features(x)), 1)


def squeezenet1_1(num_classes=1000):
  return SqueezeNet(num_classes)


class BasicConv2d(nn.Module):
  """torchvision.models.googlenet.BasicConv2d."""

  def __init__(self, in_channels, out_channels, **kwargs):
    super().__init__()
    self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
    self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

  def forward(self, x):
    return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
  """torchvision.models.googlenet.Inception (3x3 in the '5x5' branch, as torchvision)."""

  def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
    super().__init__()
    self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
    self.branch2 = nn.Sequential(
        BasicConv2d(in_channels, ch3x3red, kernel_size=1),
        BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
    self.branch3 = nn.Sequential(
        BasicConv2d(in_channels, ch5x5red, kernel_size=1),
        BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))
    self.branch4 = nn.Sequential(
        nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
        BasicConv2d(in_channels, pool_proj, kernel_size=1))

  def forward(self, x):
    return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x),
                      self.branch4(x)], 1)


class InceptionAux(nn.Module):
  """torchvision.models.googlenet.InceptionAux (only its weights matter here)."""

  def __init__(self, in_channels, num_classes, dropout=0.7):
    super().__init__()
    self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
    self.fc1 = nn.Linear(2048, 1024)
    self.fc2 = nn.Linear(1024, num_classes)
    self.dropout = nn.Dropout(p=dropout)


class GoogLeNet(nn.Module):
  """torchvision.models.googlenet.GoogLeNet; the aux heads exist only for their keys."""

  def __init__(self, num_classes=1000, aux_logits=False, transform_input=False,
               dropout=0.2):
    super().__init__()
    self.transform_input = transform_input
    self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
    self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
    self.conv2 = BasicConv2d(64, 64, kernel_size=1)
    self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
    self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
    self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
    self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
    self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
    self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
    self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
    self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
    self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
    self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
    self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
    self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
    self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
    if aux_logits:
      self.aux1 = InceptionAux(512, num_classes)
      self.aux2 = InceptionAux(528, num_classes)
    else:
      self.aux1 = None
      self.aux2 = None
    self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
    self.dropout = nn.Dropout(p=dropout)
    self.fc = nn.Linear(1024, num_classes)

  def _transform_input(self, x):
    if self.transform_input:
      x_ch0 = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
      x_ch1 = torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
      x_ch2 = torch.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
      x = torch.cat((x_ch0, x_ch1, x_ch2), 1)
    return x

  def forward(self, x):
    x = self._transform_input(x)
    x = self.maxpool1(self.conv1(x))
    x = self.maxpool2(self.conv3(self.conv2(x)))
    x = self.maxpool3(self.inception3b(self.inception3a(x)))
    x = self.inception4a(x)
    x = self.inception4d(self.inception4c(self.inception4b(x)))
    x = self.maxpool4(self.inception4e(x))
    x = self.inception5b(self.inception5a(x))
    x = torch.flatten(self.avgpool(x), 1)
    return self.fc(self.dropout(x))


def googlenet(num_classes=1000, **kwargs):
  return GoogLeNet(num_classes, **kwargs)


BUILDERS = {
    'resnet18': resnet18,
    'resnet50': resnet50,
    'vgg16': vgg16,
    'alexnet': alexnet,
    'squeezenet1_1': squeezenet1_1,
    'googlenet': googlenet,
}
