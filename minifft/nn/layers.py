"""Layers without convolution: Linear, activations, pooling, Flatten, Dropout."""
from .. import functions as F
from ..tensor import Tensor
from . import init
from .module import Module, Parameter


def parameter(array, device=None):
    """A Parameter over host ``array`` on ``device`` (the default device when None)."""
    return Parameter(array if device is None else Tensor(array, device=device))


class Linear(Module):
    """y = x @ W.T + b: (N, in_features) -> (N, out_features), parameters on ``device``
    (``minifft.default_device()`` unless given)."""

    def __init__(self, in_features, out_features, bias=True, device=None):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear: expected positive sizes, got in={in_features}, out={out_features}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = parameter(init.kaiming_uniform((out_features, in_features)), device)
        self.bias = parameter(init.bias_uniform((out_features, in_features)), device) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(MaxPool2d):
    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class Flatten(Module):
    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim)


class Dropout(Module):
    """Dropout while training, identity in eval mode."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: expected probability p in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
