"""minifft/kernels/normalization.c called directly: the training forward (statistics, inv_std and
y in one call) and the backward, over chunks of channels as the thread pool runs them, against
float64 formulas, with NaN guards after every output, NaN and infinities kept in their channel,
and inputs whose planes sit far from each other and from zero (the statistics' cancellation)."""
import ctypes

import numpy
import pytest

from minifft import config
from minifft.kernels import host
from tests.functions.test_normalization import reference_batch_norm

pytestmark = pytest.mark.skipif(host.compiler() is None, reason="no C compiler here")

P, S = ctypes.c_void_p, ctypes.c_ssize_t
EPS = 1e-5


def _guarded(shape, dtype, tail=24):
    """An output of ``shape`` inside a NaN-filled buffer, and the guard after it."""
    size = int(numpy.prod(shape))
    buf = numpy.full(size + tail, numpy.nan, dtype)
    return buf[:size].reshape(shape), buf[size:]


def _library(dtype):
    with config.using(cpu_kernels='on'):
        return host.library_for('normalization', numpy.zeros(1, dtype))


def _workspace(lib, c, hw):
    from minifft.functions.normalization import _workspace
    return _workspace(lib)(c, hw)


def _chunks(c, pieces):
    bounds = [c * i // pieces for i in range(pieces + 1)]
    return list(zip(bounds, bounds[1:]))


def _train_forward(x, gamma, beta, pieces):
    lib, suffix = _library(x.dtype)
    n, c = x.shape[:2]
    run = host.function(lib, f'batch_norm_train_forward_{suffix}', P, P, P, P, P, P, P, P, ctypes.c_double,
                        S, S, S, S, S)
    (y, gy_), (mean, gm), (var, gv), (inv, gi) = (_guarded(s, x.dtype) for s in (x.shape, (c,), (c,), (c,)))
    work, gw = _guarded((_workspace(lib, c, x[0, 0].size),), numpy.float64)
    for lo, hi in _chunks(c, pieces):
        run(*(host.pointer(a) for a in (x, y, mean, var, inv, gamma, beta, work)), EPS, n, c, x[0, 0].size, lo, hi)
    for guard in (gy_, gm, gv, gi, gw):
        assert numpy.isnan(guard).all()
    return y, mean, var, inv


def _backward(x, gy, mean, inv, gamma, training, pieces):
    lib, suffix = _library(x.dtype)
    n, c = x.shape[:2]
    run = host.function(lib, f'batch_norm_backward_{suffix}', P, P, P, P, P, P, P, P, P, ctypes.c_int,
                        S, S, S, S, S)
    (gx, gg), (gbeta, gb), (ggamma, gc) = (_guarded(s, x.dtype) for s in (x.shape, (c,), (c,)))
    work, gw = _guarded((_workspace(lib, c, x[0, 0].size),), numpy.float64)
    for lo, hi in _chunks(c, pieces):
        run(*(host.pointer(a) for a in (x, gy, gx, mean, inv, gamma, gbeta, ggamma, work)), int(training),
            n, c, x[0, 0].size, lo, hi)
    for guard in (gg, gb, gc, gw):
        assert numpy.isnan(guard).all()
    return gx, gbeta, ggamma


@pytest.mark.parametrize('dtype, tol', [(numpy.float32, 3e-5), (numpy.float64, 1e-11)])
@pytest.mark.parametrize('shape', [(1, 1, 1), (2, 3, 1), (3, 5, 7), (4, 7, 31), (4, 7, 32), (5, 3, 33), (2, 9, 130)])
@pytest.mark.parametrize('pieces', [1, 2, 3])
@pytest.mark.parametrize('training', [True, False])
def test_forward_and_backward_match_the_formulas(shape, pieces, training, dtype, tol, rng):
    """(N, C, HW) with odd sizes, planes of one value and of more than a vector, on both sides of
    SMALL_PLANE (32: smaller planes sum per position), in chunks of channels; the statistics of
    planes far apart and far from zero (cancellation in a one-pass sum of squares would show)."""
    pieces = min(pieces, shape[1])
    offsets = rng.uniform(-1, 1, shape[:2] + (1,)) * 50 + 300
    x = (rng.standard_normal(shape) + offsets).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    gamma, beta = rng.standard_normal(shape[1]).astype(dtype), rng.standard_normal(shape[1]).astype(dtype)
    x64 = x.astype(numpy.float64)
    rmean, rvar = x64.mean(axis=(0, 2)), x64.var(axis=(0, 2))   # eval: given the batch's own statistics
    rinv = 1 / numpy.sqrt(rvar + EPS)
    ry, rgx, rggamma, rgbeta, _, _ = reference_batch_norm(x, gamma, beta, gy, EPS, training, rmean, rvar)
    y, mean, var, inv = _train_forward(x, gamma, beta, pieces)
    numpy.testing.assert_allclose(mean, rmean, rtol=tol)
    numpy.testing.assert_allclose(var, rvar, rtol=10 * tol, atol=tol)
    # inv_std as NumPy computes it from var, to the last bit
    numpy.testing.assert_array_equal(inv, 1 / numpy.sqrt(var + dtype(EPS)))
    numpy.testing.assert_allclose(y, ry, rtol=10 * tol, atol=10 * tol * numpy.abs(ry).max())
    gx, gbeta, ggamma = _backward(x, gy, rmean.astype(dtype), rinv.astype(dtype), gamma, training, pieces)
    scale = numpy.abs(rgx).max() + 1
    numpy.testing.assert_allclose(gx, rgx, rtol=30 * tol, atol=30 * tol * scale)
    numpy.testing.assert_allclose(gbeta, rgbeta, rtol=tol, atol=tol * numpy.sqrt(x[:, 0].size))
    numpy.testing.assert_allclose(ggamma, rggamma, rtol=tol, atol=10 * tol * numpy.sqrt(x[:, 0].size))


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
@pytest.mark.parametrize('shape', [(2, 3, 1), (3, 5, 7), (4, 7, 31), (4, 7, 32), (2, 9, 130)])
@pytest.mark.parametrize('pieces', [1, 2])
def test_forward_with_given_statistics_to_the_bit(shape, pieces, dtype, rng):
    """batch_norm_forward (eval: the caller's mean and inv_std) rounds as NumPy's
    ((x - mean) * inv_std) * gamma + beta, small planes and large, with NaN guards."""
    lib, suffix = _library(dtype)
    n, c, hw = shape
    x = rng.standard_normal(shape).astype(dtype)
    mean, inv, gamma, beta = (rng.standard_normal(c).astype(dtype) for _ in range(4))
    run = host.function(lib, f'batch_norm_forward_{suffix}', *(P,) * 7, S, S, S, S, S)
    (y, gy_), (work, gw) = _guarded(shape, dtype), _guarded((_workspace(lib, c, hw),), numpy.float64)
    for lo, hi in _chunks(c, pieces):
        run(*(host.pointer(a) for a in (x, y, mean, inv, gamma, beta, work)), n, c, hw, lo, hi)
    assert numpy.isnan(gy_).all() and numpy.isnan(gw).all()
    shape1 = (1, c, 1)
    expected = ((x - mean.reshape(shape1)) * inv.reshape(shape1)) * gamma.reshape(shape1) + beta.reshape(shape1)
    numpy.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
@pytest.mark.parametrize('bad', [numpy.nan, numpy.inf, -numpy.inf])
@pytest.mark.parametrize('plane', [0, 2])
@pytest.mark.parametrize('hw', [10, 40])
def test_nan_and_inf_stay_in_their_channel(bad, plane, hw, dtype, rng):
    """In the first plane too, whose mean the squares are gathered about; small planes and large."""
    x = rng.standard_normal((3, 4, hw)).astype(dtype)
    x[plane, 1, 7] = bad
    gamma, beta = numpy.ones(4, dtype), numpy.zeros(4, dtype)
    y, mean, var, inv = _train_forward(x, gamma, beta, 2)
    numpy.testing.assert_equal(mean[1], x[:, 1].astype(numpy.float64).mean())   # inf stays inf, as in NumPy
    assert numpy.isnan(var[1]) and numpy.isnan(y[:, 1]).all()
    assert numpy.isfinite(numpy.delete(y, 1, axis=1)).all() and numpy.isfinite(numpy.delete(var, 1)).all()
    gy = rng.standard_normal(x.shape).astype(dtype)
    gy[0, 2, 3] = numpy.nan
    gx, gbeta, ggamma = _backward(x, gy, mean, inv, gamma, True, 2)
    for channel in (1, 2):
        assert numpy.isnan(gx[:, channel]).all() and numpy.isnan(ggamma[channel])
    assert numpy.isfinite(gx[:, [0, 3]]).all() and numpy.isfinite(gbeta[[0, 3]]).all()
