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

Spectra are stored bins-first on the CPU (so the product is one BLAS batched matmul with no
transposes: the transpose rides on the copy scipy makes to pad) and bins-last on the GPU (so the
RawKernel's loads coalesce). Only the three helpers of _Spectra know which.

cuFFT plans: every transform goes through _Spectra._transform, which records its (function,
shape, strides, dtype, arguments) key and grows CuPy's plan cache to hold them all, so after the
first step a whole network's plans stay resident and none is rebuilt (CuPy's default cache keeps
only 16, fewer than two layers need: up to 9 per layer).
"""
import numpy

from .. import backend
from .polyphase import Polyphase, phase_geometry
from .spectral import spectral_product


def transform_size(n, k, p, fft_module):
    """Smallest fast N (the device FFT's next_fast_len) with no wrap-around for input n, kernel k,
    padding p (see above)."""
    return fft_module.next_fast_len(max(n + p, n + 2 * p - k + 1, k), real=True)


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


PLAN_KEYS = set()  # every distinct transform asked for in this process: one cuFFT plan each


def spectral_bytes(g, itemsize, fft_module):
    """(kept, peak): bytes of spectra kept from forward to backward (X, conj W), and the most the
    algorithm holds at once in backward (those, conj dY, a product and its half-inverted copy)."""
    if g.strided:  # FFTConvolution runs strided layers on their phases
        g = phase_geometry(g)
    n0, n1 = FFTConvolution.transform_shape(g, fft_module)
    per_spectrum = n0 * (n1 // 2 + 1) * 2 * itemsize
    S, f, fo, fg = g.batch, g.in_channels, g.out_channels, g.group_in
    kept = (S * f + fo * fg) * per_spectrum
    largest_product = max(S * fo, S * f, fo * fg) * per_spectrum
    return kept, kept + S * fo * per_spectrum + 2 * largest_product


def _bins_first(nd):
    """Axes that move the last two (the bins) of an nd-axis array to the front, and back."""
    return (nd - 2, nd - 1) + tuple(range(nd - 2)), tuple(range(2, nd)) + (0, 1)


class _Spectra:
    """Forward and inverse 2-D real transforms over the last two logical axes of (..., H, W)."""

    def __init__(self, like):
        self.xp = backend.get_array_module(like)
        self.fft = backend.fft_module(like)
        self.options = backend.fft_options(like)
        self.bins_first = self.xp is numpy  # BLAS wants bins outermost; the GPU kernel innermost

    def _transform(self, name, a, **kwargs):
        key = (name, a.shape, a.strides, a.dtype.str, tuple(sorted(kwargs.items())))
        if key not in PLAN_KEYS:
            PLAN_KEYS.add(key)
            backend.reserve_fft_plans(len(PLAN_KEYS))
        return getattr(self.fft, name)(a, **kwargs, **self.options)

    def rfft2(self, a, s):
        """Spectrum (..., N0, N1//2+1) of real a (..., H, W) zero-padded to s at offset 0."""
        if self.bins_first:
            to, back = _bins_first(a.ndim)
            return self._transform('rfft2', a.transpose(to), s=tuple(s), axes=(0, 1)).transpose(back)
        return self._transform('rfft2', a, s=tuple(s), axes=(-2, -1))

    def rfft2_reversed(self, a, s, step):
        """Spectrum of a dilated by ``step`` and time-reversed (a[i] placed at -i*step mod N):
        equal to conj(rfft2(dilated a))."""
        *lead, h, w = a.shape
        if self.bins_first:
            to, back = _bins_first(a.ndim)
            buffer = self.xp.zeros(tuple(s) + tuple(lead), a.dtype)
            view = buffer.transpose(back)         # logical (..., N0, N1) over bins-first memory
        else:
            buffer = view = self.xp.zeros(tuple(lead) + tuple(s), a.dtype)
        for src_r, dst_r in progression_runs(0, -step[0], h, s[0]):
            for src_c, dst_c in progression_runs(0, -step[1], w, s[1]):
                view[..., dst_r, dst_c] = a[..., src_r, src_c]
        if self.bins_first:
            return self._transform('rfft2', buffer, axes=(0, 1)).transpose(back)
        return self._transform('rfft2', buffer, axes=(-2, -1))

    def irfft2_gather(self, spectrum, s, rows, cols):
        """irfft2(spectrum, s) read at rows x cols, contiguous (..., rows.count, cols.count).

        ``rows`` and ``cols`` are (start, step, count) progressions mod N. Inverts in two stages,
        H then W, so the second (real) stage runs only on the rows that are kept.
        """
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


def _grouped(spectrum, groups):
    """(A, B, ...) -> (groups, A, B // groups, ...): channel axis 1 split into groups (a view)."""
    A, B = spectrum.shape[:2]
    return spectrum.reshape((A, groups, B // groups) + spectrum.shape[2:]).swapaxes(0, 1)


class FFTConvolution:
    """algo='fft': x and w transformed once in forward, gy once in backward.

    Strided layers go through their polyphase decomposition (polyphase.py) and never compute the
    stride-1 output; ``polyphase=False`` keeps the stride-1-then-subsample path, for comparison.
    Channel groups split the channel axes of the spectra (views, no copies); the per-frequency
    product then runs batched over groups.
    """

    name = 'fft'

    def __init__(self, polyphase=True):
        self.polyphase = Polyphase(self) if polyphase else None

    def _strided(self, g):
        return self.polyphase is not None and g.strided

    @staticmethod
    def transform_shape(g, fft_module):
        return (transform_size(g.height, g.kernel_h, g.pad_h, fft_module),
                transform_size(g.width, g.kernel_w, g.pad_w, fft_module))

    def forward(self, x, w, g):
        if self._strided(g):
            return self.polyphase.forward(x, w, g)
        sp = _Spectra(x)
        s = self.transform_shape(g, sp.fft)
        X = _grouped(sp.rfft2(x, s), g.groups)                     # (G, S, f/G, N0, N1//2+1)
        # conj(W): (G, f'/G, f/G, N0, N1//2+1)
        Wc = _grouped(sp.rfft2_reversed(w, s, (1, 1)).swapaxes(0, 1), g.groups).swapaxes(1, 2)
        Y = spectral_product(X, Wc)                                 # (G, S, f'/G, ...)
        rows = (-g.pad_h, g.stride_h, g.out_h)                      # y[i] = corr[i*s - p]
        cols = (-g.pad_w, g.stride_w, g.out_w)
        y = sp.irfft2_gather(Y.swapaxes(0, 1), s, rows, cols)      # (S, G, f'/G, oh, ow)
        return y.reshape(g.output_shape), (sp, s, X, Wc)

    def backward_setup(self, saved, gy, g):
        if self._strided(g):
            return self.polyphase.backward_setup(saved, gy, g)
        sp, s, X, Wc = saved
        D = _grouped(sp.rfft2_reversed(gy, s, (g.stride_h, g.stride_w)), g.groups)  # conj(dY): (G, S, f'/G, ...)
        return sp, s, X, Wc, D

    def backward_input(self, ctx, g):
        if self._strided(g):
            return self.polyphase.backward_input(ctx, g)
        sp, s, _, Wc, D = ctx
        conj_dX = spectral_product(D, Wc.swapaxes(1, 2))           # (G, S, f/G, ...)
        rows = (-g.pad_h, -1, g.height)                            # dx[u] = conv[-(u + p)]: reversed
        cols = (-g.pad_w, -1, g.width)
        gx = sp.irfft2_gather(conj_dX.swapaxes(0, 1), s, rows, cols)
        return gx.reshape(g.batch, g.in_channels, g.height, g.width)

    def backward_weight(self, ctx, g):
        if self._strided(g):
            return self.polyphase.backward_weight(ctx, g)
        sp, s, X, _, D = ctx
        dW = spectral_product(D.swapaxes(1, 2), X.swapaxes(1, 2))  # (G, f'/G, f/G, ...)
        rows = (-g.pad_h, 1, g.kernel_h)                            # dw[a] = corr[a - p]
        cols = (-g.pad_w, 1, g.kernel_w)
        gw = sp.irfft2_gather(dW, s, rows, cols)
        return gw.reshape(g.out_channels, g.group_in, g.kernel_h, g.kernel_w)
