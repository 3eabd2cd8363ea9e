"""Ops that move data without arithmetic: reshape, transpose, indexing, device and dtype moves."""
import numpy

from .. import backend
from ..backend import get_array_module
from ..tensor import Function, Tensor


class Reshape(Function):
    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.in_shape)


class Transpose(Function):
    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return gy.transpose(inverse)


class GetItem(Function):
    def forward(self, x):
        self.in_shape, self.in_dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(self.in_shape, self.in_dtype)
        # add.at, not +=, so an index repeated in an integer array accumulates every use
        xp.add.at(gx, self.index, gy)
        return gx


class ToDevice(Function):
    def forward(self, x):
        self.source = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return backend.to_device(gy, self.source)


class AsType(Function):
    def forward(self, x):
        self.source = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.source)


def reshape(x, *shape):
    """Same data in a new shape; one dimension may be -1."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    known = 1
    for n in shape:
        if n != -1:
            known *= n
    if shape.count(-1) > 1 or (shape.count(-1) == 0 and known != x.size) or \
            (shape.count(-1) == 1 and (known == 0 or x.size % known)):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                         f"into {shape}")
    return Reshape.apply(x, shape=shape)


def transpose(x, *axes):
    """Permute axes (reverse them when none are given), like ``numpy.transpose``."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    axes = tuple(reversed(range(x.ndim))) if not axes else tuple(a % x.ndim for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of a {x.ndim}-d tensor's axes")
    return Transpose.apply(x, axes=axes)


def flatten(x, start_dim=1):
    """(N, C, H, W) -> (N, C*H*W): merge the dimensions from ``start_dim`` on."""
    return reshape(x, *x.shape[:start_dim], -1)


def getitem(x, index):
    """NumPy indexing: ints, slices, None, Ellipsis, boolean and integer arrays."""
    device = x.device if isinstance(x, Tensor) else backend.device_of(x)

    def on_x_device(i):  # index arrays go where x is: a host index would be an implicit copy
        i = i.data if isinstance(i, Tensor) else i
        return backend.to_device(i, device) if isinstance(i, numpy.ndarray) else i
    index = tuple(on_x_device(i) for i in index) if isinstance(index, tuple) else on_x_device(index)
    return GetItem.apply(x, index=index)


def to_device(x, device):
    """Copy ``x`` to ``'cpu'`` or ``'cuda'``; the gradient comes back to the source device."""
    backend.require_device(device)
    return ToDevice.apply(x, device=device)


def astype(x, dtype):
    return AsType.apply(x, dtype=dtype)
