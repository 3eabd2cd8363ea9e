"""LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, for MNIST and digits.

    conv 5x5, 6 maps, padding 2 -> ReLU -> max pool 2 -> conv 5x5, 16 maps -> ReLU -> max pool 2
    -> 120 -> 84 -> classes
"""
from minifft import nn

from ._shapes import flat_features
from .registry import register


class LeNet(nn.Module):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(input_shape[0], 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.classifier = nn.Sequential(
            nn.Linear(flat_features(self.features, input_shape), 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


@register('lenet')
def lenet(input_shape, num_classes):
    return LeNet(input_shape, num_classes)
