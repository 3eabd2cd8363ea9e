"""The default network for the built-in shapes data: small enough to train in about a minute on
two CPU cores, with 5x5 kernels.

    conv1  (S,  3, 16, 32, 5)  padding 2 -> ReLU -> max pool 2    32x32 -> 16x16
    conv2  (S, 16, 32, 16, 5)  padding 2 -> ReLU -> max pool 2    16x16 -> 8x8
    conv3  (S, 32, 32,  8, 3)  padding 1 -> ReLU -> max pool 2     8x8  -> 4x4
    fc     512 -> 64 -> ReLU -> classes
"""
from minifft import nn

from ._shapes import flat_features
from .registry import register


class SmallNet(nn.Module):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(input_shape[0], 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.classifier = nn.Sequential(
            nn.Linear(flat_features(self.features, input_shape), 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


@register('small')
def small(input_shape, num_classes):
    return SmallNet(input_shape, num_classes)
