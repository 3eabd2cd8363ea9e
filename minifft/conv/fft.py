"""Convolution through FFTs (Mathieu, Henaff & LeCun 2014): three passes, each a per-frequency
complex matrix product summed over one channel axis, with every spectrum computed once.

With X, W, dY the 2-D real FFTs of x, w, gy at size N:

    fprop    Y  = sum_c X * conj(W)      bprop   dX = sum_o dY * W      accGrad  dW = sum_s conj(dY) * X

Two choices keep copies and conjugations off the hot path:

* Conjugates come for free. conj(FFT(a)) is the FFT of a time-reversed, a[-t mod N]. The kernel and
  the output gradient are copied into a zero buffer anyway (padding, stride dilation), so we write
  them there reversed and get conj(W) and D = conj(dY) directly. Then fprop is X.conj(W),
  accGrad is D.X, and bprop is D.conj(W) = conj(dX), whose inverse is dx reversed: the reversal is
  folded into the index arrays that crop the output. No conjugate is ever computed elementwise.

* Padding never materialises a padded input. Every signal sits at offset 0 of its transform; the
  padding p only shifts where results are read: y[i] = corr(x, w)[i*s - p],
  dx[u] = conv(g0, w)[u + p], dw[a] = corr(x, g0)[a - p] (indices mod N, g0 = gy dilated by s).
  Reading them back stays alias-free for N >= max(n + p, n + 2p - k + 1, k) per axis, which is
  at most the padded size n + 2p; N is the next 2-3-5-7-smooth size from there.

Spectra are stored bins-first on the CPU (so the product is one BLAS batched matmul with no
transposes: the transpose rides on the copy scipy makes to pad) and bins-last on the GPU (so the
RawKernel's loads coalesce). Only the three helpers of _Spectra know which.
"""
import numpy

from .. import backend
from .spectral import spectral_product


def transform_size(n, k, p, fft_module):
    """Smallest fast N (the device FFT's next_fast_len) with no wrap-around for input n, kernel k,
    padding p (see above)."""
    return fft_module.next_fast_len(max(n + p, n + 2 * p - k + 1, k), real=True)


class _Spectra:
    """Forward and inverse 2-D real transforms over the last two logical axes of (A, B, H, W)."""

    def __init__(self, like):
        self.xp = backend.get_array_module(like)
        self.fft = backend.fft_module(like)
        self.options = backend.fft_options(like)
        self.bins_first = self.xp is numpy  # BLAS wants bins outermost; the GPU kernel innermost

    def rfft2(self, a, s):
        """Spectrum (A, B, N0, N1//2+1) of real a (A, B, H, W) zero-padded to s at offset 0."""
        if self.bins_first:
            spectrum = self.fft.rfft2(a.transpose(2, 3, 0, 1), s=s, axes=(0, 1), **self.options)
            return spectrum.transpose(2, 3, 0, 1)
        return self.fft.rfft2(a, s=s, axes=(2, 3), **self.options)

    def rfft2_reversed(self, a, s, step):
        """Spectrum of a dilated by ``step`` and time-reversed (a[i] placed at -i*step mod N):
        equal to conj(rfft2(dilated a))."""
        xp = self.xp
        A, B, h, w = a.shape
        rows = (-numpy.arange(h) * step[0]) % s[0]
        cols = (-numpy.arange(w) * step[1]) % s[1]
        if self.bins_first:
            buffer = xp.zeros((s[0], s[1], A, B), a.dtype)
            buffer[rows[:, None], cols[None, :]] = a.transpose(2, 3, 0, 1)
            return self.fft.rfft2(buffer, axes=(0, 1), **self.options).transpose(2, 3, 0, 1)
        buffer = xp.zeros((A, B) + tuple(s), a.dtype)
        buffer[:, :, xp.asarray(rows)[:, None], xp.asarray(cols)[None, :]] = a
        return self.fft.rfft2(buffer, axes=(2, 3), **self.options)

    def irfft2_gather(self, spectrum, s, rows, cols):
        """irfft2(spectrum, s)[:, :, rows][..., cols] as a contiguous (A, B, len(rows), len(cols)).

        Inverts in two stages, H then W, so the second (real) stage runs only on the kept rows.
        """
        if self.bins_first:
            full = self.fft.ifft(spectrum.transpose(2, 3, 0, 1), axis=0, **self.options)[rows]
            half = full.transpose(2, 3, 0, 1)                       # (A, B, rows, N1//2+1) view
        else:
            half = self.fft.ifft(spectrum, axis=2, **self.options)[:, :, self.xp.asarray(rows)]
        real = self.fft.irfft(half, n=s[1], axis=-1, **self.options)  # (A, B, rows, N1)
        return self.xp.ascontiguousarray(real[..., self.xp.asarray(cols)])


class FFTConvolution:
    """algo='fft': x and w transformed once in forward, gy once in backward."""

    name = 'fft'

    @staticmethod
    def transform_shape(g, fft_module):
        return (transform_size(g.height, g.kernel_h, g.pad_h, fft_module),
                transform_size(g.width, g.kernel_w, g.pad_w, fft_module))

    def forward(self, x, w, g):
        sp = _Spectra(x)
        s = self.transform_shape(g, sp.fft)
        X = sp.rfft2(x, s)                                          # (S, f, N0, N1//2+1)
        Wc = sp.rfft2_reversed(w, s, (1, 1))                        # conj(W): (f', f, N0, N1//2+1)
        Y = spectral_product(X, Wc)                                 # (S, f', N0, N1//2+1)
        rows = (numpy.arange(g.out_h) * g.stride_h - g.pad_h) % s[0]
        cols = (numpy.arange(g.out_w) * g.stride_w - g.pad_w) % s[1]
        return sp.irfft2_gather(Y, s, rows, cols), (sp, s, X, Wc)

    def backward_setup(self, saved, gy, g):
        sp, s, X, Wc = saved
        D = sp.rfft2_reversed(gy, s, (g.stride_h, g.stride_w))      # conj(dY): (S, f', ...)
        return sp, s, X, Wc, D

    def backward_input(self, ctx, g):
        sp, s, _, Wc, D = ctx
        conj_dX = spectral_product(D, Wc.swapaxes(0, 1))           # (S, f, ...)
        rows = (-(numpy.arange(g.height) + g.pad_h)) % s[0]        # reversed: conj in frequency
        cols = (-(numpy.arange(g.width) + g.pad_w)) % s[1]
        return sp.irfft2_gather(conj_dX, s, rows, cols)

    def backward_weight(self, ctx, g):
        sp, s, X, _, D = ctx
        dW = spectral_product(D.swapaxes(0, 1), X.swapaxes(0, 1))  # (f', f, ...)
        rows = (numpy.arange(g.kernel_h) - g.pad_h) % s[0]
        cols = (numpy.arange(g.kernel_w) - g.pad_w) % s[1]
        return sp.irfft2_gather(dW, s, rows, cols)
