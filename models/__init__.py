"""Models by name: ``build(name, input_shape, num_classes)``.

Every convolution is built with algo=None, so ``minifft.conv.set_default_algorithm`` (train.py's
--conv) switches the whole model at once.
"""
from .registry import MODELS, build, default_model, min_input_size, register
from . import cifar, lenet, linear, resnet, small  # noqa: F401,E402  (each registers its models)

__all__ = ['MODELS', 'build', 'default_model', 'min_input_size', 'register']
