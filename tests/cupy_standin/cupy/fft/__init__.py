"""cupy.fft, computed by pocketfft, laid out as CuPy lays it out.

The functions below follow cupy/fft/_fft.py step by step where the layout is decided: the choice
between one N-d cuFFT plan (``_fftn``: output C- or F-ordered like the input) and a chain of 1-d
transforms (``_fft``: each transform along a non-last axis swaps that axis last, copies to C order,
transforms, and swaps back, so the result is an axis-swapped view), zero padding by a C- or
F-ordered copy, and the dtype rules. Every transform looks its plan up in the plan cache.
"""
import numpy
import scipy.fft

from . import config

CUFFT_FORWARD, CUFFT_INVERSE = -1, 1


def _cupy():
    import cupy
    return cupy


class _Plan:
    """A cached cuFFT plan: what the cache counts (its work area, held in device memory)."""

    def __init__(self, key, work_area_bytes):
        self.key, self.work_area_bytes = key, work_area_bytes
        self.work_area = _cupy().empty(max(work_area_bytes, 1), numpy.uint8) if work_area_bytes else None


def _plan(key, work_area_bytes):
    cache = config.get_plan_cache()
    plan = cache.get(key)
    if plan is None:
        plan = _Plan(key, work_area_bytes)
        cache[key] = plan
    return plan


def _output_dtype(dtype, value_type):
    dtype = numpy.dtype(dtype)
    if value_type != 'R2C':
        if dtype in (numpy.float16, numpy.float32):
            return numpy.dtype(numpy.complex64)
        if dtype not in (numpy.complex64, numpy.complex128):
            return numpy.dtype(numpy.complex128)
    else:
        if dtype in (numpy.complex64, numpy.complex128):
            return numpy.dtype(dtype.char.lower())
        if dtype == numpy.float16:
            return numpy.dtype(numpy.float32)
        if dtype not in (numpy.float32, numpy.float64):
            return numpy.dtype(numpy.float64)
    return dtype


def _convert_dtype(a, value_type):
    out_dtype = _output_dtype(a.dtype, value_type)
    return a.astype(out_dtype) if out_dtype != a.dtype else a


def _cook_shape(a, s, axes, value_type, order='C'):
    cp = _cupy()
    if s is None or s == a.shape:
        return a
    if value_type == 'C2R' and s[-1] is not None:
        s = list(s)
        s[-1] = s[-1] // 2 + 1
    for sz, axis in zip(s, axes):
        if sz is not None and sz != a.shape[axis]:
            shape = list(a.shape)
            index = [slice(None)] * a.ndim
            if shape[axis] > sz:
                index[axis] = slice(0, sz)
                a = a[tuple(index)]
            else:
                index[axis] = slice(0, shape[axis])
                shape[axis] = sz
                z = cp.zeros(shape, a.dtype.char, order=order)
                z[tuple(index)] = a
                a = z
    return a


def _compute(a, direction, value_type, axes, out_size, norm):
    """The transform itself on the host data (pocketfft), unnormalised conventions as CuPy's."""
    x = a._a
    if value_type == 'C2C':
        f = scipy.fft.fftn if direction == CUFFT_FORWARD else scipy.fft.ifftn
        y = f(x, axes=axes, norm=norm)
        dtype = x.dtype
    elif value_type == 'R2C':
        y = scipy.fft.rfftn(x, axes=axes, norm=norm)
        dtype = _output_dtype(x.dtype, 'C2C')
    else:
        s = [x.shape[ax] for ax in axes[:-1]] + [out_size]
        y = scipy.fft.irfftn(x, s=s, axes=axes, norm=norm)
        dtype = numpy.dtype(x.dtype.char.lower())
    return y.astype(dtype, copy=False)


def _exec_fft(a, direction, value_type, norm, axis, overwrite_x, out_size=None):
    cp = _cupy()
    if axis % a.ndim != a.ndim - 1:
        a = a.swapaxes(axis, -1)
    if a.base is not None or not a.flags.c_contiguous:
        a = a.copy()
    elif value_type == 'C2R' and not overwrite_x:
        a = a.copy()  # cuFFT's C2R may overwrite its input
    n = a.shape[-1]
    if n < 1:
        raise ValueError('Invalid number of FFT data points (%d) specified.' % n)
    if out_size is None:
        out_size = n
    batch = a.size // n
    fft_type = (value_type, a.dtype.char)
    out_dtype = _output_dtype(a.dtype, 'C2C') if value_type != 'C2R' else numpy.dtype(a.dtype.char.lower())
    out_last = n // 2 + 1 if value_type == 'R2C' else out_size
    _plan((out_size, fft_type, batch, None), batch * out_last * out_dtype.itemsize if batch else 0)
    out = cp.empty(a.shape[:-1] + (out_last,), out_dtype)
    if out.size:
        out[...] = cp._wrap(_compute(a, direction, value_type, (a.ndim - 1,), out_size, norm))
    if axis % a.ndim != a.ndim - 1:
        out = out.swapaxes(axis, -1)
    return out


def _fft(a, s, axes, norm, direction, value_type="C2C", overwrite_x=False, plan=None):
    cp = _cupy()
    if not isinstance(a, cp.ndarray):
        raise TypeError('The input array a must be a cupy.ndarray')
    if s is not None and axes is not None and len(s) != len(axes):
        raise ValueError('Shape and axes have different lengths.')
    if axes is None:
        dim = a.ndim if s is None else len(s)
        axes = [i for i in range(-dim, 0)]
    else:
        axes = tuple(axes)
    if not axes:
        if value_type == 'C2C':
            return a
        raise IndexError('list index out of range')
    norm = _check_norm(norm)
    a = _convert_dtype(a, value_type)
    a = _cook_shape(a, s, axes, value_type)
    if value_type == 'C2C':
        for axis in axes:
            a = _exec_fft(a, direction, 'C2C', norm, axis, overwrite_x)
    elif value_type == 'R2C':
        a = _exec_fft(a, direction, value_type, norm, axes[-1], overwrite_x)
        for axis in axes[:-1]:
            a = _exec_fft(a, direction, 'C2C', norm, axis, overwrite_x)
    else:
        for axis in axes[:-1]:
            a = _exec_fft(a, direction, 'C2C', norm, axis, overwrite_x)
        out_size = _get_fftn_out_size(a.shape, s, axes[-1], value_type)
        a = _exec_fft(a, direction, value_type, norm, axes[-1], overwrite_x, out_size)
    return a


def _check_norm(norm):
    if norm is None:
        norm = 'backward'
    if norm not in ('backward', 'ortho', 'forward'):
        raise ValueError('Invalid norm value %s, should be "backward", "ortho", or "forward".' % norm)
    return norm


def _prep_fftn_axes(ndim, s=None, axes=None, value_type='C2C'):
    if s is not None and axes is not None and len(s) != len(axes):
        raise ValueError("Shape and axes have different lengths.")
    if axes is None:
        dim = ndim if s is None else len(s)
        axes = tuple(i + ndim for i in range(-dim, 0))
        return axes, axes
    axes = tuple(axes)
    if not axes:
        return (), ()
    if min(axes) < -ndim or max(axes) > ndim - 1:
        raise ValueError("The specified axes exceed the array dimensions.")
    if value_type == 'C2C':
        return axes, tuple(sorted(ax % ndim for ax in axes))
    return axes, tuple(sorted(ax % ndim for ax in axes[:-1])) + (axes[-1] % ndim,)


def _nd_plan_is_possible(axes_sorted, ndim):
    return (0 < len(axes_sorted) <= 3 and (0 in axes_sorted or (ndim - 1) in axes_sorted)
            and all(axes_sorted[n + 1] - axes_sorted[n] == 1 for n in range(len(axes_sorted) - 1)))


def _get_fftn_out_size(in_shape, s, last_axis, value_type):
    if value_type == 'C2R':
        return 2 * (in_shape[last_axis] - 1) if s is None or s[-1] is None else s[-1]
    if value_type == 'R2C':
        return in_shape[last_axis] // 2 + 1
    return None


def _fftn(a, s, axes, norm, direction, value_type='C2C', order='A', plan=None, overwrite_x=False,
          out=None):
    cp = _cupy()
    if not isinstance(a, cp.ndarray):
        raise TypeError('The input array a must be a cupy.ndarray')
    norm = _check_norm(norm)
    axes, axes_sorted = _prep_fftn_axes(a.ndim, s, axes, value_type)
    if not axes_sorted:
        if value_type == 'C2C':
            return a
        raise IndexError('list index out of range')
    a = _convert_dtype(a, value_type)
    if order == 'A':
        if a.flags.f_contiguous:
            order = 'F'
        elif a.flags.c_contiguous:
            order = 'C'
        else:
            a = cp.ascontiguousarray(a)
            order = 'C'
    a = _cook_shape(a, s, axes, value_type, order=order)
    for n in a.shape:
        if n < 1:
            raise ValueError('Invalid number of FFT data points (%d) specified.' % n)
    if order == 'C' and not a.flags.c_contiguous:
        a = cp.ascontiguousarray(a)
    elif order == 'F' and not a.flags.f_contiguous:
        a = cp.asfortranarray(a)
    out_size = _get_fftn_out_size(a.shape, s, axes_sorted[-1], value_type)
    if value_type == 'C2R' and not overwrite_x:
        a = a.copy(order=order)
    y = _compute(a, direction, value_type, axes_sorted, out_size, norm)
    _plan((a.shape, (value_type, a.dtype.char), axes_sorted, order, out_size, None), y.nbytes)
    result = cp.empty(y.shape, y.dtype, order=order)
    result[...] = cp._wrap(y)
    return result


def _default_fft_func(a, s=None, axes=None, plan=None, value_type='C2C'):
    if a.ndim == 1 or not config.enable_nd_planning:
        return _fft
    if a.flags.f_contiguous and value_type != 'C2C':  # cuFFT's N-d R2C/C2R disagree with NumPy
        return _fft
    _, axes_sorted = _prep_fftn_axes(a.ndim, s, axes, value_type)
    if len(axes_sorted) > 1 and _nd_plan_is_possible(axes_sorted, a.ndim):
        return _fftn
    return _fft


# ---- cupy.fft's public functions (NumPy's signatures, no overwrite_x / plan) ----------------------
def fft(a, n=None, axis=-1, norm=None):
    return _fft(a, (n,), (axis,), norm, CUFFT_FORWARD)


def ifft(a, n=None, axis=-1, norm=None):
    return _fft(a, (n,), (axis,), norm, CUFFT_INVERSE)


def rfft(a, n=None, axis=-1, norm=None):
    return _fft(a, (n,), (axis,), norm, CUFFT_FORWARD, 'R2C')


def irfft(a, n=None, axis=-1, norm=None):
    return _fft(a, (n,), (axis,), norm, CUFFT_INVERSE, 'C2R')


def _nd(direction, value_type):
    def transform(a, s=None, axes=None, norm=None):
        return _default_fft_func(a, s, axes, value_type=value_type)(a, s, axes, norm, direction, value_type)
    return transform


fftn, ifftn = _nd(CUFFT_FORWARD, 'C2C'), _nd(CUFFT_INVERSE, 'C2C')
rfftn, irfftn = _nd(CUFFT_FORWARD, 'R2C'), _nd(CUFFT_INVERSE, 'C2R')


def fft2(a, s=None, axes=(-2, -1), norm=None):
    return fftn(a, s, axes, norm)


def ifft2(a, s=None, axes=(-2, -1), norm=None):
    return ifftn(a, s, axes, norm)


def rfft2(a, s=None, axes=(-2, -1), norm=None):
    return rfftn(a, s, axes, norm)


def irfft2(a, s=None, axes=(-2, -1), norm=None):
    return irfftn(a, s, axes, norm)


def fftfreq(n, d=1.0):
    return _cupy()._wrap(numpy.fft.fftfreq(n, d))


def rfftfreq(n, d=1.0):
    return _cupy()._wrap(numpy.fft.rfftfreq(n, d))


def fftshift(x, axes=None):
    return _cupy().roll(x, [s // 2 for s in _shift_sizes(x, axes)], _shift_axes(x, axes))


def ifftshift(x, axes=None):
    return _cupy().roll(x, [-(s // 2) for s in _shift_sizes(x, axes)], _shift_axes(x, axes))


def _shift_axes(x, axes):
    return tuple(range(x.ndim)) if axes is None else ((axes,) if isinstance(axes, int) else tuple(axes))


def _shift_sizes(x, axes):
    return [x.shape[a] for a in _shift_axes(x, axes)]

