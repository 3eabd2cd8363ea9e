"""CIFAR-style residual networks (He et al. 2016, section 4.2): depth 6n + 2, all 3x3 convolutions.

    stem    conv 3x3, 16 maps -> BN -> ReLU                                     32x32
    stage1  n basic blocks, 16 maps                                              32x32
    stage2  n basic blocks, 32 maps, the first with stride 2                     16x16
    stage3  n basic blocks, 64 maps, the first with stride 2                      8x8
    head    global average pooling -> fc -> classes

A basic block is conv 3x3 -> BN -> ReLU -> conv 3x3 -> BN, plus the shortcut, -> ReLU; where the
shape changes the shortcut is a 1x1 convolution with BN (the paper's option B). Convolutions before
a BatchNorm have no bias (the BN shift replaces it). ``resnet`` is ResNet-8 (n = 1), ``resnet20``
ResNet-20 (n = 3).
"""
from minifft import functions as F
from minifft import nn

from .registry import register


class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, input_shape, num_classes, blocks_per_stage=1, widths=(16, 32, 64)):
        super().__init__()
        if blocks_per_stage < 1:
            raise ValueError(f"ResNet: expected blocks_per_stage >= 1, got {blocks_per_stage}")
        self.stem = nn.Sequential(nn.Conv2d(input_shape[0], widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, channels = [], widths[0]
        for stage, width in enumerate(widths):
            for block in range(blocks_per_stage):
                layers.append(BasicBlock(channels, width, 2 if stage > 0 and block == 0 else 1))
                channels = width
        self.stages = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))


@register('resnet')
def resnet8(input_shape, num_classes):
    return ResNet(input_shape, num_classes, blocks_per_stage=1)


@register('resnet20')
def resnet20(input_shape, num_classes):
    return ResNet(input_shape, num_classes, blocks_per_stage=3)
