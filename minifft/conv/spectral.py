"""The per-frequency channel accumulation shared by all three FFT passes, and its backends.

    C[g, m, n, bins] = sum_k opA(A[g, m, k, bins]) * opB(B[g, n, k, bins])

for every channel group g (a single group for ordinary convolution). Each backend names the
spectrum layout it wants, and the FFT algorithm's transforms write that layout (fft._Spectra):

* ``matmul``: one batched ``xp.matmul`` with the bins as the batch, on bins-first spectra, so the
  views below are plain (or transposed) matrices that BLAS takes without a copy. NumPy's BLAS on
  the CPU, cuBLAS through ``cupy.matmul`` on the GPU: the same code with xp for numpy.
* ``rawkernel``: the RawKernel in minifft/kernels on bins-last spectra (bins contiguous, any
  strides on m, n, k, so its loads coalesce). GPU only.
"""
from ..backend import device_of, get_array_module


class MatmulProduct:
    name = 'matmul'
    bins_first = True
    devices = ('cpu', 'cuda')

    def __call__(self, a, b, conj_a=False, conj_b=False):
        """(G, M, K, *bins) x (G, N, K, *bins) -> (G, M, N, *bins), summing over K for every bin."""
        xp = get_array_module(a, b)
        nb = a.ndim - 3
        bins = tuple(range(3, 3 + nb))
        a = a.transpose(bins + (0, 1, 2))        # (*bins, G, M, K)
        b = b.transpose(bins + (0, 2, 1))        # (*bins, G, K, N)
        if conj_a:
            a = a.conj()
        if conj_b:
            b = b.conj()
        c = xp.matmul(a, b)                      # (*bins, G, M, N)
        return c.transpose((nb, nb + 1, nb + 2) + tuple(range(nb)))


class KernelProduct:
    name = 'rawkernel'
    bins_first = False
    devices = ('cuda',)

    def __call__(self, a, b, conj_a=False, conj_b=False):
        from ..kernels.spectral_product import spectral_product as launch
        return launch(a, b, conj_a, conj_b)


PRODUCTS = {p.name: p for p in (MatmulProduct(), KernelProduct())}
DEFAULT_PRODUCT = {'cpu': 'matmul', 'cuda': 'rawkernel'}


def spectral_product(a, b, conj_a=False, conj_b=False):
    """The product through the device's default backend (RawKernel on the GPU, BLAS on the CPU)."""
    return PRODUCTS[DEFAULT_PRODUCT[device_of(a)]](a, b, conj_a, conj_b)
