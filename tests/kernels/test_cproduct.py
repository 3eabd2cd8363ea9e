"""minifft/kernels/cproduct.c (spectral.HostProduct): the per-frequency complex product on the CPU
against numpy.einsum, on odd shapes, every conj combination, groups, both operand roles and any
operand strides, with NaN guards after the output."""
import itertools

import numpy
import pytest

from minifft import config
from minifft.conv import spectral
from minifft.kernels import host

pytestmark = pytest.mark.skipif(host.compiler() is None, reason="no C compiler here")

TOL = {numpy.complex64: 2e-5, numpy.complex128: 1e-13}


@pytest.fixture
def kernels_on():
    with config.using(cpu_kernels='on'):
        yield


def complex_array(rng, shape, dtype):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def einsum(a, b, conj_a, conj_b):
    a, b = a.astype(numpy.complex128), b.astype(numpy.complex128)
    return numpy.einsum('gmk...,gnk...->gmn...', a.conj() if conj_a else a, b.conj() if conj_b else b)


def check(got, a, b, conj_a, conj_b):
    want = einsum(a, b, conj_a, conj_b)
    assert got.shape == want.shape and got.dtype == a.dtype
    scale = numpy.sqrt(max(a.shape[2], 1)) * 4
    numpy.testing.assert_allclose(got, want, rtol=0, atol=TOL[a.dtype.type] * scale)


def laid_out(x, layout):
    """x (G, F, K, *bins) with the same values in another memory layout."""
    nb = x.ndim - 3
    bins = tuple(range(3, 3 + nb))
    if layout == 'bins-first':        # as fft._Spectra writes them: (*bins, G, F, K) in memory
        return numpy.ascontiguousarray(x.transpose(bins + (0, 1, 2))).transpose(
            tuple(range(nb, nb + 3)) + tuple(range(nb)))
    if layout == 'free-contiguous':   # (*bins, G, K, F) in memory: the free axis has stride 1
        return numpy.ascontiguousarray(x.transpose(bins + (0, 2, 1))).transpose(
            (nb, nb + 2, nb + 1) + tuple(range(nb)))
    if layout == 'strided':           # every other element of a larger array, one axis reversed
        big = numpy.zeros(tuple(2 * n for n in x.shape), x.dtype)
        view = big[tuple(slice(None, None, 2) for _ in x.shape)][:, ::-1]
        view[...] = x
        return view
    return x                          # C-contiguous (G, F, K, *bins): the bins fastest


SHAPES = [  # G, M, N, K, bins
    (1, 1, 1, 1, (1, 1)),
    (1, 3, 5, 7, (2, 3)),
    (2, 16, 24, 9, (3, 2)),
    (1, 17, 33, 5, (2, 1)),     # odd M, N past a vector (8 complex64, 4 complex128)
    (3, 9, 8, 4, (2, 2)),       # groups
    (1, 40, 23, 3, (1, 2)),     # more rows than a row block, a partial last vector
    (1, 7, 50, 40, (2,)),       # one bin axis
    (2, 5, 6, 11, ()),          # no bin axis
    (1, 9, 70, 300, (2,)),      # a vectorised operand over cproduct.c's BLOCK_BYTES: blocks of k
    (1, 70, 9, 300, (1, 1)),    # (accumulated in the output), partial last vectors
]


@pytest.mark.parametrize('dtype', [numpy.complex64, numpy.complex128])
@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('a_vector', [False, True])
def test_against_einsum_every_conj_and_layout(dtype, shape, a_vector, kernels_on, monkeypatch, rng):
    """Both operand roles (which operand is vectorised), every conj pair, operands C-contiguous,
    bins-first (the fft's layout), free axis contiguous and strided with a reversed axis."""
    monkeypatch.setattr(spectral, 'host_roles', lambda a, b, lanes: a_vector)
    G, M, N, K, bins = shape
    a, b = complex_array(rng, (G, M, K) + bins, dtype), complex_array(rng, (G, N, K) + bins, dtype)
    layouts = ['c', 'bins-first', 'free-contiguous', 'strided']
    for (la, lb), (conj_a, conj_b) in itertools.product(zip(layouts, layouts[1:] + layouts[:1]),
                                                        itertools.product([False, True], repeat=2)):
        got = spectral.PRODUCTS['host'](laid_out(a, la), laid_out(b, lb), conj_a, conj_b)
        check(got, a, b, conj_a, conj_b)


@pytest.mark.parametrize('dtype', [numpy.complex64, numpy.complex128])
def test_the_fft_passes_operands(dtype, kernels_on, rng):
    """The three passes' operands exactly as fft.py hands them over (bins-first spectra, grouped
    views, swapped axes), large enough to run in chunks on the thread pool; the output is stored
    bins-first (its readers take the leading axes in any order)."""
    G, S, fg, fog, bins = 2, 16, 12, 20, (8, 5)

    def spectrum(lead):
        return numpy.ascontiguousarray(complex_array(rng, bins + lead, dtype)).transpose((2, 3, 0, 1))
    X = spectrum((S, G * fg)).reshape((S, G, fg) + bins).swapaxes(0, 1)           # (G, S, f/G, ...)
    Wc = spectrum((G * fog, fg)).reshape((G, fog, fg) + bins)                       # (G, f'/G, f/G, ...)
    D = spectrum((S, G * fog)).reshape((S, G, fog) + bins).swapaxes(0, 1)          # (G, S, f'/G, ...)
    for a, b in ((X, Wc), (D, Wc.swapaxes(1, 2)), (D.swapaxes(1, 2), X.swapaxes(1, 2))):
        assert 8 * a.shape[1] * b.shape[1] * a.shape[2] * 40 * G >= spectral.THREADED_MIN_FLOPS / 10
        got = spectral.PRODUCTS['host'](a, b)
        check(got, a, b, False, False)
        assert max(got.strides[3:]) > max(got.strides[:3])


def test_large_products_split_over_the_pool_give_the_same_values(kernels_on, monkeypatch, rng):
    a = complex_array(rng, (1, 16, 64, 12, 7), numpy.complex64)
    b = complex_array(rng, (1, 48, 64, 12, 7), numpy.complex64)
    assert 8 * 16 * 48 * 64 * 84 >= spectral.THREADED_MIN_FLOPS
    pooled = spectral.PRODUCTS['host'](a, b)
    monkeypatch.setattr(spectral, 'cpu_thread_pool', lambda: None)
    numpy.testing.assert_array_equal(spectral.PRODUCTS['host'](a, b), pooled)
    check(pooled, a, b, False, False)


@pytest.mark.parametrize('dtype', [numpy.complex64, numpy.complex128])
@pytest.mark.parametrize('a_vector', [False, True])
def test_writes_nothing_past_its_output(dtype, a_vector, kernels_on, monkeypatch, rng):
    """NaN guards after the output buffer (a partial last vector is stored element by element)."""
    monkeypatch.setattr(spectral, 'host_roles', lambda a, b, lanes: a_vector)
    G, M, N, K, bins = 2, 5, 7, 3, (3, 1)
    a, b = complex_array(rng, (G, M, K) + bins, dtype), complex_array(rng, (G, N, K) + bins, dtype)
    lib, kind = spectral._host_library(a, b)
    P, Q = (N, M) if a_vector else (M, N)
    size = 3 * G * P * Q
    buffer = numpy.full(size + 64, numpy.nan, dtype)
    out = buffer[:size].reshape((3, 1, G, P, Q))
    result, chose_a = spectral.host_product(lib, kind, a, b, out=out)
    assert result is out and chose_a == a_vector
    assert numpy.isnan(buffer[size:]).all()
    got = out.transpose((2, 4, 3, 0, 1) if a_vector else (2, 3, 4, 0, 1))
    check(got, a, b, False, False)


@pytest.mark.parametrize('dtype', [numpy.complex64, numpy.complex128])
def test_nan_and_inf_reach_what_einsum_says(dtype, kernels_on, rng):
    G, M, N, K, bins = 1, 9, 11, 6, (2, 2)
    a, b = complex_array(rng, (G, M, K) + bins, dtype), complex_array(rng, (G, N, K) + bins, dtype)
    a[0, 2, 3, 1, 0] = numpy.nan
    b[0, 4, 1, 0, 1] = complex(numpy.inf, 0)
    for a_vector in (False, True):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(spectral, 'host_roles', lambda a, b, lanes: a_vector)
            got = spectral.PRODUCTS['host'](a, b)
        with numpy.errstate(invalid='ignore'):
            want = einsum(a, b, False, False)
        assert numpy.isnan(got[0, 2, :, 1, 0]).all()
        numpy.testing.assert_array_equal(numpy.isfinite(got), numpy.isfinite(want))
        finite = numpy.isfinite(want)
        numpy.testing.assert_allclose(got[finite], want[finite], atol=TOL[a.dtype.type] * 20)


def test_empty_sums_are_zero_and_empty_outputs_are_fine(kernels_on, rng):
    a = complex_array(rng, (2, 3, 0, 2, 2), numpy.complex64)
    b = complex_array(rng, (2, 9, 0, 2, 2), numpy.complex64)
    got = spectral.PRODUCTS['host'](a, b)
    assert got.shape == (2, 3, 9, 2, 2) and not got.any()
    assert spectral.PRODUCTS['host'](a[:, :0], b).shape == (2, 0, 9, 2, 2)


def test_the_numpy_path_runs_where_the_kernel_does_not_serve(monkeypatch, rng):
    """cpu_kernels='off', other dtypes (float inputs) and more than two bin axes go to MatmulProduct."""
    calls = []
    real = spectral.host_product
    monkeypatch.setattr(spectral, 'host_product', lambda *args, **kw: calls.append(1) or real(*args, **kw))
    a, b = complex_array(rng, (1, 3, 4, 2, 2), numpy.complex64), complex_array(rng, (1, 5, 4, 2, 2), numpy.complex64)
    with config.using(cpu_kernels='off'):
        check(spectral.PRODUCTS['host'](a, b), a, b, False, False)
    with config.using(cpu_kernels='on'):
        x, y = a.real.copy(), b.real.copy()
        numpy.testing.assert_allclose(spectral.PRODUCTS['host'](x, y), numpy.einsum('gmk...,gnk...->gmn...', x, y),
                                      rtol=1e-5)
        deep_a, deep_b = a[..., None], b[..., None]
        check(spectral.PRODUCTS['host'](deep_a, deep_b), deep_a, deep_b, False, False)
        assert calls == []
        check(spectral.PRODUCTS['host'](a, b), a, b, False, False)
        assert calls == [1]
