"""2-D max and average pooling over (N, C, H, W).

Both loop over the kh*kw window offsets with strided slices, so they are a handful of
whole-array ops on either device rather than a Python loop over outputs.
"""
from ..backend import get_array_module
from ..tensor import Function
from ._validation import check_ndim, pair


def _windows(h, w, kernel, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    for a in range(kh):
        for b in range(kw):
            # the window offset (a, b) of every output, as a strided slice of the padded input
            yield a * kw + b, (slice(a, a + sh * (oh - 1) + 1, sh), slice(b, b + sw * (ow - 1) + 1, sw))


def _pad(x, padding, value):
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    xp = get_array_module(x)
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


class MaxPool2d(Function):
    def forward(self, x):
        xp = get_array_module(x)
        self.x_shape = x.shape
        xpad = _pad(x, self.padding, -xp.inf)
        y = self.argmax = None
        for offset, (rows, cols) in _windows(*x.shape[2:], self.kernel, self.stride, self.padding):
            v = xpad[:, :, rows, cols]
            if y is None:
                y, self.argmax = v.copy(), xp.zeros(v.shape, xp.int32)
            else:
                better = v > y  # strict: the first maximum in the window wins, as in PyTorch
                y = xp.where(better, v, y)
                # where, not argmax[better] = offset: a mask assignment reads its count back (a sync)
                self.argmax = xp.where(better, xp.int32(offset), self.argmax)
        return y

    def backward(self, gy):
        xp = get_array_module(gy)
        n, c, h, w = self.x_shape
        (ph, pw) = self.padding
        gx = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), gy.dtype)
        for offset, (rows, cols) in _windows(h, w, self.kernel, self.stride, self.padding):
            gx[:, :, rows, cols] += gy * (self.argmax == offset)
        return gx[:, :, ph:ph + h, pw:pw + w]


class AvgPool2d(Function):
    def forward(self, x):
        self.x_shape = x.shape
        xpad = _pad(x, self.padding, 0)
        y = 0
        for _, (rows, cols) in _windows(*x.shape[2:], self.kernel, self.stride, self.padding):
            y = y + xpad[:, :, rows, cols]
        return y * x.dtype.type(1.0 / (self.kernel[0] * self.kernel[1]))  # zeros of the padding count

    def backward(self, gy):
        xp = get_array_module(gy)
        n, c, h, w = self.x_shape
        (ph, pw) = self.padding
        gx = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), gy.dtype)
        g = gy * gy.dtype.type(1.0 / (self.kernel[0] * self.kernel[1]))
        for _, (rows, cols) in _windows(h, w, self.kernel, self.stride, self.padding):
            gx[:, :, rows, cols] += g
        return gx[:, :, ph:ph + h, pw:pw + w]


def _pool_args(op, x, kernel_size, stride, padding):
    check_ndim(op, 'input (N, C, H, W)', x, 4)
    kernel = pair(op, 'kernel_size', kernel_size)
    stride = kernel if stride is None else pair(op, 'stride', stride)
    padding = pair(op, 'padding', padding)
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"{op}: expected kernel_size >= 1, stride >= 1, padding >= 0, "
                         f"got {kernel}, {stride}, {padding}")
    if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel {kernel}")
    if x.shape[2] + 2 * padding[0] < kernel[0] or x.shape[3] + 2 * padding[1] < kernel[1]:
        raise ValueError(f"{op}: kernel {kernel} is larger than the padded input {x.shape[2:]}")
    return dict(kernel=kernel, stride=stride, padding=padding)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max over kh x kw windows: (N, C, H, W) -> (N, C, H', W'); stride defaults to the kernel."""
    return MaxPool2d.apply(x, **_pool_args('max_pool2d', x, kernel_size, stride, padding))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over kh x kw windows (padding counts as zeros): (N, C, H, W) -> (N, C, H', W')."""
    return AvgPool2d.apply(x, **_pool_args('avg_pool2d', x, kernel_size, stride, padding))
