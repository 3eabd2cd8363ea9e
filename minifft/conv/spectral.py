"""The per-frequency channel accumulation shared by all three FFT passes.

    C[m, n, bins] = sum_k opA(A[m, k, bins]) * opB(B[n, k, bins])

On the GPU this is the RawKernel in minifft/kernels (bins contiguous, any strides on m, n, k).
On the CPU it is one batched matmul with the bins as the batch: fastest when the spectra are
stored bins-first, which is how fft.py lays them out there, so the views below are plain
(or transposed) matrices that BLAS takes without a copy.
"""
import numpy

from ..backend import get_array_module


def spectral_product(a, b, conj_a=False, conj_b=False):
    """(M, K, *bins) x (N, K, *bins) -> (M, N, *bins), summing over K for every bin."""
    if get_array_module(a, b) is not numpy:
        from ..kernels.spectral_product import spectral_product as launch
        return launch(a, b, conj_a, conj_b)
    nb = a.ndim - 2
    to_batch = tuple(range(2, 2 + nb))
    a = a.transpose(to_batch + (0, 1))      # (*bins, M, K)
    b = b.transpose(to_batch + (1, 0))      # (*bins, K, N)
    if conj_a:
        a = a.conj()
    if conj_b:
        b = b.conj()
    c = numpy.matmul(a, b)                   # (*bins, M, N)
    return c.transpose((nb, nb + 1) + tuple(range(nb)))
