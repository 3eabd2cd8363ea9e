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


def launch_geometry(G, M, N, bins):
    """CUDA (grid, block) covering every bin, and every TILE_M x TILE_N output tile of every group."""
    grid = (-(-bins // THREADS_PER_BLOCK), -(-M // TILE_M), G * -(-N // TILE_N))
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


def kernel_arguments(a, b, out):
    """Sizes and element strides in the order the kernel takes them after its three pointers."""
    op = 'spectral_product'
    G, M, K = a.shape[:3]
    N = b.shape[1]
    (a_g, a_m, a_k), bins = bin_strides(op, 'a', a, 3)
    (b_g, b_n, b_k), _ = bin_strides(op, 'b', b, 3)
    (c_g, c_m, c_n), _ = bin_strides(op, 'out', out, 3)
    return (G, M, N, bins), (M, N, K, bins, a_g, a_m, a_k, b_g, b_n, b_k, c_g, c_m, c_n)


def check_operands(a, b, out=None):
    op = 'spectral_product'
    if a.dtype != b.dtype or a.dtype.name not in ENTRY_POINTS:
        raise TypeError(f"{op}: expected two complex64 or two complex128 arrays, got {a.dtype} and {b.dtype}")
    if a.ndim < 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[2] or a.shape[3:] != b.shape[3:]:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} do not agree on (G, K, bins)")
    expected = (a.shape[0], a.shape[1], b.shape[1]) + a.shape[3:]
    if out is not None and (out.shape != expected or out.dtype != a.dtype):
        raise ValueError(f"{op}: out must be {expected} {a.dtype}, got {out.shape} {out.dtype}")
    return expected


def spectral_product(a, b, conj_a=False, conj_b=False, out=None):
    """C[g, m, n, ...] = sum_k opA(A[g, m, k, ...]) * opB(B[g, n, k, ...]) over CuPy complex arrays.

    ``a``: (G, M, K, *bins), ``b``: (G, N, K, *bins), any strides on G, M, N, K; bins contiguous.
    With ``out`` given (shape (G, M, N, *bins), bins contiguous), the product is added into it.
    """
    shape = check_operands(a, b, out)
    accumulate = out is not None
    if out is None:
        out = backend.cupy.empty(shape, a.dtype)
    (G, M, N, bins), sizes = kernel_arguments(a, b, out)
    grid, block = launch_geometry(G, M, N, bins)
    i64, i32 = numpy.int64, numpy.int32
    _kernel(a.dtype.name)(grid, block, (a, b, out) + tuple(i64(v) for v in sizes) +
                          (i32(conj_a), i32(conj_b), i32(accumulate)))
    return out
