"""Losses: cross-entropy over integer labels, mean squared error."""
import numpy

from ..backend import get_array_module
from ..tensor import Function, Tensor, as_tensor
from ._validation import check_ndim
from .activation import _log_softmax


class CrossEntropy(Function):
    """Mean of -log softmax(logits)[label]; forward and backward share one log-softmax."""

    def forward(self, logits, labels):
        xp = get_array_module(logits)
        self.log_p = _log_softmax(logits, axis=1)
        rows = xp.arange(len(labels))
        if xp is numpy:
            self.labels = labels
            return -self.log_p[rows, labels].mean()
        # On the GPU the range check stays on the device (reading it back every step would be a
        # sync): an out-of-range label, which CuPy's indexing would silently wrap around, makes the
        # loss NaN instead, and training stops at its next loss read.
        bad = (labels < 0) | (labels >= logits.shape[1])
        self.labels = xp.where(bad, 0, labels)
        loss = -self.log_p[rows, self.labels].mean()
        return xp.where(bad.any(), xp.asarray(xp.nan, loss.dtype), loss)

    def backward(self, gy):
        xp = get_array_module(gy)
        g = xp.exp(self.log_p)
        g[xp.arange(len(self.labels)), self.labels] -= 1
        return g * (gy / len(self.labels)), None


class MSELoss(Function):
    def forward(self, x, t):
        self.diff = x - t
        return (self.diff * self.diff).mean()

    def backward(self, gy):
        g = self.diff * (2 * gy / self.diff.size)
        return g, -g


def cross_entropy(logits, labels):
    """Mean cross-entropy of (N, K) logits against (N,) integer class labels in [0, K).

    Labels out of range raise ValueError on the CPU; on the GPU they make the loss NaN (checking
    them on the host would synchronise every step)."""
    logits, labels = as_tensor(logits), as_tensor(labels)
    check_ndim('cross_entropy', 'logits', logits, 2)
    check_ndim('cross_entropy', 'labels', labels, 1)
    if labels.dtype.kind not in 'iu':
        raise TypeError(f"cross_entropy: expected integer labels, got dtype {labels.dtype}")
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(f"cross_entropy: {logits.shape[0]} rows of logits but {labels.shape[0]} labels")
    if labels.size and labels.device == 'cpu':  # device labels are checked in forward, without a sync
        low, high = int(labels.data.min()), int(labels.data.max())
        if low < 0 or high >= logits.shape[1]:
            raise ValueError(f"cross_entropy: labels must lie in [0, {logits.shape[1]}), "
                             f"got values from {low} to {high}")
    return CrossEntropy.apply(logits, Tensor.of(labels.data))


def mse_loss(x, target):
    """Mean of (x - target)**2 over all elements; shapes must match."""
    x, target = as_tensor(x), as_tensor(target)
    if x.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {x.shape} and target shape {target.shape} differ")
    return MSELoss.apply(x, target)
