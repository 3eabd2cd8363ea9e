"""Direct convolution: im2col + GEMM forward, GEMM + col2im for the input gradient (or, at stride 1
with f' <= f, the forward correlation of gy with the flipped kernel), GEMM for the weight gradient.
The same array code runs on NumPy and CuPy; on the CPU, float32 and float64 layers run through
minifft/kernels/direct.c instead (DirectConvolution's docstring): C im2col and col2im, whole passes
as tasks on a C thread pool (the input gradient; forward and weight gradient of strided layers,
which make no columns: x split into its phases, gemm.c's windows products), and the weight
gradient's products of the other layers through minifft/kernels/gemm.c."""
import ctypes
import dataclasses
import functools
import threading

import numpy

from ..backend import cpu_workers, get_array_module
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
# The most phases one task of direct.c's strided passes holds, in bytes (about one core's L2).
PHASE_BLOCK_BYTES = 1 << 21
# direct.c's passes (_Kernels): tasks per thread of the C pool (tasks cost an atomic increment, not
# ~15 us of Python each, so they can be small: 1, 2 and 4 samples a task ran the stride-2 forward
# alike, and several per thread let the last ones end together), and how long its workers spin
# after their last task before they sleep: long enough to bridge the Python between two passes
# (~50 us), short enough not to hold a core the Python pool's threads may want next. 0, 0.2 and
# 1 ms measured alike on the stride-2 layer's passes and on whole ResNet-8 and small steps.
TASKS_PER_THREAD = 4
POOL_SPIN_NS = 50_000


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
    """minifft/kernels/direct.c for one dtype. Its im2col and col2im (im2col.c) handle padding,
    stride and dilation inline (each tap's valid rows and columns clipped, the rest zero), so
    neither a padded x nor a padded gx is ever made. Its whole passes run as tasks of a few samples
    on the C thread pool (kernels/pool.h): the input gradient (column gradient by gemm.c's gemm_nn,
    then col2im, one sample at a time in the thread's scratch), and the forward and weight gradient
    of strided layers whose input splits into phases (gemm.c's windows products). Against the same
    kernels run block by block on the Python pool (_by_block_on_pool), the stride-2 layer
    (32, 32, 64, 32, 3, stride 2, pad 1) ran forward 2.8 -> 2.1 ms, input gradient 3.2 -> 2.4,
    weight gradient 3.2 -> 2.3 (benchmarks/README.md, ninth session)."""
    ARGTYPES = (ctypes.c_void_p, ctypes.c_void_p) + (ctypes.c_ssize_t,) * 16

    def __init__(self, lib, suffix):
        P = ctypes.c_void_p
        self._im2col = host.function(lib, f'im2col_{suffix}', *self.ARGTYPES)
        self._col2im = host.function(lib, f'col2im_{suffix}', *self.ARGTYPES)
        self._split = host.function(lib, f'split_{suffix}', *self.ARGTYPES[:2], *(ctypes.c_ssize_t,) * 11)
        self._layout = host.function(lib, 'phase_layout', ctypes.c_void_p, *(ctypes.c_ssize_t,) * 12)
        self._forward = host.function(lib, f'forward_phases_{suffix}', P, P, P, P, P, returns=ctypes.c_int)
        self._input = host.function(lib, f'input_gradient_{suffix}', P, P, P, P, returns=ctypes.c_int)
        self._weight = host.function(lib, f'weight_phases_{suffix}', P, P, P, P, P, returns=ctypes.c_int)
        host.function(lib, 'pool_start', ctypes.c_int, ctypes.c_long, returns=ctypes.c_int)(
            cpu_workers(), POOL_SPIN_NS)

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

    def forward(self, x, w, g):
        """y (S, f', oh, ow) of a strided layer whose input splits (phases(g) not None); x
        C-contiguous."""
        phases = self.phases(g)
        y = numpy.empty((g.batch, g.out_channels, g.out_h, g.out_w), x.dtype)
        w = numpy.ascontiguousarray(w)   # held here: the kernel reads it after pointer() returns
        layer = _layer_fields(g, phases, _phase_task_block(g, phases, x.itemsize))
        _allocated('forward', self._forward(host.pointer(x), host.pointer(w), host.pointer(y),
                                            host.pointer(phases.windows), host.pointer(layer)))
        return y

    def input_gradient(self, w, gy, g):
        """gx (S, f, H, W) from w (f', f/G, kh, kw) and gy (S, f', oh, ow)."""
        gx = numpy.empty((g.batch, g.in_channels, g.height, g.width), gy.dtype)
        w, gy = numpy.ascontiguousarray(w), numpy.ascontiguousarray(gy)
        layer = _layer_fields(g, None, _task_block(g))
        _allocated('input gradient', self._input(host.pointer(w), host.pointer(gy), host.pointer(gx),
                                                  host.pointer(layer)))
        return gx

    def weight_gradient(self, x, gy, g):
        """gw (G, f/G * kh * kw, f'/G) of a strided layer whose input splits; x C-contiguous."""
        phases = self.phases(g)
        out = numpy.empty((g.groups, g.group_in * g.kernel_h * g.kernel_w, g.group_out), gy.dtype)
        gy = numpy.ascontiguousarray(gy)
        layer = _layer_fields(g, phases, _weight_task_block(g, phases, x.itemsize))
        _allocated('weight gradient', self._weight(host.pointer(x), host.pointer(gy), host.pointer(out),
                                                   host.pointer(phases.windows), host.pointer(layer)))
        return out


def _allocated(op, ok):
    """MemoryError naming the pass where direct.c could not allocate its scratch (ok == 0)."""
    if not ok:
        raise MemoryError(f"direct convolution: the {op} pass could not allocate its per-thread scratch")


def _kernels(*arrays):
    """The compiled kernels for the arrays' one dtype, or None where the NumPy code runs: CuPy
    arrays, mixed dtypes, dtypes other than float32 and float64, config cpu_kernels='off', no C
    compiler (kernels/host.py)."""
    lib, suffix = host.library_for('direct', *arrays)
    return None if lib is None else _compiled(lib, suffix)


_compiled = functools.lru_cache(maxsize=None)(_Kernels)


def _task_block(g, sample_bytes=None):
    """Samples per task of a direct.c pass: enough tasks for TASKS_PER_THREAD per thread, so threads
    slowed by other work take fewer and the last tasks end together, each holding at most
    PHASE_BLOCK_BYTES of phases (sample_bytes: one sample's; None where a task holds one sample's
    columns at a time)."""
    block = ceil_div(g.batch, TASKS_PER_THREAD * cpu_workers())
    if sample_bytes is not None:
        block = min(block, max(1, PHASE_BLOCK_BYTES // sample_bytes))
    return max(1, block)


def _phase_bytes(g, phases, itemsize):
    """One sample's phases."""
    return g.in_channels * phases.channel * itemsize


def _phase_task_block(g, phases, itemsize):
    """Samples per task of the strided forward."""
    return _task_block(g, _phase_bytes(g, phases, itemsize))


def _weight_task_block(g, phases, itemsize):
    """Samples per task of the strided weight gradient: as forward's, but few enough tasks that
    their partial sums (one weight's size each) stay within WEIGHT_PRODUCTS elements."""
    weights = g.out_channels * g.group_in * g.kernel_h * g.kernel_w
    return max(_phase_task_block(g, phases, itemsize), ceil_div(g.batch, max(1, WEIGHT_PRODUCTS // weights)))


@functools.lru_cache(maxsize=256)
def _layer_fields_cached(g, up, vp, plane, block):
    fields = numpy.array([g.batch, g.in_channels, g.height, g.width, g.out_channels, g.groups, g.kernel_h,
                          g.kernel_w, g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dilation_h, g.dilation_w,
                          g.out_h, g.out_w, up, vp, plane, block], numpy.intp)
    fields.flags.writeable = False   # shared by every call on this layer
    return fields


def _layer_fields(g, phases, block):
    """Layer g as direct.c's intp fields (its enum), with the phases' layout where there is one."""
    return _layer_fields_cached(g, *((phases.up, phases.vp, phases.plane) if phases else (0, 0, 0)), block)


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
    make no columns (direct.c's forward_phases)."""
    if kernels.phases(g) is not None:
        return kernels.forward(x, w, g)
    y = numpy.empty((g.batch, g.out_channels, g.out_h, g.out_w), numpy.result_type(x.dtype, w.dtype))
    shape = (g.in_channels, g.kernel_h, g.kernel_w, g.out_h, g.out_w)
    wg, yg = w.reshape(g.groups, g.group_out, -1), _per_group(y, g)
    im2col, block = kernels.bind(g)[0], _column_block(g, x.dtype.itemsize)

    def run(i, buf):
        c = buf[:i.stop - i.start]
        im2col(x[i], c)
        numpy.matmul(wg, _per_group(c, g), out=yg[i])
    _by_block_on_pool(run, g.batch, block, lambda n: numpy.empty((n,) + shape, x.dtype))
    return y


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


def _weight_sums_per_block(g, step):
    """Whether the C path's weight gradient keeps one partial sum per block of at most ``step``
    samples (at most WEIGHT_PRODUCTS elements of them), else one per chunk of samples."""
    blocks = len(_even_blocks(g.batch, step))
    return blocks * g.out_channels * g.group_in * g.kernel_h * g.kernel_w <= WEIGHT_PRODUCTS


def _compiled_workspace(g, itemsize):
    """Workspace of the C path: no columns are kept from forward to backward (x is, as the graph
    holds it anyway; a non-contiguous x is kept as a contiguous copy, not counted). Per working
    thread, forward and weight gradient hold one block of columns, or of x's phases where a strided
    layer splits; the input gradient one sample's column gradient (direct.c), or, at stride 1 with
    f' <= f, the columns of gy's correlation. The weight gradient also holds partial sums: one per
    task of a strided layer, else each thread's per-sample products and one sum per block (per
    chunk for large weights)."""
    pool = cpu_thread_pool()
    workers = 1 if pool is None else pool[2]

    def blocks(g, block, sample_bytes):   # what _by_block_on_pool holds at once
        held = _even_blocks(g.batch, block)
        return min(workers, len(held)) * max(i.stop - i.start for i in held) * sample_bytes

    def threads(block):   # the C pool's threads a direct.c pass in tasks of `block` samples occupies
        return min(cpu_workers(), ceil_div(g.batch, block))
    weights = g.out_channels * g.group_in * g.kernel_h * g.kernel_w
    phases = _compiled(host.library('direct'), host.suffix(numpy.dtype(f'f{itemsize}'))).phases(g)
    if _input_gradient_as_correlation(g):
        tg = _transposed_geometry(g)
        terms = {'column gradient blocks': blocks(tg, _column_block(tg, itemsize), _column_bytes(tg, itemsize))}
    else:
        terms = {'column gradient per thread': threads(_task_block(g)) * _column_bytes(g, itemsize)}
    if phases is not None:
        sample = _phase_bytes(g, phases, itemsize)
        block = _weight_task_block(g, phases, itemsize)
        n = ceil_div(g.batch, block)
        forward_block = _phase_task_block(g, phases, itemsize)
        terms.update({'phase tasks': threads(forward_block) * forward_block * sample,
                      'weight-gradient phase tasks': threads(block) * block * sample,
                      # one partial sum per task (none for one task), and gw's transposing copy
                      'weight partial sums': ((n if n > 1 else 0) + 1) * weights * itemsize})
        forward, weight = terms['phase tasks'], terms['weight-gradient phase tasks'] + terms['weight partial sums']
    else:
        most, sample = _column_block(g, itemsize), _column_bytes(g, itemsize)
        step = min(max(1, WEIGHT_PRODUCTS // weights), most)
        if _weight_sums_per_block(g, step):   # one sum per block, blocks handed out
            held = _even_blocks(g.batch, step)
            chunks, step = len(held), max(i.stop - i.start for i in held)
        else:   # one sum per chunk of samples, taken a block of `step` at a time
            chunks = (1 if pool is None or g.batch < 2
                      else min(g.batch, max(workers, min(4 * workers, WEIGHT_PRODUCTS // weights))))
            step = min(step, ceil_div(g.batch, chunks))
        terms.update({'column blocks': blocks(g, most, sample),
                      'weight-gradient column blocks': min(workers, chunks) * step * sample,
                      # each thread's products and their sum, the partial sums, and gw's transposing copy
                      'weight products': (min(workers, chunks) * (step + 1) + chunks + 1) * weights * itemsize})
        forward = terms['column blocks']
        weight = terms['weight-gradient column blocks'] + terms['weight products']
    return Workspace(0, max(forward, weight, *(v for k, v in terms.items() if k.startswith('column gradient'))), terms)


class DirectConvolution(ConvAlgorithm):
    """algo='direct'. Columns are laid out per sample, (S, f, kh, kw, oh, ow), i.e. one
    (G, f/G*kh*kw, oh*ow) matrix per sample, so x, y and both gradients stay (N, C, H, W) with no
    transposing copy, and the GEMMs run batched over samples and groups. On the CPU each pass runs
    in chunks of samples on the thread pool with one BLAS thread each (BLAS's own threads stalled
    for tens of ms on the shared machine). Strides and padding are handled natively (the windows
    are strided slices).

    On the CPU (float32, float64, config cpu_kernels not 'off') minifft/kernels/direct.c runs the
    layer. Its im2col and col2im pad inline (each tap's valid rows and columns are clipped; no
    padded x or gx is made). Forward keeps x, not the columns: the weight gradient rebuilds them a
    block at a time. Against keeping them (19 MB on (32, 16, 32, 32, 3)) that measured within the
    noise on that layer alone and on a whole models/small.py step (42.8 vs 43.4 ms, batch 64,
    direct everywhere); a lone (64, 3, 16, 32, 5, pad 2) layer, whose kept columns stay in L3 until
    its weight gradient, ran that pass ~0.6 ms faster with them. Each pass holds one block per
    thread instead of all the columns.

    The input gradient runs whole in C, as tasks of a few samples on direct.c's thread pool
    (kernels/pool.h): per sample the column gradient (gemm.c's gemm_nn) in the thread's scratch,
    then col2im. Against OpenBLAS + col2im in blocks on the Python pool it measured 20-33% faster on
    six layers (stride 1 and 2; benchmarks/README.md, ninth session): the Python pool lost ~0.15 ms
    per pass starting its second thread and ~0.1-0.6 ms to blocks too coarse to end together.

    Strided layers whose taps meet every phase of the input (3x3 at stride 2) make no columns for
    forward and weight gradient, and run them whole in C too: each task's samples are split into
    their sh * sw zero-padded phases (one copy of x), in which every tap's window is a stride-1
    block, and gemm.c multiplies the weights by those windows (windows_packed) or gy by them
    (gemm_nt_windows), reading them in place or a panel at a time; the weight gradient keeps one
    partial sum per task and adds them in task order (the same bits whichever thread ran which).
    Four stride-1 correlations of gy with each phase's taps, for the input gradient, measured
    0.8-1.2x the col2im's time, slower in 10 of 12 interleaved runs (eighth session).

    Other layers run forward and weight gradient as blocks of about COLUMN_BLOCK_BYTES of columns
    handed to the Python pool's threads one at a time, each block's columns made, multiplied
    (OpenBLAS forward, gemm.c's gemm_nt for the weight gradient) and dropped while in cache; blocks
    are near-equal and, where there is more than one, as many as a multiple of the pool's workers
    (_even_blocks).

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
        if host.serves('direct', device, itemsize):
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
        kernels = _kernels(ctx.w, ctx.gy)
        if kernels is not None:
            return kernels.input_gradient(ctx.w, ctx.gy, g)
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
        kernels = _kernels(ctx.x) if ctx.cols is None else None   # the C path's forward kept x
        if kernels is not None and kernels.phases(g) is not None and ctx.gy.dtype == ctx.x.dtype:
            # strided: the products read x's phases, no columns
            return kernels.weight_gradient(ctx.x, ctx.gy, g).swapaxes(1, 2).reshape(ctx.w.shape)
        xp = get_array_module(ctx.gy)
        sums = {}
        # per-sample products, summed over the samples a few at a time and then over the chunks in a
        # fixed order; the products and the chunks' sums held at once stay near WEIGHT_PRODUCTS
        # elements (or one weight's size per thread and chunk, for larger weights)
        step = max(1, WEIGHT_PRODUCTS // ctx.w.size)
        nt = xp is numpy and gemm.library(ctx.gy)[0] is not None and \
            (ctx.x if ctx.cols is None else ctx.cols).dtype == ctx.gy.dtype
        if ctx.cols is None:   # the C path's forward kept x, not its columns: rebuilt per block in cache
            im2col = kernels.bind(g)[0] if kernels is not None else None
            step = min(step, _column_block(g, ctx.x.dtype.itemsize))
            shape = (g.in_channels, g.kernel_h, g.kernel_w, g.out_h, g.out_w)

        def scratch(n):
            return xp.empty((n,) + shape, ctx.x.dtype)

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
