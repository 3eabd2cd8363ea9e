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
    """Launch the kernel through the emulator with the same checks, geometry and arguments as
    the CuPy launch code uses on a GPU."""
    shape = launch.check_operands(a, b, out)
    accumulate = out is not None
    if out is None:
        out = numpy.full(shape, numpy.nan, a.dtype)  # every element must be written
    (G, M, N, bins), sizes = launch.kernel_arguments(a, b, out)
    grid, block = launch.launch_geometry(G, M, N, bins)
    dims = numpy.array(sizes, numpy.int64)
    fn = getattr(lib, 'emulate_' + launch.ENTRY_POINTS[a.dtype.name])
    grid, block = numpy.array(grid, numpy.uint32), numpy.array(block, numpy.uint32)
    fn(grid.ctypes.data_as(ctypes.c_void_p), block.ctypes.data_as(ctypes.c_void_p),
       ctypes.c_void_p(a.__array_interface__['data'][0]), ctypes.c_void_p(b.__array_interface__['data'][0]),
       ctypes.c_void_p(out.__array_interface__['data'][0]), dims.ctypes.data_as(ctypes.c_void_p),
       ctypes.c_int(conj_a), ctypes.c_int(conj_b), ctypes.c_int(accumulate))
    return out


def spectra(rng, shape, dtype):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


# (G, S, f/G, f'/G, bins): tile edges (sizes not multiples of 4), bin counts not a multiple of
# the block, several groups (depthwise: f/G = f'/G = 1)
SHAPES = [(1, 3, 5, 7, (5, 3)), (1, 4, 4, 4, (2, 65)), (1, 1, 1, 1, (1, 1)), (1, 9, 2, 6, (13, 7)),
          (1, 5, 6, 1, (130,)), (3, 2, 3, 5, (4, 3)), (6, 3, 1, 1, (7, 5))]


def grouped(a, groups):
    """(A, B, ...) -> (G, A, B/G, ...) as a strided view, the way fft.py feeds the kernel."""
    A, B = a.shape[:2]
    return a.reshape((A, groups, B // groups) + a.shape[2:]).swapaxes(0, 1)


@pytest.mark.parametrize('dtype,tol', [(numpy.complex64, 1e-5), (numpy.complex128, 1e-12)])
@pytest.mark.parametrize('G,S,fg,fog,bins', SHAPES)
def test_three_passes_match_numpy(emulated, rng, dtype, tol, G, S, fg, fog, bins):
    X = grouped(spectra(rng, (S, G * fg) + bins, dtype), G)               # (G, S, f/G): bins last
    W = grouped(spectra(rng, (fg, G * fog) + bins, dtype), G).swapaxes(1, 2)  # (G, f'/G, f/G)
    D = grouped(spectra(rng, (S, G * fog) + bins, dtype), G)              # (G, S, f'/G)
    passes = {
        'fprop': (X, W),                                  # (S, f') = sum_c X W
        'bprop': (D, W.swapaxes(1, 2)),                   # (S, f) = sum_o D W^T: strided B
        'accGrad': (D.swapaxes(1, 2), X.swapaxes(1, 2)),  # (f', f) = sum_s D^T X: both strided
    }
    for name, (a, b) in passes.items():
        got = run_emulated(emulated, a, b)
        want = spectral_product(a, b)
        scale = numpy.abs(want).max()
        assert numpy.abs(got - want).max() <= tol * scale * a.shape[2], name


@pytest.mark.parametrize('conj_a,conj_b', [(True, False), (False, True), (True, True)])
def test_conjugation_flags_and_accumulation(emulated, rng, conj_a, conj_b):
    a = spectra(rng, (2, 3, 4, 6, 5), numpy.complex128)
    b = spectra(rng, (2, 5, 4, 6, 5), numpy.complex128)
    base = spectra(rng, (2, 3, 5, 6, 5), numpy.complex128)
    got = run_emulated(emulated, a, b, conj_a, conj_b, out=base.copy())
    want = base + numpy.einsum('gmkxy,gnkxy->gmnxy', a.conj() if conj_a else a, b.conj() if conj_b else b)
    numpy.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_launch_rejects_bad_layouts():
    a = numpy.zeros((1, 2, 3, 4, 5), numpy.complex64)
    with pytest.raises(ValueError, match="frequency axes of a must be contiguous"):
        launch.bin_strides('spectral_product', 'a', a.transpose(0, 1, 2, 4, 3), 3)
    with pytest.raises(ValueError, match=r"do not agree on \(G, K, bins\)"):
        launch.check_operands(a, numpy.zeros((2, 2, 3, 4, 5), numpy.complex64))
    with pytest.raises(TypeError, match="expected two complex64 or two complex128"):
        launch.check_operands(a.real, a.real)
