"""minifft: a small deep-learning framework whose convolution trains through FFTs."""
from . import backend, config, host_memory, conv, diagnostics, distributed, functions, nn, optim, random, serialization, viz
from . import functions as F
from .backend import cuda_available, default_device, set_default_device, set_default_dtype, synchronize
from .random import manual_seed
from .serialization import load, save
from .tensor import Tensor, no_grad, tensor

__version__ = '0.1.0'

__all__ = [
    'Tensor', 'tensor', 'no_grad', 'manual_seed', 'save', 'load', 'default_device', 'set_default_device',
    'set_default_dtype', 'cuda_available', 'synchronize', 'backend', 'conv', 'functions', 'F', 'nn', 'optim',
    'random', 'serialization', 'config', 'host_memory', 'diagnostics', 'viz',
]
