"""2-D max and average pooling over (N, C, H, W).

Both loop over the kh*kw window offsets with strided slices, so they are a handful of
whole-array ops on either device rather than a Python loop over outputs. Backward assigns each
window's gradient where windows do not overlap (the common stride == kernel case) and adds it
where they do.

On the CPU, max pooling runs in C (minifft/kernels/pooling.c) where the kernels are built: one
pass over the input per window instead of five whole-array ufuncs per window offset, and a
scatter of the gradient by the kept flat indices.
"""
import ctypes

import numpy

from ..backend import get_array_module
from ..tensor import Function
from ..kernels import host
from . import _kernels
from ._validation import check_ndim, pair


def _output_size(h, w, kernel, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _windows(h, w, kernel, stride, padding):
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = _output_size(h, w, kernel, stride, padding)
    for a in range(kh):
        for b in range(kw):
            # the window offset (a, b) of every output, as a strided slice of the padded input
            yield a * kw + b, (slice(a, a + sh * (oh - 1) + 1, sh), slice(b, b + sw * (ow - 1) + 1, sw))


def _pad(x, padding, value):
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    xp = get_array_module(x)
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


class MaxPool2d(Function):
    """Running maximum over the window offsets. An offset takes over where its value is larger
    or NaN, so the first maximum wins and NaN propagates (PyTorch's rule). Each step is a ufunc
    into a buffer made once: ``where`` and ``copyto(where=)`` branch per element and measured
    8-10x slower than ``maximum`` on the CPU."""

    def forward(self, x):
        xp = get_array_module(x)
        self.x_shape = x.shape
        self.lib, self.suffix = _kernels.library('pooling', x)
        if self.lib is not None and x.shape[2] * x.shape[3] < 2 ** 31:
            return self._forward_compiled(x)
        self.lib = None
        xpad = _pad(x, self.padding, -xp.inf)
        kh, kw = self.kernel
        index_dtype = xp.uint8 if kh * kw <= 256 else xp.int32  # offsets 0 .. kh*kw - 1
        y = None
        for offset, (rows, cols) in _windows(*x.shape[2:], self.kernel, self.stride, self.padding):
            v = xpad[:, :, rows, cols]
            if y is None:
                y, self.argmax = v.copy(), xp.zeros(v.shape, index_dtype)
                better, nan = xp.empty(v.shape, xp.bool_), xp.empty(v.shape, xp.bool_)
                won, scratch = xp.empty(v.shape, index_dtype), xp.empty_like(y)
                continue
            if not v.flags.c_contiguous:  # strided ufunc loops ran 5x slower than contiguous ones
                scratch[...] = v
                v = scratch
            xp.greater(v, y, out=better)
            xp.not_equal(v, v, out=nan)
            xp.logical_or(better, nan, out=better)
            xp.maximum(y, v, out=y)   # NaN from either side, like the update rule
            # offsets only grow, so where this one wins it exceeds every index kept so far
            xp.multiply(better, offset, out=won, dtype=index_dtype)
            xp.maximum(self.argmax, won, out=self.argmax)
        return y

    def _forward_compiled(self, x):
        """y and self.argmax (flat indices into each (H, W) plane, int32) from pooling.c."""
        x = numpy.ascontiguousarray(x)
        self.dtype = x.dtype
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        oh, ow = _output_size(h, w, self.kernel, self.stride, self.padding)
        y = numpy.empty((n, c, oh, ow), x.dtype)
        self.argmax = numpy.empty(y.shape, numpy.int32)
        P = ctypes.c_void_p
        run = host.function(self.lib, f'max_pool_forward_{self.suffix}', P, P, P, *(ctypes.c_ssize_t,) * 12)
        px, py, pa = host.pointer(x), host.pointer(y), host.pointer(self.argmax)
        _kernels.run_rows(lambda lo, hi: run(px, py, pa, lo, hi, h, w, oh, ow, kh, kw, sh, sw, ph, pw),
                          n * c, y.size * kh * kw)
        return y

    def _backward_compiled(self, gy):
        gy = numpy.ascontiguousarray(gy, dtype=self.dtype)
        n, c, h, w = self.x_shape
        gx = numpy.empty(self.x_shape, gy.dtype)   # the kernel zeroes each plane before its scatter
        P = ctypes.c_void_p
        run = host.function(self.lib, f'max_pool_backward_{self.suffix}', P, P, P, *(ctypes.c_ssize_t,) * 4)
        pg, pa, px = host.pointer(gy), host.pointer(self.argmax), host.pointer(gx)
        ohw = gy.shape[2] * gy.shape[3]
        _kernels.run_rows(lambda lo, hi: run(pg, pa, px, lo, hi, h * w, ohw), n * c, gx.size)
        return gx

    def backward(self, gy):
        if self.lib is not None:   # the forward's flat indices: its path decides backward's
            return self._backward_compiled(gy)
        xp = get_array_module(gy)
        gx, overlap = _input_gradient(xp, self.x_shape, gy, self.kernel, self.stride, self.padding)
        hit = xp.empty(gy.shape, xp.bool_)
        tmp = xp.empty_like(gy) if overlap else None
        for offset, window in _windows(*self.x_shape[2:], self.kernel, self.stride, self.padding):
            xp.equal(self.argmax, offset, out=hit)
            if overlap:  # windows share inputs: their gradients add up
                xp.multiply(gy, hit, out=tmp)
                gx[(slice(None), slice(None)) + window] += tmp
            else:
                xp.multiply(gy, hit, out=gx[(slice(None), slice(None)) + window])
        return _unpad(gx, self.padding)


class AvgPool2d(Function):
    def forward(self, x):
        xp = get_array_module(x)
        self.x_shape = x.shape
        xpad = _pad(x, self.padding, 0)
        y = None
        for _, (rows, cols) in _windows(*x.shape[2:], self.kernel, self.stride, self.padding):
            v = xpad[:, :, rows, cols]
            if y is None:
                y = v.copy()
            else:
                xp.add(y, v, out=y)
        y *= x.dtype.type(1.0 / (self.kernel[0] * self.kernel[1]))  # zeros of the padding count
        return y

    def backward(self, gy):
        xp = get_array_module(gy)
        gx, overlap = _input_gradient(xp, self.x_shape, gy, self.kernel, self.stride, self.padding)
        g = gy * gy.dtype.type(1.0 / (self.kernel[0] * self.kernel[1]))
        for _, window in _windows(*self.x_shape[2:], self.kernel, self.stride, self.padding):
            if overlap:
                gx[(slice(None), slice(None)) + window] += g
            else:
                gx[(slice(None), slice(None)) + window] = g
        return _unpad(gx, self.padding)


def _input_gradient(xp, x_shape, gy, kernel, stride, padding):
    """The padded input gradient to fill window by window, and whether windows overlap (then
    their gradients are added, else assigned). Uninitialised where the windows tile the input
    exactly, since every element is then assigned once."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    overlap = sh < kh or sw < kw
    tiled = (kh, kw) == (sh, sw) and (ph, pw) == (0, 0) and (h, w) == (gy.shape[2] * kh, gy.shape[3] * kw)
    shape = (n, c, h + 2 * ph, w + 2 * pw)
    return (xp.empty(shape, gy.dtype) if tiled else xp.zeros(shape, gy.dtype)), overlap


def _unpad(gx, padding):
    ph, pw = padding
    return gx[:, :, ph:gx.shape[2] - ph, pw:gx.shape[3] - pw]


def _pool_args(op, x, kernel_size, stride, padding):
    check_ndim(op, 'input (N, C, H, W)', x, 4)
    kernel = pair(op, 'kernel_size', kernel_size)
    stride = kernel if stride is None else pair(op, 'stride', stride)
    padding = pair(op, 'padding', padding)
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"{op}: expected kernel_size >= 1, stride >= 1, padding >= 0, "
                         f"got {kernel}, {stride}, {padding}")
    if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel {kernel}")
    if x.shape[2] + 2 * padding[0] < kernel[0] or x.shape[3] + 2 * padding[1] < kernel[1]:
        raise ValueError(f"{op}: kernel {kernel} is larger than the padded input {x.shape[2:]}")
    return dict(kernel=kernel, stride=stride, padding=padding)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max over kh x kw windows: (N, C, H, W) -> (N, C, H', W'); stride defaults to the kernel."""
    return MaxPool2d.apply(x, **_pool_args('max_pool2d', x, kernel_size, stride, padding))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over kh x kw windows (padding counts as zeros): (N, C, H, W) -> (N, C, H', W')."""
    return AvgPool2d.apply(x, **_pool_args('avg_pool2d', x, kernel_size, stride, padding))
