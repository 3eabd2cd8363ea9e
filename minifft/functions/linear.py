"""Fully connected layer: y = x @ W.T + b."""
from ..tensor import Function, as_tensor
from ._validation import check_ndim


class Linear(Function):
    def forward(self, x, w, b=None):
        self.x, self.w = x, w
        y = x @ w.T
        return y if b is None else y + b

    def backward(self, gy):
        gx = gy @ self.w
        gw = gy.T @ self.x
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
