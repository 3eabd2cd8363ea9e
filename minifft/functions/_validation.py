"""Checks shared by the public wrappers: each raises with the op's name, what was expected and what came."""
import numbers
from ..tensor import Tensor, as_tensor


def binary_operands(x, y):
    """Both operands as Tensors; a Python scalar takes the other operand's dtype and device."""
    if not isinstance(x, Tensor):
        x = as_tensor(x, like=as_tensor(y))
    if not isinstance(y, Tensor):
        y = as_tensor(y, like=x)
    return x, y


def check_ndim(op, name, x, ndim):
    if x.ndim != ndim:
        raise ValueError(f"{op}: expected {name} with {ndim} dimensions, got shape {x.shape}")


def check_float(op, name, x):
    if x.dtype.kind != 'f':
        raise TypeError(f"{op}: expected {name} of a floating dtype, got {x.dtype}")


def pair(op, name, value):
    """An int or a pair of ints as a pair (kernel sizes, strides, padding)."""
    if isinstance(value, numbers.Integral):
        value = (value, value)
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(value) != 2 or not all(isinstance(v, numbers.Integral) for v in value):
        raise TypeError(f"{op}: expected {name} as an int or a pair of ints, got {value!r}")
    return tuple(int(v) for v in value)
