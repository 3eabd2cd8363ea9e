"""Adaptive average pooling over (N, C, H, W): the output size is given, the windows follow.

Output cell i of an axis of length H pooled to `o` averages input rows
floor(i H / o) .. ceil((i + 1) H / o) - 1 (PyTorch's windows; they overlap when o does not divide
H). When o divides H the windows are the blocks of a reshape, so the common cases (1 x 1 global
pooling, halving) are one reduction; otherwise one strided sum per output cell.
"""
from ..backend import get_array_module
from ..conv.geometry import ceil_div
from ..tensor import Function, as_tensor
from ._validation import check_float, check_ndim


def _bounds(size, out):
    return [(i * size // out, ceil_div((i + 1) * size, out)) for i in range(out)]


class AdaptiveAvgPool2d(Function):
    def forward(self, x):
        n, c, h, w = self.x_shape = x.shape
        oh, ow = self.output_size
        if h % oh == 0 and w % ow == 0:
            return x.reshape(n, c, oh, h // oh, ow, w // ow).mean(axis=(3, 5))
        xp = get_array_module(x)
        y = xp.empty((n, c, oh, ow), x.dtype)
        for i, (r0, r1) in enumerate(_bounds(h, oh)):
            for j, (c0, c1) in enumerate(_bounds(w, ow)):
                y[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
        return y

    def backward(self, gy):
        xp = get_array_module(gy)
        n, c, h, w = self.x_shape
        oh, ow = self.output_size
        if h % oh == 0 and w % ow == 0:
            kh, kw = h // oh, w // ow
            g = gy * gy.dtype.type(1.0 / (kh * kw))
            gx = xp.empty((n, c, oh, kh, ow, kw), gy.dtype)
            gx[...] = g.reshape(n, c, oh, 1, ow, 1)
            return gx.reshape(n, c, h, w)
        gx = xp.zeros(self.x_shape, gy.dtype)
        for i, (r0, r1) in enumerate(_bounds(h, oh)):
            for j, (c0, c1) in enumerate(_bounds(w, ow)):
                count = gy.dtype.type(1.0 / ((r1 - r0) * (c1 - c0)))
                gx[:, :, r0:r1, c0:c1] += (gy[:, :, i, j] * count)[:, :, None, None]
        return gx


def adaptive_avg_pool2d(x, output_size):
    """Average over windows chosen so the output is output_size: (N, C, H, W) -> (N, C, oh, ow).

    ``output_size`` is an int, an (oh, ow) pair, with None in a pair meaning "keep that axis";
    1 is global average pooling.
    """
    op = 'adaptive_avg_pool2d'
    x = as_tensor(x)
    check_ndim(op, 'input (N, C, H, W)', x, 4)
    check_float(op, 'input x', x)
    size = (output_size, output_size) if isinstance(output_size, int) or output_size is None else output_size
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise TypeError(f"{op}: expected output_size as an int or a pair, got {output_size!r}")
    size = tuple(x.shape[2 + i] if s is None else s for i, s in enumerate(size))
    if not all(isinstance(s, int) and s >= 1 for s in size):
        raise ValueError(f"{op}: expected output sizes >= 1, got {output_size!r}")
    if size[0] > x.shape[2] or size[1] > x.shape[3]:
        raise ValueError(f"{op}: output_size {size} is larger than the input {x.shape[2:]}")
    return AdaptiveAvgPool2d.apply(x, output_size=size)
