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
* ``host``: the CPU's default, minifft/kernels/cproduct.c (a register-tiled batched complex GEMM
  over bins and groups that reads the bins-first spectra in place, no per-bin BLAS call, chunks of
  bins on the thread pool) where ``cpu_kernels`` allows it and the operands are NumPy complex64 or
  complex128, else exactly ``matmul``. Paper layers 2-5 at S=16 (fft product over a training step,
  2 threads, share of a 1024^3 CGEMM timed beside it, medians of 5 interleaved rounds on the
  shared machine, indicative): 79-86% (no round under 71%) against 53-60% for ``matmul``. Its
  output is stored bins-first, then (G, M, N) or (G, N, M), whichever operand the kernel
  vectorised (host_roles).
* ``rawkernel``: the RawKernel in minifft/kernels on bins-last spectra (bins contiguous, any
  strides on m, n, k, so its loads coalesce). GPU only.
"""
import concurrent.futures
import contextlib
import ctypes
import functools

import numpy

from ..backend import cpu_workers, device_of, get_array_module
from ..kernels import host
from .geometry import ceil_div

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


def even_slices(n, pieces):
    """``pieces`` consecutive slices covering range(n), their lengths differing by at most one."""
    bounds = [n * i // pieces for i in range(pieces + 1)]
    return [slice(lo, hi) for lo, hi in zip(bounds, bounds[1:])]


def run_in_chunks(run, n, pieces, one_blas_thread=True):
    """``run(chunk)`` for ``pieces`` consecutive slices covering range(n), in the CPU thread pool
    (which must exist: callers check ``cpu_thread_pool()``), with one BLAS thread each unless told
    otherwise, so threads over chunks replace threads inside each BLAS call."""
    executor, controller, _ = cpu_thread_pool()
    chunks = even_slices(n, pieces)
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


# complex per vector in cproduct.c's microkernel (one 512-bit vector), by real itemsize
_HOST_LANES = {4: 8, 8: 4}


def _host_library(a, b):
    """(cproduct.c, suffix) for NumPy complex64/complex128 operands of one dtype, else (None, None)."""
    if not (isinstance(a, numpy.ndarray) and isinstance(b, numpy.ndarray)) or a.dtype != b.dtype \
            or a.dtype.kind != 'c':
        return None, None
    return host.library_for('cproduct', a.real[:0], b.real[:0])


def _host_operand(x):
    """Strides of x (G, F, K, bins0, bins1) in complex elements, in cproduct.c's order (bin 0,
    bin 1, group, free, k)."""
    st = [v // x.itemsize for v in x.strides]
    return (st[3], st[4], st[0], st[1], st[2])


def _host_waste(q, lanes):
    """Lanes computed per lane kept with the vector axis of length q."""
    return ceil_div(q, lanes) * lanes / q if q else 1.0


def host_product(lib, kind, a, b, conj_a=False, conj_b=False, out=None):
    """cproduct.c's C[g, m, n, bins] = sum_k opA(A[g,m,k,bins]) * opB(B[g,n,k,bins]) on
    (G, M, K, b0, b1) x (G, N, K, b0, b1) complex arrays of any strides, into ``out``: C-contiguous
    (b0, b1, G, P, Q) of the operands' dtype, allocated when None. (P, Q) is (M, N) when B is the
    vector operand, (N, M) when A is (host_roles). Returns (out, a_is_vector)."""
    G, M, K, n0, n1 = a.shape
    N = b.shape[1]
    lanes = _HOST_LANES[a.itemsize // 2]
    a_vector = host_roles(a, b, lanes)
    (s, v, cs, cv, P, Q) = (b, a, conj_b, conj_a, N, M) if a_vector else (a, b, conj_a, conj_b, M, N)
    if out is None:
        out = numpy.empty((n0, n1, G, P, Q), a.dtype)
    ss, vs = _host_operand(s), _host_operand(v)
    nvec = ceil_div(Q, lanes)
    work_items = K * (nvec if vs[3] != 1 else 1) * lanes * 2
    dims = (ctypes.c_ssize_t * 6)(n0, n1, G, P, Q, K)
    s_strides, v_strides = (ctypes.c_ssize_t * 5)(*ss), (ctypes.c_ssize_t * 5)(*vs)
    ptr = ctypes.c_void_p
    call = host.function(lib, f'cproduct_{kind}', ptr, ptr, ptr, ptr, ptr, ptr, ctypes.c_ssize_t, ctypes.c_ssize_t,
                         ctypes.c_int, ctypes.c_int, ptr)
    base_s, base_v = host.address(s), host.address(v)
    real = numpy.dtype(kind.replace('f', 'float'))
    batches = n0 * n1 * G

    def run(chunk):
        work = numpy.empty(max(work_items, 1), real)
        call(base_s, base_v, host.pointer(out), dims, s_strides, v_strides, chunk.start, chunk.stop,
             int(cs), int(cv), host.pointer(work))
    # a few chunks per thread, as in _matmul_over_bins: on the shared machine one thread often runs
    # behind (2, 4 and 8 chunks a thread measured alike within the noise)
    split_on_pool(run, batches, _gemm_flops(M, K, N, a.dtype) * batches >= THREADED_MIN_FLOPS, per_thread=4)
    return out, a_vector


def host_roles(a, b, lanes):
    """Whether A (rather than B) is cproduct.c's vector operand: the one whose free axis wastes
    fewer lanes of the last vector, then the one used in place (free axis contiguous), then the
    shorter (fewer elements copied, and the other operand streamed once)."""
    def rank(x):
        q = x.shape[1]
        return (_host_waste(q, lanes), x.strides[1] != x.itemsize, q)
    return rank(a) < rank(b)


class HostProduct:
    """The CPU's product through minifft/kernels/cproduct.c (register-tiled, operands read in place;
    see its header), with MatmulProduct where the kernel does not serve (cpu_kernels='off', no
    compiler, other dtypes). Its output is stored bins-first, then (G, M, N) or (G, N, M)
    (whichever operand the kernel vectorised): the inverse reads products in memory order."""
    name = 'host'
    bins_first = True
    devices = ('cpu',)

    def __call__(self, a, b, conj_a=False, conj_b=False):
        lib, kind = _host_library(a, b)
        nb = a.ndim - 3
        if lib is None or nb > 2 or any(st % x.itemsize for x in (a, b) for st in x.strides):
            return PRODUCTS['matmul'](a, b, conj_a, conj_b)
        bins = a.shape[3:]
        pad = (1,) * (2 - nb)
        a5 = a.reshape(a.shape[:3] + pad + bins) if nb < 2 else a
        b5 = b.reshape(b.shape[:3] + pad + bins) if nb < 2 else b
        out, a_vector = host_product(lib, kind, a5, b5, conj_a, conj_b)
        c = out.transpose((2, 4, 3, 0, 1) if a_vector else (2, 3, 4, 0, 1))           # (G, M, N, b0, b1)
        return c.reshape(c.shape[:3] + bins) if nb < 2 else c


class KernelProduct:
    name = 'rawkernel'
    bins_first = False
    devices = ('cuda',)

    def __call__(self, a, b, conj_a=False, conj_b=False):
        from ..kernels.spectral_product import spectral_product as launch
        return launch(a, b, conj_a, conj_b)


PRODUCTS = {p.name: p for p in (MatmulProduct(), HostProduct(), KernelProduct())}
DEFAULT_PRODUCT = {'cpu': 'host', 'cuda': 'rawkernel'}


def spectral_product(a, b, conj_a=False, conj_b=False):
    """The product through the device's default backend (RawKernel on the GPU, cproduct.c on the
    CPU, BLAS where it does not serve)."""
    return PRODUCTS[DEFAULT_PRODUCT[device_of(a)]](a, b, conj_a, conj_b)
