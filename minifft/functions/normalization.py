"""Batch normalisation (Ioffe & Szegedy 2015) as one fused op with an analytic backward.

Per channel c, over the batch and spatial axes (M values): in training
    mu = mean(x), var = mean((x - mu)^2)  (biased), xhat = (x - mu) / sqrt(var + eps),
    y = gamma * xhat + beta
and the running estimates, when given, are updated in place as PyTorch does, with the unbiased
variance: r = (1 - factor) * r + factor * stat, stat = mu or var * M / (M - 1).
In eval mode mu and var are the running estimates, constants of the graph.

Backward (training), all sums over the M values of a channel:
    gbeta = sum(gy), ggamma = sum(gy * xhat),
    gx = gamma / sqrt(var + eps) * (gy - gbeta / M - xhat * ggamma / M)
Backward (eval): gx = gamma / sqrt(var + eps) * gy.

On the CPU, inputs with spatial axes run in C (minifft/kernels/normalization.c) where the kernels
are built: two passes over memory forward (statistics, then normalise, in one call) and two
backward (the two sums, then gx); xhat is recomputed from the input there rather than kept. The
NumPy code is the fallback and the GPU path.
"""
import ctypes
import functools

import numpy

from .. import backend
from ..backend import get_array_module
from ..kernels import host
from ..tensor import Function, as_tensor
from . import _kernels
from ._validation import check_float


MIN_KERNEL_SIZE = 1 << 13   # break-even with the NumPy code: measured 2-8K elements (float32)


@functools.lru_cache(maxsize=None)
def _workspace(lib):
    """normalization.c's batch_norm_workspace(C, HW): the doubles its kernels' ``work`` holds."""
    size = lib.batch_norm_workspace
    size.argtypes, size.restype = (ctypes.c_ssize_t, ctypes.c_ssize_t), ctypes.c_ssize_t
    return size


def _channel_shape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _channel_sum(a):
    """Per-channel sums of (N, C, ...): the contiguous trailing axes first, then the batch, which
    NumPy reduces several times faster than all of them at once."""
    a = a.reshape(a.shape[0], a.shape[1], -1)
    return a.sum(axis=2).sum(axis=0)


def _channel_dot(a, b):
    """Per-channel sums of a * b without the product as a temporary."""
    xp = get_array_module(a)
    n, c = a.shape[:2]
    return xp.einsum('ncm,ncm->c', a.reshape(n, c, -1), b.reshape(n, c, -1))


class BatchNormalization(Function):
    def forward(self, x, gamma=None, beta=None):
        self.lib, self.suffix = (_kernels.library('normalization', x, min_size=MIN_KERNEL_SIZE) if x.ndim > 2
                                 else (None, None))
        if self.lib is not None:
            return self._forward_compiled(x, gamma, beta)
        xp = get_array_module(x)
        shape = _channel_shape(x)
        eps = x.dtype.type(self.eps)
        m = x.dtype.type(x.size // x.shape[1])
        if self.training:
            mean = _channel_sum(x) / m
            xc = x - mean.reshape(shape)
            var = _channel_dot(xc, xc) / m
            self._update_running(mean, var, m)
        else:
            xc = x - self.running_mean.reshape(shape).astype(x.dtype, copy=False)
            var = self.running_var.astype(x.dtype, copy=False)
        self.inv_std = (1 / xp.sqrt(var + eps)).astype(x.dtype, copy=False).reshape(shape)
        xc *= self.inv_std     # xc is this op's own temporary: xhat in place
        self.xhat = xc
        self.gamma = gamma
        y = self.xhat if gamma is None else self.xhat * gamma.reshape(shape)
        if beta is not None:
            y = y + beta.reshape(shape) if y is self.xhat else xp.add(y, beta.reshape(shape), out=y)
        return y

    def _update_running(self, mean, var, m):
        if self.running_mean is not None:
            f = self.factor
            self.running_mean *= 1 - f
            self.running_mean += f * mean
            self.running_var *= 1 - f
            self.running_var += f * var * (m / (m - 1))

    def _forward_compiled(self, x, gamma, beta):
        x = self.x = numpy.ascontiguousarray(x)
        n, c = x.shape[:2]
        P, S = ctypes.c_void_p, ctypes.c_ssize_t
        self.gamma = gamma
        gamma = numpy.ones(c, x.dtype) if gamma is None else numpy.ascontiguousarray(gamma)
        beta = numpy.zeros(c, x.dtype) if beta is None else numpy.ascontiguousarray(beta)
        y = numpy.empty_like(x)
        if self.training:
            # statistics, inv_std and y in one call: a chunk of channels needs nothing from the others
            self.mean, var, self.inv_std = numpy.empty(c, x.dtype), numpy.empty(c, x.dtype), numpy.empty(c, x.dtype)
            run = host.function(self.lib, f'batch_norm_train_forward_{self.suffix}', P, P, P, P, P, P, P, P,
                                ctypes.c_double, S, S, S, S, S)
            work = numpy.empty(_workspace(self.lib)(c, x.size // (n * c)))
            pointers = [host.pointer(a) for a in (x, y, self.mean, var, self.inv_std, gamma, beta, work)]
            _kernels.run_rows(lambda lo, hi: run(*pointers, self.eps, n, c, x.size // (n * c), lo, hi), c, 2 * x.size)
            self._update_running(self.mean, var, x.dtype.type(x.size // c))
            return y
        # copies: backward must see the statistics of this call, not a later training step's
        self.mean = numpy.array(self.running_mean, x.dtype)
        self.inv_std = (1 / numpy.sqrt(self.running_var.astype(x.dtype) + x.dtype.type(self.eps))).astype(x.dtype)
        run = host.function(self.lib, f'batch_norm_forward_{self.suffix}', P, P, P, P, P, P, P, S, S, S, S, S)
        work = numpy.empty(_workspace(self.lib)(c, x.size // (n * c)))
        pointers = [host.pointer(a) for a in (x, y, self.mean, self.inv_std, gamma, beta, work)]
        _kernels.run_rows(lambda lo, hi: run(*pointers, n, c, x.size // (n * c), lo, hi), c, x.size)
        return y

    def _backward_compiled(self, gy):
        x = self.x
        gy = numpy.ascontiguousarray(gy, x.dtype)
        n, c = x.shape[:2]
        gx, gbeta, ggamma = numpy.empty_like(x), numpy.empty(c, x.dtype), numpy.empty(c, x.dtype)
        work = numpy.empty(_workspace(self.lib)(c, x.size // (n * c)))
        gamma = numpy.ones(c, x.dtype) if self.gamma is None else numpy.ascontiguousarray(self.gamma)
        P, S = ctypes.c_void_p, ctypes.c_ssize_t
        run = host.function(self.lib, f'batch_norm_backward_{self.suffix}', P, P, P, P, P, P, P, P, P,
                            ctypes.c_int, S, S, S, S, S)
        pointers = [host.pointer(a) for a in (x, gy, gx, self.mean, self.inv_std, gamma, gbeta, ggamma, work)]
        _kernels.run_rows(lambda lo, hi: run(*pointers, self.training, n, c, x.size // (n * c), lo, hi),
                          c, 2 * x.size)
        return gx if self.gamma is None else (gx, ggamma, gbeta)

    def backward(self, gy):
        if self.lib is not None:
            return self._backward_compiled(gy)
        shape = _channel_shape(gy)
        gbeta = _channel_sum(gy)
        ggamma = _channel_dot(gy, self.xhat)
        scale = self.inv_std if self.gamma is None else self.inv_std * self.gamma.reshape(shape)
        if self.training:
            m = gy.dtype.type(gy.size // gy.shape[1])
            gx = scale * (gy - gbeta.reshape(shape) / m - self.xhat * (ggamma.reshape(shape) / m))
        else:
            gx = scale * gy
        if self.gamma is None:
            return gx
        return gx, ggamma, gbeta


def batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Normalise x per channel: (N, C), (N, C, L) or (N, C, H, W) -> the same shape.

    ``training``: normalise with the batch's mean and biased variance, and update ``running_mean``
    and ``running_var`` (arrays of shape (C,), updated in place when given) with factor
    ``momentum`` (a number or a 0-d array) and the unbiased variance. Otherwise normalise with the
    running statistics. ``weight`` and ``bias`` (shape (C,)) scale and shift the result; give both
    or neither.
    """
    op = 'batch_norm'
    x = as_tensor(x)
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"{op}: expected input (N, C), (N, C, L) or (N, C, H, W), got shape {x.shape}")
    check_float(op, 'input x', x)
    c = x.shape[1]
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var or neither")
    for name, a in (('running_mean', running_mean), ('running_var', running_var)):
        if a is not None and tuple(a.shape) != (c,):
            raise ValueError(f"{op}: expected {name} of shape ({c},), got {tuple(a.shape)}")
        if a is not None and backend.device_of(a) != x.device:
            raise ValueError(f"{op}: {name} is on '{backend.device_of(a)}' but x is on '{x.device}'")
    if not training and running_mean is None:
        raise ValueError(f"{op}: eval mode (training=False) needs running_mean and running_var")
    if (weight is None) != (bias is None):
        raise ValueError(f"{op}: give both weight and bias or neither")
    if training and x.size // c < 2:
        raise ValueError(f"{op}: expected more than 1 value per channel when training, got input shape {x.shape}")
    if eps <= 0:
        raise ValueError(f"{op}: expected eps > 0, got {eps}")
    inputs = (x,)
    if weight is not None:
        weight, bias = as_tensor(weight), as_tensor(bias)
        for name, t in (('weight', weight), ('bias', bias)):
            if t.shape != (c,):
                raise ValueError(f"{op}: expected {name} of shape ({c},), got {t.shape}")
            if t.dtype != x.dtype or t.device != x.device:
                raise TypeError(f"{op}: {name} is {t.dtype} on '{t.device}' but x is {x.dtype} on '{x.device}'")
        inputs += (weight, bias)
    return BatchNormalization.apply(*inputs, running_mean=running_mean, running_var=running_var,
                                    training=bool(training), factor=momentum, eps=float(eps))
