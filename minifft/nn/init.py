"""Initialisation as PyTorch does it by default, drawn from minifft's seeded generator."""
import math

from .. import backend, random


def fan_in(shape):
    """Inputs feeding one output: in_features, or in_channels * kh * kw."""
    n = shape[1] if len(shape) > 1 else shape[0]
    for k in shape[2:]:
        n *= k
    return n


def kaiming_uniform(shape, a=math.sqrt(5), dtype=None):
    """U(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)) (PyTorch's default)."""
    bound = math.sqrt(2.0 / (1 + a * a)) * math.sqrt(3.0 / fan_in(shape))
    return random.uniform(shape, -bound, bound, dtype=dtype or backend.default_dtype())


def bias_uniform(weight_shape, dtype=None):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias of a layer with this weight shape."""
    bound = 1.0 / math.sqrt(fan_in(weight_shape))
    return random.uniform((weight_shape[0],), -bound, bound, dtype=dtype or backend.default_dtype())
