"""Elementwise math functions."""
import ctypes

import numpy

from ..backend import get_array_module
from ..kernels import host
from ..tensor import Function
from . import _kernels


class Exp(Function):
    def forward(self, x):
        self.y = get_array_module(x).exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y


class Log(Function):
    def forward(self, x):
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.x


class Sqrt(Function):
    def forward(self, x):
        self.y = get_array_module(x).sqrt(x)
        return self.y

    def backward(self, gy):
        return gy / (2 * self.y)


class Tanh(Function):
    def forward(self, x):
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        return gy * (1 - self.y * self.y)


class Sigmoid(Function):
    def forward(self, x):
        xp = get_array_module(x)
        # tanh form: no overflow warning for large |x|, unlike 1 / (1 + exp(-x))
        self.y = 0.5 * xp.tanh(0.5 * x) + 0.5
        return self.y

    def backward(self, gy):
        return gy * self.y * (1 - self.y)


MIN_KERNEL_SIZE = 1 << 15   # ReLU's break-even with NumPy: measured 32K elements (float32)


class ReLU(Function):
    """On the CPU one C pass each way (minifft/kernels/activation.c) where NumPy takes two forward
    and casts the mask backward; the same arithmetic, and the same boolean mask either way. Where
    the output feeds two ops (a residual block's input), the backward adds their gradients in its
    own pass rather than after the graph's separate one."""

    def forward(self, x):
        lib, suffix = _kernels.library('activation', x, min_size=MIN_KERNEL_SIZE)
        if lib is None:
            self.mask = x > 0
            return get_array_module(x).maximum(x, 0)   # NaN stays NaN, -inf gives 0 (x * mask gave NaN)
        x = numpy.ascontiguousarray(x)
        y, self.mask = numpy.empty_like(x), numpy.empty(x.shape, numpy.bool_)
        _elementwise(lib, f'relu_forward_{suffix}', x, y, self.mask)
        return y

    def backward(self, gy):
        lib, suffix = _kernels.library('activation', gy, min_size=MIN_KERNEL_SIZE)
        if lib is None:
            return gy * self.mask
        gy = numpy.ascontiguousarray(gy)
        gx = numpy.empty_like(gy)
        _elementwise(lib, f'relu_backward_{suffix}', gy, self.mask, gx)
        return gx

    def backward_sum(self, gys):
        lib, suffix = _kernels.library('activation', *gys, min_size=MIN_KERNEL_SIZE)
        if (lib is None or len(gys) != 2 or not self.mask.flags.c_contiguous
                or any(g.shape != self.mask.shape for g in gys)):
            return super().backward_sum(gys)
        g0, g1 = (numpy.ascontiguousarray(g) for g in gys)
        gx = numpy.empty_like(g0)
        _elementwise(lib, f'relu_backward2_{suffix}', g0, g1, self.mask, gx)
        return gx


def _elementwise(lib, symbol, *arrays):
    """``symbol(*arrays, i0, i1)`` of activation.c over chunks of the flat arrays."""
    run = host.function(lib, symbol, *(ctypes.c_void_p,) * len(arrays), ctypes.c_ssize_t, ctypes.c_ssize_t)
    pointers = [host.pointer(a) for a in arrays]
    _kernels.run_rows(lambda lo, hi: run(*pointers, lo, hi), arrays[0].size, arrays[0].size)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    """1 / (1 + exp(-x)), computed without overflow."""
    return Sigmoid.apply(x)


def relu(x):
    """max(x, 0); the gradient at 0 is 0, as in PyTorch."""
    return ReLU.apply(x)
