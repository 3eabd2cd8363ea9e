"""The CuPy stand-in fails where real CuPy fails (and only runs when it is the CuPy in use)."""
import ctypes
import gc
import os

import numpy
import pytest

from tests.conftest import STANDIN

pytestmark = pytest.mark.skipif(not STANDIN, reason="tests of the CuPy stand-in (a real CuPy is in use)")

if STANDIN:
    import cupy
    import cupyx.scipy.fft as cufft


@pytest.fixture
def a():
    return cupy.asarray(numpy.arange(12.0).reshape(3, 4))


# ---- the array type ----------------------------------------------------------------------------
def test_not_a_numpy_array_and_no_implicit_host_conversion(a, tmp_path):
    assert not isinstance(a, numpy.ndarray)
    for convert in (numpy.asarray, numpy.array, numpy.ascontiguousarray):
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
            convert(a)
    with pytest.raises(TypeError, match="no implementation found for 'numpy.savez'"):  # as with CuPy
        numpy.savez(tmp_path / 'x.npz', x=a)


def test_mixing_with_numpy_arrays_raises_but_scalars_mix(a):
    for mix in (lambda: a + numpy.ones(4), lambda: numpy.ones(4) + a, lambda: a * numpy.ones(4),
                lambda: numpy.maximum(a, numpy.ones(4)), lambda: cupy.add(a, numpy.ones(4))):
        with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
            mix()
    assert isinstance(a * 2.0 + numpy.float64(1) - 3, cupy.ndarray)
    assert (a.astype(numpy.float32) * numpy.float32(2)).dtype == numpy.float32
    assert (a.astype(numpy.float32) * 2.5).dtype == numpy.float32  # Python scalars are weak


def test_ufuncs_refuse_lists(a):
    with pytest.raises(TypeError, match="Unsupported type <class 'list'>"):
        cupy.power([1.0, 2.0], 2)


def test_data_is_a_memory_pointer_and_get_copies(a):
    assert isinstance(a.data, cupy.cuda.MemoryPointer) and isinstance(a.data.ptr, int)
    assert a[1:].data.ptr == a.data.ptr + 4 * a.itemsize
    host = a.get()
    assert type(host) is numpy.ndarray and type(cupy.asnumpy(a)) is numpy.ndarray
    host[0, 0] = 99
    assert float(a[0, 0]) == 0.0


def test_reductions_return_0d_device_arrays_and_scalars_are_explicit(a):
    for r in (a.sum(), a.max(), a.mean(), a.argmax(), cupy.sum(a), (a > 3).any()):
        assert isinstance(r, cupy.ndarray) and r.ndim == 0
    assert float(a.sum()) == 66.0 and int(a.argmax()) == 11 and a.max().item() == 11.0 and bool(a.any())
    with pytest.raises(TypeError):
        float(a)  # more than one element


def test_views_share_memory_and_keep_numpy_layouts(a):
    t = a.T
    assert t.flags.f_contiguous and not t.flags.c_contiguous and t.strides == (8, 32)
    s = a[:, 1:3]
    s[...] = -1
    assert float(a[0, 1]) == -1.0 and a.swapaxes(0, 1).shape == (4, 3) and a.reshape(2, 6).shape == (2, 6)
    a += 1
    assert float(a[0, 0]) == 1.0 and a.copy().flags.c_contiguous and a.T.copy().flags.c_contiguous


def test_elementwise_results_are_c_contiguous(a):
    f = cupy.asfortranarray(a)
    assert f.flags.f_contiguous and (f + f).flags.c_contiguous  # CuPy's documented difference


def test_out_of_bounds_integer_indices_wrap_as_in_cupy():
    x = cupy.asarray(numpy.array([0, 1, 2]))
    x[cupy.asarray(numpy.array([1, 3]))] = 10
    assert x.get().tolist() == [10, 10, 2]


def test_host_reads_are_counted(a):
    start = cupy.standin_sync_count()
    _ = a * 2 + a.sum()
    assert cupy.standin_sync_count() == start
    a[a > 5] = 0  # a boolean-mask assignment reads the mask back
    float(a.sum())
    assert cupy.standin_sync_count() == start + 2


# ---- FFT -----------------------------------------------------------------------------------------
def test_fft_signatures_are_cupys(rng):
    x = cupy.asarray(rng.standard_normal((2, 8, 8)))
    with pytest.raises(TypeError, match="workers"):
        cufft.rfft2(x, workers=2)
    assert cufft.rfft2(x, plan=None).shape == (2, 8, 5)
    with pytest.raises(TypeError, match="must be a cupy.ndarray"):
        cufft.rfft2(numpy.ones((4, 4)))
    assert cufft.next_fast_len(11) == 12 and cufft.next_fast_len(97) == 98


def test_rfft2_layouts_follow_cupy(rng):
    host = rng.standard_normal((3, 5, 6, 7)).astype(numpy.float32)
    c = cufft.rfft2(cupy.asarray(host), s=(8, 8))            # C input: one N-d plan, C output
    assert c.dtype == numpy.complex64 and c.flags.c_contiguous
    f = cupy.asarray(numpy.asfortranarray(host))              # F input: 1-d chain, swapped view
    out = cufft.rfft2(f, s=(8, 8))
    assert out.shape == (3, 5, 8, 5) and not out.flags.c_contiguous and out.strides[-1] != 8
    numpy.testing.assert_allclose(out.get(), numpy.fft.rfft2(host, s=(8, 8)), rtol=1e-4, atol=1e-4)
    inner = cufft.ifft(c, axis=-2)                           # non-last axis: axis-swapped view
    assert inner.strides[-2] == inner.itemsize


def test_plan_cache_api_and_unlimited(rng):
    cache = cupy.fft.config.get_plan_cache()
    size = cache.get_size()
    try:
        cache.clear()
        x = cupy.asarray(rng.standard_normal((4, 8, 8)))
        cufft.rfft2(x)
        cufft.rfft2(x)
        assert cache.get_curr_size() == 1 and cache.get_curr_memsize() > 0
        cufft.rfft2(x[:2])
        assert cache.get_curr_size() == 2
        cache.set_size(1)
        assert cache.get_curr_size() == 1
        cache.set_size(-1)
        assert cache.get_size() == -1 and cache.get_memsize() == -1
        with pytest.raises(ValueError, match="invalid input"):
            cache.set_size(-2)
    finally:
        cache.set_size(size)


# ---- memory --------------------------------------------------------------------------------------
def test_pool_keeps_freed_blocks_and_the_driver_counts_them_used():
    pool = cupy.get_default_memory_pool()
    gc.collect()
    pool.free_all_blocks()
    free0, total = cupy.cuda.runtime.memGetInfo()
    used0 = pool.used_bytes()
    x = cupy.zeros(1 << 20, numpy.float32)
    assert pool.used_bytes() == used0 + (4 << 20)
    del x
    gc.collect()
    assert pool.used_bytes() == used0 and pool.free_bytes() >= 4 << 20
    assert cupy.cuda.runtime.memGetInfo()[0] <= free0 - (4 << 20)  # held by the pool: not free
    pool.free_all_blocks()
    assert cupy.cuda.runtime.memGetInfo()[0] == free0 and total > free0


# ---- RawModule -----------------------------------------------------------------------------------
SOURCE = r'''
#define SCALE(NAME, T)                                                                        \
extern "C" __global__ void NAME(const T* x, T* y, long long n, T factor, int flag) {           \
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;                          \
    if (i < n) y[i] = flag ? x[i] * factor : x[i];                                           \
}
SCALE(scale_f32, float)
SCALE(scale_f64, double)
'''


@pytest.fixture(scope='module')
def module():
    return cupy.RawModule(code=SOURCE, options=('--std=c++14',))


def test_raw_module_builds_macro_entry_points_and_runs(module):
    x = cupy.asarray(numpy.arange(300, dtype=numpy.float32))
    y = cupy.zeros_like(x)
    module.get_function('scale_f32')((3,), (128,), (x, y, 300, numpy.float32(2), numpy.int32(1)))
    numpy.testing.assert_array_equal(y.get(), 2 * numpy.arange(300))
    assert module.get_function('scale_f64').name == 'scale_f64'
    with pytest.raises(cupy.cuda.driver.CUDADriverError, match="named symbol not found"):
        module.get_function('missing')


@pytest.mark.parametrize('args,match', [
    ((None, None, 3, 2.0, numpy.int32(1)), r"'factor', C type 'float'.*float64"),   # Python float -> double
    ((None, None, 3, numpy.float32(2), 1), r"'flag'.*int64 \(8 bytes\)"),        # Python int -> int64
    ((None, None, numpy.int32(3), numpy.float32(2), numpy.int32(1)), r"'n'.*int32"),
    ((None, None, 3, numpy.float32(2), True), r"'flag'.*bool"),                # bool -> bool
    ((None, None, 3.0, numpy.float32(2), numpy.int32(1)), r"'n'.*float64"),
])
def test_raw_arguments_checked_as_cupy_converts_them(module, args, match):
    with pytest.raises(TypeError, match=match):
        module.get_function('scale_f32')((1,), (1,), args)


def test_raw_pointer_arguments(module):
    f = module.get_function('scale_f32')
    x64 = cupy.zeros(4)
    with pytest.raises(TypeError, match=r"points to 4-byte elements, but an array of float64"):
        f((1,), (4,), (x64, x64, 4, numpy.float32(1), numpy.int32(1)))
    with pytest.raises(TypeError, match="Only numpy.ndarrays of size one"):
        f((1,), (4,), (numpy.zeros(4, numpy.float32), None, 4, numpy.float32(1), numpy.int32(1)))
    with pytest.raises(TypeError, match="takes 5 arguments, 4 were passed"):
        f((1,), (4,), (None, None, 4, numpy.float32(1)))


@pytest.mark.parametrize('grid,block', [((2 ** 31,), (1,)), ((1, 65536), (1,)), ((1, 1, 65536), (1,)),
                                        ((1,), (1025,)), ((1,), (1, 1, 65)), ((1,), (64, 32))])
def test_raw_launch_limits(module, grid, block):
    with pytest.raises(cupy.cuda.driver.CUDADriverError, match="CUDA_ERROR_INVALID_VALUE"):
        module.get_function('scale_f32')(grid, block, (None, None, 0, numpy.float32(1), numpy.int32(0)))


def test_raw_grid_must_be_a_tuple_and_options_too(module):
    with pytest.raises(TypeError, match="expected tuple, got list"):
        module.get_function('scale_f32')([1], (1,), (None, None, 0, numpy.float32(1), numpy.int32(0)))
    with pytest.raises(TypeError, match="expected tuple, got list"):
        cupy.RawModule(code=SOURCE, options=['--std=c++14'])


def test_raw_build_is_cached(module):
    from cupy import _raw
    lib = module.get_function('scale_f32')._launch
    again = cupy.RawModule(code=SOURCE, options=('--std=c++14',)).get_function('scale_f32')._launch
    assert ctypes.cast(lib, ctypes.c_void_p).value == ctypes.cast(again, ctypes.c_void_p).value
    assert len(_raw._built) >= 1 and os.path.isdir(os.path.dirname(next(iter(_raw._built.values()))[0]._name))


def test_numpy_functions_dispatch_to_cupy(a):
    for r in (numpy.sum(a), numpy.linalg.norm(a)):  # NEP 18, as CuPy implements it
        assert isinstance(r, cupy.ndarray) and r.ndim == 0
