"""The CUDA kernel without a GPU: nvcc compiles it, and the same source, built by g++ with a shim
for the CUDA built-ins, computes what the NumPy product computes for all three passes."""
import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy
import pytest

from minifft import kernels
from minifft.conv.spectral import spectral_product
from minifft.kernels import spectral_product as launch

HERE = Path(__file__).resolve().parent


def test_nvcc_compiles_to_ptx(tmp_path):
    nvcc = shutil.which('nvcc') or shutil.which('nvcc', path='/usr/local/cuda/bin')
    if nvcc is None:
        pytest.skip("nvcc is not installed")
    out = tmp_path / 'spectral_product.ptx'
    subprocess.run([nvcc, '--ptx', '-arch=sm_90', '--std=c++14', '-o', str(out),
                    str(kernels.SOURCE_DIR / 'spectral_product.cu')], check=True, capture_output=True)
    ptx = out.read_text()
    for entry in launch.ENTRY_POINTS.values():
        assert f".entry {entry}" in ptx
    assert '.shared' not in ptx and 'bar.sync' not in ptx  # the emulation below is exact only then


@pytest.fixture(scope='module')
def emulated(tmp_path_factory):
    gxx = shutil.which('g++')
    if gxx is None:
        pytest.skip("g++ is not installed")
    library = tmp_path_factory.mktemp('kernel') / 'emulate.so'
    subprocess.run([gxx, '-O1', '-std=c++14', '-shared', '-fPIC', '-Wno-unknown-pragmas',
                    '-I', str(HERE), '-I', str(kernels.SOURCE_DIR),
                    str(HERE / 'emulate_spectral_product.cpp'), '-o', str(library)], check=True)
    return ctypes.CDLL(str(library))


def run_emulated(lib, a, b, conj_a=False, conj_b=False, out=None):
    """Launch the kernel through the emulator with the same geometry and strides as on a GPU."""
    M, K = a.shape[:2]
    N = b.shape[0]
    (a_m, a_k), bins = launch.bin_strides('test', 'a', a, 2)
    (b_n, b_k), _ = launch.bin_strides('test', 'b', b, 2)
    accumulate = out is not None
    if out is None:
        out = numpy.full((M, N) + a.shape[2:], numpy.nan, a.dtype)  # every element must be written
    (c_m, c_n), _ = launch.bin_strides('test', 'out', out, 2)
    grid, block = launch.launch_geometry(M, N, bins)
    dims = numpy.array([M, N, K, bins, a_m, a_k, b_n, b_k, c_m, c_n], numpy.int64)
    fn = getattr(lib, 'emulate_' + launch.ENTRY_POINTS[a.dtype.name])
    grid, block = numpy.array(grid, numpy.uint32), numpy.array(block, numpy.uint32)
    fn(grid.ctypes.data_as(ctypes.c_void_p), block.ctypes.data_as(ctypes.c_void_p),
       ctypes.c_void_p(a.__array_interface__['data'][0]), ctypes.c_void_p(b.__array_interface__['data'][0]),
       ctypes.c_void_p(out.__array_interface__['data'][0]), dims.ctypes.data_as(ctypes.c_void_p),
       ctypes.c_int(conj_a), ctypes.c_int(conj_b), ctypes.c_int(accumulate))
    return out


def spectra(rng, shape, dtype):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


# (S, f, f', bins): tile edges (sizes not multiples of 4), a bin count not a multiple of the block
SHAPES = [(3, 5, 7, (5, 3)), (4, 4, 4, (2, 65)), (1, 1, 1, (1, 1)), (9, 2, 6, (13, 7)), (5, 6, 1, (130,))]


@pytest.mark.parametrize('dtype,tol', [(numpy.complex64, 1e-5), (numpy.complex128, 1e-12)])
@pytest.mark.parametrize('S,f,fo,bins', SHAPES)
def test_three_passes_match_numpy(emulated, rng, dtype, tol, S, f, fo, bins):
    X = spectra(rng, (S, f) + bins, dtype)     # the GPU layout: bins last and contiguous
    W = spectra(rng, (fo, f) + bins, dtype)
    D = spectra(rng, (S, fo) + bins, dtype)
    passes = {
        'fprop': (X, W),                                  # (S, f') = sum_c X W
        'bprop': (D, W.swapaxes(0, 1)),                   # (S, f) = sum_o D W^T: strided B
        'accGrad': (D.swapaxes(0, 1), X.swapaxes(0, 1)),  # (f', f) = sum_s D^T X: both strided
    }
    for name, (a, b) in passes.items():
        got = run_emulated(emulated, a, b)
        want = spectral_product(a, b)
        scale = numpy.abs(want).max()
        assert numpy.abs(got - want).max() <= tol * scale * a.shape[1], name


@pytest.mark.parametrize('conj_a,conj_b', [(True, False), (False, True), (True, True)])
def test_conjugation_flags_and_accumulation(emulated, rng, conj_a, conj_b):
    a = spectra(rng, (3, 4, 6, 5), numpy.complex128)
    b = spectra(rng, (5, 4, 6, 5), numpy.complex128)
    base = spectra(rng, (3, 5, 6, 5), numpy.complex128)
    got = run_emulated(emulated, a, b, conj_a, conj_b, out=base.copy())
    want = base + numpy.einsum('mkxy,nkxy->mnxy', a.conj() if conj_a else a, b.conj() if conj_b else b)
    numpy.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_launch_rejects_bad_layouts():
    a = numpy.zeros((2, 3, 4, 5), numpy.complex64)
    with pytest.raises(ValueError, match="frequency axes of a must be contiguous"):
        launch.bin_strides('spectral_product', 'a', a.transpose(0, 1, 3, 2), 2)
