"""Element-wise activations beyond ReLU: LeakyReLU and GELU (exact erf form and tanh approximation)."""
import math

from ..backend import get_array_module, special_module
from ..tensor import Function, as_tensor
from ._validation import check_float


class LeakyReLU(Function):
    def forward(self, x):
        self.positive = x > 0
        return get_array_module(x).where(self.positive, x, x * x.dtype.type(self.slope))

    def backward(self, gy):
        return get_array_module(gy).where(self.positive, gy, gy * gy.dtype.type(self.slope))


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_TANH_CUBIC = 0.044715


class GELU(Function):
    """exact: y = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2, dy/dx = Phi(x) + x phi(x);
    tanh: y = x (1 + tanh u) / 2, u = sqrt(2/pi) (x + 0.044715 x^3),
          dy/dx = (1 + tanh u) / 2 + x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2."""

    def forward(self, x):
        xp = get_array_module(x)
        t = x.dtype.type
        self.x = x
        if self.approximate == 'tanh':
            self.th = xp.tanh(t(_SQRT_2_OVER_PI) * (x + t(_TANH_CUBIC) * x * x * x))
            return t(0.5) * x * (1 + self.th)
        self.cdf = t(0.5) * (1 + special_module(x).erf(x * t(1 / math.sqrt(2))))
        return x * self.cdf

    def backward(self, gy):
        xp = get_array_module(gy)
        x, t = self.x, gy.dtype.type
        if self.approximate == 'tanh':
            du = t(_SQRT_2_OVER_PI) * (1 + t(3 * _TANH_CUBIC) * x * x)
            return gy * (t(0.5) * (1 + self.th) + t(0.5) * x * (1 - self.th * self.th) * du)
        pdf = xp.exp(t(-0.5) * x * x) * t(1 / math.sqrt(2 * math.pi))
        return gy * (self.cdf + x * pdf)


def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, else negative_slope * x (any shape)."""
    x = as_tensor(x)
    check_float('leaky_relu', 'input x', x)
    if not isinstance(negative_slope, (int, float)):
        raise TypeError(f"leaky_relu: expected negative_slope as a number, got {type(negative_slope).__name__}")
    return LeakyReLU.apply(x, slope=float(negative_slope))


def gelu(x, approximate='none'):
    """x * Phi(x), Phi the standard normal CDF (any shape); approximate='tanh' uses
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as PyTorch."""
    x = as_tensor(x)
    check_float('gelu', 'input x', x)
    if approximate not in ('none', 'tanh'):
        raise ValueError(f"gelu: expected approximate 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(x, approximate=approximate)
