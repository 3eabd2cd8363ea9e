"""Layers and containers."""
from . import init
from .conv import Conv2d
from .layers import AvgPool2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Tanh
from .activation import GELU, AdaptiveAvgPool2d, LeakyReLU
from .module import Identity, Module, Parameter, Sequential
from .normalization import BatchNorm1d, BatchNorm2d

__all__ = [
    'Module', 'Parameter', 'Sequential', 'Linear', 'Conv2d', 'ReLU', 'Tanh', 'MaxPool2d', 'AvgPool2d',
    'Flatten', 'Dropout', 'init', 'BatchNorm1d', 'BatchNorm2d',
    'Identity', 'LeakyReLU', 'GELU', 'AdaptiveAvgPool2d',
]
