"""Fully connected layer: y = x @ W.T + b.

On the CPU its GEMMs never run on BLAS's own threads (spectral.matmul2d): at the usual sizes
(a few MFLOP) those gain little, and one thread descheduled on a busy machine stalls the whole
call: after the conv thread pool had run, (64, 512) x (512, 64) took 0.05 ms at the median but
20-40 ms in one call of ten, where one BLAS thread took 0.1 ms every time.
"""
from ..conv.spectral import matmul2d as _matmul
from ..tensor import Function, as_tensor
from ._validation import check_ndim


class Linear(Function):
    def forward(self, x, w, b=None):
        self.x, self.w = x, w
        y = _matmul(x, w.T)
        return y if b is None else y + b

    def backward(self, gy):
        gx = _matmul(gy, self.w)
        gw = _matmul(gy.T, self.x)
        return gx, gw, gy.sum(axis=0)


def linear(x, w, b=None):
    """(N, in) x (out, in) weight (+ (out,) bias) -> (N, out)."""
    x, w = as_tensor(x), as_tensor(w)
    check_ndim('linear', 'input (N, in_features)', x, 2)
    check_ndim('linear', 'weight (out_features, in_features)', w, 2)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"linear: input has {x.shape[1]} features but weight expects {w.shape[1]} "
                         f"(weight shape {w.shape})")
    if b is None:
        return Linear.apply(x, w)
    b = as_tensor(b)
    if b.shape != (w.shape[0],):
        raise ValueError(f"linear: expected bias of shape ({w.shape[0]},), got {b.shape}")
    return Linear.apply(x, w, b)
