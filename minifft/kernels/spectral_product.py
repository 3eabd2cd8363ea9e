"""Launch code for spectral_product.cu: the per-frequency channel accumulation on the GPU."""
import functools

import numpy

from .. import backend
from . import source

TILE_M = TILE_N = 4        # register tile per thread; must match the .cu defaults
THREADS_PER_BLOCK = 128    # consecutive bins per block: four warps of coalesced loads
ENTRY_POINTS = {'complex64': 'spectral_product_complex64', 'complex128': 'spectral_product_complex128'}


@functools.lru_cache(maxsize=None)
def _kernel(dtype_name):
    module = backend.cupy.RawModule(code=source('spectral_product'), options=('--std=c++14',))
    return module.get_function(ENTRY_POINTS[dtype_name])


def launch_geometry(M, N, bins):
    """CUDA (grid, block) covering every bin and every TILE_M x TILE_N tile of the output."""
    grid = (-(-bins // THREADS_PER_BLOCK), -(-M // TILE_M), -(-N // TILE_N))
    return grid, (THREADS_PER_BLOCK, 1, 1)


def bin_strides(op, name, a, n_lead):
    """Element strides of the leading axes; the trailing (bin) axes must be one contiguous run."""
    itemsize = a.dtype.itemsize
    bins = 1
    expected = itemsize
    for size, stride in reversed(list(zip(a.shape[n_lead:], a.strides[n_lead:]))):
        if size != 1 and stride != expected:
            raise ValueError(f"{op}: the frequency axes of {name} must be contiguous, got strides {a.strides}")
        expected *= size
        bins *= size
    lead = []
    for stride in a.strides[:n_lead]:
        if stride % itemsize:
            raise ValueError(f"{op}: {name} strides {a.strides} are not multiples of its itemsize")
        lead.append(stride // itemsize)
    return lead, bins


def spectral_product(a, b, conj_a=False, conj_b=False, out=None):
    """C[m, n, ...] = sum_k opA(A[m, k, ...]) * opB(B[n, k, ...]) over CuPy complex arrays.

    ``a``: (M, K, *bins), ``b``: (N, K, *bins), any strides on M, N, K; bins contiguous.
    With ``out`` given (shape (M, N, *bins), bins contiguous), the product is added into it.
    """
    op = 'spectral_product'
    if a.dtype != b.dtype or a.dtype.name not in ENTRY_POINTS:
        raise TypeError(f"{op}: expected two complex64 or two complex128 arrays, got {a.dtype} and {b.dtype}")
    if a.shape[1] != b.shape[1] or a.shape[2:] != b.shape[2:]:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not agree on (K, bins)")
    M, K = a.shape[:2]
    N = b.shape[0]
    (a_m, a_k), bins = bin_strides(op, 'a', a, 2)
    (b_n, b_k), _ = bin_strides(op, 'b', b, 2)
    accumulate = out is not None
    if out is None:
        out = backend.cupy.empty((M, N) + a.shape[2:], a.dtype)
    elif out.shape != (M, N) + a.shape[2:] or out.dtype != a.dtype:
        raise ValueError(f"{op}: out must be {(M, N) + a.shape[2:]} {a.dtype}, got {out.shape} {out.dtype}")
    (c_m, c_n), _ = bin_strides(op, 'out', out, 2)
    grid, block = launch_geometry(M, N, bins)
    i64, i32 = numpy.int64, numpy.int32
    _kernel(a.dtype.name)(grid, block, (
        a, b, out, i64(M), i64(N), i64(K), i64(bins), i64(a_m), i64(a_k), i64(b_n), i64(b_k),
        i64(c_m), i64(c_n), i32(conj_a), i32(conj_b), i32(accumulate)))
    return out
