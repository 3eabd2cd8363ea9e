"""Launch code for spectral_product.cu: the per-frequency channel accumulation on the GPU."""
import collections
import functools

import numpy

from .. import backend
from ..conv.geometry import ceil_div
from . import source


class Geometry(collections.namedtuple('Geometry', 'bins tile_m tile_n threads')):
    """A block: `bins` consecutive bins (coalesced along the contiguous axis) x a tile_m x tile_n
    output tile staged through shared memory, on `threads` threads (one bin and a 4 x 4 register
    tile each). Must match Geometry<R> in the .cu."""


GEOMETRY = {'complex64': Geometry(8, 32, 32, 512), 'complex128': Geometry(16, 16, 16, 256)}
MAX_GRID_YZ = 65535        # CUDA's limit on grid y and z; x (bin tiles) may go to 2**31 - 1
DTYPES = tuple(GEOMETRY)


def entry_point(dtype_name, conj_a, conj_b, vector=1):
    """Name of the instantiation for a dtype, the two conjugation flags and the bins per load."""
    ops = ('c' if conj_a else 'n') + ('c' if conj_b else 'n')
    return f"spectral_product_{dtype_name}_{ops}" + ('_vec2' if vector == 2 else '')


@functools.lru_cache(maxsize=None)
def _module():
    return backend.cupy.RawModule(code=source('spectral_product'), options=('--std=c++14',))


@functools.lru_cache(maxsize=None)
def _kernel(name):
    return _module().get_function(name)


def ranges(total, step):
    return [(start, min(start + step, total)) for start in range(0, total, step)]


def launch_pieces(G, M, N, dtype_name, limit=MAX_GRID_YZ):
    """[((g0, g1), (m0, m1), (n0, n1))] covering (G, M, N) so that every piece's launch has grid
    y = ceil(rows / tile_m) <= limit and z = groups * ceil(columns / tile_n) <= limit."""
    block = GEOMETRY[dtype_name]
    n_tiles = ceil_div(N, block.tile_n)
    if n_tiles <= limit:
        g_step, n_step = limit // max(n_tiles, 1), N
    else:
        g_step, n_step = 1, limit * block.tile_n
    return [(g, m, n) for g in ranges(G, g_step) for m in ranges(M, limit * block.tile_m)
            for n in ranges(N, n_step)]


def launch_geometry(G, M, N, bins, dtype_name):
    """CUDA (grid, block) covering every bin and every output tile of every group."""
    block = GEOMETRY[dtype_name]
    grid = (ceil_div(bins, block.bins), ceil_div(M, block.tile_m), G * ceil_div(N, block.tile_n))
    return grid, (block.threads, 1, 1)


def address(x):
    """Device (CuPy) or host (NumPy) address of an array's first element."""
    pointer = getattr(x.data, 'ptr', None)
    return pointer if pointer is not None else x.ctypes.data


def vector_width(a, b, sizes):
    """2 when complex64 loads may move two bins at once (16 bytes, aligned), else 1."""
    bins, a_g, a_m, a_k, b_g, b_n, b_k = sizes[3:10]
    if a.dtype.name != 'complex64' or any(v % 2 for v in (bins, a_g, a_m, a_k, b_g, b_n, b_k)):
        return 1
    return 2 if address(a) % 16 == 0 and address(b) % 16 == 0 else 1


def launches(a, b, out, conj_a=False, conj_b=False, limit=MAX_GRID_YZ):
    """Every kernel launch of one product: [(entry point, grid, block, (a, b, out) views, sizes)],
    the (G, M, N) space split so that no grid y or z exceeds ``limit``."""
    G, M, K = a.shape[:3]
    N = b.shape[1]
    plan = []
    if 0 in out.shape:
        return plan
    for (g0, g1), (m0, m1), (n0, n1) in launch_pieces(G, M, N, a.dtype.name, limit):
        views = (a[g0:g1, m0:m1], b[g0:g1, n0:n1], out[g0:g1, m0:m1, n0:n1])
        (_, rows, cols, bins), sizes = kernel_arguments(*views)
        grid, block = launch_geometry(g1 - g0, rows, cols, bins, a.dtype.name)
        name = entry_point(a.dtype.name, conj_a, conj_b, vector_width(views[0], views[1], sizes))
        plan.append((name, grid, block, views, sizes))
    return plan


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
    if a.dtype != b.dtype or a.dtype.name not in DTYPES:
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
    i64, i32 = numpy.int64, numpy.int32
    for name, grid, block, views, sizes in launches(a, b, out, conj_a, conj_b):
        _kernel(name)(grid, block, views + tuple(i64(v) for v in sizes) + (i32(accumulate),))
    return out
