"""The per-frequency channel accumulation shared by all three FFT passes.

    C[g, m, n, bins] = sum_k opA(A[g, m, k, bins]) * opB(B[g, n, k, bins])

for every channel group g (a single group for ordinary convolution).

On the GPU this is the RawKernel in minifft/kernels (bins contiguous, any strides on m, n, k).
On the CPU it is one batched matmul with the bins as the batch: fastest when the spectra are
stored bins-first, which is how fft.py lays them out there, so the views below are plain
(or transposed) matrices that BLAS takes without a copy.
"""
import numpy

from ..backend import get_array_module


def spectral_product(a, b, conj_a=False, conj_b=False):
    """(G, M, K, *bins) x (G, N, K, *bins) -> (G, M, N, *bins), summing over K for every bin."""
    if get_array_module(a, b) is not numpy:
        from ..kernels.spectral_product import spectral_product as launch
        return launch(a, b, conj_a, conj_b)
    nb = a.ndim - 3
    bins = tuple(range(3, 3 + nb))
    a = a.transpose(bins + (0, 1, 2))        # (*bins, G, M, K)
    b = b.transpose(bins + (0, 2, 1))        # (*bins, G, K, N)
    if conj_a:
        a = a.conj()
    if conj_b:
        b = b.conj()
    c = numpy.matmul(a, b)                   # (*bins, G, M, N)
    return c.transpose((nb, nb + 1, nb + 2) + tuple(range(nb)))
