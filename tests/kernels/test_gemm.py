"""minifft/kernels/gemm.c through gemm.py: batched nn and nt products against numpy.matmul on odd
shapes (1, non-multiples of the vector width and of the register tile), strided and transposed
operands, accumulation, NaN guards after the outputs, NaN and infinities propagating."""
import numpy
import pytest

from minifft import config
from minifft.kernels import gemm, host

pytestmark = pytest.mark.skipif(host.compiler() is None, reason="no C compiler here")

DTYPES = [(numpy.float32, 2e-5), (numpy.float64, 1e-12)]
# (G, M, K, N): the register tile is 8 x 2 vectors (nn) and 4 x 4 (nt); K blocks of 192 (nn)
SHAPES = [(1, 1, 1, 1), (3, 7, 5, 33), (2, 8, 16, 32), (1, 9, 193, 17), (2, 13, 31, 65), (1, 32, 400, 47),
          (4, 17, 3, 8)]


def _guarded(shape, dtype, tail=40):
    """An output of ``shape`` inside a NaN-filled buffer, and the guard after it."""
    size = int(numpy.prod(shape))
    buf = numpy.full(size + tail, numpy.nan, dtype)
    return buf[:size].reshape(shape), buf[size:]


def _tolerance(tol, K):
    return tol * max(1, K) ** 0.5


@pytest.fixture(autouse=True)
def _kernels_on():
    with config.using(cpu_kernels='on'):
        yield


@pytest.mark.parametrize('dtype, tol', DTYPES)
@pytest.mark.parametrize('G, M, K, N', SHAPES)
@pytest.mark.parametrize('transpose_a', [False, True])
def test_nn_matches_matmul(G, M, K, N, transpose_a, dtype, tol, rng):
    a = rng.standard_normal((G, K, M) if transpose_a else (G, M, K)).astype(dtype)
    a = a.swapaxes(1, 2) if transpose_a else a
    b = rng.standard_normal((G, K, N)).astype(dtype)
    out, guard = _guarded((G, M, N), dtype)
    gemm.nn(a, b, out)
    numpy.testing.assert_allclose(out, numpy.matmul(a, b), rtol=tol, atol=_tolerance(tol, K))
    assert numpy.isnan(guard).all()
    c0 = rng.standard_normal((G, M, N)).astype(dtype)
    out[...] = c0
    gemm.nn(a, b, out, add=True)
    numpy.testing.assert_allclose(out, c0 + numpy.matmul(a, b), rtol=tol, atol=_tolerance(tol, K))
    assert numpy.isnan(guard).all()


@pytest.mark.parametrize('dtype, tol', DTYPES)
def test_nn_strided_views_and_shared_operand(dtype, tol, rng):
    # b and out are column windows of wider rows (row strides above N), a is one matrix for all g
    a = rng.standard_normal((1, 11, 6)).astype(dtype)
    b = rng.standard_normal((3, 6, 50)).astype(dtype)[:, :, 5:42]
    wide = numpy.full((3, 11, 60), numpy.nan, dtype)
    out = wide[:, :, 10:47]
    gemm.nn(numpy.broadcast_to(a, (3, 11, 6)), b, out)
    numpy.testing.assert_allclose(out, numpy.matmul(a, b), rtol=tol, atol=_tolerance(tol, 6))
    assert numpy.isnan(wide[:, :, :10]).all() and numpy.isnan(wide[:, :, 47:]).all()


@pytest.mark.parametrize('dtype, tol', DTYPES)
@pytest.mark.parametrize('G, R, M, N, K', [(1, 1, 1, 1, 1), (2, 3, 5, 7, 17), (3, 1, 16, 32, 100),
                                           (1, 2, 9, 6, 15), (2, 2, 4, 4, 64), (1, 1, 6, 13, 0)])
def test_nt_matches_matmul(G, R, M, N, K, dtype, tol, rng):
    a = rng.standard_normal((G, R, M, K)).astype(dtype)
    b = rng.standard_normal((G, R, N, K)).astype(dtype)
    expected = numpy.matmul(a, b.swapaxes(2, 3)).sum(axis=1)
    out, guard = _guarded((G, M, N), dtype)
    gemm.nt(a, b, out)
    numpy.testing.assert_allclose(out, expected, rtol=tol, atol=_tolerance(tol, R * K))
    assert numpy.isnan(guard).all()
    gemm.nt(a, b, out, add=True)
    numpy.testing.assert_allclose(out, 2 * expected, rtol=tol, atol=_tolerance(tol, R * K))
    assert numpy.isnan(guard).all()


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
def test_nan_and_inf_propagate(dtype, rng):
    a = rng.standard_normal((1, 9, 20)).astype(dtype)
    b = rng.standard_normal((1, 20, 35)).astype(dtype)
    a[0, 2, 3] = numpy.nan            # row 2 of the product is NaN
    b[0, 4, 33] = numpy.inf           # column 33 (in the tail panel) is +-inf or NaN
    out = numpy.empty((1, 9, 35), dtype)
    gemm.nn(a, b, out)
    expected = numpy.matmul(a, b)
    numpy.testing.assert_array_equal(numpy.isnan(out), numpy.isnan(expected))
    numpy.testing.assert_array_equal(numpy.isinf(out), numpy.isinf(expected))
    assert numpy.isnan(out[0, 2]).all()

    at = numpy.ascontiguousarray(a[:, None])
    bt = numpy.ascontiguousarray(b.swapaxes(1, 2)[:, None])
    out = numpy.empty((1, 9, 35), dtype)
    gemm.nt(at, bt, out)
    numpy.testing.assert_array_equal(numpy.isnan(out), numpy.isnan(expected))
    numpy.testing.assert_array_equal(numpy.isinf(out), numpy.isinf(expected))


def test_bad_arguments_name_the_op():
    a = numpy.ones((1, 2, 3), numpy.float32)
    with pytest.raises(ValueError, match=r"gemm\.nn: expected a \(G, M, K\)"):
        gemm.nn(a, numpy.ones((1, 4, 5), numpy.float32), numpy.empty((1, 2, 5), numpy.float32))
    with pytest.raises(ValueError, match=r"gemm\.nn: expected NumPy arrays of one dtype"):
        gemm.nn(a, numpy.ones((1, 3, 5), numpy.float64), numpy.empty((1, 2, 5), numpy.float32))
    with pytest.raises(ValueError, match=r"gemm\.nn: expected the last axis of b contiguous"):
        gemm.nn(a, numpy.ones((1, 5, 3), numpy.float32).swapaxes(1, 2), numpy.empty((1, 2, 5), numpy.float32))
    with pytest.raises(ValueError, match=r"gemm\.nt: expected a \(G, R, M, K\)"):
        gemm.nt(a[None], numpy.ones((1, 1, 4, 2), numpy.float32), numpy.empty((1, 2, 4), numpy.float32))
