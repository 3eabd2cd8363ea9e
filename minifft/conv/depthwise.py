"""Depthwise convolution (one input channel per group, m = f'/f output channels for each);
DirectConvolution's depthwise path. On the CPU, for float32 and float64, three C kernels
(minifft/kernels/depthwise.c) do the passes; elsewhere (CuPy arrays, other dtypes, the setting
``cpu_kernels='off'``, no C compiler) weighted sums of shifted sweeps over flat, padded images do.

The C kernels work image by image ((sample, channel) pairs, chunks of them across the CPU thread
pool; ctypes releases the GIL): each image is copied once, while in cache, between zero columns
(split into its column phases when strided), and each output row is then summed from the kernel
rows' source rows in a few vector registers, the taps added one by one; the input gradient gathers
from the output gradient per input row and column phase (no scatter, each element written once);
the weight gradient takes per tap the dot product of the output gradient with the input's view,
summed over fixed blocks of samples in a fixed order (the same bits on any threads). Nothing is
kept from forward to backward but x. Why: the NumPy sweeps below make several passes over memory
per tap (copy in, multiply-add per tap, copy out) where a fused loop reads each image once from
memory and works on it in L1 (copying an image between zero columns once, instead of clipping
every tap's columns, measured 1.4-3x faster per pass). Measured on the issue's layer (32, 64, 64,
32, 3), pad 1, float32, fprop + bprop + accGrad, medians of runs interleaved in one process on the
shared 2-core machine (indicative only; others' jobs were running): C kernels 6.2 ms, NumPy sweeps
18.4 ms; one thread each: C kernels 8.6 ms, PyTorch 2.13 13.0 ms (PyTorch on two threads took
8.3 ms on a quieter machine, where an earlier version of these kernels took 7.8 ms). The kernels
alone on one thread: forward 1.45 ms, input gradient 1.9, weight gradient 1.0 (a quarter of the
first two is the image copies, where each image is first read from memory).

The NumPy sweeps: a block of channels (or of one channel's samples) is copied into a scratch
buffer, padded, channels first and flat, so one channel's images are one contiguous run and a
kernel tap (a, b) is one offset o = a*dh*Wp + b*dw into it. One tap's contribution to the whole
block is then a single multiply-add of a view of the buffer (one long contiguous row per channel)
by one weight per channel:

    z[c, :] += w[c, a, b] * scratch[c, o:o + n]        (n: the block's images, Hp*Wp each)

and the outputs are read from z at rows < oh, columns < ow of each image. The positions of z in
between read across a row or image boundary and are never kept (forward, input gradient) or meet
a zero (weight gradient); every sweep stops ``reach`` (the largest offset) short of the end, so
it reads only what the block wrote.

Stride s: the padded input is split into s_h*s_w phases (polyphase), x_p[i, j] = xpad[i*sh + pa,
j*sw + pb]; tap (a, b) reads phase (a*dh % sh, b*dw % sw) at phase offset (a*dh // sh,
b*dw // sw), so every sweep is stride 1 and no product is wasted. The input gradient is, per
phase, the padded output gradient correlated with that phase's taps (mirrored offsets), written
back interleaved; the weight gradient is, per tap, each channel's dot product of the output
gradient (padded to the phase grid) with the tap's view of its phase.

Why the sweeps (measured on the same layer, where PyTorch's three passes take 2-4 ms each): with
one channel per group the im2col GEMMs are one row wide (8-12x PyTorch's time). Banded (Toeplitz)
GEMMs that put the taps into BLAS inflate the flops by about W/k, 428 MFLOP per pass here, which
took 6-12 ms per pass at the 34-67 GFLOP/s those skinny GEMMs reached, plus 8 ms for the shifted
sums over 32-element rows they still need: NumPy's elementwise loops over short rows run at a
third of their speed over long contiguous runs (the previous tap path, a sum of kh*kw such loops,
took 50-70 ms a step). On the CPU, rows of at least AXPY_MIN_LENGTH take BLAS axpy (one pass
where NumPy's multiply and add take two: 2.5x on a row) and BLAS dot, one BLAS thread per worker;
each block is copied in, swept and copied out while in cache, so a pass reads its inputs from
memory and writes its outputs about once. Blocks run across the CPU thread pool (NumPy's loops
and BLAS release the GIL); on the GPU the same code runs once, as one block of all channels.
"""
import ctypes
import dataclasses
import functools

import numpy
import scipy.linalg

from ..backend import cpu_workers, get_array_module
from ..kernels import host
from .geometry import ceil_div
from .spectral import cpu_thread_pool, run_in_chunks, split_on_pool

BLOCK_BYTES = 2 * 2 ** 20  # a block's scratch and sweep buffers: 1-4 MiB measured best (0.5: +40%)
AXPY_MIN_LENGTH = 4096     # rows this long take BLAS axpy and dot on the CPU (shorter: call overhead)
WEIGHT_UNITS = 16          # the C weight gradient splits the batch into blocks until channels x blocks reach this
THREADED_MIN_MACS = 2 ** 20  # smaller layers run the C kernels in one call (the pool's hand-off: 30-70 us)
COPY_IMAGES = True         # the C kernels copy images between zero columns (False: clip each tap; measured slower)


def supports(g):
    """Whether layer ``g`` takes the depthwise sweeps: one input channel per group."""
    return g.group_in == 1


@dataclasses.dataclass(frozen=True)
class _Tap:
    phase: int     # index of the input phase (pa, pb) it reads
    qa: int        # offset on the phase grid: a*dh = qa*sh + pa, b*dw = qb*sw + pb
    qb: int


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Where the taps of a layer read: its phases, the phase grid (rows x width) and, for the input
    gradient, the output gradient's grid padded by the largest phase offsets (top, left)."""

    phases: tuple  # (pa, pb) of each phase
    taps: tuple    # _Tap per kernel tap, row-major
    rows: int
    width: int
    top: int
    left: int

    @property
    def size(self):
        return self.rows * self.width

    @property
    def reach(self):
        """The largest flat offset a tap reads on the phase grid (and on the gradient grid)."""
        return self.top * self.width + self.left

    @property
    def grad_width(self):
        return self.width + self.left

    @property
    def grad_size(self):
        return (self.rows + self.top) * self.grad_width

    @property
    def grad_reach(self):
        return self.top * self.grad_width + self.left


@functools.lru_cache(maxsize=256)
def _plan(g):
    phases = tuple((pa, pb) for pa in range(g.stride_h) for pb in range(g.stride_w))
    taps = []
    for a in range(g.kernel_h):
        for b in range(g.kernel_w):
            qa, pa = divmod(a * g.dilation_h, g.stride_h)
            qb, pb = divmod(b * g.dilation_w, g.stride_w)
            taps.append(_Tap(phases.index((pa, pb)), qa, qb))
    return _Plan(phases, tuple(taps), ceil_div(g.height + 2 * g.pad_h, g.stride_h),
                 ceil_div(g.width + 2 * g.pad_w, g.stride_w), max(t.qa for t in taps), max(t.qb for t in taps))


def _phase_span(pad, size, stride, phase):
    """(first phase row, first input row, count) of the input rows that land on ``phase``: padded
    row i*stride + phase holds input row i*stride + phase - pad."""
    first = max(0, ceil_div(pad - phase, stride))
    start = first * stride + phase - pad
    return first, start, len(range(start, size, stride))


def _place(images, src, top, left):
    """images (..., rows, width) = src (..., h, w) at (top, left), zeros around it (each element
    written once)."""
    h, w = src.shape[-2:]
    images[..., :top, :] = 0
    images[..., top + h:, :] = 0
    images[..., top:top + h, :left] = 0
    images[..., top:top + h, left + w:] = 0
    images[..., top:top + h, left:left + w] = src


def _rows(runs, first, every, count, offset, length):
    """(count, length) view of ``runs`` (a 2-D buffer, one run of images per row): rows first,
    first + every, ..., ``length`` elements of each from ``offset``. A view may reach past its
    row into the next (callers keep ``every`` spare rows so the last one stays in the buffer)."""
    run = runs.shape[1]
    start = first * run + offset
    return runs.reshape(-1)[start:start + count * every * run].reshape(count, every * run)[:, :length]


def _sweep(xp, out, tmp, sources, weights):
    """out = sum_t weights[t][:, None] * sources[t]: one weight per row (channel) and source.
    Long rows on the CPU: one BLAS axpy per row and tap, which reads both operands and writes
    once, where NumPy's multiply and add write a temporary and read it back (measured 2.5x)."""
    if _blas_rows(xp, out):
        axpy, n = _blas('axpy', out.dtype), out.shape[1]
        weights = numpy.asarray(weights).tolist()   # host floats: positional calls cost least
        for c in range(out.shape[0]):
            row = out[c]
            numpy.multiply(sources[0][c], weights[0][c], out=row)
            for source, wt in zip(sources[1:], weights[1:]):
                if axpy(source[c], row, n, wt[c]) is not row:
                    raise RuntimeError("depthwise: BLAS axpy did not update its output in place")
        return
    for t, (source, wt) in enumerate(zip(sources, weights)):
        if t == 0:
            xp.multiply(source, wt[:, None], out=out)
        else:
            xp.multiply(source, wt[:, None], out=tmp)
            out += tmp


def _blas_rows(xp, a):
    """Whether the rows of ``a`` (count, length) take BLAS calls one row at a time."""
    return xp is numpy and a.dtype.char in 'fd' and a.shape[1] >= AXPY_MIN_LENGTH


@functools.lru_cache(maxsize=None)
def _blas(name, dtype):
    return scipy.linalg.blas.get_blas_funcs(name, dtype=dtype)


def _dots(xp, a, b):
    """Each row's dot product of a and b (count, length): long rows on the CPU as one BLAS dot each."""
    if _blas_rows(xp, a):
        return numpy.array([numpy.dot(u, v) for u, v in zip(a, b)], a.dtype)
    return xp.einsum('cq,cq->c', a, b)


def _input_block(xp, x, g, plan, channels, samples):
    """Scratch (phases, channels + 1, samples * plan.size): the padded input phases of a block,
    channels first and flat (the last row of each phase is spare, see _rows)."""
    kc, ns = channels.stop - channels.start, samples.stop - samples.start
    scratch = xp.empty((len(plan.phases), kc + 1, ns * plan.size), x.dtype)
    xt = x.transpose(1, 0, 2, 3)[channels, samples]
    for p, (pa, pb) in enumerate(plan.phases):
        i0, r0, _ = _phase_span(g.pad_h, g.height, g.stride_h, pa)
        j0, c0, _ = _phase_span(g.pad_w, g.width, g.stride_w, pb)
        _place(scratch[p, :kc].reshape(kc, ns, plan.rows, plan.width),
               xt[:, :, r0::g.stride_h, c0::g.stride_w], i0, j0)
    return scratch


def _gradient_block(xp, gy, g, channels, samples, rows, width, top, left):
    """Scratch (channels*m + m, samples * rows * width): a block's output gradients, channels
    first and flat, at (top, left) of a rows x width grid (the last m rows are spare)."""
    m, ns = g.group_out, samples.stop - samples.start
    outputs = slice(channels.start * m, channels.stop * m)
    count = outputs.stop - outputs.start
    scratch = xp.empty((count + m, ns * rows * width), gy.dtype)
    _place(scratch[:count].reshape(count, ns, rows, width), gy.transpose(1, 0, 2, 3)[outputs, samples], top, left)
    return scratch


def _blocks(g, image_bytes):
    """(channel slice, sample slice) blocks covering the layer: whole channels when one channel's
    images fit BLOCK_BYTES, else runs of one channel's samples."""
    per_channel = g.batch * image_bytes
    if per_channel <= BLOCK_BYTES:
        step = max(1, BLOCK_BYTES // per_channel)
        return [(slice(c, min(c + step, g.in_channels)), slice(0, g.batch)) for c in range(0, g.in_channels, step)]
    step = max(1, BLOCK_BYTES // image_bytes)
    return [(slice(c, c + 1), slice(s, min(s + step, g.batch)))
            for c in range(g.in_channels) for s in range(0, g.batch, step)]


def _over_blocks(xp, run, g, image_bytes):
    """run(channels, samples) over blocks covering the layer: on the CPU block by block (across the
    thread pool, one BLAS thread each, when there is one), on the GPU once, as one block."""
    if xp is not numpy:
        run(slice(0, g.in_channels), slice(0, g.batch))
        return
    blocks = _blocks(g, image_bytes)

    def run_blocks(chunk):
        for channels, samples in blocks[chunk]:
            run(channels, samples)
    pool = cpu_thread_pool()
    if pool is None or len(blocks) < 2:
        run_blocks(slice(None))
    else:   # a few chunks per thread even out the load
        run_in_chunks(run_blocks, len(blocks), min(len(blocks), 4 * pool[2]))


def _input_image_bytes(g, plan, itemsize):
    """A block's bytes per image for forward and the weight gradient: the input phases, and two
    sweep buffers (forward) or m output gradients (weight gradient)."""
    return (len(plan.phases) + max(2, g.group_out)) * plan.size * itemsize


def _gradient_image_bytes(g, plan, itemsize):
    """A block's bytes per image for the input gradient: m output gradients and two sweep buffers."""
    return (g.group_out + 2) * plan.grad_size * itemsize


# ---- the C kernels (minifft/kernels/depthwise.c): the CPU path for float32 and float64 ----

_SIZE = ctypes.c_ssize_t
_PTR = ctypes.c_void_p
_ENTRY_ARGS = {'forward': (_PTR, _PTR, _PTR) + (_SIZE,) * 17,
               'input_grad': (_PTR, _PTR, _PTR) + (_SIZE,) * 17,
               'weight_grad': (_PTR, _PTR, _PTR) + (_SIZE,) * 19}


def _kernel(name, *arrays):
    """The C entry point ``depthwise_<name>_<f32|f64>`` for these arrays, or None: the NumPy code
    (CuPy arrays, other dtypes, mixed dtypes, cpu_kernels='off', no compiler)."""
    lib, kind = host.library_for('depthwise', *arrays)
    return None if lib is None else host.function(lib, f'depthwise_{name}_{kind}', *_ENTRY_ARGS[name])


def _geometry_args(g):
    """The layer's sizes in the order the kernels take them (after f, m), and whether they copy
    images between zero columns (COPY_IMAGES)."""
    return (g.height, g.width, g.kernel_h, g.kernel_w, g.out_h, g.out_w, g.stride_h, g.stride_w,
            g.pad_h, g.pad_w, g.dilation_h, g.dilation_w, int(COPY_IMAGES))


def _threaded(g):
    """Whether the C kernels run layer ``g`` in chunks across the thread pool."""
    return g.batch * g.out_channels * g.out_h * g.out_w * g.kernel_h * g.kernel_w >= THREADED_MIN_MACS


def _run_chunks(run, n, g):
    """run(slice) over range(n) in chunks across the CPU thread pool (the kernels release the GIL;
    a few chunks per thread even out the load), or in one call for layers whose work would not pay
    the pool's hand-off."""
    split_on_pool(run, n, _threaded(g), per_thread=4)


def _weight_blocks(g):
    """(samples per block, blocks) the C weight gradient sums the batch in: whole batches when there
    are channels enough to share out, else blocks of samples; fixed by the layer alone, so the
    sums (per block in order, then over the blocks in order) do not depend on the threads."""
    blocks = min(g.batch, ceil_div(WEIGHT_UNITS, g.in_channels))
    per_block = ceil_div(g.batch, blocks)
    return per_block, ceil_div(g.batch, per_block)


def _forward_compiled(kernel, x, w, g):
    x, w = numpy.ascontiguousarray(x), numpy.ascontiguousarray(w)
    y = numpy.empty(g.output_shape, x.dtype)
    args = (host.pointer(x), host.pointer(w), host.pointer(y), g.in_channels, g.group_out) + _geometry_args(g)
    _run_chunks(lambda u: kernel(*args, u.start, u.stop), g.batch * g.in_channels, g)
    return y, DepthwiseSaved(x, w)


def _input_grad_compiled(kernel, gy, w, g):
    gy, w = numpy.ascontiguousarray(gy), numpy.ascontiguousarray(w)
    gx = numpy.empty((g.batch, g.in_channels, g.height, g.width), gy.dtype)
    args = (host.pointer(gy), host.pointer(w), host.pointer(gx), g.in_channels, g.group_out) + _geometry_args(g)
    _run_chunks(lambda u: kernel(*args, u.start, u.stop), g.batch * g.in_channels, g)
    return gx


def _weight_grad_compiled(kernel, x, gy, g):
    x, gy = numpy.ascontiguousarray(x), numpy.ascontiguousarray(gy)
    per_block, blocks = _weight_blocks(g)
    partial = numpy.empty((blocks, g.out_channels, g.kernel_h * g.kernel_w), gy.dtype)
    args = ((host.pointer(x), host.pointer(gy), host.pointer(partial), g.batch, g.in_channels, g.group_out)
            + _geometry_args(g) + (per_block,))
    _run_chunks(lambda v: kernel(*args, v.start, v.stop), blocks * g.in_channels, g)
    gw = partial[0] if blocks == 1 else partial.sum(axis=0)
    return gw.reshape(g.out_channels, 1, g.kernel_h, g.kernel_w)


def _copied_images(g):
    """(input, output gradient) elements of the image copy each C kernel call works on
    (kernels/depthwise.c): the input's column phases between zero columns (forward, weight
    gradient; phase_layout), the output gradient between zero columns (input gradient); 0 where
    the image itself serves."""
    columns = ceil_div(g.width, g.stride_w)
    shifts = [(b * g.dilation_w - g.pad_w) // g.stride_w for b in range(g.kernel_w)]
    left, right = max(0, *(-t for t in shifts)), max(0, *(g.out_w + t - columns for t in shifts))
    inputs = 0 if g.stride_w == 1 and left == right == 0 else g.stride_w * g.height * (left + columns + right)
    left = right = 0
    for q0 in range(min(g.stride_w, g.width)):
        count = ceil_div(g.width - q0, g.stride_w)
        for b in range(g.kernel_w):
            jb, rest = divmod(q0 + g.pad_w - b * g.dilation_w, g.stride_w)
            if rest == 0:
                left, right = max(left, -jb), max(right, count + jb - g.out_w)
    gradients = g.group_out * g.out_h * (left + g.out_w + right) if left or right else 0
    return inputs, gradients


def _compiled_bytes(g, itemsize, workers):
    """{pass: bytes} the C kernels allocate beyond their outputs: an image copy per call in flight
    (C's heap) and the weight gradient's per-block sums."""
    _, blocks = _weight_blocks(g)
    inputs, gradients = _copied_images(g) if COPY_IMAGES else (0, 0)
    in_flight = min(workers, g.batch * g.in_channels) if _threaded(g) else 1
    return {'forward': in_flight * inputs * itemsize, 'input gradient': in_flight * gradients * itemsize,
            'weight gradient': (in_flight * inputs + (blocks if blocks > 1 else 0) * g.out_channels * g.kernel_h
                                * g.kernel_w) * itemsize}


@dataclasses.dataclass
class DepthwiseSaved:
    x: object         # the input itself: blocks are padded again in backward, while in cache
    w: object


@dataclasses.dataclass
class DepthwiseContext:
    x: object
    w: object
    gy: object        # (S, f', oh, ow) as given


def forward(x, w, g):
    """y (S, f', oh, ow) of a depthwise layer, and what backward needs."""
    xp = get_array_module(x)
    kernel = _kernel('forward', x, w)
    if kernel is not None:
        return _forward_compiled(kernel, x, w, g)
    plan, m = _plan(g), g.group_out
    weights = w.reshape(g.in_channels, m, -1)
    y = xp.empty(g.output_shape, x.dtype)
    out = y.reshape(g.batch, g.in_channels, m, g.out_h, g.out_w)

    def block(channels, samples):
        kc, ns = channels.stop - channels.start, samples.stop - samples.start
        scratch = _input_block(xp, x, g, plan, channels, samples)
        length = ns * plan.size - plan.reach
        sources = [_rows(scratch[t.phase], 0, 1, kc, t.qa * plan.width + t.qb, length) for t in plan.taps]
        z = xp.empty((kc, ns * plan.size), x.dtype)
        tmp = xp.empty_like(z)[:, :length]   # z's strides: NumPy copies operands whose layouts differ
        for r in range(m):
            _sweep(xp, z[:, :length], tmp, sources, weights[channels, r].T)
            grid = z.reshape(kc, ns, plan.rows, plan.width)[:, :, :g.out_h, :g.out_w]
            out[samples, channels, r] = grid.transpose(1, 0, 2, 3)
    _over_blocks(xp, block, g, _input_image_bytes(g, plan, x.itemsize))
    return y, DepthwiseSaved(x, w)


def backward_setup(saved, gy, g):
    return DepthwiseContext(saved.x, saved.w, gy)


def backward_input(ctx, g):
    """gx (S, f, H, W): per input phase, the output gradient correlated with that phase's taps."""
    gy, xp = ctx.gy, get_array_module(ctx.gy)
    kernel = _kernel('input_grad', gy, ctx.w)
    if kernel is not None:
        return _input_grad_compiled(kernel, gy, ctx.w, g)
    plan, m = _plan(g), g.group_out
    weights = ctx.w.reshape(g.in_channels, m, -1)
    untouched = len({t.phase for t in plan.taps}) < len(plan.phases)   # phases no tap reads
    gx = (xp.zeros if untouched else xp.empty)((g.batch, g.in_channels, g.height, g.width), gy.dtype)
    rows, width = plan.rows + plan.top, plan.grad_width

    def block(channels, samples):
        kc, ns = channels.stop - channels.start, samples.stop - samples.start
        scratch = _gradient_block(xp, gy, g, channels, samples, rows, width, plan.top, plan.left)
        length = ns * plan.grad_size - plan.grad_reach
        z = xp.empty((kc, ns * plan.grad_size), gy.dtype)
        tmp = xp.empty_like(z)[:, :length]
        for p, (pa, pb) in enumerate(plan.phases):
            i0, r0, nr = _phase_span(g.pad_h, g.height, g.stride_h, pa)
            j0, c0, nc = _phase_span(g.pad_w, g.width, g.stride_w, pb)
            taps = [(i, t) for i, t in enumerate(plan.taps) if t.phase == p]
            if not taps or nr == 0 or nc == 0:
                continue
            sources = [_rows(scratch, r, m, kc, (plan.top - t.qa) * width + plan.left - t.qb, length)
                       for r in range(m) for _, t in taps]
            _sweep(xp, z[:, :length], tmp, sources, [weights[channels, r, i] for r in range(m) for i, _ in taps])
            grid = z.reshape(kc, ns, rows, width)[:, :, i0:i0 + nr, j0:j0 + nc]
            gx[samples, channels, r0::g.stride_h, c0::g.stride_w] = grid.transpose(1, 0, 2, 3)
    _over_blocks(xp, block, g, _gradient_image_bytes(g, plan, gy.itemsize))
    return gx


def backward_weight(ctx, g):
    """gw (f', 1, kh, kw): per tap, each channel's dot product of the output gradient (padded to
    the phase grid) with the tap's view of its input phase, summed over the batch."""
    gy, xp = ctx.gy, get_array_module(ctx.gy)
    kernel = _kernel('weight_grad', ctx.x, gy)
    if kernel is not None:
        return _weight_grad_compiled(kernel, ctx.x, gy, g)
    plan, m = _plan(g), g.group_out
    # a row per block's first sample (blocks split the batch when one channel is too large)
    partial = xp.zeros((g.batch, g.out_channels, len(plan.taps)), gy.dtype)

    def block(channels, samples):
        kc, ns = channels.stop - channels.start, samples.stop - samples.start
        scratch = _input_block(xp, ctx.x, g, plan, channels, samples)
        grads = _gradient_block(xp, gy, g, channels, samples, plan.rows, plan.width, 0, 0)
        length = ns * plan.size - plan.reach   # every nonzero gradient lies before it
        sums = partial[samples.start, channels.start * m:channels.stop * m]
        for r in range(m):
            gr = _rows(grads, r, m, kc, 0, length)
            for i, t in enumerate(plan.taps):
                source = _rows(scratch[t.phase], 0, 1, kc, t.qa * plan.width + t.qb, length)
                sums[r::m, i] = _dots(xp, gr, source)
    _over_blocks(xp, block, g, _input_image_bytes(g, plan, gy.itemsize))
    return partial.sum(axis=0).reshape(g.out_channels, 1, g.kernel_h, g.kernel_w)


def _block_bytes(g, plan, itemsize, kc, ns):
    """{pass: bytes} a block of kc channels x ns samples allocates (scratch, sweep buffers)."""
    phases, m = len(plan.phases), g.group_out
    inputs = phases * (kc + 1) * ns * plan.size
    return {'forward': (inputs + 2 * kc * ns * plan.size) * itemsize,
            'input gradient': (kc * m + m + 2 * kc) * ns * plan.grad_size * itemsize,
            'weight gradient': (inputs + (kc * m + m) * ns * plan.size) * itemsize}


def workspace(g, itemsize, device):
    """(kept, peak, {pass: bytes}) of the depthwise sweeps for layer ``g``: nothing is kept but x;
    each pass holds the buffers of the blocks in flight: one block of all channels on the GPU, on
    the CPU its largest block once per worker; the CPU's C kernels (float32, float64) need no
    buffers but the weight gradient's per-block sums."""
    plan = _plan(g)
    if host.serves('depthwise', device, itemsize):
        terms = _compiled_bytes(g, itemsize, cpu_workers())
    elif device != 'cpu':
        terms = _block_bytes(g, plan, itemsize, g.in_channels, g.batch)
    else:
        terms = {}
        for name, image_bytes in (('forward', _input_image_bytes(g, plan, itemsize)),
                                  ('input gradient', _gradient_image_bytes(g, plan, itemsize)),
                                  ('weight gradient', _input_image_bytes(g, plan, itemsize))):
            blocks = _blocks(g, image_bytes)
            largest = max(_block_bytes(g, plan, itemsize, c.stop - c.start, s.stop - s.start)[name] for c, s in blocks)
            terms[name] = min(len(blocks), cpu_workers()) * largest
    return 0, max(terms.values()), terms
