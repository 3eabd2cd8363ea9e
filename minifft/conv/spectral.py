"""The per-frequency channel accumulation shared by all three FFT passes, and its backends.

    C[g, m, n, bins] = sum_k opA(A[g, m, k, bins]) * opB(B[g, n, k, bins])

for every channel group g (a single group for ordinary convolution). Each backend names the
spectrum layout it wants, and the FFT algorithm's transforms write that layout (fft._Spectra):

* ``matmul``: one batched ``xp.matmul`` with the bins as the batch, on bins-first spectra, so the
  views below are plain (or transposed) matrices that BLAS takes without a copy. NumPy's BLAS on
  the CPU, cuBLAS through ``cupy.matmul`` on the GPU: the same code with xp for numpy.
  On the CPU, numpy.matmul calls one small CGEMM per bin, each spread over all BLAS threads: they
  synchronise per bin, and on a loaded machine one descheduled thread stalls every bin (measured
  0.8-68 GFLOP/s on paper layer 3's shapes from run to run). So a large product is split instead
  into chunks of bins run by a thread pool (numpy releases the GIL in BLAS), each with
  single-threaded BLAS: 31-46 GFLOP/s on the same shapes, whatever the load. Where the output's
  rows are its short side (M = S = 16 in fprop and bprop of the paper's layers) the CPU computes
  C^T = B^T A^T, which OpenBLAS runs faster, and returns it as a transposed view: the output's
  memory order is then not its logical one, and its readers (fft._Spectra) take any order.
* ``rawkernel``: the RawKernel in minifft/kernels on bins-last spectra (bins contiguous, any
  strides on m, n, k, so its loads coalesce). GPU only.
"""
import concurrent.futures
import contextlib
import functools

import numpy

from ..backend import cpu_workers, device_of, get_array_module

THREADED_MIN_FLOPS = 1e7   # below this the pool's hand-off costs more than BLAS threads lose


@functools.lru_cache(maxsize=None)
def cpu_thread_pool():
    """(thread pool, threadpoolctl controller, workers) for CPU array work that releases the GIL
    (BLAS, large elementwise ufuncs), or None on one core or without threadpoolctl."""
    workers = cpu_workers()
    try:
        import threadpoolctl
    except ImportError:
        return None
    if workers < 2:
        return None
    return concurrent.futures.ThreadPoolExecutor(workers), threadpoolctl.ThreadpoolController(), workers


def run_in_chunks(run, n, pieces, one_blas_thread=True):
    """``run(chunk)`` for ``pieces`` consecutive slices covering range(n), in the CPU thread pool
    (which must exist: callers check ``cpu_thread_pool()``), with one BLAS thread each unless told
    otherwise, so threads over chunks replace threads inside each BLAS call."""
    executor, controller, _ = cpu_thread_pool()
    bounds = [n * i // pieces for i in range(pieces + 1)]
    chunks = [slice(lo, hi) for lo, hi in zip(bounds, bounds[1:])]
    with controller.limit(limits=1, user_api='blas') if one_blas_thread else contextlib.nullcontext():
        for _ in executor.map(run, chunks):
            pass


def split_on_pool(run, n, worth_threads, per_thread=1):
    """``run(slice)`` over range(n): in ``per_thread`` chunks per thread of the CPU pool when there
    is one, n >= 2 and ``worth_threads`` (the caller's judgement that the work pays the hand-off),
    else in one call. For work that calls no BLAS (NumPy's elementwise loops, the C kernels), so
    BLAS's thread setting is left as it is."""
    pool = cpu_thread_pool()
    if pool is None or n < 2 or not worth_threads:
        run(slice(0, n))
    else:
        run_in_chunks(run, n, min(n, per_thread * pool[2]), one_blas_thread=False)


def one_blas_thread():
    """A context in which BLAS runs on the calling thread only (a no-op without the thread pool).

    minifft's CPU work is parallel through its own pool, never through BLAS's threads: after one
    multi-threaded OpenBLAS call its workers busy-wait for about 0.1 s, taking a core from the pool
    on a 2-core machine (80-95 ms of CPU per call measured; 0.1 ms with one BLAS thread)."""
    pool = cpu_thread_pool()
    return contextlib.nullcontext() if pool is None else pool[1].limit(limits=1, user_api='blas')


def _gemm_flops(M, K, N, dtype):
    return (8 if numpy.dtype(dtype).kind == 'c' else 2) * M * K * N


def _matmul_over_bins(a, b):
    """numpy.matmul(a, b) of (*bins, ..., M, K) x (*bins, ..., K, N), chunks of the first bin axis
    in parallel threads with one BLAS thread each (see the module docstring)."""
    pool = cpu_thread_pool()
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    if (pool is None or a.shape[0] < 2 or a.shape[0] != b.shape[0]
            or _gemm_flops(M, K, N, numpy.result_type(a, b)) * (a.size // (M * K)) < THREADED_MIN_FLOPS):
        with one_blas_thread():
            return numpy.matmul(a, b)
    workers = pool[2]
    out = numpy.empty(numpy.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (M, N), numpy.result_type(a, b))
    n = a.shape[0]
    # a few chunks per thread evens out the load
    run_in_chunks(lambda c: numpy.matmul(a[c], b[c], out=out[c]), n, min(n, 4 * workers))
    return out


def batched_matmul(a, b):
    """xp.matmul of (B, M, K) x (B, K, N) stacks; on the CPU in chunks of the batch on the thread pool."""
    return _matmul_over_bins(a, b) if get_array_module(a, b) is numpy else get_array_module(a, b).matmul(a, b)


def matmul2d(a, b):
    """a @ b for 2-D arrays on either device; on the CPU in row (or column) chunks across the thread
    pool with one BLAS thread each, and small products on one BLAS thread: on the shared CPU a
    multi-threaded GEMM of a few MFLOP varied 4-9 ms from call to call where one thread took
    0.8-1 ms (the DFT-matrix transforms of fft.py), and (64, 512) x (512, 64) took 0.05 ms at the
    median but 20-40 ms in one call of ten (Linear)."""
    if get_array_module(a, b) is not numpy:
        return a @ b
    pool = cpu_thread_pool()
    M, K, N = a.shape[0], a.shape[1], b.shape[1]
    if pool is None or _gemm_flops(M, K, N, numpy.result_type(a, b)) < THREADED_MIN_FLOPS:
        with one_blas_thread():
            return numpy.matmul(a, b)
    out = numpy.empty((M, N), numpy.result_type(a, b))
    rows = M >= N

    def run(c):
        if rows:
            numpy.matmul(a[c], b, out=out[c])
        else:
            numpy.matmul(a, b[:, c], out=out[:, c])
    run_in_chunks(run, M if rows else N, pool[2])
    return out


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
        if xp is not numpy:
            c = xp.matmul(a, b)                                               # (*bins, G, M, N)
        elif a.shape[-2] < b.shape[-1]:
            # C^T = B^T A^T, so the output's rows are its long side: OpenBLAS ran these per-bin
            # products up to 1.5x faster (S=16 rows of paper layers 3-5, single-threaded)
            c = _matmul_over_bins(b.swapaxes(-1, -2), a.swapaxes(-1, -2)).swapaxes(-1, -2)
        else:
            c = _matmul_over_bins(a, b)
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
