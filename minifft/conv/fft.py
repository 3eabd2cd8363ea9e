"""Convolution through FFTs (Mathieu, Henaff & LeCun 2014): three passes, each a per-frequency
complex matrix product summed over one channel axis, with every spectrum computed once.

With X, W, dY the 2-D real FFTs of x, w, gy at size N:

    fprop    Y  = sum_c X * conj(W)      bprop   dX = sum_o dY * W      accGrad  dW = sum_s conj(dY) * X

Two choices keep copies and conjugations off the hot path:

* Conjugates come for free. conj(FFT(a)) is the FFT of a time-reversed, a[-t mod N]. The kernel and
  the output gradient are copied into a zero buffer anyway (padding, stride dilation), so we write
  them there reversed and get conj(W) and D = conj(dY) directly. Then fprop is X.conj(W),
  accGrad is D.X, and bprop is D.conj(W) = conj(dX), whose inverse is dx reversed: the reversal is
  folded into the strided read that crops the output. No conjugate is ever computed elementwise.

* Padding never materialises a padded input (at stride 1; a strided layer pads while it splits
  into phases, see polyphase.py). Every signal sits at offset 0 of its transform; the padding p
  only shifts where results are read: y[i] = corr(x, w)[i*s - p], dx[u] = conv(g0, w)[u + p],
  dw[a] = corr(x, g0)[a - p] (indices mod N, g0 = gy dilated by s). Reading them back stays
  alias-free for N >= max(n + p, n + 2p - k + 1, k) per axis, which is at most the padded size
  n + 2p; N is the next size from there that the device's FFT runs fast (its next_fast_len:
  2-3-5-smooth for scipy's real transforms, 2-3-5-7 for cuFFT), never a power-of-two rounding.

Spectra are stored in the layout the per-frequency product backend wants (spectral.py): bins-first
for the CPU's ``host`` product (kernels/cproduct.c, reading each bin's matrices in place) and for
``matmul`` (BLAS / cuBLAS: one batched matmul with no transposes; the CPU's fallback where the C
kernels are off), the transpose riding on the copy the FFT makes to pad; bins-last for the GPU
``rawkernel`` (its loads coalesce). Only _Spectra knows which, and it guarantees that layout whatever the input's memory
order (C, F, non-contiguous) and whatever order the FFT library returns.

On the CPU with the C kernels (setting ``cpu_kernels``), every transform at a size
kernels/fft.c serves (2-3-5-smooth, 2..256: all that next_fast_len gives there) runs in it: a
batch of 2-D real FFTs vectorised across the leading axes (16 float32 or 8 float64 signals per
butterfly), whose loads and stores do what the NumPy path does in copies: the zero padding, the
reversed and dilated placement of a kernel or output gradient, the bins-first layout, and for the
inverse the strided, possibly reversed crop, read from the product's output in its memory order
and written straight into the logical result. Rows without data are never transformed in the
first (real) stage, and the inverse's second stage runs on the kept rows only. Small kernels'
spectra then run there too, not as DFT-matrix GEMMs. The threads of the CPU pool take blocks of
leading items (ctypes releases the GIL). Float32 error stays at pocketfft's level
(tests/kernels/test_fft_kernel.py). Measured per training step (interleaved in one process, on
a shared, loaded machine: indicative), with the C kernels against the path below: 0.47-0.66x at
(32,16,32,32,9), 0.57-0.69x at (32,32,32,64,11), 0.55-0.63x at (32,16,32,32,5), 0.41-0.70x on the
paper's layer 2 (16,96,256,32,7), 0.42-0.61x on the default network's 5x5 layers (N = 36, 18).

Otherwise on the CPU (pocketfft, bins-first) every 2-D transform runs as two 1-D stages whose
costs we control: forward, the real stage along W, then the complex stage along H in place (pocketfft's
rfft2 allocates a second output for it); the reversed kernel and output gradient run their real
stage on the rows that hold data only, when those are at most half the transform's rows (pruned
transforms). Inverse, the complex stage along H overwrites the product's output (used once), and
the real stage runs on the kept rows only, with the leading axes iterated fastest so that the
lines pocketfft reads together are adjacent in memory. A product may store the leading axes in
another order than their logical one (spectral.MatmulProduct's transposed GEMM); the inverse reads
them in memory order.

cuFFT plans: every transform goes through _Spectra._transform, which records its (function,
shape, strides, dtype, arguments) key and grows CuPy's plan cache to hold them all, so after the
first step a whole network's plans stay resident and none is rebuilt (CuPy's default cache keeps
only 16, fewer than two layers need: up to 9 per layer).
"""
import ctypes
import dataclasses
import functools
import math

import numpy

import scipy.fft

from .. import backend
from ..kernels import host
from . import profiler
from .base import DEVICES, PASSES, ConvAlgorithm, OpCount, Workspace
from .geometry import ceil_div
from .spectral import DEFAULT_PRODUCT, PRODUCTS, matmul2d, split_on_pool


def transform_size(n, k, p, fft_module):
    """Smallest fast N (the device FFT's next_fast_len) with no wrap-around for input n, kernel k,
    padding p (see above)."""
    return fft_module.next_fast_len(max(n + p, n + 2 * p - k + 1, k), real=True)


def transform_shape(g, fft_module):
    return (transform_size(g.height, g.kernel_h, g.pad_h, fft_module),
            transform_size(g.width, g.kernel_w, g.pad_w, fft_module))


def rfft2_flops(n0, n1):
    """Operations of one real 2-D FFT of n0 x n1: half of the complex 5 N log2 N."""
    return 2.5 * n0 * n1 * math.log2(n0 * n1)


def fft_module_for(device):
    """The FFT module whose sizes a layer on ``device`` uses (scipy's where CuPy is absent)."""
    return backend.cupy_fft if device == 'cuda' and backend.cupy_fft is not None else scipy.fft


def progression_runs(start, step, count, n):
    """Split the positions (start + i*step) mod n, i < count, into runs that are plain slices.

    Yields (slice over i, slice over positions). Every index set the algorithm reads or writes
    is such a progression (offset -p, stride s, reversal -1), so fancy indexing, which NumPy
    runs far slower than slice copies, is never needed: there are at most a few runs.
    """
    i = 0
    while i < count:
        pos = (start + i * step) % n
        room = (n - 1 - pos) // step + 1 if step > 0 else pos // -step + 1
        length = min(count - i, room)
        stop = pos + step * length
        yield slice(i, i + length), slice(pos, stop if stop >= 0 else None, step)
        i += length


# Where kernels/fft.c serves (C kernels on, 2-3-5-smooth sizes) it runs these transforms instead: 5x5
# kernels at N=32 (32x16 of them) and N=16 (384x384, 256x96) took 0.6-0.75x the GEMM's time, both
# directions, 3x3 ones about the same (interleaved, shared machine).
# A small signal's spectrum (or a few positions of an inverse) is a dense DFT matrix times the
# signals: one CGEMM over all kernels at once instead of a padded copy and two FFT stages. On the
# CPU that pays while the matrix product costs at most this many times an FFT's operation count
# (BLAS runs ~10x faster than pocketfft on these sizes): 5x5 and 3x3 kernels at N=16 or 32, not
# 7x7 at 32 (ratio 8.3, about even when measured) nor larger. Kernel spectra of paper layers 4 and
# 5 at S=16: 168 -> 81 ms; whole training steps 761 -> 418 and 566 -> 322 ms (layer 3: 442 -> 282).
DFT_GEMM_MAX_RATIO = 8


def _dft_by_gemm(device, points, s):
    """Whether a 2-D transform at s touching ``points`` signal positions runs as a DFT-matrix GEMM."""
    bins = s[0] * (s[1] // 2 + 1)
    return device == 'cpu' and 8 * points * bins <= DFT_GEMM_MAX_RATIO * rfft2_flops(*s)


@functools.lru_cache(maxsize=64)
def _dft_matrix(s, rows, cols, sign, dtype):
    """DFT matrices over signal positions (r, c) and half-spectrum bins (u, v), float64 maths cast to
    ``dtype``. sign=+1, the forward rfft2 of signals with taps at those positions:
    (bins, R*C) = exp(-2 pi i (u r / N0 + v c / N1)). sign=-1, irfft2 read at those positions:
    (R*C, bins) = exp(+2 pi i (...)) / (N0 N1), doubled for the bins whose conjugate partner the
    half spectrum leaves out (the real part of the product is the inverse)."""
    n0, n1 = s
    u, v = numpy.arange(n0), numpy.arange(n1 // 2 + 1)
    e0 = numpy.exp(2j * numpy.pi * numpy.outer(rows, u) / n0)          # (R, N0)
    e1 = numpy.exp(2j * numpy.pi * numpy.outer(cols, v) / n1)          # (C, N1h)
    m = numpy.einsum('ru,cv->rcuv', e0, e1).reshape(len(rows) * len(cols), -1)
    if sign < 0:
        weight = numpy.full(n1 // 2 + 1, 2.0)
        weight[0] = 1.0
        if n1 % 2 == 0:
            weight[-1] = 1.0
        return (m * numpy.tile(weight, n0) / (n0 * n1)).astype(dtype)
    return numpy.ascontiguousarray(m.conj().T).astype(dtype)


# The reversed kernel or gradient's first (real) stage runs on its data rows only when they are at
# most this share of the transform's rows (see _Spectra.rfft2_reversed). Measured per call
# (interleaved): 7, 9, 11 rows of 32-64 ran 1.4-1.6x faster pruned; 54 of 64 and 26 of 32 ran
# 1.05-1.09x slower (the spectrum's copy), 24 of 32 level.
PRUNE_MAX_SHARE = 0.5

PLAN_KEYS = set()  # every distinct transform asked for in this process: one cuFFT plan each


def spectral_bytes(g, itemsize, device='cpu'):
    """Workspace of the FFT algorithm for layer ``g`` (stride handled natively, not by phases).

    Accounting, in spectra of one (channel, image) pair, ``per`` bytes each (N0 x (N1/2+1) complex):

    * kept from forward to backward: X (S*f) and conj W (f'*f/G);
    * backward holds besides: conj dY (S*f'), one product (the largest of the three passes'
      outputs: S*f', S*f, f'*f/G) and its first-stage inverse (ifft over H, same size);
    * on the GPU CuPy adds, at that moment: the contiguous swap-axes copy cupyx makes to run ifft
      along a non-last axis, the copy irfft makes of its input (cuFFT's C2R overwrites it), and a
      cuFFT work area of about one transform's size (all three: ``largest`` each);
    * forward, on the GPU: the zero-padded real copy rfft2 makes of x when transforming at s=
      (S*f real N0 x N1 images), beside X, conj W, Y and its first-stage inverse and work area;
    * on the CPU where kernels/fft.c serves: no first-stage inverse (the kernel reads the
      product and writes the cropped result), but each pool thread's scratch while it runs
      (the real stage's n0 x (n1/2+1) complex vectors of 64 bytes and six FFT buffers).

    ``peak`` is the larger of the forward and backward totals; ``terms`` lists the backward's
    parts, and the forward's padded copy (for reports and tests).
    """
    n0, n1 = transform_shape(g, fft_module_for(device))
    per = n0 * (n1 // 2 + 1) * 2 * itemsize
    S, f, fo, fg = g.batch, g.in_channels, g.out_channels, g.group_in
    kept = (S * f + fo * fg) * per
    largest = max(S * fo, S * f, fo * fg) * per
    terms = {'kept spectra (X, conj W)': kept, 'conj dY': S * fo * per, 'product': largest,
             'first-stage inverse': largest}
    forward = kept + 2 * S * fo * per
    if device == 'cpu' and c_fft_serves((n0, n1)) and host.serves('fft', device, itemsize):
        del terms['first-stage inverse']
        terms['kernel scratch'] = backend.cpu_workers() * (2 * n0 * (n1 // 2 + 1) + 6 * max(n0, n1)) * C_LANES
        forward = kept + S * fo * per + terms['kernel scratch']
    if device == 'cuda':
        terms.update({'ifft swap-axes copy': largest, 'irfft input copy': largest, 'cuFFT work area': largest})
        padded = S * f * n0 * n1 * itemsize
        terms['rfft2 padded input copy (forward)'] = padded
        forward += padded + S * fo * per
    backward = sum(v for k, v in terms.items() if not k.endswith('(forward)'))
    return Workspace(kept, max(forward, backward), terms)


# kernels/fft.c: transform sizes 2^a 3^b 5^c in this range (its scratch, n0 x (n1/2+1) vectors
# of 64 bytes for the real stage's output, stays within L2 up to 64 and a few MiB at 256)
C_FFT_SIZES = (2, 256)
C_LANES = 64          # bytes of signals one vector of the kernel holds: 16 floats, 8 doubles
C_MIN_WORK = 1 << 16  # points (signals x transform size) below which one thread does it all


def _smooth(n):
    for r in (2, 3, 5):
        while n % r == 0:
            n //= r
    return n == 1


def c_fft_serves(s):
    """Whether kernels/fft.c runs transforms of shape ``s`` (2-3-5-smooth per axis, in range)."""
    return all(C_FFT_SIZES[0] <= n <= C_FFT_SIZES[1] and _smooth(n) for n in s)


@functools.lru_cache(maxsize=32)
def c_twiddles(n, dtype):
    """exp(-2 pi i t / n), t < n, computed in double, as [cos | -sin] in ``dtype`` (kernels/fft.c)."""
    t = 2 * numpy.pi * numpy.arange(n) / n
    return numpy.concatenate([numpy.cos(t), -numpy.sin(t)]).astype(dtype)


def _element_offsets(shape, strides):
    """Element offsets of every index of ``shape`` (C order) under element ``strides``, flat."""
    off = numpy.zeros((), numpy.intp)
    for n, step in zip(shape, strides):
        off = off[..., None] + numpy.arange(n, dtype=numpy.intp) * step
    return off.reshape(-1)


_P, _N = ctypes.c_void_p, ctypes.c_ssize_t
_RFFT2_ARGS = (_P, _P, _N, _N, _N, _N, _N, _N, _N, _N, _N, _N, _N, _N, _P, _P, _P, _N)
_IRFFT2_ARGS = (_P, _N, _N, _N, _N, _N, _N, _N, _N, _N, _N, _N, _P, _P, _P, _P)


def _on_pool(call, count, itemsize, points):
    """``call(l0, l1)`` over the lead items [0, count) in whole vectors of the kernel, split across
    the CPU thread pool when the work pays the hand-off (ctypes releases the GIL)."""
    lanes = C_LANES // itemsize
    blocks = ceil_div(count, lanes)
    split_on_pool(lambda c: call(c.start * lanes, min(count, c.stop * lanes)), blocks,
                  count * points >= C_MIN_WORK, per_thread=2)


def c_rfft2(lib, kind, a, s, rows=(0, 1), cols=(0, 1), out=None):
    """kernels/fft.c's forward transform: a (..., h, w) real, any strides, with a[..., i, j] placed
    at ((rows[0] + i rows[1]) mod N0, (cols[0] + j cols[1]) mod N1) of a zero N0 x N1 signal ->
    its rfft2 in bins-first memory, (N0, N1//2+1, ...) C-contiguous (written into ``out`` if given)."""
    *lead, h, w = a.shape
    n0, n1 = s
    if out is None:
        out = numpy.empty((n0, n1 // 2 + 1) + tuple(lead), numpy.result_type(a.dtype, numpy.complex64))
    steps = [step // a.itemsize for step in a.strides]
    off = _element_offsets(lead, steps[:-2])
    run = host.function(lib, f'fft_rfft2_{kind}', *_RFFT2_ARGS)
    tw0, tw1 = c_twiddles(n0, a.dtype), c_twiddles(n1, a.dtype)
    _on_pool(lambda l0, l1: run(host.address(a), host.pointer(off), l0, l1, h, w, steps[-2], steps[-1], rows[0],
                                rows[1], cols[0], cols[1], n0, n1, host.pointer(tw0), host.pointer(tw1),
                                host.address(out), off.size),
             off.size, a.itemsize, n0 * n1)
    return out


def c_irfft2_gather(lib, kind, t, s, rows, cols, out):
    """kernels/fft.c's inverse: t (N0, N1//2+1, L...) complex, C-contiguous (bins first) ->
    irfft2(t, s) read at the progressions rows x cols ((start, step, count) mod N), written to
    ``out`` (L..., rows.count, cols.count) real, whose leading axes may have any strides."""
    n0, n1 = s
    count = t[0, 0].size
    steps = [step // out.itemsize for step in out.strides]
    off = _element_offsets(out.shape[:-2], steps[:-2])
    run = host.function(lib, f'fft_irfft2_{kind}', *_IRFFT2_ARGS)
    tw0, tw1 = c_twiddles(n0, out.dtype), c_twiddles(n1, out.dtype)
    _on_pool(lambda l0, l1: run(host.pointer(t), count, l0, l1, n0, n1, *rows, *cols, host.pointer(tw0),
                                host.pointer(tw1), host.address(out), host.pointer(off)),
             count, out.itemsize, n0 * n1)
    return out


def _bins_first(nd):
    """Axes that move the last two (the bins) of an nd-axis array to the front, and back."""
    return (nd - 2, nd - 1) + tuple(range(nd - 2)), tuple(range(2, nd)) + (0, 1)


class _Spectra:
    """Forward and inverse 2-D real transforms over the last two logical axes of (..., H, W).

    Every spectrum it returns has the memory layout ``bins_first`` asks for: C-contiguous over
    (N0, N1//2+1, ...) when bins-first, over (..., N0, N1//2+1) when bins-last.
    """

    def __init__(self, like, bins_first):
        self.xp = backend.get_array_module(like)
        self.fft = backend.fft_module(like)
        self.options = backend.fft_options(like)
        self.device = backend.device_of(like)
        self.bins_first = bins_first
        # On the CPU a 2-D transform runs as two 1-D stages, the complex one in place: pocketfft's
        # own rfft2 allocates a second output for it (1.2-2.3x slower, interleaved timings).
        self.staged = bins_first and self.device == 'cpu'

    def _transform(self, name, a, **kwargs):
        key = (name, a.shape, a.strides, a.dtype.str, tuple(sorted(kwargs.items())))
        if key not in PLAN_KEYS:
            PLAN_KEYS.add(key)
            backend.reserve_fft_plans(len(PLAN_KEYS))
        with profiler.part('transforms', self.device):
            return getattr(self.fft, name)(a, **kwargs, **self.options)

    def _matrix(self, s, rows, cols, sign, dtype):
        """The DFT matrix of _dft_matrix for ``dtype``'s complex type, on this device."""
        cdtype = numpy.result_type(dtype, numpy.complex64).str
        return self.xp.asarray(_dft_matrix(tuple(s), rows, cols, sign, cdtype))

    def _spectrum(self, a, s=None):
        """rfft2 of ``a`` (zero-padded to ``s`` at offset 0) over the axes its layout puts the bins
        on, as the layout promises: the FFT library may return another order (CuPy keeps an
        F-ordered input's order)."""
        kwargs = {} if s is None else {'s': tuple(s)}
        if self.staged:
            to, back = _bins_first(a.ndim)
            t = a.transpose(to)
            half = self._transform('rfft', t, axis=1, n=t.shape[1] if s is None else s[1])
            return self._rows(half, t.shape[0] if s is None else s[0]).transpose(back)
        if self.bins_first:
            to, back = _bins_first(a.ndim)
            out = self._transform('rfft2', a.transpose(to), axes=(0, 1), **kwargs)
            return self.xp.ascontiguousarray(out).transpose(back)
        return self.xp.ascontiguousarray(self._transform('rfft2', a, axes=(-2, -1), **kwargs))

    def _rows(self, half, n0):
        """The second (complex, along axis 0) stage of a staged bins-first rfft2, in place on ``half``
        (ours to overwrite: the first stage's output), zero-padded to n0 rows at the end."""
        out = self._transform('fft', half, axis=0, n=n0, overwrite_x=True)
        return self.xp.ascontiguousarray(out)

    def _kernel(self, a, s, h=0, w=0):
        """(library, suffix) of kernels/fft.c for transforms at ``s`` of real ``a`` with h x w
        signals, or (None, None) where the FFT library runs (see c_fft_serves)."""
        if (not self.staged or not c_fft_serves(s) or a.size == 0 or h > s[0] or w > s[1]
                or any(step % a.itemsize for step in a.strides)):
            return None, None
        return host.library_for('fft', a)

    def rfft2(self, a, s):
        """Spectrum (..., N0, N1//2+1) of real a (..., H, W) zero-padded to s at offset 0."""
        lib, kind = self._kernel(a, s, *a.shape[-2:])
        if lib is not None:
            with profiler.part('transforms', self.device):
                return c_rfft2(lib, kind, a, s).transpose(_bins_first(a.ndim)[1])
        return self._spectrum(a, s)

    def rfft2_reversed(self, a, s, step):
        """Spectrum of a dilated by ``step`` and time-reversed (a[i] placed at -i*step mod N):
        equal to conj(rfft2(dilated a))."""
        *lead, h, w = a.shape
        lib, kind = self._kernel(a, s, h, w)
        if lib is not None:
            with profiler.part('transforms', self.device):
                out = c_rfft2(lib, kind, a, s, (0, -step[0]), (0, -step[1]))
            return out.transpose(_bins_first(a.ndim)[1])
        if self.bins_first and _dft_by_gemm(self.device, h * w, s):
            k = self._matrix(s, tuple(-i * step[0] for i in range(h)), tuple(-j * step[1] for j in range(w)),
                             1, a.dtype)
            cols = self.xp.ascontiguousarray(a.reshape(-1, h * w).T).astype(k.dtype)
            with profiler.part('transforms', self.device):
                out = matmul2d(k, cols)                                       # (bins, lead)
            return out.reshape(tuple(s[:1]) + (s[1] // 2 + 1,) + tuple(lead)).transpose(_bins_first(a.ndim)[1])
        col_runs = list(progression_runs(0, -step[1], w, s[1]))
        row_runs = list(progression_runs(0, -step[0], h, s[0]))
        if self.staged:
            # Pruned when the data is at most PRUNE_MAX_SHARE of the rows: the first stage runs on
            # the h rows that hold data, not on all N0; its rows then go to their reversed places in
            # a zero spectrum for the second stage. Otherwise that spectrum's copy costs more than
            # the first stage saves, and the rows are placed before it.
            to, back = _bins_first(a.ndim)
            pruned = h <= PRUNE_MAX_SHARE * s[0]
            view = self.xp.zeros((h if pruned else s[0], s[1]) + tuple(lead), a.dtype).transpose(back)
            for src_r, dst_r in [(slice(None), slice(None))] if pruned else row_runs:
                for src_c, dst_c in col_runs:
                    view[..., dst_r, dst_c] = a[..., src_r, src_c]
            full = self._transform('rfft', view.transpose(to), axis=1)         # (h or N0, N1//2+1, ...)
            if pruned:
                half, full = full, self.xp.zeros((s[0],) + full.shape[1:], full.dtype)
                for src_r, dst_r in row_runs:
                    full[dst_r] = half[src_r]
            return self._rows(full, s[0]).transpose(back)
        if self.bins_first:  # built in bins-first memory, so the transform reads it contiguously
            view = self.xp.zeros(tuple(s) + tuple(lead), a.dtype).transpose(_bins_first(a.ndim)[1])
        else:
            view = self.xp.zeros(tuple(lead) + tuple(s), a.dtype)
        for src_r, dst_r in row_runs:
            for src_c, dst_c in col_runs:
                view[..., dst_r, dst_c] = a[..., src_r, src_c]
        return self._spectrum(view)

    def irfft2_gather(self, spectrum, s, rows, cols):
        """irfft2(spectrum, s) read at rows x cols, contiguous (..., rows.count, cols.count).

        ``rows`` and ``cols`` are (start, step, count) progressions mod N. Inverts in two stages,
        H then W, so the second (real) stage runs only on the rows that are kept. Few positions
        (a kernel's gradient) are read as one GEMM with the inverse DFT matrix at those positions,
        except where kernels/fft.c serves (it ran faster than that GEMM).
        """
        if self.staged:
            t, order = _in_memory_order(spectrum)
            lib, kind = self._kernel(t.real, s)
            if lib is not None:
                out = self.xp.empty(spectrum.shape[:-2] + (rows[2], cols[2]), t.real.dtype)
                nd = spectrum.ndim
                with profiler.part('transforms', self.device):
                    c_irfft2_gather(lib, kind, self.xp.ascontiguousarray(t), s, rows, cols,
                                    out.transpose(tuple(order) + (nd - 2, nd - 1)))
                return out
        if self.bins_first and _dft_by_gemm(self.device, rows[2] * cols[2], s):
            at = [tuple((start + i * step) % n for i in range(count)) for (start, step, count), n in
                  zip((rows, cols), s)]
            m = self._matrix(s, at[0], at[1], -1, spectrum.dtype)
            t, order = _in_memory_order(spectrum)
            flat = t.reshape(m.shape[1], -1)                                    # (bins, lead): a view
            with profiler.part('transforms', self.device):
                out = matmul2d(m, flat).real                                  # (rows*cols, lead)
            out = out.reshape((rows[2], cols[2]) + t.shape[2:])
            return self.xp.ascontiguousarray(out.transpose(tuple(2 + order.index(i) for i in range(len(order))) + (0, 1)))
        if self.staged:
            return self._staged_gather(spectrum, s, rows, cols)
        if self.bins_first:
            to, back = _bins_first(spectrum.ndim)
            full = self._transform('ifft', spectrum.transpose(to), axis=0).transpose(back)
        else:
            full = self._transform('ifft', spectrum, axis=-2)
        row_runs = list(progression_runs(*rows, s[0]))
        if len(row_runs) == 1:
            half = full[..., row_runs[0][1], :]                        # a view: no copy
        else:
            half = self.xp.concatenate([full[..., dst, :] for _, dst in row_runs], axis=-2)
        real = self._transform('irfft', half, n=s[1], axis=-1)        # (..., rows, N1)
        out = self.xp.empty(real.shape[:-1] + (cols[2],), real.dtype)
        for dst, src in progression_runs(*cols, s[1]):
            out[..., dst] = real[..., src]
        return out

    def _staged_gather(self, spectrum, s, rows, cols):
        """irfft2_gather on the CPU, bins-first: the first stage (ifft over H) overwrites the
        spectrum (a product's output, used once); the second (irfft over W) runs on each run of
        kept rows as a view (no gathering copy of the complex rows), with the leading axes iterated
        fastest, so that the lines pocketfft reads together lie side by side (0.6x the time of the
        (..., rows, W) order, interleaved micro-timings at N=32, 64); the gather of the kept
        columns then moves the rows axis behind the leading ones, one row plane at a time (up to
        0.3x NumPy's own order for the whole copy on a loaded machine)."""
        t, order = _in_memory_order(spectrum)
        full = self._transform('ifft', t, axis=0, overwrite_x=True)    # (N0, N1h, ...)
        lead = tuple(range(2, spectrum.ndim))
        logical = (0,) + tuple(1 + order.index(i) for i in range(len(order))) + (len(order) + 1,)
        out = self.xp.empty(spectrum.shape[:-2] + (rows[2], cols[2]), full.real.dtype)
        for at, run in progression_runs(*rows, s[0]):
            real = self._transform('irfft', full[run].transpose((0,) + lead + (1,)), n=s[1], axis=-1)
            real = real.transpose(logical)                              # (rows of the run, ..., N1)
            for dst, src in progression_runs(*cols, s[1]):
                for k, i in enumerate(range(at.start, at.stop)):
                    out[..., i, dst] = real[k, ..., src]
        return out


def _in_memory_order(spectrum):
    """A bins-first view (N0, N1h, ...) of spectrum (..., N0, N1h) with its leading axes in memory
    order (a product may store them in another order than their logical one), and that order."""
    to, _ = _bins_first(spectrum.ndim)
    t = spectrum.transpose(to)
    order = sorted(range(spectrum.ndim - 2), key=lambda i: -t.strides[2 + i])
    return t.transpose((0, 1) + tuple(2 + i for i in order)), order


def _grouped(spectrum, groups):
    """(A, B, ...) -> (groups, A, B // groups, ...): channel axis 1 split into groups (a view)."""
    A, B = spectrum.shape[:2]
    return spectrum.reshape((A, groups, B // groups) + spectrum.shape[2:]).swapaxes(0, 1)


@dataclasses.dataclass
class FFTSaved:
    spectra: _Spectra
    s: tuple          # transform shape (N0, N1)
    X: object         # (G, S, f/G, *bins)
    Wc: object        # conj(W): (G, f'/G, f/G, *bins)


@dataclasses.dataclass
class FFTContext:
    spectra: _Spectra
    s: tuple
    X: object
    Wc: object
    D: object         # conj(dY): (G, S, f'/G, *bins)


class FFTConvolution(ConvAlgorithm):
    """algo='fft': x and w transformed once in forward, gy once in backward.

    ``product`` names the per-frequency product backend (spectral.PRODUCTS); None takes the
    device's default (kernels/cproduct.c on the CPU, BLAS matmul where the C kernels are off; the
    RawKernel on the GPU). Strides are handled natively by computing the stride-1 output and
    reading every s-th (the registered 'fft' wraps this in polyphase.Polyphase, which never
    computes it). Channel groups split the channel axes of the spectra (views, no copies); the
    product then runs batched over groups.
    """

    name = 'fft'

    def __init__(self, product=None, name=None, devices=None):
        if product is not None and product not in PRODUCTS:
            raise ValueError(f"FFTConvolution: unknown product {product!r}; expected one of {tuple(PRODUCTS)}")
        self.product = product
        self.name = name or self.name
        self.devices = tuple(devices) if devices else (PRODUCTS[product].devices if product else DEVICES)

    @staticmethod
    def transform_shape(g, fft_module):
        return transform_shape(g, fft_module)

    def product_for(self, device):
        return PRODUCTS[self.product or DEFAULT_PRODUCT[device]]

    def cost(self, g, device='cpu'):
        n0, n1 = transform_shape(g, fft_module_for(device))
        t = rfft2_flops(n0, n1)
        S, f, fo, fg = g.batch, g.in_channels, g.out_channels, g.group_in
        spectral = 8 * S * fg * fo * n0 * (n1 // 2 + 1)
        transforms = {'fprop': S * f + fg * fo + S * fo,         # x, w forward; y inverse
                      'bprop': S * fo + S * f,                   # gy forward (shared); dx inverse
                      'accGrad': fo * fg}                        # dw inverse (x and gy reused)
        return OpCount({p: {'fft': transforms[p] * t, 'spectral': spectral} for p in PASSES})

    def workspace(self, g, itemsize, device='cpu'):
        return spectral_bytes(g, itemsize, device)

    def _multiply(self, sp, a, b):
        with profiler.part('products', sp.device):
            return self.product_for(sp.device)(a, b)

    def forward(self, x, w, g):
        sp = _Spectra(x, self.product_for(backend.device_of(x)).bins_first)
        s = transform_shape(g, sp.fft)
        X = _grouped(sp.rfft2(x, s), g.groups)                     # (G, S, f/G, N0, N1//2+1)
        # conj(W): (G, f'/G, f/G, N0, N1//2+1)
        Wc = _grouped(sp.rfft2_reversed(w, s, (1, 1)).swapaxes(0, 1), g.groups).swapaxes(1, 2)
        Y = self._multiply(sp, X, Wc)                               # (G, S, f'/G, ...)
        rows = (-g.pad_h, g.stride_h, g.out_h)                      # y[i] = corr[i*s - p]
        cols = (-g.pad_w, g.stride_w, g.out_w)
        y = sp.irfft2_gather(Y.swapaxes(0, 1), s, rows, cols)      # (S, G, f'/G, oh, ow)
        return y.reshape(g.output_shape), FFTSaved(sp, s, X, Wc)

    def backward_setup(self, saved, gy, g):
        D = _grouped(saved.spectra.rfft2_reversed(gy, saved.s, (g.stride_h, g.stride_w)), g.groups)
        return FFTContext(saved.spectra, saved.s, saved.X, saved.Wc, D)

    def backward_input(self, ctx, g):
        conj_dX = self._multiply(ctx.spectra, ctx.D, ctx.Wc.swapaxes(1, 2))  # (G, S, f/G, ...)
        rows = (-g.pad_h, -1, g.height)                            # dx[u] = conv[-(u + p)]: reversed
        cols = (-g.pad_w, -1, g.width)
        gx = ctx.spectra.irfft2_gather(conj_dX.swapaxes(0, 1), ctx.s, rows, cols)
        return gx.reshape(g.batch, g.in_channels, g.height, g.width)

    def backward_weight(self, ctx, g):
        dW = self._multiply(ctx.spectra, ctx.D.swapaxes(1, 2), ctx.X.swapaxes(1, 2))  # (G, f'/G, f/G, ...)
        rows = (-g.pad_h, 1, g.kernel_h)                            # dw[a] = corr[a - p]
        cols = (-g.pad_w, 1, g.kernel_w)
        gw = ctx.spectra.irfft2_gather(dW, ctx.s, rows, cols)
        return gw.reshape(g.out_channels, g.group_in, g.kernel_h, g.kernel_w)
