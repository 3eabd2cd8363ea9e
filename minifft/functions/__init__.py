"""Differentiable ops, one Function class per op (``import minifft.functions as F``)."""
from .activation import log_softmax, softmax
from .adaptive_pooling import adaptive_avg_pool2d
from .arithmetic import add, div, matmul, mul, neg, pow, sub
from .convolution import conv2d
from .comparison import equal, greater, greater_equal, less, less_equal, not_equal
from .linear import linear
from .loss import cross_entropy, mse_loss
from .math import exp, log, relu, sigmoid, sqrt, tanh
from .noise import dropout
from .pointwise import gelu, leaky_relu
from .normalization import batch_norm
from .pooling import avg_pool2d, max_pool2d
from .reduction import max, mean, sum
from .shape import astype, flatten, getitem, reshape, to_device, transpose

__all__ = [
    'add', 'sub', 'mul', 'div', 'pow', 'neg', 'matmul',
    'exp', 'log', 'sqrt', 'tanh', 'sigmoid', 'relu', 'softmax', 'log_softmax',
    'sum', 'mean', 'max', 'reshape', 'transpose', 'flatten', 'getitem', 'to_device', 'astype',
    'equal', 'not_equal', 'less', 'less_equal', 'greater', 'greater_equal',
    'linear', 'conv2d', 'max_pool2d', 'avg_pool2d', 'dropout', 'cross_entropy', 'mse_loss',
    'batch_norm', 'adaptive_avg_pool2d', 'leaky_relu', 'gelu',
]
