"""Elementwise arithmetic with broadcasting, and matrix product."""
import numpy

from ..backend import get_array_module
from ..conv.spectral import matmul2d, one_blas_thread
from ..tensor import Function, unbroadcast
from ._validation import binary_operands


class Add(Function):
    def forward(self, x, y):
        self.shapes = x.shape, y.shape
        return x + y

    def backward(self, gy):
        return unbroadcast(gy, self.shapes[0]), unbroadcast(gy, self.shapes[1])


class Sub(Function):
    def forward(self, x, y):
        self.shapes = x.shape, y.shape
        return x - y

    def backward(self, gy):
        return unbroadcast(gy, self.shapes[0]), unbroadcast(-gy, self.shapes[1])


class Mul(Function):
    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, gy):
        return unbroadcast(gy * self.y, self.x.shape), unbroadcast(gy * self.x, self.y.shape)


class Div(Function):
    def forward(self, x, y):
        self.x, self.y = x, y
        return x / y

    def backward(self, gy):
        gx = gy / self.y
        return unbroadcast(gx, self.x.shape), unbroadcast(-gx * self.x / self.y, self.y.shape)


class Pow(Function):
    def forward(self, x, y):
        self.x, self.y = x, y
        self.out = x ** y
        return self.out

    def backward(self, gy):
        xp = get_array_module(gy)
        gx = gy * self.y * self.x ** (self.y - 1)
        # d/dy x**y = x**y log x; where x == 0 the limit is 0 (for y > 0), not nan
        log_x = xp.log(xp.where(self.x > 0, self.x, 1))
        gyy = gy * self.out * log_x
        return unbroadcast(gx, self.x.shape), unbroadcast(gyy, self.y.shape)


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class MatMul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return _matmul(a, b)

    def backward(self, gy):
        xp = get_array_module(gy)
        a, b = self.a, self.b
        if a.ndim == 1 and b.ndim == 1:
            return gy * b, gy * a
        if a.ndim == 1:                     # (k) @ (..., k, n) -> (..., n)
            ga = (b @ gy[..., None])[..., 0]
            gb = a[:, None] * gy[..., None, :]
            return unbroadcast(ga, a.shape), gb
        if b.ndim == 1:                     # (..., m, k) @ (k) -> (..., m)
            ga = gy[..., :, None] * b
            gb = (xp.swapaxes(a, -1, -2) @ gy[..., None])[..., 0]
            return ga, unbroadcast(gb, b.shape)
        ga = _matmul(gy, xp.swapaxes(b, -1, -2))
        gb = _matmul(xp.swapaxes(a, -1, -2), gy)
        return unbroadcast(ga, a.shape), unbroadcast(gb, b.shape)


def _matmul(a, b):
    """a @ b; 2-D products through spectral.matmul2d, the others on one BLAS thread on the CPU
    (minifft's CPU parallelism comes from its thread pool: see spectral.one_blas_thread)."""
    if a.ndim == 2 and b.ndim == 2:
        return matmul2d(a, b)
    if get_array_module(a, b) is not numpy:
        return a @ b
    with one_blas_thread():
        return a @ b


def add(x, y):
    """x + y with NumPy broadcasting."""
    return Add.apply(*binary_operands(x, y))


def sub(x, y):
    """x - y with NumPy broadcasting."""
    return Sub.apply(*binary_operands(x, y))


def mul(x, y):
    """x * y with NumPy broadcasting."""
    return Mul.apply(*binary_operands(x, y))


def div(x, y):
    """x / y with NumPy broadcasting."""
    return Div.apply(*binary_operands(x, y))


def pow(x, y):
    """x ** y with NumPy broadcasting; differentiable in both (in y where x > 0)."""
    return Pow.apply(*binary_operands(x, y))


def neg(x):
    return Neg.apply(x)


def matmul(a, b):
    """Matrix product with NumPy's ``@`` rules: (..., m, k) @ (..., k, n) -> (..., m, n)."""
    a, b = binary_operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: expected operands with at least 1 dimension, got shapes {a.shape} and {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape} ({ka} != {kb})")
    return MatMul.apply(a, b)
