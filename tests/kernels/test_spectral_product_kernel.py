"""The CUDA kernel without a GPU: nvcc compiles it, and the same source, built by g++ with a shim
for the CUDA built-ins, computes what the NumPy product computes for all three passes."""
import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy
import pytest

from minifft import backend, kernels
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
    for entry in ENTRY_POINTS:
        assert f".entry {entry}(" in ptx
    # version 2 stages operands in shared memory between barriers (the shim emulates both)
    assert ptx.count('.shared .align 16') == 2 * len(ENTRY_POINTS) and 'bar.sync' in ptx


ENTRY_POINTS = sorted({launch.entry_point(dtype, conj_a, conj_b, vector)
                       for dtype in launch.DTYPES for conj_a in (False, True) for conj_b in (False, True)
                       for vector in ((1, 2) if dtype == 'complex64' else (1,))})


def build_emulator(directory, *defines):
    gxx = shutil.which('g++')
    if gxx is None:
        pytest.skip("g++ is not installed")
    library = directory / 'emulate.so'
    subprocess.run([gxx, '-O1', '-std=c++14', '-shared', '-fPIC', '-Wno-unknown-pragmas', *defines,
                    '-I', str(HERE), '-I', str(kernels.SOURCE_DIR),
                    str(HERE / 'emulate_spectral_product.cpp'), '-o', str(library)], check=True)
    return ctypes.CDLL(str(library))


@pytest.fixture(scope='module')
def emulated(tmp_path_factory):
    return build_emulator(tmp_path_factory.mktemp('kernel'))


def run_emulated(lib, a, b, conj_a=False, conj_b=False, out=None, limit=launch.MAX_GRID_YZ, calls=None):
    """Launch the kernel through the emulator with the same checks, split, geometry, entry points
    and arguments as the CuPy launch code uses on a GPU. ``calls`` collects (entry point, grid)."""
    shape = launch.check_operands(a, b, out)
    accumulate = out is not None
    if out is None:
        out = numpy.full(shape, numpy.nan, a.dtype)  # every element must be written
    for name, grid, block, views, sizes in launch.launches(a, b, out, conj_a, conj_b, limit):
        if calls is not None:
            calls.append((name, grid))
        dims = numpy.array(sizes, numpy.int64)
        grid, block = numpy.array(grid, numpy.uint32), numpy.array(block, numpy.uint32)
        pointers = [ctypes.c_void_p(launch.address(v)) for v in views]
        getattr(lib, 'emulate_' + name)(grid.ctypes.data_as(ctypes.c_void_p), block.ctypes.data_as(ctypes.c_void_p),
                                        *pointers, dims.ctypes.data_as(ctypes.c_void_p), ctypes.c_int(accumulate))
    return out


def spectra(rng, shape, dtype):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


# (G, S, f/G, f'/G, bins): tile edges (sizes not multiples of the block tile, 32 x 32 or 16 x 16,
# nor of the 4 x 4 thread tile), several m and n tiles, bin counts not a multiple of the block's
# 8 or 16 bins, odd and even (the two-bin loads), k from 1 through several full chunks (8 for
# complex64, 4 for complex128) plus a partial one, several groups (depthwise: f/G = f'/G = 1)
SHAPES = [(1, 3, 5, 7, (5, 3)), (1, 4, 4, 4, (2, 65)), (1, 1, 1, 1, (1, 1)), (1, 9, 2, 6, (13, 7)),
          (1, 5, 6, 1, (130,)), (3, 2, 3, 5, (4, 3)), (6, 3, 1, 1, (7, 5)),
          (1, 40, 21, 18, (6, 4)), (2, 35, 17, 33, (3, 7)), (1, 16, 32, 16, (4, 8)), (1, 70, 3, 66, (2, 5))]


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


@pytest.mark.parametrize('dtype,tol', [(numpy.complex64, 1e-5), (numpy.complex128, 1e-12)])
def test_conjugation_flags_accumulation_and_every_entry_point(emulated, rng, dtype, tol):
    called = []
    for bins in ((6, 5), (5, 5)):  # even bins: two-bin loads for complex64; odd: one-bin loads
        for conj_a in (False, True):
            for conj_b in (False, True):
                a = spectra(rng, (2, 3, 11) + bins, dtype)
                b = spectra(rng, (2, 5, 11) + bins, dtype)
                base = spectra(rng, (2, 3, 5) + bins, dtype)
                got = run_emulated(emulated, a, b, conj_a, conj_b, out=base.copy(), calls=called)
                want = base + numpy.einsum('gmkxy,gnkxy->gmnxy', a.conj() if conj_a else a,
                                           b.conj() if conj_b else b)
                numpy.testing.assert_allclose(got, want, rtol=tol, atol=tol * 11)
    assert {name for name, _ in called} == {name for name in ENTRY_POINTS if numpy.dtype(dtype).name + '_' in name}


@pytest.mark.parametrize('dtype', [numpy.complex64, numpy.complex128])
def test_launch_is_split_where_grid_y_or_z_would_pass_the_limit(emulated, rng, dtype):
    # A limit of 2 stands in for 65535: M = 70 rows are 3 or 5 m tiles (grid y), and N = 80
    # columns 3 or 5 n tiles, so one group alone passes the limit on grid z; 3 groups.
    block = launch.GEOMETRY[numpy.dtype(dtype).name]
    a = spectra(rng, (3, 70, 9, 7, 3), dtype)
    b = spectra(rng, (3, 80, 9, 7, 3), dtype)
    calls = []
    got = run_emulated(emulated, a, b, limit=2, calls=calls)
    numpy.testing.assert_allclose(got, spectral_product(a, b), rtol=1e-5, atol=1e-4)
    pieces = 3 * -(-70 // (2 * block.tile_m)) * -(-80 // (2 * block.tile_n))
    assert len(calls) == pieces > 3 and all(grid[1] <= 2 and grid[2] <= 2 for _, grid in calls)
    whole = run_emulated(emulated, a, b, calls=calls)
    assert calls[-1][1][1:] == (-(-70 // block.tile_m), 3 * -(-80 // block.tile_n))
    numpy.testing.assert_array_equal(got, whole)  # the same sums, in the same order


def test_split_at_the_cuda_limit():
    limit = launch.MAX_GRID_YZ
    tile = launch.GEOMETRY['complex128'].tile_m  # 16; complex64: 32
    rows = limit * tile
    pieces = launch.launch_pieces(1, rows + 1, 3, 'complex128')
    assert [m for _, m, _ in pieces] == [(0, rows), (rows, rows + 1)]
    pieces = launch.launch_pieces(70000, 5, 20, 'complex128')  # 2 n tiles per group: 32767 groups
    assert [g for g, _, _ in pieces] == [(0, 32767), (32767, 65534), (65534, 70000)]
    pieces = launch.launch_pieces(2, 5, rows + 40, 'complex128')  # one group alone passes the limit
    assert [(g, n) for g, _, n in pieces] == [((0, 1), (0, rows)), ((0, 1), (rows, rows + 40)),
                                              ((1, 2), (0, rows)), ((1, 2), (rows, rows + 40))]
    # every launch of a product too large for one grid stays within CUDA's limits; views of a
    # broadcast array cost no memory
    rows = limit * launch.GEOMETRY['complex64'].tile_m
    a = numpy.broadcast_to(numpy.zeros((1, 1, 1, 1), numpy.complex64), (1, rows + 5, 2, 1))
    b = numpy.zeros((1, 3, 2, 1), numpy.complex64)
    out = numpy.broadcast_to(numpy.zeros((1, 1, 1, 1), numpy.complex64), (1, rows + 5, 3, 1))
    plan = launch.launches(a, b, out)
    assert len(plan) == 2 and all(grid[1] <= limit and grid[2] <= limit for _, grid, _, _, _ in plan)
    assert sum(views[0].shape[1] for _, _, _, views, _ in plan) == rows + 5


def test_kernel_result_depends_on_its_barriers(tmp_path, rng):
    """The shim runs a block's threads one after another between barriers: built with the barrier
    a no-op, the kernel reads shared tiles that other threads have not written yet."""
    broken = build_emulator(tmp_path, '-DMINIFFT_SHIM_NO_BARRIER')
    a = spectra(rng, (1, 20, 12, 10), numpy.complex64)
    b = spectra(rng, (1, 20, 12, 10), numpy.complex64)
    got = run_emulated(broken, a, b)
    assert not numpy.allclose(got, spectral_product(a, b), rtol=1e-3, atol=1e-3)


def test_launch_rejects_bad_layouts():
    a = numpy.zeros((1, 2, 3, 4, 5), numpy.complex64)
    with pytest.raises(ValueError, match="frequency axes of a must be contiguous"):
        launch.bin_strides('spectral_product', 'a', a.transpose(0, 1, 2, 4, 3), 3)
    with pytest.raises(ValueError, match=r"do not agree on \(G, K, bins\)"):
        launch.check_operands(a, numpy.zeros((2, 2, 3, 4, 5), numpy.complex64))
    with pytest.raises(TypeError, match="expected two complex64 or two complex128"):
        launch.check_operands(a.real, a.real)


@pytest.mark.gpu
@pytest.mark.parametrize('dtype', ['complex64', 'complex128'])
def test_on_a_gpu_every_entry_point_and_a_launch_past_the_grid_limit(rng, dtype):
    """What the emulation cannot show: NVRTC's build and the real launches, including a product
    whose single launch would need grid y = 65536."""
    tol = 1e-5 if dtype == 'complex64' else 1e-12
    for bins in ((6, 5), (5, 5)):
        for conj_a in (False, True):
            for conj_b in (False, True):
                a = spectra(rng, (2, 35, 11) + bins, dtype)
                b = spectra(rng, (2, 40, 11) + bins, dtype)
                a_gpu, b_gpu = backend.to_device(a, 'cuda'), backend.to_device(b, 'cuda')
                got = launch.spectral_product(a_gpu, b_gpu, conj_a, conj_b)
                want = numpy.einsum('gmkxy,gnkxy->gmnxy', a.conj() if conj_a else a, b.conj() if conj_b else b)
                numpy.testing.assert_allclose(backend.to_numpy(got), want, rtol=tol, atol=tol * 11)
    rows = launch.MAX_GRID_YZ * launch.GEOMETRY[dtype].tile_m + 3
    a = spectra(rng, (1, rows, 2, 2), dtype)
    b = spectra(rng, (1, 3, 2, 2), dtype)
    got = launch.spectral_product(backend.to_device(a, 'cuda'), backend.to_device(b, 'cuda'))
    numpy.testing.assert_allclose(backend.to_numpy(got), numpy.einsum('gmkx,gnkx->gmnx', a, b), rtol=tol, atol=tol * 2)
