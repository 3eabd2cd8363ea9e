"""softmax and log_softmax along an axis, numerically stable."""
from ..backend import get_array_module
from ..tensor import Function


def _log_softmax(x, axis):
    xp = get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)  # exp never overflows
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class LogSoftmax(Function):
    def forward(self, x):
        self.y = _log_softmax(x, self.axis)
        return self.y

    def backward(self, gy):
        xp = get_array_module(gy)
        return gy - xp.exp(self.y) * gy.sum(axis=self.axis, keepdims=True)


class Softmax(Function):
    def forward(self, x):
        self.y = get_array_module(x).exp(_log_softmax(x, self.axis))
        return self.y

    def backward(self, gy):
        return self.y * (gy - (gy * self.y).sum(axis=self.axis, keepdims=True))


def log_softmax(x, axis=-1):
    """log(softmax(x)) along ``axis``, computed as x - max - log(sum(exp(x - max)))."""
    return LogSoftmax.apply(x, axis=axis)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum so it never overflows."""
    return Softmax.apply(x, axis=axis)
