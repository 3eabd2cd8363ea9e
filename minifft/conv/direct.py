"""Direct convolution: im2col + GEMM forward, GEMM + col2im for the input gradient (or, at stride 1
with f' <= f, the forward correlation of gy with the flipped kernel), GEMM for the weight gradient.
The same array code runs on NumPy and CuPy."""
import dataclasses

import numpy

from ..backend import get_array_module
from . import depthwise
from .base import PASSES, ConvAlgorithm, OpCount, Workspace
from .spectral import cpu_thread_pool, run_in_chunks


def _offsets(g):
    """Each kernel offset (a, b) with the strided window it selects from the padded input."""
    for a in range(g.kernel_h):
        for b in range(g.kernel_w):
            i, j = a * g.dilation_h, b * g.dilation_w  # dilation: taps d apart
            yield a, b, (slice(i, i + g.stride_h * (g.out_h - 1) + 1, g.stride_h),
                         slice(j, j + g.stride_w * (g.out_w - 1) + 1, g.stride_w))


@dataclasses.dataclass
class DirectSaved:
    cols: object      # im2col of x: (S, f, kh, kw, oh, ow)
    w: object


@dataclasses.dataclass
class DirectContext:
    cols: object
    w: object
    gy: object        # (S, G, f'/G, oh*ow)


WEIGHT_PRODUCTS = 1 << 22   # per-sample weight-gradient products held at once, in elements


def _padded(xp, x, g):
    """x (any batch) zero-padded by (pad_h, pad_w), or x itself without padding."""
    if g.pad_h == 0 and g.pad_w == 0:
        return x
    xpad = xp.empty((x.shape[0], g.in_channels, g.height + 2 * g.pad_h, g.width + 2 * g.pad_w), x.dtype)
    xpad[:, :, :g.pad_h] = 0
    xpad[:, :, g.pad_h + g.height:] = 0
    xpad[:, :, g.pad_h:g.pad_h + g.height, :g.pad_w] = 0
    xpad[:, :, g.pad_h:g.pad_h + g.height, g.pad_w + g.width:] = 0
    xpad[:, :, g.pad_h:g.pad_h + g.height, g.pad_w:g.pad_w + g.width] = x
    return xpad


def _correlate(xp, x, w, g, keep_columns=False):
    """(y, columns) of layer g: im2col and one GEMM per sample and group. The columns are
    (S, f, kh, kw, oh, ow) when kept, else made per chunk of samples and dropped (None)."""
    S, f = g.batch, g.in_channels
    shape = (f, g.kernel_h, g.kernel_w, g.out_h, g.out_w)
    cols = xp.empty((S,) + shape, x.dtype) if keep_columns else None
    y = xp.empty((S, g.out_channels, g.out_h, g.out_w), xp.result_type(x.dtype, w.dtype))
    wg, yg = w.reshape(g.groups, g.group_out, -1), _per_group(y, g)

    def run(s):   # pad and im2col these samples, then their GEMMs while the columns are in cache
        c = cols[s] if keep_columns else xp.empty((len(range(*s.indices(S))),) + shape, x.dtype)
        xpad = _padded(xp, x[s], g)
        for a, b, window in _offsets(g):
            c[:, :, a, b] = xpad[(slice(None), slice(None)) + window]
        xp.matmul(wg, _per_group(c, g), out=yg[s])
    _per_sample_chunks(xp, run, S)
    return y, cols


def _input_gradient_as_correlation(g):
    """Whether the input gradient runs as the forward correlation of gy (padded by span - 1 - pad)
    with the flipped, transposed kernel, rather than column gradient + col2im: stride 1 only, and
    only with f' <= f, where gy's columns are no larger than x's. Copies into columns then replace
    col2im's overlapping adds and its zero fill; measured 1.3-1.9x faster on five layers with
    f' <= f (e.g. (64, 32, 32, 8, 3): 3.3 -> 1.9 ms), slower where f' = 2f."""
    return (g.stride_h == 1 and g.stride_w == 1 and g.out_channels <= g.in_channels
            and g.pad_h < g.span_h and g.pad_w < g.span_w)


def _transposed_geometry(g):
    """The correlation that maps gy (S, f', oh, ow) to the input gradient (S, f, H, W)."""
    return dataclasses.replace(g, in_channels=g.out_channels, out_channels=g.in_channels,
                               height=g.out_h, width=g.out_w,
                               pad_h=g.span_h - 1 - g.pad_h, pad_w=g.span_w - 1 - g.pad_w)


def _transposed_kernel(xp, w, g):
    """(f', f/G, kh, kw) -> (f, f'/G, kh, kw), flipped in both spatial axes, group by group."""
    w = w.reshape(g.groups, g.group_out, g.group_in, g.kernel_h, g.kernel_w).transpose(0, 2, 1, 3, 4)
    return xp.ascontiguousarray(w[..., ::-1, ::-1]).reshape(g.in_channels, g.group_out, g.kernel_h, g.kernel_w)


def _per_group(a, g):
    """(S, C, ...) as (S, G, C/G, rest): columns (S, f, kh, kw, oh, ow), outputs and their gradients
    (S, f', oh, ow) become per-sample, per-group matrices."""
    return a.reshape(a.shape[0], g.groups, -1, g.out_h * g.out_w)


def _per_sample_chunks(xp, run, samples, most_chunks=None):
    """run(slice of samples) over the batch; on the CPU as a few chunks per thread of the pool with
    one BLAS thread each (im2col copies are single-threaded NumPy loops; a chunk's GEMM then runs
    on columns still in cache, and several chunks per thread even out a loaded machine), at most
    ``most_chunks`` of them but never fewer than one per thread."""
    pool = cpu_thread_pool() if xp is numpy else None
    if pool is None or samples < 2:
        run(slice(None))
        return
    chunks = 4 * pool[2] if most_chunks is None else max(pool[2], min(4 * pool[2], most_chunks))
    run_in_chunks(run, samples, min(samples, chunks))


class DirectConvolution(ConvAlgorithm):
    """algo='direct'. Columns are laid out per sample, (S, f, kh, kw, oh, ow), i.e. one
    (G, f/G*kh*kw, oh*ow) matrix per sample, so x, y and both gradients stay (N, C, H, W) with no
    transposing copy, and the GEMMs run batched over samples and groups. On the CPU each pass runs
    in chunks of samples on the thread pool with one BLAS thread each (BLAS's own threads stalled
    for tens of ms on the shared machine). Strides and padding are handled natively (the windows
    are strided slices).

    Depthwise layers (one input channel per group) skip im2col and GEMM: a batch of G products one
    row wide runs far below BLAS speed (measured 8-12x PyTorch's time). minifft/conv/depthwise.py
    runs them as sums of shifted sweeps over flat padded images instead.
    """

    name = 'direct'

    def cost(self, g, device='cpu'):
        flops = 2 * g.batch * g.group_in * g.out_channels * g.out_h * g.out_w * g.kernel_h * g.kernel_w
        # depthwise sweeps are multiply-adds over whole rows (axpy), not GEMMs
        kind = 'sweep' if depthwise.supports(g) else 'gemm'
        return OpCount({p: {kind: flops} for p in PASSES})

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
        y, cols = _correlate(xp, x, w, g, keep_columns=True)
        return y, DirectSaved(cols, w)

    def backward_setup(self, saved, gy, g):
        if isinstance(saved, depthwise.DepthwiseSaved):
            return depthwise.backward_setup(saved, gy, g)
        return DirectContext(saved.cols, saved.w, _per_group(gy, g))

    def backward_input(self, ctx, g):
        if depthwise.supports(g):
            return depthwise.backward_input(ctx, g)
        xp = get_array_module(ctx.gy)
        if _input_gradient_as_correlation(g):
            gy = ctx.gy.reshape(g.batch, g.out_channels, g.out_h, g.out_w)
            return _correlate(xp, gy, _transposed_kernel(xp, ctx.w, g), _transposed_geometry(g))[0]
        wt = ctx.w.reshape(g.groups, g.group_out, -1).swapaxes(1, 2)
        gxpad = xp.empty((g.batch, g.in_channels, g.height + 2 * g.pad_h, g.width + 2 * g.pad_w), ctx.gy.dtype)

        def run(s):   # column gradient of these samples, then col2im: overlapping windows add up
            gcols = xp.matmul(wt, ctx.gy[s]).reshape((-1, g.in_channels, g.kernel_h, g.kernel_w, g.out_h, g.out_w))
            gxpad[s] = 0
            for a, b, window in _offsets(g):
                gxpad[(s, slice(None)) + window] += gcols[:, :, a, b]
        _per_sample_chunks(xp, run, g.batch)
        return gxpad[:, :, g.pad_h:g.pad_h + g.height, g.pad_w:g.pad_w + g.width]

    def backward_weight(self, ctx, g):
        if depthwise.supports(g):
            return depthwise.backward_weight(ctx, g)
        xp = get_array_module(ctx.gy)
        colsg, sums = _per_group(ctx.cols, g), {}
        # per-sample products, summed over the samples a few at a time and then over the chunks in a
        # fixed order; the products and the chunks' sums held at once stay near WEIGHT_PRODUCTS
        # elements (or one weight's size per thread and chunk, for larger weights)
        step = max(1, WEIGHT_PRODUCTS // ctx.w.size)

        def run(s):
            start, stop, _ = s.indices(g.batch)
            for i in range(start, stop, step):
                i = slice(i, min(i + step, stop))
                # columns x gy^T, not gy x columns^T: the columns side (usually the longer) as M ran 1.2-1.5x faster
                part = xp.matmul(colsg[i], ctx.gy[i].swapaxes(2, 3)).sum(axis=0)   # (G, f/G*kh*kw, f'/G)
                if start in sums:
                    sums[start] += part
                else:
                    sums[start] = part
        _per_sample_chunks(xp, run, g.batch, most_chunks=WEIGHT_PRODUCTS // ctx.w.size)
        gw = sums.pop(0)
        for start in sorted(sums):
            gw += sums[start]
        return gw.swapaxes(1, 2).reshape(ctx.w.shape)
