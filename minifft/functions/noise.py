"""Dropout."""
from .. import random
from ..tensor import Function


class Dropout(Function):
    def forward(self, x):
        keep = random.bernoulli_keep(x.shape, self.p, like=x)  # drawn on x's device: no host copy
        self.mask = keep * x.dtype.type(1.0 / (1.0 - self.p))  # inverted dropout: eval needs no scaling
        return x * self.mask

    def backward(self, gy):
        return gy * self.mask


def dropout(x, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) while training."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout: expected probability p in [0, 1), got {p}")
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=p)
