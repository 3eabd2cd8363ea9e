"""Direct convolution: im2col + one GEMM forward, GEMM + col2im for the input gradient, GEMM for
the weight gradient. The same array code runs on NumPy and CuPy."""
import dataclasses

from ..backend import get_array_module
from . import depthwise
from .base import PASSES, ConvAlgorithm, OpCount, Workspace


def _offsets(g):
    """Each kernel offset (a, b) with the strided window it selects from the padded input."""
    for a in range(g.kernel_h):
        for b in range(g.kernel_w):
            i, j = a * g.dilation_h, b * g.dilation_w  # dilation: taps d apart
            yield a, b, (slice(i, i + g.stride_h * (g.out_h - 1) + 1, g.stride_h),
                         slice(j, j + g.stride_w * (g.out_w - 1) + 1, g.stride_w))


@dataclasses.dataclass
class DirectSaved:
    cols: object      # im2col of x: (G, f/G*kh*kw, S*oh*ow)
    w: object


@dataclasses.dataclass
class DirectContext:
    cols: object
    w: object
    gy: object        # (G, f'/G, S*oh*ow)


class DirectConvolution(ConvAlgorithm):
    """algo='direct'. Columns are laid out (f, kh, kw, S, oh, ow) so each copy moves whole rows;
    with channel groups they split into (G, f/G*kh*kw, S*oh*ow) and the GEMMs run batched.
    Strides and padding are handled natively (the windows are strided slices).

    Depthwise layers (one input channel per group) skip im2col and GEMM: a batch of G products one
    row wide runs far below BLAS speed (measured 8-12x PyTorch's time). minifft/conv/depthwise.py
    runs them as sums of shifted sweeps over flat padded images instead.
    """

    name = 'direct'

    def cost(self, g, device='cpu'):
        gemm = 2 * g.batch * g.group_in * g.out_channels * g.out_h * g.out_w * g.kernel_h * g.kernel_w
        return OpCount({p: {'gemm': gemm} for p in PASSES})

    def workspace(self, g, itemsize, device='cpu'):
        """Columns kept from forward to backward; forward also holds the padded input, backward the
        column gradient (as large as the columns) and the padded input gradient. Depthwise layers:
        depthwise.workspace."""
        if depthwise.supports(g):
            kept, peak, terms = depthwise.workspace(g, itemsize, device)
            return Workspace(kept, peak, terms)
        padded = g.in_channels * g.batch * (g.height + 2 * g.pad_h) * (g.width + 2 * g.pad_w) * itemsize
        cols = g.in_channels * g.kernel_h * g.kernel_w * g.batch * g.out_h * g.out_w * itemsize
        terms = {'columns': cols, 'column gradient': cols, 'padded input gradient': padded}
        return Workspace(cols, max(padded + cols, sum(terms.values())), terms)

    def forward(self, x, w, g):
        if depthwise.supports(g):
            return depthwise.forward(x, w, g)
        xp = get_array_module(x)
        S, f = g.batch, g.in_channels
        # one copy that transposes to (f, S, ...) and pads
        xpad = xp.zeros((f, S, g.height + 2 * g.pad_h, g.width + 2 * g.pad_w), x.dtype)
        xpad[:, :, g.pad_h:g.pad_h + g.height, g.pad_w:g.pad_w + g.width] = x.transpose(1, 0, 2, 3)
        cols = xp.empty((f, g.kernel_h, g.kernel_w, S, g.out_h, g.out_w), x.dtype)
        for a, b, window in _offsets(g):
            cols[:, a, b] = xpad[(slice(None), slice(None)) + window]
        cols = cols.reshape(g.groups, g.group_in * g.kernel_h * g.kernel_w, -1)
        y = w.reshape(g.groups, g.group_out, -1) @ cols            # (G, f'/G, S*oh*ow)
        y = y.reshape(g.out_channels, S, g.out_h, g.out_w).transpose(1, 0, 2, 3)
        return xp.ascontiguousarray(y), DirectSaved(cols, w)

    def backward_setup(self, saved, gy, g):
        if isinstance(saved, depthwise.DepthwiseSaved):
            return depthwise.backward_setup(saved, gy, g)
        return DirectContext(saved.cols, saved.w, gy.transpose(1, 0, 2, 3).reshape(g.groups, g.group_out, -1))

    def backward_input(self, ctx, g):
        if depthwise.supports(g):
            return depthwise.backward_input(ctx, g)
        xp = get_array_module(ctx.gy)
        w = ctx.w.reshape(g.groups, g.group_out, -1)
        gcols = (w.swapaxes(1, 2) @ ctx.gy).reshape(
            g.in_channels, g.kernel_h, g.kernel_w, g.batch, g.out_h, g.out_w)
        gxpad = xp.zeros((g.in_channels, g.batch, g.height + 2 * g.pad_h, g.width + 2 * g.pad_w), ctx.gy.dtype)
        for a, b, window in _offsets(g):  # col2im: overlapping windows add up
            gxpad[(slice(None), slice(None)) + window] += gcols[:, a, b]
        gx = gxpad[:, :, g.pad_h:g.pad_h + g.height, g.pad_w:g.pad_w + g.width].transpose(1, 0, 2, 3)
        return xp.ascontiguousarray(gx)

    def backward_weight(self, ctx, g):
        if depthwise.supports(g):
            return depthwise.backward_weight(ctx, g)
        return (ctx.gy @ ctx.cols.swapaxes(1, 2)).reshape(ctx.w.shape)
