"""minifft/kernels/activation.c called directly: ReLU forward, backward and the backward of two
gradients' sum over chunks of flat arrays (odd lengths, partial vectors), against NumPy to the
bit, with NaN guards after every output and NaN, infinities and signed zeros as NumPy gives them."""
import ctypes

import numpy
import pytest

from minifft import config
from minifft.kernels import host

pytestmark = pytest.mark.skipif(host.compiler() is None, reason="no C compiler here")

P, S = ctypes.c_void_p, ctypes.c_ssize_t


def _guarded(n, dtype, tail=40):
    """An output of n elements inside a NaN-filled (a mask: 0xff-filled) buffer, and the guard after it."""
    buf = numpy.full(n + tail, numpy.nan if dtype != numpy.bool_ else True, dtype)
    if dtype == numpy.bool_:
        buf.view(numpy.uint8)[:] = 0xff
    return buf[:n], buf[n:]


def _run(symbol, dtype, arrays, n, pieces):
    with config.using(cpu_kernels='on'):
        lib, suffix = host.library_for('activation', numpy.zeros(1, dtype))
    run = host.function(lib, f'{symbol}_{suffix}', *(P,) * len(arrays), S, S)
    bounds = [n * i // pieces for i in range(pieces + 1)]
    for lo, hi in zip(bounds, bounds[1:]):
        run(*(host.pointer(a) for a in arrays), lo, hi)


def _bits(a):
    return a.view(numpy.uint32 if a.dtype == numpy.float32 else numpy.uint64)


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
@pytest.mark.parametrize('n', [1, 15, 16, 17, 100, 1031])
@pytest.mark.parametrize('pieces', [1, 3])
def test_relu_passes_match_numpy_to_the_bit(n, pieces, dtype, rng):
    pieces = min(pieces, n)
    x = rng.standard_normal(n).astype(dtype)
    specials = numpy.array([numpy.nan, numpy.inf, -numpy.inf, 0.0, -0.0], dtype)
    x[:min(n, 5)] = specials[:min(n, 5)]
    g0, g1 = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    g0[-1], g1[0] = numpy.nan, -numpy.inf
    (y, gy_), (mask, gm) = _guarded(n, dtype), _guarded(n, numpy.bool_)
    _run('relu_forward', dtype, (x, y, mask), n, pieces)
    assert numpy.isnan(gy_).all() and (gm.view(numpy.uint8) == 0xff).all()
    numpy.testing.assert_array_equal(mask, x > 0)
    numpy.testing.assert_array_equal(_bits(y), _bits(numpy.maximum(x, 0)))
    (gx, gg) = _guarded(n, dtype)
    _run('relu_backward', dtype, (g0, mask, gx), n, pieces)
    assert numpy.isnan(gg).all()
    numpy.testing.assert_array_equal(_bits(gx), _bits(g0 * mask))
    (gx2, gg2) = _guarded(n, dtype)
    _run('relu_backward2', dtype, (g0, g1, mask, gx2), n, pieces)
    assert numpy.isnan(gg2).all()
    with numpy.errstate(invalid='ignore'):   # -inf * 0
        numpy.testing.assert_array_equal(_bits(gx2), _bits((g0 + g1) * mask))
