"""A CIFAR-10 network in the spirit of the paper's experiments: large kernels early, where FFT
convolution pays most. Layer shapes for a batch S of 32x32 RGB images (S, f, f', n, k):

    conv1  (S,   3,  64, 32, 9)  padding 4 -> ReLU -> max pool 2        32x32 -> 16x16
    conv2  (S,  64, 128, 16, 7)  padding 3 -> ReLU -> max pool 2        16x16 -> 8x8
    conv3  (S, 128, 128,  8, 5)  padding 2 -> ReLU -> max pool 2         8x8  -> 4x4
    fc     2048 -> 256 -> ReLU -> dropout 0.5 -> 10
"""
from minifft import nn

from ._shapes import flat_features
from .registry import register


class CifarNet(nn.Module):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(input_shape[0], 64, 9, padding=4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 7, padding=3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(128, 128, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.classifier = nn.Sequential(
            nn.Linear(flat_features(self.features, input_shape), 256), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(256, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


@register('cifar')
def cifar(input_shape, num_classes):
    return CifarNet(input_shape, num_classes)
