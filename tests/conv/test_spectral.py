"""The per-frequency product backends: BLAS/cuBLAS matmul on bins-first spectra, the C kernel
(cproduct.c) on the CPU's bins-first spectra, the RawKernel on bins-last, each registered so auto
times them per layer on the GPU."""
import numpy
import pytest

from minifft import backend, conv
from minifft.conv import spectral
from minifft.conv.geometry import ConvGeometry
from tests.conv.reference import conv2d_reference
from tests.conv.test_groups import grouped_reference


def test_gpu_candidates_are_both_products_and_direct():
    g = ConvGeometry(4, 8, 8, 16, 16, 5, 5, 2, 2, 1, 1, 2)
    assert set(conv.candidates(g, 'cuda')) == {'fft', 'fft-cublas', 'fft-tiled', 'direct'}
    assert set(conv.candidates(g, 'cpu')) == {'fft', 'fft-tiled', 'direct'}   # cuBLAS only where there is a GPU


def fft_core(name):
    """The FFTConvolution inside a registered Chunked(Polyphase(...))."""
    algorithm = conv.get(name)
    while not isinstance(algorithm, conv.FFTConvolution):
        algorithm = algorithm.inner
    return algorithm


def test_each_fft_variant_names_its_product_and_layout():
    assert fft_core('fft').product_for('cuda').name == 'rawkernel'
    assert fft_core('fft').product_for('cpu').name == 'host' and spectral.PRODUCTS['host'].bins_first
    cublas = fft_core('fft-cublas').product_for('cuda')
    assert cublas.name == 'matmul' and cublas.bins_first
    assert not spectral.PRODUCTS['rawkernel'].bins_first


@pytest.mark.parametrize('conj_a,conj_b', [(False, False), (True, False), (False, True)])
def test_matmul_product_against_einsum(conj_a, conj_b, device, rng):
    shape_a, shape_b = (2, 3, 4, 5, 6), (2, 7, 4, 5, 6)
    a = rng.standard_normal(shape_a) + 1j * rng.standard_normal(shape_a)
    b = rng.standard_normal(shape_b) + 1j * rng.standard_normal(shape_b)
    got = spectral.PRODUCTS['matmul'](backend.to_device(a, device), backend.to_device(b, device), conj_a, conj_b)
    want = numpy.einsum('gmk...,gnk...->gmn...', a.conj() if conj_a else a, b.conj() if conj_b else b)
    numpy.testing.assert_allclose(backend.to_numpy(got), want, atol=1e-12)


@pytest.mark.parametrize('stride,padding,groups', [(1, 1, 1), (2, 1, 2)])
def test_the_cublas_variant_code_runs_the_reference_on_any_device(stride, padding, groups, device, rng):
    """'fft-cublas' is the CPU path's code with xp: the same class, allowed on this device here."""
    algorithm = conv.Chunked(conv.Polyphase(conv.FFTConvolution(product='matmul', name='fft-matmul',
                                                                devices=('cpu', 'cuda'))))
    g = ConvGeometry(2, 4, 6, 9, 8, 3, 3, stride, stride, padding, padding, groups)
    x, w = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 4 // groups, 3, 3))
    gy = rng.standard_normal(g.output_shape)
    xd, wd, gyd = (backend.to_device(a, device) for a in (x, w, gy))
    y, saved = algorithm.forward(xd, wd, g)
    ctx = algorithm.backward_setup(saved, gyd, g)
    got = [backend.to_numpy(a) for a in (y, algorithm.backward_input(ctx, g), algorithm.backward_weight(ctx, g))]
    if groups == 1:
        for a, b in zip(got, conv2d_reference(x, w, gy, (stride,) * 2, (padding,) * 2)):
            numpy.testing.assert_allclose(a, b, atol=1e-10)
    direct = conv.get('direct')
    y2, saved2 = direct.forward(xd, wd, g)
    ctx2 = direct.backward_setup(saved2, gyd, g)
    for a, b in zip(got, (y2, direct.backward_input(ctx2, g), direct.backward_weight(ctx2, g))):
        numpy.testing.assert_allclose(a, backend.to_numpy(b), atol=1e-10)


@pytest.mark.parametrize('M,N', [(4, 64), (64, 4), (16, 16)])
def test_cpu_product_either_orientation_through_the_thread_pool(M, N, rng):
    """The CPU product computes C^T = B^T A^T when M < N (its output then stored with M fastest):
    both orientations, large enough to run in bin chunks on the thread pool, give the einsum's
    values in the (G, M, N, *bins) shape."""
    K, bins = 40, (16, 9)
    assert 8 * M * K * N * 16 * 9 >= spectral.THREADED_MIN_FLOPS
    a = (rng.standard_normal((1, M, K) + bins) + 1j * rng.standard_normal((1, M, K) + bins)).astype(numpy.complex64)
    b = (rng.standard_normal((1, N, K) + bins) + 1j * rng.standard_normal((1, N, K) + bins)).astype(numpy.complex64)
    got = spectral.PRODUCTS['matmul'](a, b)
    assert got.shape == (1, M, N) + bins and got.dtype == numpy.complex64
    want = numpy.einsum('gmk...,gnk...->gmn...', a.astype(numpy.complex128), b.astype(numpy.complex128))
    numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('dtype', [numpy.float64, numpy.float32])
@pytest.mark.parametrize('S,f,fo,n,k,stride,padding,groups', [
    (2, 4, 6, 9, 3, 1, 1, 1), (3, 6, 9, 10, 4, 1, 2, 3), (2, 8, 8, 11, 5, 2, 1, 4), (1, 20, 18, 12, 3, 1, 0, 2),
    (17, 9, 11, 8, 3, 1, 1, 1)])
def test_fft_through_each_cpu_product_matches_the_reference(S, f, fo, n, k, stride, padding, groups, dtype,
                                                          cpu_kernels, monkeypatch, rng):
    """The registered fft on the CPU: its products through cproduct.c (compiled; each pass's output
    in the memory order the kernel chose, grouped or not) or through numpy.matmul (numpy)."""
    calls = []
    real = spectral.host_product
    monkeypatch.setattr(spectral, 'host_product', lambda *a, **kw: calls.append(1) or real(*a, **kw))
    x = rng.standard_normal((S, f, n, n)).astype(dtype)
    w = rng.standard_normal((fo, f // groups, k, k)).astype(dtype)
    algorithm = conv.get('fft')
    g = ConvGeometry(S, f, fo, n, n, k, k, stride, stride, padding, padding, groups)
    y, saved = algorithm.forward(x, w, g)
    gy = rng.standard_normal(y.shape).astype(dtype)
    ctx = algorithm.backward_setup(saved, gy, g)
    got = (y, algorithm.backward_input(ctx, g), algorithm.backward_weight(ctx, g))
    want = grouped_reference(x.astype(numpy.float64), w.astype(numpy.float64), gy.astype(numpy.float64),
                             (stride,) * 2, (padding,) * 2, groups)
    for a, b in zip(got, want):
        assert a.dtype == dtype and a.shape == b.shape
        numpy.testing.assert_allclose(a, b, atol=(1e-10 if dtype == numpy.float64 else 2e-4) * max(abs(b).max(), 1))
    assert (len(calls) >= 3) == (cpu_kernels == 'compiled')


@pytest.mark.parametrize('n', [1, 2, 5, 7, 64, 101])
@pytest.mark.parametrize('pieces', [1, 2, 3, 6])
def test_even_slices_cover_the_range_in_near_equal_order(n, pieces):
    if pieces > n:
        pieces = n
    chunks = spectral.even_slices(n, pieces)
    assert len(chunks) == pieces
    assert [i for c in chunks for i in range(n)[c]] == list(range(n))
    lengths = [c.stop - c.start for c in chunks]
    assert max(lengths) - min(lengths) <= 1
