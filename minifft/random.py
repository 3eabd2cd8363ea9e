"""One seeded random source for initialisation, dropout and data order.

Its state can be saved and restored, so a resumed run draws the same numbers as an
uninterrupted one.
"""
import numpy

from . import backend

_rng = numpy.random.default_rng(0)


def manual_seed(seed):
    """Reseed everything minifft draws (weights, dropout masks)."""
    global _rng
    _rng = numpy.random.default_rng(seed)
    if backend.cupy is not None and backend.cuda_available():
        backend.cupy.random.seed(seed)


def generator():
    return _rng


def get_state():
    return _rng.bit_generator.state


def set_state(state):
    _rng.bit_generator.state = state


def uniform(shape, low=0.0, high=1.0, like=None, dtype=None):
    """Uniform samples on the device of ``like`` (host numbers moved over: one seeded stream)."""
    dtype = dtype or (like.dtype if like is not None else backend.default_dtype())
    a = _rng.uniform(low, high, size=shape).astype(dtype)
    if like is not None and backend.get_array_module(like) is not numpy:
        a = backend.to_device(a, 'cuda')
    return a
