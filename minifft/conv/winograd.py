"""algo='winograd': Winograd's minimal filtering F(m x m, r x r) (Lavin & Gray, CVPR 2016) for
stride-1 layers with 3 x 3 and 5 x 5 kernels (m = 2 or 4): the FFT algorithm's three formulas with a
smaller, real transform.

The padded input is cut into overlapping tiles d of a = m + r - 1 pixels at stride m; each gives an
m x m output tile

    y_tile = A^T [ sum_c (G w G^T) (.) (B^T d B) ] A            (.) elementwise over the a x a points

so a layer becomes a^2 independent GEMMs over channels, one per transform point xi, exactly as the
FFT layer is one per frequency bin (DESIGN.md). With V = B^T d B (input), U = G w G^T (kernel),
M = the per-point products and P = S * tiles (one GEMM row per tile of every image):

    fprop    M_xi (P, f')  = V_xi (P, f) @ U_xi (f, f')        y  = A^T M A, tiles placed
    bprop    dV_xi (P, f)  = dM_xi (P, f') @ U_xi^T            gx = B dV B^T, tiles overlap-added
    accGrad  dU_xi (f, f') = V_xi^T @ dM_xi                    gw = G^T dU G

where dM = A gy_tile A^T is the output transform's adjoint, computed once for both gradients, and V
is kept from forward (the FFT keeps its spectra). Per output pixel the products cost a^2 / m^2
multiply-adds per channel pair against r^2 for direct: 4 at m = 2, 2.25 at m = 4 (r = 3); 9 and 4
against 25 for F(2x2, 5x5), whose six points, and so B, are F(4x4, 3x3)'s (its input transform and
its adjoint are the same code), and F(4x4, 5x5), whose eight add +-1/2 (those of NNPACK's F(6x6, 3x3)).

On the CPU, for float32 and float64, the transforms are C kernels (kernels/winograd.c) that read and
write the (S, C, H, W) images directly, padding and overhang included, in one pass each; they keep
V, M, dM, dV as (a*a, channels, P) with the tiles (sample, tile row, tile column) contiguous, so every
V_xi, M_xi is a (channels, P) matrix for BLAS and every transform runs along the tiles as vectors.
Forward and backward run chunks of samples start to end on the thread pool: forward transform,
GEMMs, transform (M never leaves the cache); backward makes the chunk's dM from gy and, while it is
in cache, both dV (GEMMs, then the input transform's adjoint into gx) and the chunk's share of dU,
so dM is never whole (13.0 against 16.6 ms of CPU a step at (32, 16, 32, 32, 3), loaded machine).
The NumPy code (cpu_kernels='off', no compiler, other dtypes, CuPy arrays) indexes tiles (tile row,
tile column, sample) with channels last, so every transform step is a handful of adds of strided
views whose inner (sample, channel) block is contiguous, and every V_xi, M_xi, dM_xi is a plain
(P, channels) matrix that BLAS takes without a copy.
"""
import ctypes
import dataclasses
import functools

import numpy

from ..backend import device_of, get_array_module
from ..kernels import host
from . import profiler
from .base import PASSES, ConvAlgorithm, OpCount, Workspace
from .geometry import ceil_div
from .spectral import batched_matmul, cpu_thread_pool, even_slices, matmul2d, run_in_chunks, split_on_pool

# Lavin & Gray's matrices of F(m, r), keyed (m, r): interpolation points 0, +-1 (a = m + r - 1 = 4)
# and 0, +-1, +-2 (a = 6), plus infinity. F(2, 5) has F(4, 3)'s six points, so the same B^T; its
# G row for point p is p^k / prod_{q != p} (p - q), k < 5, and A^T row i is p^i (infinity: [0 .. 0 1]).
TRANSFORMS = {
    (2, 3): dict(BT=[[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
            G=[[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
            AT=[[1, 1, 1, 0], [0, 1, -1, -1]]),
    (4, 3): dict(BT=[[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                     [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
                 G=[[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                    [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
                 AT=[[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]),
}
TRANSFORMS[(2, 5)] = dict(
    BT=TRANSFORMS[(4, 3)]['BT'],
    G=[[1 / 4, 0, 0, 0, 0], [-1 / 6] * 5, [-1 / 6, 1 / 6, -1 / 6, 1 / 6, -1 / 6],
       [1 / 24, 1 / 12, 1 / 6, 1 / 3, 2 / 3], [1 / 24, -1 / 12, 1 / 6, -1 / 3, 2 / 3], [0, 0, 0, 0, 1]],
    AT=[[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 1]])
# F(4, 5): eight points, 0, +-1, +-2, +-1/2 and infinity (those of NNPACK's F(6, 3)), same construction
TRANSFORMS[(4, 5)] = dict(
    BT=[[-1, 0, 21 / 4, 0, -21 / 4, 0, 1, 0], [0, 1, 1, -17 / 4, -17 / 4, 1, 1, 0],
        [0, -1, 1, 17 / 4, -17 / 4, -1, 1, 0], [0, 1 / 2, 1 / 4, -5 / 2, -5 / 4, 2, 1, 0],
        [0, -1 / 2, 1 / 4, 5 / 2, -5 / 4, -2, 1, 0], [0, 2, 4, -5 / 2, -5, 1 / 2, 1, 0],
        [0, -2, 4, 5 / 2, -5, -1 / 2, 1, 0], [0, -1, 0, 21 / 4, 0, -21 / 4, 0, 1]],
    G=[[-1, 0, 0, 0, 0], [-2 / 9] * 5, [-2 / 9, 2 / 9, -2 / 9, 2 / 9, -2 / 9],
       [1 / 90, 1 / 45, 2 / 45, 4 / 45, 8 / 45], [1 / 90, -1 / 45, 2 / 45, -4 / 45, 8 / 45],
       [32 / 45, 16 / 45, 8 / 45, 4 / 45, 2 / 45], [32 / 45, -16 / 45, 8 / 45, -4 / 45, 2 / 45], [0, 0, 0, 0, 1]],
    AT=[[1, 1, 1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 1 / 2, -1 / 2, 0], [0, 1, 1, 4, 4, 1 / 4, 1 / 4, 0],
        [0, 1, -1, 8, -8, 1 / 8, -1 / 8, 1]])
TILES = {3: (2, 4), 5: (2, 4)}     # the output tiles m there are transforms for, per kernel size r
WIDE_CHANNELS = 24    # f f' / (f + f') from which F(4x4) wins (measured between 11 and 48)
THREADED_MIN_ELEMENTS = 1 << 16    # below this a transform is not worth the thread pool's hand-off
BAND = 128             # C kernels: tiles per band (the runs of their 1-D passes), about
CHUNK_BYTES = 1 << 21  # C path: most V and M (or dM and dV) per chunk of samples (see _sample_chunks)
MIN_TILES = 128        # C path: fewest tiles per chunk (the width of its GEMMs)


def _on_pool(xp, run, n, size):
    """run(slice) over range(n): on the CPU in one chunk per thread of the pool (NumPy's elementwise
    loops and copies are single-threaded but release the GIL), whole below THREADED_MIN_ELEMENTS."""
    split_on_pool(run, n, xp is numpy and size >= THREADED_MIN_ELEMENTS)


def _combine(xp, coefficients, views, out):
    """out[i] = sum_j coefficients[i][j] * views[j] for each i, skipping zeros (the matrices are
    sparse); +-1 terms are adds and subtracts, no multiply. Views are (tile rows, ...) and out
    (len(coefficients), tile rows, ...); on the CPU chunks of tile rows run on the thread pool."""
    _on_pool(xp, lambda c: _combine_chunk(xp, coefficients, [v[c] for v in views], out[:, c]),
             out.shape[1], out.size)
    return out


def _copy(xp, out, src):
    """out[...] = src, for the layout changes between (S, C, H, W) and the channels-last tiles: a
    transposing copy, on the CPU in chunks of the first axis on the thread pool."""
    _on_pool(xp, lambda c: out.__setitem__(c, src[c]), out.shape[0], out.size)


def _combine_chunk(xp, coefficients, views, out):
    """Each row as few passes over memory as its coefficients allow: terms of equal magnitude are
    summed first and scaled once (-4 d1 - 4 d2 = -4 (d1 + d2)), and two unit terms start a row in
    one add (d0 - d2, not a copy then a subtract), which halves F(2x2)'s passes."""
    scratch = None
    for i, row in enumerate(coefficients):
        groups = {}     # magnitude: [(sign, view)]
        for j, c in enumerate(row):
            if c != 0:
                groups.setdefault(abs(float(c)), []).append((1 if c > 0 else -1, views[j]))
        units = groups.pop(1.0, [])
        scaled = list(groups.items())
        if len(units) < 2 and scaled:   # start from a scaled group: its first pass writes the row
            scale, terms = scaled.pop(0)
            _scaled_sum(xp, terms, scale, out[i])
            rest = units
        else:
            _scaled_sum(xp, units, 1.0, out[i])
            rest = []
        for scale, terms in scaled:
            if scratch is None:
                scratch = xp.empty(out.shape[1:], out.dtype)
            _scaled_sum(xp, terms, scale, scratch)
            xp.add(out[i], scratch, out=out[i])
        for sign, v in rest:
            (xp.add if sign > 0 else xp.subtract)(out[i], v, out=out[i])
    return out


def _scaled_sum(xp, terms, scale, out):
    """out = scale * sum(sign * view for sign, view in terms), in len(terms) passes (one more when
    the scale is not 1)."""
    (s0, v0), rest = terms[0], terms[1:]
    scale *= s0                                 # the first term's sign goes into the scale
    if rest:
        s1, v1 = rest[0]
        (xp.add if s1 == s0 else xp.subtract)(v0, v1, out=out)
        for s, v in rest[1:]:
            (xp.add if s == s0 else xp.subtract)(out, v, out=out)
        if scale != 1:
            xp.multiply(out, out.dtype.type(scale), out=out)
    elif scale == 1:
        out[...] = v0
    else:
        xp.multiply(v0, out.dtype.type(scale), out=out)


@functools.lru_cache(maxsize=None)
def _transform_matrices(m, r, dtype):
    """BT, G, AT of F(m x m, r x r) in ``dtype``, and GG = G kron G (made once, read only)."""
    T = {k: numpy.asarray(v, dtype) for k, v in TRANSFORMS[(m, r)].items()}
    T['GG'] = numpy.kron(T['G'], T['G'])     # [(i, j), (k, l)] = G[i, k] G[j, l]
    return T


def _tiling(g, m):
    """(tile rows, tile columns, padded input height, padded input width)."""
    th, tw = ceil_div(g.out_h, m), ceil_div(g.out_w, m)
    return th, tw, th * m + g.kernel_h - 1, tw * m + g.kernel_w - 1


@dataclasses.dataclass
class WinogradSaved:
    v: object     # (a, a, th, tw, S, f): the input transform, kept for accGrad; (a*a, f, P) compiled
    u: object     # (a, a, f, f'): the kernel transform, kept for bprop
    compiled: bool = False    # made by the C transforms (their layout), so backward uses them too


@dataclasses.dataclass
class WinogradContext:
    v: object
    u: object
    dm: object    # (a, a, th, tw, S, f'): gy through the output transform's adjoint; None compiled
    compiled: bool = False
    gy: object = None    # compiled: gy (C-contiguous), whose dM each backward chunk makes in cache
    du: object = None    # compiled: dU (a*a, f, f'), made by backward_input beside dV when it ran


def _points(g, m):
    """Transform points of layer ``g`` per sample and channel with output tile m."""
    th, tw, _, _ = _tiling(g, m)
    return th * tw * (m + g.kernel_h - 1) ** 2


def _compiled_on(device, itemsize):
    """Whether a layer of this device and itemsize runs the C transforms (without its arrays)."""
    return host.serves('winograd', device, itemsize)


def _compiled(a):
    """Whether the C transforms run on array ``a`` (kernels/host.py: library_for)."""
    return host.library_for('winograd', a)[0] is not None


def _kernel(name, dtype):
    """winograd_<name> of kernels/winograd.c for ``dtype``: (src, dst, scratch, q0, q1, *sizes)."""
    sizes = {'input': 15, 'output': 12, 'dm': 12, 'dx': 15}[name]
    return host.function(host.library('winograd'), f'winograd_{name}_{host.suffix(dtype)}',
                         *(ctypes.c_void_p,) * 3, *(ctypes.c_ssize_t,) * sizes)


def _call(kernel, src, dst, buf, *sizes):
    kernel(host.pointer(src), host.pointer(dst), host.pointer(buf), *sizes)


def _band(tw):
    """Tile rows per band of the C transforms: 1-D passes along about BAND tiles."""
    return max(1, BAND // tw)


def _sample_chunks(S, per_sample_bytes, tiles_per_sample):
    """Slices of range(S), and how many of them run at once: one per thread of the pool at least,
    more (a multiple of the threads) where one would hold over CHUNK_BYTES of transforms, but at
    least MIN_TILES tiles each
    (GEMMs of fewer ran far below BLAS speed: 134 against 98 ms for the NumPy code's whole-layer
    GEMMs at (16, 384, 384, 16, 3), one sample per chunk). Each chunk costs Python work under the
    GIL, which the other thread waits for: chunks of 0.5 MiB measured slower on 2 threads than 4 MiB
    (11.2 against 8.1 ms at (32, 16, 32, 32, 3)) with backward's dM made whole; with it made per
    chunk, 2 MiB ran fastest of 4, 2, 1 and 0.5 MiB on (32, 16, 32, 32, 3), (64, 32, 32, 16, 3,
    pad 1) and (64, 16, 32, 16, 5, pad 2): 0.8-0.92x the time of 4 MiB (interleaved, loaded machine)."""
    pool = cpu_thread_pool()
    workers = 1 if pool is None else pool[2]
    pieces = ceil_div(S * per_sample_bytes, CHUNK_BYTES)
    pieces = ceil_div(pieces, workers) * workers     # whole rounds: 5 chunks on 2 threads idle one 2/5 of the time
    pieces = max(1, min(pieces, S, S * tiles_per_sample // MIN_TILES))
    return even_slices(S, pieces), min(pieces, workers)


def _by_samples(run, S, per_sample_bytes, tiles_per_sample):
    """run(slice of samples) over the chunks of _sample_chunks, on the thread pool (one BLAS thread
    each) where there is one, else one chunk after the other."""
    chunks, at_once = _sample_chunks(S, per_sample_bytes, tiles_per_sample)
    if at_once > 1:
        run_in_chunks(run, S, len(chunks))
    else:
        for c in chunks:
            run(c)


def _scratch(m, r, th, tw):
    """Elements of scratch per thread of (input + output, dm, dx) (kernels/winograd.c)."""
    a, nb = m + r - 1, _band(tw)
    rows = (a + m) * m * nb * tw                            # a band's rows through the transforms
    return (max(2 * a * a * nb * tw + 2 * (tw * m + r - 1) + 8, rows), rows,
            2 * a * a * nb * tw + (th * m + r - 1) * (tw * m + r - 1))  # dx: a band and a padded plane


class WinogradConvolution(ConvAlgorithm):
    """algo='winograd': 3 x 3 or 5 x 5, stride 1, no dilation, one channel group; output tile m x m.
    On 5 x 5 layers F(4x4) took 0.56-0.67x the time of F(2x2) ((32, 16, 32, 32, 5) 20.1 against 30.2 ms,
    small's conv1 and conv2 alike; interleaved, loaded machine), and F(2x2) 0.86x direct's.

    ``tile`` fixes m (2 or 4). By default, for the NumPy code, m = 4 where the products dominate
    (f f' / (f + f') >= ``WIDE_CHANNELS``: 2.25 instead of 4 multiply-adds per output and channel
    pair) and the output is at least 8 pixels each way (below, most of a 6 x 6 tile would be
    overhang); else m = 2, whose transforms are cheaper: 33.8 against 46.3 ms at (32, 16, 32, 32, 3).
    The C transforms cost about the same per transform point for either tile, so there m = 4
    wherever it makes fewer points (see output_tile): measured no slower than m = 2 on every layer
    tried, e.g. (32, 16, 32, 32, 3) 10.4 against 15.1 ms, one thread."""

    name = 'winograd'

    def __init__(self, tile=None, name=None):
        if tile not in (None, 2, 4):
            raise ValueError(f"WinogradConvolution: expected tile None, 2 or 4, got {tile!r}")
        self.tile = tile
        if name is not None:
            self.name = name

    def supports(self, g, device):
        return (device in self.devices and g.kernel_h == g.kernel_w and g.kernel_h in TILES
                and (self.tile is None or self.tile in TILES[g.kernel_h])
                and g.stride_h == g.stride_w == 1 and not g.dilated and g.groups == 1)

    def output_tile(self, g, compiled=False):
        """m for layer ``g``; ``compiled``: for the C transforms, which cost about the same per
        transform point for either tile, so m follows the points (GEMM rows) only: 4 unless its
        overhang makes at least as many points as m = 2 (an output of 1, 2, 5 or 6 pixels a side).
        5 x 5 layers follow the points on both paths (F(4x4) makes 4 products per output against 9)."""
        if self.tile is not None:
            return self.tile
        if compiled or g.kernel_h == 5:
            return 4 if _points(g, 4) < _points(g, 2) else 2
        f, fo = g.in_channels, g.out_channels
        return 4 if min(g.out_h, g.out_w) >= 8 and f * fo >= WIDE_CHANNELS * (f + fo) else 2

    def cost(self, g, device='cpu'):
        m = self.output_tile(g, _compiled_on(device, 4))
        a = m + g.kernel_h - 1
        th, tw, hp, wp = _tiling(g, m)
        P = g.batch * th * tw
        gemm = 2 * a * a * P * g.in_channels * g.out_channels
        # transform adds: ~2 per input of each 1-D pass, over a x a points of every tile
        elementwise = 4 * a * a * P * (g.in_channels + g.out_channels)
        return OpCount({p: {'gemm': gemm, 'elementwise': elementwise} for p in PASSES})

    def workspace(self, g, itemsize, device='cpu'):
        """V and U kept; forward's peak adds the padded input, its row pass and M; backward's the
        padded gy, dM, dV and the padded input gradient. The C transforms read and write the images
        directly: forward adds M of the sample chunks running at once, backward their dM and dV and
        one dU per chunk, both a few rows of scratch per thread."""
        compiled = _compiled_on(device, itemsize)
        m = self.output_tile(g, compiled)
        a = m + g.kernel_h - 1
        th, tw, hp, wp = _tiling(g, m)
        P = g.batch * th * tw
        S, f, fo = g.batch, g.in_channels, g.out_channels
        terms = {'input transform': a * a * P * f * itemsize, 'kernel transform': a * a * f * fo * itemsize,
                 'padded input': hp * wp * S * f * itemsize, 'row pass': a * th * wp * S * f * itemsize,
                 'products': a * a * P * fo * itemsize, 'gradient transform': a * a * P * fo * itemsize,
                 'input-side gradient': a * a * P * f * itemsize}
        kept = terms['input transform'] + terms['kernel transform']
        if compiled:
            for name in ('padded input', 'row pass'):
                del terms[name]
            per_sample = a * a * th * tw * (f + fo) * itemsize
            chunks, at_once = _sample_chunks(S, per_sample, th * tw)
            share = at_once * (chunks[0].stop - chunks[0].start) / S    # of M and dV at once
            for name in ('products', 'gradient transform', 'input-side gradient'):
                terms[name] = int(share * terms[name])
            terms['scratch'] = at_once * max(_scratch(m, g.kernel_h, th, tw)) * itemsize
            terms['weight-gradient parts'] = len(chunks) * terms['kernel transform']   # dU per chunk
            forward = kept + terms['products'] + terms['scratch']
            backward = kept + terms['gradient transform'] + terms['input-side gradient'] + terms['scratch'] \
                + terms['weight-gradient parts']
            return Workspace(kept, max(forward, backward), terms)
        forward = kept + terms['padded input'] + terms['row pass'] + terms['products']
        backward = kept + terms['products'] + terms['gradient transform'] + terms['input-side gradient'] \
            + terms['padded input'] + terms['row pass']
        return Workspace(kept, max(forward, backward), terms)

    def _matrices(self, g, dtype, compiled=False):
        """m, the transform matrices in ``dtype``, a = m + r - 1, and the tiling (th, tw, hp, wp)."""
        m = self.output_tile(g, compiled)
        r = g.kernel_h
        return m, _transform_matrices(m, r, numpy.dtype(dtype).str), m + r - 1, _tiling(g, m)

    def forward(self, x, w, g):
        if _compiled(x):
            return self._forward_compiled(x, w, g)
        xp = get_array_module(x)
        device = device_of(x)
        m, T, a, (th, tw, hp, wp) = self._matrices(g, x.dtype)
        S, f = g.batch, g.in_channels
        with profiler.part('copies', device):
            # (hp, wp, S, f): channels last, zero border (padding, and the last tile's overhang)
            xpad = xp.zeros((hp, wp, S, f), x.dtype)
            _copy(xp, xpad[g.pad_h:g.pad_h + g.height, g.pad_w:g.pad_w + g.width], x.transpose(2, 3, 0, 1))
        with profiler.part('transforms', device):
            rows = _combine(xp, T['BT'], [xpad[j:j + m * th:m] for j in range(a)],
                            xp.empty((a, th, wp, S, f), x.dtype))
            v = xp.empty((a, a, th, tw, S, f), x.dtype)
            for i in range(a):
                _combine(xp, T['BT'], [rows[i][:, j:j + m * tw:m] for j in range(a)], v[i])
            u = _kernel_transform(xp, w, xp.asarray(T['GG']))
        mm = self._product(xp, v.reshape(a * a, -1, f), u.reshape(a * a, f, -1))   # (a*a, P, f')
        return self._output(xp, mm.reshape(a, a, th, tw, S, -1), T, g, m), WinogradSaved(v, u)

    def _output(self, xp, mm, T, g, m):
        """y (S, f', oh, ow) from the products M (a, a, th, tw, S, f')."""
        a, device = m + g.kernel_h - 1, device_of(mm)
        with profiler.part('transforms', device):
            cols = _combine(xp, T['AT'], [mm[:, j] for j in range(a)], xp.empty((m,) + mm.shape[:1] + mm.shape[2:], mm.dtype))
            tiles = _combine(xp, T['AT'], [cols[:, i] for i in range(a)], xp.empty((m,) + cols.shape[:1] + cols.shape[2:], mm.dtype))
        with profiler.part('copies', device):
            th, tw, S, fo = tiles.shape[2:]
            y = xp.empty((S, fo, th * m, tw * m), mm.dtype)
            # tiles[r, q, t, u, s, o] is output pixel (t*m + r, u*m + q) of sample s, channel o
            _copy(xp, y.reshape(S, fo, th, m, tw, m), tiles.transpose(4, 5, 2, 0, 3, 1))
            return xp.ascontiguousarray(y[:, :, :g.out_h, :g.out_w])

    @staticmethod
    def _product(xp, a, b, transpose_a=False, transpose_b=False):
        with profiler.part('products', device_of(a)):
            return batched_matmul(a.swapaxes(1, 2) if transpose_a else a, b.swapaxes(1, 2) if transpose_b else b)

    def backward_setup(self, saved, gy, g):
        if saved.compiled:
            return self._backward_setup_compiled(saved, gy, g)
        xp = get_array_module(gy)
        device = device_of(gy)
        m, T, a, (th, tw, hp, wp) = self._matrices(g, gy.dtype)
        S, fo = g.batch, g.out_channels
        with profiler.part('copies', device):
            # (m, m, th, tw, S, f'): gy tiles, zero past the output's edge
            tiles = xp.zeros((th, m, tw, m, S, fo), gy.dtype)
            _copy(xp, tiles.reshape(th * m, tw * m, S, fo)[:g.out_h, :g.out_w], gy.transpose(2, 3, 0, 1))
            tiles = tiles.transpose(1, 3, 0, 2, 4, 5)
        with profiler.part('transforms', device):
            # the adjoint of y = A^T M A is dM = A gy A^T: the transposed coefficients
            cols = _combine(xp, T['AT'].T, [tiles[:, j] for j in range(m)], xp.empty((a, m, th, tw, S, fo), gy.dtype))
            dm = _combine(xp, T['AT'].T, [cols[:, i] for i in range(m)], xp.empty((a, a, th, tw, S, fo), gy.dtype))
        return WinogradContext(saved.v, saved.u, dm)

    def backward_input(self, ctx, g):
        if ctx.compiled:
            return self._backward_input_compiled(ctx, g)
        xp = get_array_module(ctx.dm)
        device = device_of(ctx.dm)
        m, T, a, (th, tw, hp, wp) = self._matrices(g, ctx.dm.dtype)
        S, f = g.batch, g.in_channels
        dv = self._product(xp, ctx.dm.reshape(a * a, -1, g.out_channels), ctx.u.reshape(a * a, f, -1),
                           transpose_b=True).reshape(a, a, th, tw, S, f)
        with profiler.part('transforms', device):
            # adjoint of V = B^T d B: d = B dV B^T, then every tile adds into its place
            cols = _combine(xp, T['BT'].T, [dv[:, j] for j in range(a)], xp.empty((a, a, th, tw, S, f), dv.dtype))
            d = _combine(xp, T['BT'].T, [cols[:, i] for i in range(a)], xp.empty((a, a, th, tw, S, f), dv.dtype))
            gxpad = xp.zeros((hp, wp, S, f), dv.dtype)
            for r in range(a):
                for q in range(a):   # pixel (r, q) of every tile
                    gxpad[r:r + m * th:m, q:q + m * tw:m] += d[r, q]
        with profiler.part('copies', device):
            gx = xp.empty((S, f, g.height, g.width), dv.dtype)
            _copy(xp, gx, gxpad[g.pad_h:g.pad_h + g.height, g.pad_w:g.pad_w + g.width].transpose(2, 3, 0, 1))
            return gx

    def backward_weight(self, ctx, g):
        xp = get_array_module(ctx.v)
        device = device_of(ctx.v)
        m, T, a, _ = self._matrices(g, ctx.v.dtype, ctx.compiled)
        if ctx.compiled:
            du = ctx.du if ctx.du is not None else self._backward_compiled(ctx, g, input_gradient=False)[1]
        else:
            du = self._product(xp, ctx.v.reshape(a * a, -1, g.in_channels), ctx.dm.reshape(a * a, -1, g.out_channels),
                               transpose_a=True)
        with profiler.part('transforms', device):
            # gw = G^T dU G for every channel pair: one GEMM, (G kron G)^T (9, a*a) @ dU (a*a, f*f')
            gw = matmul2d(xp.asarray(T['GG']).T, du.reshape(a * a, -1))
        return xp.ascontiguousarray(gw.reshape(g.kernel_h, g.kernel_w, g.in_channels, g.out_channels).transpose(3, 2, 0, 1))


    # The compiled path (kernels/winograd.c): V, M, dM, dV as (a*a, channels, P), P = S * th * tw.
    # Forward and backward run chunks of samples start to end (transform, GEMMs, transform), so M,
    # dM and dV stay in cache; V (kept from forward for accGrad) is the one whole array.

    def _forward_compiled(self, x, w, g):
        m, T, a, (th, tw, _, _) = self._matrices(g, x.dtype, compiled=True)
        S, f, fo, n, r = g.batch, g.in_channels, g.out_channels, th * tw, g.kernel_h
        P, nb = S * n, _band(tw)
        x = numpy.ascontiguousarray(x)
        with profiler.part('transforms', 'cpu'):
            u = _kernel_transform(numpy, w, T['GG'])
        ut = u.reshape(a * a, f, fo).swapaxes(1, 2)
        v, y = numpy.empty((a * a, f, P), x.dtype), numpy.empty(g.output_shape, x.dtype)
        transform_in, transform_out = _kernel('input', x.dtype), _kernel('output', x.dtype)
        scratch = _scratch(m, g.kernel_h, th, tw)[0]

        def run(c):
            s0, s1, _ = c.indices(S)
            buf, mm = numpy.empty(scratch, x.dtype), numpy.empty((a * a, fo, (s1 - s0) * n), x.dtype)
            _call(transform_in, x[s0:s1], v, buf, 0, (s1 - s0) * f, f, s1 - s0, s0, g.height, g.width,
                  g.pad_h, g.pad_w, m, r, th, tw, P, nb)
            numpy.matmul(ut, v[:, :, s0 * n:s1 * n], out=mm)     # M_xi = U_xi^T V_xi
            _call(transform_out, mm, y[s0:s1], buf, 0, (s1 - s0) * fo, fo, s1 - s0, g.out_h, g.out_w, m, r, th,
                  tw, (s1 - s0) * n, nb)
        with profiler.part('transforms and products', 'cpu'):
            _by_samples(run, S, a * a * n * (f + fo) * x.itemsize, n)
        return y, WinogradSaved(v, u, compiled=True)

    def _backward_setup_compiled(self, saved, gy, g):
        return WinogradContext(saved.v, saved.u, None, compiled=True, gy=numpy.ascontiguousarray(gy))

    def _backward_input_compiled(self, ctx, g):
        gx, ctx.du = self._backward_compiled(ctx, g, input_gradient=True)
        return gx

    def _backward_compiled(self, ctx, g, input_gradient):
        """(gx or None, dU) in one pass over chunks of samples: each chunk makes its dM from gy,
        and while dM is in cache takes dV = U dM through the input transform's adjoint into gx
        (with ``input_gradient``) and its share of dU = sum V dM^T, kept per chunk and summed in
        chunk order (the same bits whichever thread ran which chunk). dM never exists whole: made
        whole, it was written once and read twice from memory (9.4 MB at (32, 16, 32, 32, 3))."""
        m, T, a, (th, tw, _, _) = self._matrices(g, ctx.gy.dtype, compiled=True)
        S, f, fo, n, r = g.batch, g.in_channels, g.out_channels, th * tw, g.kernel_h
        nb, dtype = _band(tw), ctx.gy.dtype
        u = ctx.u.reshape(a * a, f, fo)
        gx = numpy.empty((S, f, g.height, g.width), dtype) if input_gradient else None
        dm_kernel, dx_kernel = _kernel('dm', dtype), _kernel('dx', dtype)
        scratch = _scratch(m, g.kernel_h, th, tw)
        scratch = max(scratch[1:]) if input_gradient else scratch[1]
        parts = {}

        def run(c):
            s0, s1, _ = c.indices(S)
            ns, buf = s1 - s0, numpy.empty(scratch, dtype)
            dm = numpy.empty((a * a, fo, ns * n), dtype)
            _call(dm_kernel, ctx.gy[s0:s1], dm, buf, 0, ns * fo, fo, ns, g.out_h, g.out_w, m, r, th, tw, ns * n, nb)
            if input_gradient:
                dv = numpy.empty((a * a, f, ns * n), dtype)
                numpy.matmul(u, dm, out=dv)     # dV_xi = U_xi dM_xi
                _call(dx_kernel, dv, gx[s0:s1], buf, 0, ns * f, f, ns, 0, g.height, g.width, g.pad_h, g.pad_w,
                      m, r, th, tw, ns * n, nb)
            # dU_xi = V_xi dM_xi^T over this chunk's tiles
            parts[s0] = numpy.matmul(ctx.v[:, :, s0 * n:s1 * n], dm.swapaxes(1, 2))
        per_sample = a * a * n * (f + fo if input_gradient else fo) * dtype.itemsize
        with profiler.part('transforms and products', 'cpu'):
            _by_samples(run, S, per_sample, n)
        du = parts.pop(0)
        for s0 in sorted(parts):
            du += parts[s0]
        return gx, du


def _kernel_transform(xp, w, GG):
    """U (a, a, f, f') = G w G^T for every channel pair of w (f', f, r, r): one GEMM,
    (G kron G) (a*a, r*r) @ w as (r*r, f*f'), which writes U in the layout the products read."""
    fo, f, r = w.shape[:3]
    taps = xp.ascontiguousarray(w.transpose(2, 3, 1, 0)).reshape(r * r, f * fo)
    a = int(round(GG.shape[0] ** 0.5))
    return matmul2d(GG, taps).reshape(a, a, f, fo)
