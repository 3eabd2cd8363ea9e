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


def _windows_reference(a, x, win, vp, oh, ow):
    """out[s, g] = a[g] @ B(s, g), B[(c, t), (i, j)] = x[s, g * Cg + c, win[t] + i * vp + j], in float64."""
    G, M, K = a.shape
    S, C, _ = x.shape
    T = len(win)
    at = (numpy.arange(oh)[:, None] * vp + numpy.arange(ow)).ravel()
    B = x[:, :, win[:, None] + at].astype(numpy.float64)                     # (S, C, T, oh * ow)
    B = B.reshape(S, G, (C // G) * T, oh * ow)
    return numpy.matmul(a.astype(numpy.float64), B).reshape(S, G, M, oh, ow)


# (S, G, M, Cg, taps, oh, ow, vp): panels are 2 vectors wide (32 float32, 16 float64), taken straight
# from x where ow is one vector (two output rows a panel), half of one (four) or a multiple of two,
# else copied run by run
WINDOWS = [(2, 1, 32, 16, 9, 16, 16, 17),    # float32: ow = one vector, whole panels from x
           (3, 1, 13, 5, 9, 7, 16, 18),      # odd oh: the last panel one row (copied), M % 8 != 0
           (1, 2, 5, 3, 4, 5, 32, 33),       # ow = a panel (float32), groups
           (2, 1, 9, 25, 9, 8, 8, 9),        # K = 225 > 192: two K blocks; ow = one float64 vector, half a float32
           (1, 1, 10, 3, 4, 9, 4, 6),        # ow = half a float64 vector: four rows a panel, the last panel copied
           (1, 1, 3, 2, 1, 3, 5, 5),         # runs of 5: panels across output rows, vp = ow
           (1, 3, 8, 2, 3, 9, 1, 4),         # one column: a run per output row
           (2, 1, 16, 4, 6, 4, 48, 50)]      # ow = 3 float32 vectors, a multiple of a float64 panel


@pytest.mark.parametrize('dtype, tol', DTYPES)
@pytest.mark.parametrize('S, G, M, Cg, taps, oh, ow, vp', WINDOWS)
def test_windows_matches_its_reference(S, G, M, Cg, taps, oh, ow, vp, dtype, tol, rng):
    """Windows at scattered offsets; everything in x outside them NaN, so a stray read of a lane
    outside a window that reached an output would show."""
    room = (oh - 1) * vp + ow
    win = rng.choice(3 * room, taps, replace=False).astype(numpy.intp)
    L = int(win.max()) + room + 64 // numpy.dtype(dtype).itemsize
    x = numpy.full((S, G * Cg, L), numpy.nan, dtype)
    inside = numpy.zeros(L, bool)
    for t in win:
        inside[t + (numpy.arange(oh)[:, None] * vp + numpy.arange(ow)).ravel()] = True
    x[:, :, inside] = rng.standard_normal((S, G * Cg, int(inside.sum())))
    a = rng.standard_normal((G, M, Cg * taps)).astype(dtype)
    out, guard = _guarded((S, G, M, oh, ow), dtype)
    gemm.windows(a, x, win, vp, out)
    assert numpy.isnan(guard).all()
    numpy.testing.assert_allclose(out, _windows_reference(a, x, win, vp, oh, ow), rtol=tol,
                                  atol=_tolerance(tol, Cg * taps))


@pytest.mark.parametrize('dtype, tol', DTYPES)
@pytest.mark.parametrize('S, G, M, Cg, taps, oh, ow, vp', WINDOWS[:4])
def test_windows_without_scratch_matches_its_reference(S, G, M, Cg, taps, oh, ow, vp, dtype, tol, rng, monkeypatch):
    """gemm_windows' path for when its scratch (packed A, row table) cannot be allocated, called directly."""
    lib, suffix = gemm.library(numpy.empty(1, dtype))
    plain = host.function(lib, f'gemm_windows_plain_{suffix}', *gemm._WINDOWS)
    monkeypatch.setattr(host, 'function', lambda lib, symbol, *types: plain)
    test_windows_matches_its_reference(S, G, M, Cg, taps, oh, ow, vp, dtype, tol, rng)


@pytest.mark.parametrize('dtype, tol', DTYPES)
@pytest.mark.parametrize('S, G, M, Cg, taps, oh, ow, vp', WINDOWS)
def test_nt_windows_matches_its_reference(S, G, M, Cg, taps, oh, ow, vp, dtype, tol, rng):
    """The weight gradient over the same windows: out[g] = sum_s A(s, g) @ b[s, g].T (M here is
    N, the columns of out), NaN everywhere outside the windows, accumulation with add."""
    room = (oh - 1) * vp + ow
    win = rng.choice(3 * room, taps, replace=False).astype(numpy.intp)
    L = int(win.max()) + room + 64 // numpy.dtype(dtype).itemsize
    x = numpy.full((S, G * Cg, L), numpy.nan, dtype)
    at = (numpy.arange(oh)[:, None] * vp + numpy.arange(ow)).ravel()
    inside = numpy.zeros(L, bool)
    inside[(win[:, None] + at).ravel()] = True
    x[:, :, inside] = rng.standard_normal((S, G * Cg, int(inside.sum())))
    b = rng.standard_normal((S, G, M, oh, ow)).astype(dtype)
    A = x[:, :, win[:, None] + at].astype(numpy.float64).reshape(S, G, Cg * taps, oh * ow)
    want = numpy.einsum('sgkp,sgnp->gkn', A, b.reshape(S, G, M, oh * ow).astype(numpy.float64))
    out, guard = _guarded((G, Cg * taps, M), dtype)
    gemm.nt_windows(x, win, vp, b, out)
    assert numpy.isnan(guard).all()
    atol = _tolerance(tol, S * oh * ow)
    numpy.testing.assert_allclose(out, want, rtol=tol, atol=atol)
    c0 = rng.standard_normal(out.shape).astype(dtype)
    out[...] = c0
    gemm.nt_windows(x, win, vp, b, out, add=True)
    numpy.testing.assert_allclose(out, c0 + want, rtol=tol, atol=atol)
    assert numpy.isnan(guard).all()


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
@pytest.mark.parametrize('ow', [16, 5])   # panels from x, panels copied
def test_windows_propagate_nan_and_inf(dtype, ow, rng):
    oh, vp, taps = 4, ow + 2, 2
    win = numpy.array([0, vp * oh], numpy.intp)
    x = rng.standard_normal((1, 3, 2 * vp * oh + 64)).astype(dtype)
    a = rng.standard_normal((1, 9, 3 * taps)).astype(dtype)
    x[0, 1, vp + 2] = numpy.nan                  # output (1, 2) of every row of the product
    x[0, 2, vp * oh + 3 * vp] = numpy.inf        # output (3, 0)
    out = numpy.empty((1, 1, 9, oh, ow), dtype)
    gemm.windows(a, x, win, vp, out)
    expected = _windows_reference(a, x, win, vp, oh, ow)
    numpy.testing.assert_array_equal(numpy.isnan(out), numpy.isnan(expected))
    numpy.testing.assert_array_equal(numpy.isinf(out), numpy.isinf(expected))
    assert numpy.isnan(out[0, 0, :, 1, 2]).all()
    gw = numpy.empty((1, 3 * taps, 9), dtype)                   # and the weight gradient
    gy = rng.standard_normal((1, 1, 9, oh, ow)).astype(dtype)
    gemm.nt_windows(x, win, vp, gy, gw)
    A = x[0][:, win[:, None] + (numpy.arange(oh)[:, None] * vp + numpy.arange(ow)).ravel()]
    expected = A.reshape(3 * taps, oh * ow) @ gy.reshape(9, oh * ow).T
    numpy.testing.assert_array_equal(numpy.isnan(gw[0]), numpy.isnan(expected))
    numpy.testing.assert_array_equal(numpy.isinf(gw[0]), numpy.isinf(expected))
    assert numpy.isnan(gw[0, 2]).all()   # channel 1, tap 0 sees the NaN


def test_windows_bad_arguments_name_the_op():
    f = numpy.float32
    a, out = numpy.ones((1, 4, 6), f), numpy.empty((1, 1, 4, 2, 3), f)
    win = numpy.array([0, 1], numpy.intp)
    with pytest.raises(ValueError, match=r"gemm\.windows: expected a \(G, M, Cg \* T\)"):
        gemm.windows(a, numpy.ones((1, 2, 40), f), numpy.array([0, 1, 2, 3], numpy.intp), 4, out)
    with pytest.raises(ValueError, match=r"gemm\.windows: expected C-contiguous arrays and intp"):
        gemm.windows(a, numpy.ones((1, 3, 40), f), win.astype(numpy.int32), 4, out)
    with pytest.raises(ValueError, match=r"gemm\.windows: expected windows .* inside x's 20 elements"):
        gemm.windows(a, numpy.ones((1, 3, 20), f), win, 4, out)   # 1 + 4 + 2 + 15 past the end
    with pytest.raises(ValueError, match=r"gemm\.windows: expected windows"):
        gemm.windows(a, numpy.ones((1, 3, 40), f), numpy.array([0, -1], numpy.intp), 4, out)
    gemm.windows(a, numpy.ones((1, 3, 40), f), win, 4, out)
    numpy.testing.assert_array_equal(out, 6)
    gw = numpy.empty((1, 6, 4), f)
    with pytest.raises(ValueError, match=r"gemm\.nt_windows: expected x \(S, G \* Cg, L\)"):
        gemm.nt_windows(numpy.ones((1, 3, 40), f), win, 4, numpy.ones((1, 1, 5, 2, 3), f), gw)
    with pytest.raises(ValueError, match=r"gemm\.nt_windows: expected windows"):
        gemm.nt_windows(numpy.ones((1, 3, 20), f), win, 4, numpy.ones((1, 1, 4, 2, 3), f), gw)
    gemm.nt_windows(numpy.ones((1, 3, 40), f), win, 4, numpy.ones((1, 1, 4, 2, 3), f), gw)
    numpy.testing.assert_array_equal(gw, 6)
