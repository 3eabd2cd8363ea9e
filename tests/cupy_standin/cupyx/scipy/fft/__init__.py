"""cupyx.scipy.fft with CuPy's signatures: SciPy's, plus ``plan=``, and no ``workers=``."""
from numbers import Number

from cupy.fft import (
    CUFFT_FORWARD,
    CUFFT_INVERSE,
    _default_fft_func,
    _fft,
    fftfreq,
    fftshift,
    ifftshift,
    rfftfreq,
)

__all__ = [
    'fft',
    'fft2',
    'fftfreq',
    'fftn',
    'fftshift',
    'ifft',
    'ifft2',
    'ifftn',
    'ifftshift',
    'irfft',
    'irfft2',
    'irfftn',
    'next_fast_len',
    'rfft',
    'rfft2',
    'rfftfreq',
    'rfftn',
]


def _assequence(x):
    return (x,) if isinstance(x, Number) else x


def fft(x, n=None, axis=-1, norm=None, overwrite_x=False, *, plan=None):
    return _fft(x, (n,), (axis,), norm, CUFFT_FORWARD, overwrite_x=overwrite_x, plan=plan)


def ifft(x, n=None, axis=-1, norm=None, overwrite_x=False, *, plan=None):
    return _fft(x, (n,), (axis,), norm, CUFFT_INVERSE, overwrite_x=overwrite_x, plan=plan)


def rfft(x, n=None, axis=-1, norm=None, overwrite_x=False, *, plan=None):
    return _fft(x, (n,), (axis,), norm, CUFFT_FORWARD, 'R2C', overwrite_x=overwrite_x, plan=plan)


def irfft(x, n=None, axis=-1, norm=None, overwrite_x=False, *, plan=None):
    return _fft(x, (n,), (axis,), norm, CUFFT_INVERSE, 'C2R', overwrite_x=overwrite_x, plan=plan)


def _nd(x, s, axes, norm, overwrite_x, plan, direction, value_type):
    s, axes = _assequence(s), _assequence(axes)
    func = _default_fft_func(x, s, axes, plan, value_type=value_type)
    return func(x, s, axes, norm, direction, value_type, overwrite_x=overwrite_x, plan=plan)


def fftn(x, s=None, axes=None, norm=None, overwrite_x=False, *, plan=None):
    return _nd(x, s, axes, norm, overwrite_x, plan, CUFFT_FORWARD, 'C2C')


def ifftn(x, s=None, axes=None, norm=None, overwrite_x=False, *, plan=None):
    return _nd(x, s, axes, norm, overwrite_x, plan, CUFFT_INVERSE, 'C2C')


def rfftn(x, s=None, axes=None, norm=None, overwrite_x=False, *, plan=None):
    return _nd(x, s, axes, norm, overwrite_x, plan, CUFFT_FORWARD, 'R2C')


def irfftn(x, s=None, axes=None, norm=None, overwrite_x=False, *, plan=None):
    return _nd(x, s, axes, norm, overwrite_x, plan, CUFFT_INVERSE, 'C2R')


def fft2(x, s=None, axes=(-2, -1), norm=None, overwrite_x=False, *, plan=None):
    return fftn(x, s, axes, norm, overwrite_x, plan=plan)


def ifft2(x, s=None, axes=(-2, -1), norm=None, overwrite_x=False, *, plan=None):
    return ifftn(x, s, axes, norm, overwrite_x, plan=plan)


def rfft2(x, s=None, axes=(-2, -1), norm=None, overwrite_x=False, *, plan=None):
    return rfftn(x, s, axes, norm, overwrite_x, plan=plan)


def irfft2(x, s=None, axes=(-2, -1), norm=None, overwrite_x=False, *, plan=None):
    return irfftn(x, s, axes, norm, overwrite_x, plan=plan)


_next_fast_len_cache = {}


def _next_fast_len_impl(n, primes):
    if not primes:
        return float('inf')
    result = _next_fast_len_cache.get((n, primes))
    if result is None:
        if n == 1:
            result = 1
        else:
            p = primes[0]
            result = min(_next_fast_len_impl((n + p - 1) // p, primes) * p, _next_fast_len_impl(n, primes[1:]))
        _next_fast_len_cache[(n, primes)] = result
    return result


def next_fast_len(target, real=False):
    """The smallest size >= target whose factors are 2, 3, 5, 7 (cuFFT's fast radices)."""
    if target == 0:
        return 0
    return _next_fast_len_impl(target, (2, 3, 5, 7))
