"""Direct convolution: im2col + GEMM forward, GEMM + col2im for the input gradient (or, at stride 1
with f' <= f, the forward correlation of gy with the flipped kernel), GEMM for the weight gradient.
The same array code runs on NumPy and CuPy; on the CPU, float32 and float64 layers run their
memory passes through C kernels instead (minifft/kernels/im2col.c, DirectConvolution's docstring),
and the weight gradient's products through minifft/kernels/gemm.c; strided layers make no columns
for forward and weight gradient there (x split into its phases, gemm.c's windows products)."""
import ctypes
import dataclasses
import functools
import threading

import numpy

from ..backend import get_array_module
from ..kernels import gemm, host
from . import depthwise
from .base import PASSES, ConvAlgorithm, OpCount, Workspace
from .geometry import ceil_div
from .spectral import cpu_thread_pool, even_slices, one_blas_thread, run_in_chunks


def _offsets(g):
    """Each kernel offset (a, b) with the strided window it selects from the padded input."""
    for a in range(g.kernel_h):
        for b in range(g.kernel_w):
            i, j = a * g.dilation_h, b * g.dilation_w  # dilation: taps d apart
            yield a, b, (slice(i, i + g.stride_h * (g.out_h - 1) + 1, g.stride_h),
                         slice(j, j + g.stride_w * (g.out_w - 1) + 1, g.stride_w))


@dataclasses.dataclass
class DirectSaved:
    cols: object      # im2col of x: (S, f, kh, kw, oh, ow), or None where backward rebuilds them
    w: object
    x: object = None  # x (C-contiguous) where the columns are rebuilt, else None


@dataclasses.dataclass
class DirectContext:
    cols: object
    w: object
    gy: object        # (S, G, f'/G, oh*ow)
    x: object = None


# The C path's weight gradient runs as gemm_nt (kernels/gemm.c), which sums a block's per-sample
# products in its registers (no per-sample products to sum afterwards): 1.0-1.3x OpenBLAS on the
# issue layers' shapes (one thread), whole steps 3-4% faster at (32,16,32,32,3) and stride 2.
# Forward keeps OpenBLAS: gemm_nn there measured level at 3x3 and 7-9% slower at (64,3,64,32,5)
# (interleaved, quiet machine).
WEIGHT_PRODUCTS = 1 << 22   # per-sample weight-gradient products held at once, in elements
# The C path's columns per GEMM, in bytes (at least one sample's): about one core's L2. Blocks of
# 2 MiB ran (32, 16, 32, 32, 3) 10% faster than blocks of 1 MiB and 20% faster than 0.5 MiB
# (fewer calls: each block costs ~15 us of Python and ctypes), 4 and 8 MiB no faster.
COLUMN_BLOCK_BYTES = 1 << 21
# The phases per block of the strided forward (_correlate_phases), in bytes. On the three stride-2
# layers of issue 11 blocks of 2 MiB ran 3-10% faster than 1 MiB and 10-35% faster than 0.5 MiB
# (fewer calls); 4 MiB left (64, 32, 64, 16, 3, stride 2) one block, on one thread.
PHASE_BLOCK_BYTES = 1 << 21


@dataclasses.dataclass(frozen=True, eq=False)
class Phases:
    """im2col.c's layout of a strided layer's input: per channel sh * sw phases of up x vp (plus
    slack), ``plane`` elements apart, ``channel`` elements in all; ``windows`` (intp) where each
    tap's window starts."""
    up: int
    vp: int
    plane: int
    channel: int
    windows: object


class _Kernels:
    """The compiled im2col and col2im (minifft/kernels/im2col.c) for one dtype: padding, stride and
    dilation handled inline (each tap's valid rows and columns clipped, the rest zero), so neither
    a padded x nor a padded gx is ever made."""
    ARGTYPES = (ctypes.c_void_p, ctypes.c_void_p) + (ctypes.c_ssize_t,) * 16

    def __init__(self, lib, suffix):
        self._im2col = host.function(lib, f'im2col_{suffix}', *self.ARGTYPES)
        self._col2im = host.function(lib, f'col2im_{suffix}', *self.ARGTYPES)
        self._split = host.function(lib, f'split_{suffix}', *self.ARGTYPES[:2], *(ctypes.c_ssize_t,) * 11)
        self._layout = host.function(lib, 'phase_layout', ctypes.c_void_p, *(ctypes.c_ssize_t,) * 12)

    @functools.lru_cache(maxsize=64)
    def phases(self, g):
        """The phases im2col.c splits layer g's input into (each tap's window a stride-1 block with
        rows vp apart in them), or None where splitting does not pay (stride 1, or taps that miss
        a phase)."""
        out = numpy.empty(4 + g.kernel_h * g.kernel_w, numpy.intp)
        self._layout(host.pointer(out), g.height, g.width, g.kernel_h, g.kernel_w, g.stride_h, g.stride_w,
                     g.pad_h, g.pad_w, g.dilation_h, g.dilation_w, g.out_h, g.out_w)
        if not out[0]:
            return None
        return Phases(*(int(v) for v in out[1:4]), g.stride_h * g.stride_w * int(out[3]), out[4:].copy())

    def split(self, x, planes, g):
        """planes (n, f, phases(g).channel), zeroed before the first call (the padding's positions
        are never written), <- the phases of x (n, f, H, W)."""
        f = self.phases(g)
        self._split(host.pointer(x), host.pointer(planes), x.shape[0], g.in_channels, g.height, g.width,
                    g.stride_h, g.stride_w, g.pad_h, g.pad_w, f.up, f.vp, f.plane)

    def bind(self, g):
        """(im2col, col2im) for layer g: each f(src, dst) takes C-contiguous arrays of n samples,
        im2col x (n, f, H, W) -> cols (n, f, kh, kw, oh, ow), col2im the column gradient -> gx
        (n, f, H, W) (written, not accumulated: each input position's taps are added in order)."""
        rows = g.out_h * g.out_w   # per-sample layout: one row of oh*ow per (c, a, b)
        shape = (g.in_channels, g.height, g.width, g.kernel_h, g.kernel_w, g.stride_h, g.stride_w,
                 g.pad_h, g.pad_w, g.dilation_h, g.dilation_w, g.out_h, g.out_w,
                 g.in_channels * g.kernel_h * g.kernel_w * rows, rows)

        def im2col(x, cols):
            self._im2col(host.pointer(x), host.pointer(cols), x.shape[0], *shape)

        def col2im(cols, gx):
            self._col2im(host.pointer(cols), host.pointer(gx), gx.shape[0], *shape)
        return im2col, col2im


def _kernels(*arrays):
    """The compiled kernels for the arrays' one dtype, or None where the NumPy code runs: CuPy
    arrays, mixed dtypes, dtypes other than float32 and float64, config cpu_kernels='off', no C
    compiler (kernels/host.py)."""
    lib, suffix = host.library_for('im2col', *arrays)
    return None if lib is None else _compiled(lib, suffix)


_compiled = functools.lru_cache(maxsize=None)(_Kernels)


def _column_bytes(g, itemsize):
    """Bytes of one sample's columns."""
    return g.in_channels * g.kernel_h * g.kernel_w * g.out_h * g.out_w * itemsize


def _column_block(g, itemsize):
    """Samples whose columns one GEMM of the C path takes: as many as fit COLUMN_BLOCK_BYTES (at
    least one, at most the batch), so they are made, multiplied and dropped while in cache. A batch
    that fits one block runs on the calling thread: splitting (8, 16, 32, 16, 3, pad 1) in two
    blocks for the pool's two threads made its step 1.4x slower (the hand-off costs more)."""
    return max(1, min(g.batch, COLUMN_BLOCK_BYTES // _column_bytes(g, itemsize)))


def _blocks(s, n, block):
    """The slices of at most ``block`` samples that cover slice ``s`` of n samples."""
    start, stop, _ = s.indices(n)
    return [slice(i, min(i + block, stop)) for i in range(start, stop, block)]


def _even_blocks(samples, most):
    """Near-equal slices covering range(samples), each of at most ``most`` samples; where more than
    one is needed, as many as a multiple of the CPU pool's workers, so no thread idles through the
    last round: 64 samples in blocks of at most 14 were 4 of 14 and one of 8, one thread running
    3 of the 5 (~30% of the pass lost on two threads); now 6 of 10-11."""
    n = ceil_div(samples, most)
    pool = cpu_thread_pool()
    if n > 1 and pool is not None:
        n = min(samples, ceil_div(n, pool[2]) * pool[2])
    return even_slices(samples, n)


def _correlate_compiled(kernels, x, w, g):
    """y of layer g through the C im2col: each block of samples' columns is made in a buffer of its
    thread and taken by its GEMM while in cache; strided layers whose input splits into phases
    make no columns (_correlate_phases)."""
    y = numpy.empty((g.batch, g.out_channels, g.out_h, g.out_w), numpy.result_type(x.dtype, w.dtype))
    phases = kernels.phases(g)
    if phases is not None and gemm.library(x, w)[0] is not None:
        return _correlate_phases(kernels, phases, x, w, y, g)
    shape = (g.in_channels, g.kernel_h, g.kernel_w, g.out_h, g.out_w)
    wg, yg = w.reshape(g.groups, g.group_out, -1), _per_group(y, g)
    im2col, block = kernels.bind(g)[0], _column_block(g, x.dtype.itemsize)

    def run(i, buf):
        c = buf[:i.stop - i.start]
        im2col(x[i], c)
        numpy.matmul(wg, _per_group(c, g), out=yg[i])
    _by_block_on_pool(run, g.batch, block, lambda n: numpy.empty((n,) + shape, x.dtype))
    return y


def _correlate_phases(kernels, phases, x, w, y, g):
    """y of a strided layer g without columns: each block of samples is split into its phases
    (im2col.c, one copy of x) and gemm.windows multiplies the weights by the phases' windows, read
    in place or copied a panel at a time into L1. Against im2col + OpenBLAS on one thread: 44 -> 26
    us a sample at (64, 16, 32, 32, 3, stride 2, pad 1), 42 -> 27 at (64, 32, 64, 16, 3, stride 2,
    pad 1), 133 -> 92 at (32, 32, 64, 32, 3, stride 2, pad 1)."""
    wg = numpy.ascontiguousarray(w).reshape(g.groups, g.group_out, -1)
    out = y.reshape(g.batch, g.groups, g.group_out, g.out_h, g.out_w)
    block = _phase_block(g, phases, x.dtype.itemsize)

    def run(i, planes):
        n = i.stop - i.start
        kernels.split(x[i], planes[:n], g)
        gemm.windows(wg, planes[:n], phases.windows, phases.vp, out[i])
    _by_block_on_pool(run, g.batch, block, lambda n: numpy.zeros((n, g.in_channels, phases.channel), x.dtype))
    return y


def _weight_products(kernels, phases, x, gy, planes, g):
    """The weight gradient's products (G, f/G * kh * kw, f'/G) of samples x (n, f, H, W) and gy
    (n, G, f'/G, oh * ow), summed over them, with no columns: x is split into its phases in
    ``planes`` and gemm.nt_windows reads each tap's window there. Against im2col (phases too) +
    gemm.nt, blocks of 10 samples on one thread: 31.7 -> 28.4 us a sample at (64, 16, 32, 32, 3,
    stride 2, pad 1), 30.4 -> 26.5 at (64, 32, 64, 16, ...), 104 -> 96 at (32, 32, 64, 32, ...)."""
    kernels.split(x, planes, g)
    gy = numpy.ascontiguousarray(gy).reshape(gy.shape[:3] + (g.out_h, g.out_w))
    out = numpy.empty((g.groups, g.group_in * g.kernel_h * g.kernel_w, g.group_out), gy.dtype)
    return gemm.nt_windows(planes, phases.windows, phases.vp, gy, out)


def _phase_block(g, phases, itemsize):
    """Most samples whose phases one block of the strided forward or weight gradient holds
    (PHASE_BLOCK_BYTES)."""
    return max(1, min(g.batch, PHASE_BLOCK_BYTES // (g.in_channels * phases.channel * itemsize)))


def _by_block_on_pool(run, samples, block, scratch):
    """run(block, buffer) for _even_blocks(samples, block), handed out one at a time to the calling
    thread and the CPU pool's as each finishes its last (a thread slowed by other processes takes
    fewer), each thread with its own buffer from ``scratch(largest block)`` and one BLAS thread."""
    blocks = _even_blocks(samples, block)
    largest = max(i.stop - i.start for i in blocks)
    scratch = functools.partial(scratch, largest)
    pool = cpu_thread_pool()
    if pool is None or len(blocks) < 2:
        buf = scratch()
        with one_blas_thread():   # (a no-op without the pool) BLAS's idle threads would spin
            for i in blocks:
                run(i, buf)
        return
    pending, lock = iter(blocks), threading.Lock()

    def worker():
        buf = scratch()
        while True:
            with lock:
                i = next(pending, None)
            if i is None:
                return
            run(i, buf)
    executor, controller, workers = pool
    with controller.limit(limits=1, user_api='blas'):
        # the calling thread is one of the workers: one hand-off fewer (3-10% faster passes, loaded machine)
        others = [executor.submit(worker) for _ in range(min(workers, len(blocks)) - 1)]
        worker()
        for other in others:
            other.result()


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


def _im2col(xp, x, cols, g):
    """cols (n, f, kh, kw, oh, ow) of samples x (n, f, H, W) with array code: a padded copy, then
    one strided copy per kernel offset."""
    xpad = _padded(xp, x, g)
    for a, b, window in _offsets(g):
        cols[:, :, a, b] = xpad[(slice(None), slice(None)) + window]


def _correlate(xp, x, w, g, keep_columns=False):
    """(y, columns) of layer g: im2col and one GEMM per sample and group. The columns are
    (S, f, kh, kw, oh, ow) when kept, else made per chunk of samples and dropped (None)."""
    kernels = None if keep_columns else _kernels(x, w)   # the C path keeps no columns
    if kernels is not None:
        return _correlate_compiled(kernels, numpy.ascontiguousarray(x), w, g), None
    S, f = g.batch, g.in_channels
    shape = (f, g.kernel_h, g.kernel_w, g.out_h, g.out_w)
    cols = xp.empty((S,) + shape, x.dtype) if keep_columns else None
    y = xp.empty((S, g.out_channels, g.out_h, g.out_w), xp.result_type(x.dtype, w.dtype))
    wg, yg = w.reshape(g.groups, g.group_out, -1), _per_group(y, g)

    def run(s):   # pad and im2col these samples, then their GEMMs while the columns are in cache
        c = cols[s] if keep_columns else xp.empty((len(range(*s.indices(S))),) + shape, x.dtype)
        _im2col(xp, x[s], c, g)
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


def _input_gradient_compiled(kernels, wt, gy, g):
    """gx through the C col2im: each block of samples' column gradient (one GEMM) is added back
    into gx while in cache; no padded gx (the kernel clips each tap to the image)."""
    gx = numpy.empty((g.batch, g.in_channels, g.height, g.width), gy.dtype)
    block = _column_block(g, gy.dtype.itemsize)
    shape = (g.groups, g.group_in * g.kernel_h * g.kernel_w, g.out_h * g.out_w)
    col2im = kernels.bind(g)[1]

    def run(i, buf):
        gcols = buf[:i.stop - i.start]
        numpy.matmul(wt, gy[i], out=gcols)
        col2im(gcols, gx[i])
    _by_block_on_pool(run, g.batch, block, lambda n: numpy.empty((n,) + shape, gy.dtype))
    return gx


def _weight_sums_per_block(g, step):
    """Whether the C path's weight gradient keeps one partial sum per block of at most ``step``
    samples (at most WEIGHT_PRODUCTS elements of them), else one per chunk of samples."""
    blocks = len(_even_blocks(g.batch, step))
    return blocks * g.out_channels * g.group_in * g.kernel_h * g.kernel_w <= WEIGHT_PRODUCTS


def _compiled_workspace(g, itemsize):
    """Workspace of the C path: no columns are kept from forward to backward (x is, as the graph
    holds it anyway; a non-contiguous x is kept as a contiguous copy, not counted). Each pass holds
    one block of columns (of their gradient; of x's phases where a strided layer splits) per
    working thread; the weight gradient also holds each thread's per-sample products and the
    partial sums (per block, or per chunk for large weights)."""
    pool = cpu_thread_pool()
    workers = 1 if pool is None else pool[2]

    def blocks(g, block, sample_bytes):   # what _by_block_on_pool holds at once
        held = _even_blocks(g.batch, block)
        return min(workers, len(held)) * max(i.stop - i.start for i in held) * sample_bytes
    # forward and weight gradient hold a block of x's phases (strided layers that split) or columns
    phases = _compiled(host.library('im2col'), host.suffix(numpy.dtype(f'f{itemsize}'))).phases(g)
    if phases is not None and host.library('gemm') is not None:
        name, most, sample_bytes = 'phase', _phase_block(g, phases, itemsize), g.in_channels * phases.channel * itemsize
    else:
        name, most, sample_bytes = 'column', _column_block(g, itemsize), _column_bytes(g, itemsize)
    input_geometry = _transposed_geometry(g) if _input_gradient_as_correlation(g) else g
    weights = g.out_channels * g.group_in * g.kernel_h * g.kernel_w
    step = min(max(1, WEIGHT_PRODUCTS // weights), most)
    if _weight_sums_per_block(g, step):   # one sum per block, blocks handed out
        held = _even_blocks(g.batch, step)
        chunks, step = len(held), max(i.stop - i.start for i in held)
    else:   # one sum per chunk of samples, taken a block of `step` at a time
        chunks = (1 if pool is None or g.batch < 2
                  else min(g.batch, max(workers, min(4 * workers, WEIGHT_PRODUCTS // weights))))
        step = min(step, ceil_div(g.batch, chunks))
    terms = {f'{name} blocks': blocks(g, most, sample_bytes),
             'column gradient blocks': blocks(input_geometry, _column_block(input_geometry, itemsize),
                                              _column_bytes(input_geometry, itemsize)),
             f'weight-gradient {name} blocks': min(workers, chunks) * step * sample_bytes,
             # each thread's products and their sum, the partial sums, and gw's transposing copy
             'weight products': (min(workers, chunks) * (step + 1) + chunks + 1) * weights * itemsize}
    peak = max(terms[f'{name} blocks'], terms['column gradient blocks'],
               terms[f'weight-gradient {name} blocks'] + terms['weight products'])
    return Workspace(0, peak, terms)


class DirectConvolution(ConvAlgorithm):
    """algo='direct'. Columns are laid out per sample, (S, f, kh, kw, oh, ow), i.e. one
    (G, f/G*kh*kw, oh*ow) matrix per sample, so x, y and both gradients stay (N, C, H, W) with no
    transposing copy, and the GEMMs run batched over samples and groups. On the CPU each pass runs
    in chunks of samples on the thread pool with one BLAS thread each (BLAS's own threads stalled
    for tens of ms on the shared machine). Strides and padding are handled natively (the windows
    are strided slices).

    On the CPU (float32, float64, config cpu_kernels not 'off') im2col and col2im are C kernels that
    pad inline (each tap's valid rows and columns are clipped; no padded x or gx is made), and a
    pass runs as blocks of about COLUMN_BLOCK_BYTES of columns, handed to the pool's threads one at
    a time, each block's columns made, multiplied by BLAS and dropped while in cache. Forward keeps
    x, not the columns: the weight gradient rebuilds them a block at a time. Against keeping them
    (19 MB on (32, 16, 32, 32, 3)) that measured within the noise on that layer alone and on a
    whole models/small.py step (42.8 vs 43.4 ms, batch 64, direct everywhere); a lone
    (64, 3, 16, 32, 5, pad 2) layer, whose kept columns stay in L3 until its weight gradient, ran
    that pass ~0.6 ms faster with them. It holds one block per thread instead of all the columns.
    Blocks are near-equal and, where there is more than one, as many as a multiple of the pool's
    workers (_even_blocks).

    Strided layers whose taps meet every phase of the input (3x3 at stride 2) make no columns for
    forward and weight gradient: each block of x is split into its sh * sw zero-padded phases (one
    copy of x), in which every tap's window is a stride-1 block, and gemm.c multiplies the weights
    by those windows (gemm.windows) or gy by them (gemm.nt_windows), reading them in place or a
    panel at a time. ResNet-8's (64, 16, 32, 32, 3, stride 2, pad 1) forward went from 45 to 26 us
    a sample on one thread. The input gradient keeps OpenBLAS + col2im (through the phases too):
    four stride-1 correlations of gy with each phase's taps through gemm.windows measured 0.8-1.2x
    its time, slower in 10 of 12 interleaved runs on the three stride-2 layers of issue 11.

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
        """Array code (the GPU, cpu_kernels='off', dtypes other than float32/float64): columns kept
        from forward to backward; forward also holds the padded input, backward the column gradient
        (as large as the columns) and the padded input gradient. The C path (_compiled_workspace)
        keeps nothing but x. Depthwise layers: depthwise.workspace."""
        if depthwise.supports(g):
            kept, peak, terms = depthwise.workspace(g, itemsize, device)
            return Workspace(kept, peak, terms)
        if host.serves('im2col', device, itemsize):
            return _compiled_workspace(g, itemsize)
        padded = g.in_channels * g.batch * (g.height + 2 * g.pad_h) * (g.width + 2 * g.pad_w) * itemsize
        cols = g.in_channels * g.kernel_h * g.kernel_w * g.batch * g.out_h * g.out_w * itemsize
        terms = {'columns': cols, 'column gradient': cols, 'padded input gradient': padded}
        return Workspace(cols, max(padded + cols, sum(terms.values())), terms)

    def forward(self, x, w, g):
        if depthwise.supports(g):
            return depthwise.forward(x, w, g)
        kernels = _kernels(x, w)
        if kernels is not None:   # x kept, not its columns: backward rebuilds them a block at a time
            x = numpy.ascontiguousarray(x)
            return _correlate_compiled(kernels, x, w, g), DirectSaved(None, w, x)
        y, cols = _correlate(get_array_module(x), x, w, g, keep_columns=True)
        return y, DirectSaved(cols, w)

    def backward_setup(self, saved, gy, g):
        if isinstance(saved, depthwise.DepthwiseSaved):
            return depthwise.backward_setup(saved, gy, g)
        return DirectContext(saved.cols, saved.w, _per_group(gy, g), saved.x)

    def backward_input(self, ctx, g):
        if depthwise.supports(g):
            return depthwise.backward_input(ctx, g)
        xp = get_array_module(ctx.gy)
        if _input_gradient_as_correlation(g):
            gy = ctx.gy.reshape(g.batch, g.out_channels, g.out_h, g.out_w)
            return _correlate(xp, gy, _transposed_kernel(xp, ctx.w, g), _transposed_geometry(g))[0]
        wt = ctx.w.reshape(g.groups, g.group_out, -1).swapaxes(1, 2)
        kernels = _kernels(ctx.w, ctx.gy)
        if kernels is not None:
            return _input_gradient_compiled(kernels, wt, ctx.gy, g)
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
        sums = {}
        # per-sample products, summed over the samples a few at a time and then over the chunks in a
        # fixed order; the products and the chunks' sums held at once stay near WEIGHT_PRODUCTS
        # elements (or one weight's size per thread and chunk, for larger weights)
        step = max(1, WEIGHT_PRODUCTS // ctx.w.size)
        nt = xp is numpy and gemm.library(ctx.gy)[0] is not None and \
            (ctx.x if ctx.cols is None else ctx.cols).dtype == ctx.gy.dtype
        phases = None
        if ctx.cols is None:   # the C path's forward kept x, not its columns: rebuilt per block in cache
            kernels = _kernels(ctx.x)
            im2col = kernels.bind(g)[0] if kernels is not None else None
            phases = kernels.phases(g) if kernels is not None and nt else None
            itemsize = ctx.x.dtype.itemsize
            if phases is not None:   # strided: the products read x's phases, no columns (_weight_products)
                step = min(step, _phase_block(g, phases, itemsize))
                shape = (g.in_channels, phases.channel)
            else:
                step = min(step, _column_block(g, itemsize))
                shape = (g.in_channels, g.kernel_h, g.kernel_w, g.out_h, g.out_w)

        def scratch(n):   # the phases' padding is zero from here on (split never writes it)
            return (numpy.zeros if phases is not None else xp.empty)((n,) + shape, ctx.x.dtype)

        def columns(i, buf):
            if ctx.cols is not None:
                return _per_group(ctx.cols[i], g)
            c = buf[:i.stop - i.start]
            if im2col is not None:
                im2col(ctx.x[i], c)
            else:   # cpu_kernels turned off between forward and backward
                _im2col(xp, ctx.x[i], c, g)
            return _per_group(c, g)

        def product(i, buf):
            if phases is not None:
                return _weight_products(kernels, phases, ctx.x[i], ctx.gy[i], buf[:i.stop - i.start], g)
            if nt:   # every output a dot product along the pixels, summed over the block's samples in C
                c, gy = columns(i, buf), ctx.gy[i]
                out = numpy.empty((g.groups, c.shape[2], gy.shape[2]), gy.dtype)
                for q in range(g.groups):
                    gemm.nt(c[None, :, q], gy[None, :, q], out[q:q + 1])
                return out
            # columns x gy^T, not gy x columns^T: the columns side (usually the longer) as M ran 1.2-1.5x faster
            return xp.matmul(columns(i, buf), ctx.gy[i].swapaxes(2, 3)).sum(axis=0)   # (G, f/G*kh*kw, f'/G)

        def run(s):
            start, stop, _ = s.indices(g.batch)
            buf = None if ctx.cols is not None else scratch(min(step, stop - start))
            for i in _blocks(s, g.batch, step):
                part = product(i, buf)
                if start in sums:
                    sums[start] += part
                else:
                    sums[start] = part
        if ctx.cols is None and _weight_sums_per_block(g, step):
            # blocks handed out as in the other passes (3-5% faster than fixed chunks on a loaded
            # machine); each block's sum is kept and they are added in block order, so the result
            # has the same bits whichever thread ran which block
            def run_block(i, buf):
                sums[i.start] = product(i, buf)
            _by_block_on_pool(run_block, g.batch, step, scratch)
        else:
            _per_sample_chunks(xp, run, g.batch, most_chunks=WEIGHT_PRODUCTS // ctx.w.size)
        gw = sums.pop(0)
        for start in sorted(sums):
            gw += sums[start]
        return gw.swapaxes(1, 2).reshape(ctx.w.shape)
