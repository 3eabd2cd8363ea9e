"""Strided convolution as a stride-1 convolution over phases (polyphase decomposition).

With stride s (per axis), padding p and x_pad the zero-padded input, output i reads

    y[i] = sum_a x_pad[s*i + a] w[a].

Write the kernel offset as a = s*a' + r with phase r in [0, s) and a' in [0, ceil(k/s)), and
split signal and kernel into their s phases: x_r[j] = x_pad[s*j + r], w_r[a'] = w[s*a' + r]
(w zero beyond k, x_pad zero beyond its end). Then

    y[i] = sum_r sum_a' x_pad[s*(i + a') + r] w[s*a' + r] = sum_r (x_r corr w_r)[i]:

a sum over phases of stride-1 correlations of size n/s with kernels of size k/s. A sum over
phases next to the sum over channels is just more channels: stack the s*s phases of every input
channel as channels (f -> f*s*s) and the strided layer is a stride-1 layer on them,
(S, f*s^2, ceil((n+2p)/s)) * (f', f*s^2, ceil(k/s)). Its first out = (n+2p-k)//s + 1 outputs are
the strided outputs (ceil((n+2p)/s) - ceil(k/s) >= (n+2p-k)//s, checked case by case on the
remainders). Both gradients follow by linearity: the stride-1 layer's input and weight gradients,
put back in place phase by phase, are those of the strided layer.

For the FFT algorithm this keeps every spectrum at the phase size: nothing at full resolution is
computed and thrown away, and the per-frequency products get s^2 times longer channel sums over
s^2 times fewer bins, which BLAS runs faster. The phase channels are ordered (c, r_h, r_w), so
channel groups stay contiguous blocks and grouped layers split the same way.
"""
import dataclasses

from ..backend import get_array_module
from .base import Wrapper
from .geometry import ConvGeometry, ceil_div


def _phases(g):
    """(r_h, r_w) for every phase, in channel order."""
    return [(rh, rw) for rh in range(g.stride_h) for rw in range(g.stride_w)]


def phase_geometry(g):
    """The stride-1, unpadded layer over phases that computes the strided layer ``g``."""
    return ConvGeometry(g.batch, g.in_channels * g.stride_h * g.stride_w, g.out_channels,
                        ceil_div(g.height + 2 * g.pad_h, g.stride_h), ceil_div(g.width + 2 * g.pad_w, g.stride_w),
                        ceil_div(g.kernel_h, g.stride_h), ceil_div(g.kernel_w, g.stride_w), groups=g.groups)


def _input_slices(n, pad, stride, phase):
    """Where phase ``phase`` of the padded input meets the real input: (slice of x, slice of phase)."""
    first = max(0, ceil_div(pad - phase, stride))         # first j with s*j + r - p >= 0
    last = (n - 1 + pad - phase) // stride                 # last j with s*j + r - p <= n - 1
    if last < first:
        return None
    start = first * stride + phase - pad
    return slice(start, start + (last - first) * stride + 1, stride), slice(first, last + 1)


def _pairs(g):
    """For each phase (index, x slices, phase slices) where that phase holds real input."""
    for index, (rh, rw) in enumerate(_phases(g)):
        rows = _input_slices(g.height, g.pad_h, g.stride_h, rh)
        cols = _input_slices(g.width, g.pad_w, g.stride_w, rw)
        if rows and cols:
            yield index, (rows[0], cols[0]), (rows[1], cols[1])


def split_input(x, g, gp):
    """x (S, f, H, W) -> its padded phases (S, f*sh*sw, gp.height, gp.width), in one pass."""
    xp = get_array_module(x)
    out = xp.zeros((g.batch, g.in_channels, g.stride_h * g.stride_w, gp.height, gp.width), x.dtype)
    for index, (xr, xc), (pr, pc) in _pairs(g):
        out[:, :, index, pr, pc] = x[:, :, xr, xc]
    return out.reshape(g.batch, -1, gp.height, gp.width)


def merge_input(gxp, g):
    """Phase gradients (S, f*sh*sw, ...) -> the input gradient (S, f, H, W); padding drops out."""
    xp = get_array_module(gxp)
    gxp = gxp.reshape(g.batch, g.in_channels, g.stride_h * g.stride_w, *gxp.shape[2:])
    gx = xp.empty((g.batch, g.in_channels, g.height, g.width), gxp.dtype)
    for index, (xr, xc), (pr, pc) in _pairs(g):  # the phases tile the input exactly once
        gx[:, :, xr, xc] = gxp[:, :, index, pr, pc]
    return gx


def split_weight(w, g, gp):
    """w (f', f/G, kh, kw) -> its phases (f', f/G*sh*sw, ceil(kh/sh), ceil(kw/sw)), zero past k."""
    xp = get_array_module(w)
    out = xp.zeros((g.out_channels, g.group_in, g.stride_h * g.stride_w, gp.kernel_h, gp.kernel_w), w.dtype)
    for index, (rh, rw) in enumerate(_phases(g)):
        part = w[:, :, rh::g.stride_h, rw::g.stride_w]
        out[:, :, index, :part.shape[2], :part.shape[3]] = part
    return out.reshape(g.out_channels, -1, gp.kernel_h, gp.kernel_w)


def merge_weight(gwp, g):
    """Phase weight gradients -> the weight gradient (f', f/G, kh, kw)."""
    xp = get_array_module(gwp)
    gwp = gwp.reshape(g.out_channels, g.group_in, g.stride_h * g.stride_w, *gwp.shape[2:])
    gw = xp.empty((g.out_channels, g.group_in, g.kernel_h, g.kernel_w), gwp.dtype)
    for index, (rh, rw) in enumerate(_phases(g)):
        part = gw[:, :, rh::g.stride_h, rw::g.stride_w]
        part[...] = gwp[:, :, index, :part.shape[2], :part.shape[3]]
    return gw


@dataclasses.dataclass
class PolyphaseSaved:
    geometry: ConvGeometry     # the layer the inner algorithm ran: the phases', or g at stride 1
    inner: object              # the inner algorithm's saved state


@dataclasses.dataclass
class PolyphaseContext:
    geometry: ConvGeometry
    inner: object


class Polyphase(Wrapper):
    """Runs a strided layer through a stride-1 algorithm on its phases (see the module text);
    stride-1 layers go to the inner algorithm unchanged. Wraps any registered algorithm."""

    @staticmethod
    def inner_geometry(g):
        return phase_geometry(g) if g.strided else g

    def supports(self, g, device):
        return self.inner.supports(self.inner_geometry(g), device)

    def cost(self, g, device='cpu'):
        return self.inner.cost(self.inner_geometry(g), device)

    def workspace(self, g, itemsize, device='cpu'):
        return self.inner.workspace(self.inner_geometry(g), itemsize, device)

    def forward(self, x, w, g):
        gp = self.inner_geometry(g)
        if gp is g:
            y, saved = self.inner.forward(x, w, g)
            return y, PolyphaseSaved(g, saved)
        y, saved = self.inner.forward(split_input(x, g, gp), split_weight(w, g, gp), gp)
        if y.shape[2:] != (g.out_h, g.out_w):
            y = get_array_module(y).ascontiguousarray(y[:, :, :g.out_h, :g.out_w])
        return y, PolyphaseSaved(gp, saved)

    def backward_setup(self, saved, gy, g):
        gp = saved.geometry
        if gy.shape != gp.output_shape:  # the extra phase outputs were cropped: their gradient is 0
            padded = get_array_module(gy).zeros(gp.output_shape, gy.dtype)
            padded[:, :, :g.out_h, :g.out_w] = gy
            gy = padded
        return PolyphaseContext(gp, self.inner.backward_setup(saved.inner, gy, gp))

    def backward_input(self, ctx, g):
        gx = self.inner.backward_input(ctx.inner, ctx.geometry)
        return merge_input(gx, g) if ctx.geometry is not g else gx

    def backward_weight(self, ctx, g):
        gw = self.inner.backward_weight(ctx.inner, ctx.geometry)
        return merge_weight(gw, g) if ctx.geometry is not g else gw
