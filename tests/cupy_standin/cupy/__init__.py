"""A strict CPU stand-in for the part of CuPy that minifft uses (tests only; never installed).

tests/conftest.py puts ``tests/cupy_standin`` first on ``sys.path`` when no real CuPy with a usable
GPU is present, so ``import cupy`` inside minifft finds this package and device 'cuda' runs on the
CPU. It is built to fail wherever real CuPy fails:

- ``cupy.ndarray`` is not a ``numpy.ndarray``; it wraps one privately. ``numpy.asarray(a)``,
  ``numpy.savez``, and arithmetic mixing it with NumPy arrays raise TypeError as CuPy does;
  ``.get()`` / ``cupy.asnumpy`` are the explicit copies. Python and NumPy scalars mix freely.
- ``.data`` is a MemoryPointer; reductions return 0-d device arrays; ufuncs refuse lists, tuples
  and NumPy arrays; integer-array indices wrap around instead of raising (CuPy's documented
  difference); elementwise results are C-contiguous whatever the inputs' layout.
- ``cupyx.scipy.fft`` has CuPy's signatures (``plan=``, no ``workers=``) and reproduces CuPy's
  choice between the N-d plan and the chain of 1-d transforms, hence its output layouts (an
  F-ordered real input gets an axis-swapped view back from rfft2); every distinct transform records
  a plan in ``cupy.fft.config.get_plan_cache()``, which has CuPy's API (-1 = unlimited) and LRU.
- memory comes from a caching pool (``cupy.get_default_memory_pool()``); ``runtime.memGetInfo``
  counts the pool's held blocks, used or free, as used, as the driver does.
- ``RawModule`` compiles the CUDA source with g++ through tests/kernels/cuda_shim.h and checks every
  launch: grid and block limits, and each argument converted as CuPy converts it (Python int ->
  int64, float -> double, bool -> bool, NumPy scalar -> its dtype, array -> pointer) against the C
  parameter type of the entry point.

What it cannot show, so those checks stay in ``gpu``-marked tests run on a real GPU:
- asynchrony: every operation completes before it returns, so a missing synchronize, a race
  between streams, or a host read that stalls the GPU goes unnoticed (only its *presence* can be
  observed: implicit host conversions raise);
- cuFFT's numerics and plan limits: transforms are computed by pocketfft;
- speed, occupancy, memory bandwidth, and the real memory footprint (cuFFT work areas, allocator
  fragmentation); the pool's numbers are a model;
- the kernel's real concurrency beyond what the shim emulates, and nvcc/NVRTC-only diagnostics.
"""
import builtins as _builtins
import numbers
import operator

import numpy

from . import cuda
from .cuda.memory import MemoryPointer, _Memory, get_default_memory_pool

__version__ = '14.0.0-standin'
IS_STANDIN = True

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
             "Please use `.get()` to construct a NumPy array explicitly.")

# NumPy names CuPy re-exports unchanged (dtypes, constants, dtype helpers)
for _name in ('bool_', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64',
              'float16', 'float32', 'float64', 'complex64', 'complex128', 'intp', 'uintp', 'dtype',
              'inf', 'nan', 'pi', 'e', 'newaxis', 'result_type', 'can_cast', 'promote_types',
              'iinfo', 'finfo', 'issubdtype', 'floating', 'integer', 'complexfloating', 'number',
              'signedinteger', 'unsignedinteger', 'generic', 'ndim', 'shape', 'size'):
    globals()[_name] = getattr(numpy, _name)
float_ = numpy.float64
int_ = numpy.int64
complex_ = numpy.complex128


# ---- host synchronisations ----------------------------------------------------------------------
_syncs = 0


def _sync(what):
    """Count a device-to-host read: on a GPU each one waits for all queued work (a sync)."""
    global _syncs
    _syncs += 1


def standin_sync_count():
    """Device-to-host reads so far (``.item()``, ``float()``, ``bool()``, ``.get()``, boolean-mask
    indexing, ``nonzero``...): tests assert that a hot path adds none. Stand-in only."""
    return _syncs


# ---- wrapping ------------------------------------------------------------------------------------
def _root(a):
    while isinstance(a.base, numpy.ndarray):
        a = a.base
    return a


def _wrap(a):
    """A NumPy result as a stand-in array: a new device buffer unless it views an existing one."""
    if isinstance(a, numpy.generic) or not isinstance(a, numpy.ndarray):
        a = numpy.asarray(a)
    root = _root(a)
    pool = get_default_memory_pool()
    if not pool.owns(root):
        if root is not a or not root.flags.owndata:  # a view of host memory: copy it to the device
            a = a.copy()
            root = a
        pool.adopt(root)
    out = ndarray.__new__(ndarray)
    out._a = a
    return out


def _wrap_result(r):
    if isinstance(r, (numpy.ndarray, numpy.generic)):
        return _wrap(r)
    if isinstance(r, tuple):
        return tuple(_wrap_result(x) for x in r)
    if isinstance(r, list):
        return [_wrap_result(x) for x in r]
    return r


def _unsupported(x):
    return TypeError(f"Unsupported type {type(x)}")


def _unwrap(x, sequences=True):
    """Stand-in arrays to their NumPy data for the computation; NumPy arrays refused as CuPy
    refuses them (they would be an implicit host-to-device copy); scalars pass through."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, numpy.ndarray):
        raise _unsupported(x)
    if isinstance(x, (list, tuple)):
        if not sequences:
            raise _unsupported(x)
        return type(x)(_unwrap(v) for v in x)
    return x


def _unwrap_all(args, kwargs, sequences=True):
    return ([_unwrap(a, sequences) for a in args],
            {k: _unwrap(v, sequences) if k != 'dtype' else v for k, v in kwargs.items()})


def _c_order(r):
    if isinstance(r, numpy.ndarray) and not r.flags.c_contiguous:
        return numpy.ascontiguousarray(r)
    return r


class ufunc:
    """An elementwise function that takes only stand-in arrays and scalars, like CuPy's ufuncs."""

    def __init__(self, name, fn=None):
        self.__name__ = self.name = name
        self._fn = fn or getattr(numpy, name)
        self.nin, self.nout = getattr(self._fn, 'nin', 2), getattr(self._fn, 'nout', 1)

    def __call__(self, *args, **kwargs):
        out = kwargs.pop('out', None)
        args, kwargs = _unwrap_all(args, kwargs, sequences=False)
        if out is not None:
            target = out if not isinstance(out, tuple) else out[0]
            if not isinstance(target, ndarray):
                raise TypeError(f"Output arguments must be cupy.ndarray, got {type(target)}")
            self._fn(*args, out=target._a, **kwargs)
            return target
        return _wrap_result(_c_order(self._fn(*args, **kwargs)))

    def at(self, a, indices, b=None):
        if not isinstance(a, ndarray):
            raise _unsupported(a)
        index = _index(indices, a.shape)
        if b is None:
            self._fn.at(a._a, index)
        else:
            self._fn.at(a._a, index, _unwrap(b, sequences=False))

    def reduce(self, a, axis=0, dtype=None, out=None, keepdims=False):
        if not isinstance(a, ndarray):
            raise _unsupported(a)
        return _wrap_result(self._fn.reduce(a._a, axis=axis, dtype=dtype, keepdims=keepdims))

    def __repr__(self):
        return f"<ufunc '{self.name}'>"


def _function(name, fn=None, sequences=True):
    """A cupy.* routine over NumPy's: unwraps stand-in arrays, refuses NumPy ones, re-wraps."""
    fn = fn or getattr(numpy, name)

    def routine(*args, **kwargs):
        args, kwargs = _unwrap_all(args, kwargs, sequences)
        return _wrap_result(fn(*args, **kwargs))
    routine.__name__ = routine.__qualname__ = name
    routine.__doc__ = f"cupy.{name} (stand-in over numpy.{getattr(fn, '__name__', name)})"
    return routine


def _creation(name):
    """zeros/ones/empty/full/arange/...: host parameters in, a new device array out."""
    fn = getattr(numpy, name)

    def create(*args, **kwargs):
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, (numpy.ndarray, ndarray)):
                raise TypeError(f"cupy.{name}: expected sizes and scalars, got {type(a)}")
        return _wrap(fn(*args, **kwargs))
    create.__name__ = name
    return create


def _like(name):
    fn = getattr(numpy, name)

    def create(a, *args, **kwargs):
        if not isinstance(a, ndarray):
            raise _unsupported(a)
        return _wrap(fn(a._a, *args, **kwargs))
    create.__name__ = name
    return create


UFUNCS = ('add', 'subtract', 'multiply', 'divide', 'true_divide', 'floor_divide', 'power', 'negative',
          'positive', 'absolute', 'exp', 'exp2', 'log', 'log2', 'log10', 'log1p', 'expm1', 'sqrt',
          'square', 'cbrt', 'reciprocal', 'sin', 'cos', 'tan', 'tanh', 'sinh', 'cosh', 'arctan',
          'arctan2', 'maximum', 'minimum', 'fmax', 'fmin', 'equal', 'not_equal', 'less', 'less_equal',
          'greater', 'greater_equal', 'logical_and', 'logical_or', 'logical_xor', 'logical_not',
          'isnan', 'isinf', 'isfinite', 'sign', 'conjugate', 'floor', 'ceil', 'trunc', 'rint',
          'bitwise_and', 'bitwise_or', 'bitwise_xor', 'invert', 'left_shift', 'right_shift',
          'remainder', 'fmod', 'hypot', 'copysign', 'signbit', 'matmul')
for _name in UFUNCS:
    globals()[_name] = ufunc(_name)
abs = absolute
conj = conjugate
mod = remainder

# where, clip and friends are elementwise but not ufuncs: no sequences either
for _name in ('where', 'clip', 'real', 'imag', 'around', 'round', 'angle', 'isclose', 'nan_to_num'):
    globals()[_name] = _function(_name, sequences=False)

ROUTINES = ('reshape', 'transpose', 'swapaxes', 'moveaxis', 'broadcast_to', 'broadcast_arrays',
            'ascontiguousarray', 'asfortranarray', 'pad', 'concatenate', 'stack', 'vstack', 'hstack',
            'split', 'array_split', 'sum', 'mean', 'var', 'std', 'prod', 'max', 'min', 'amax', 'amin',
            'argmax', 'argmin', 'any', 'all', 'cumsum', 'cumprod', 'dot', 'vdot', 'inner', 'outer',
            'einsum', 'tensordot', 'squeeze', 'expand_dims', 'take', 'take_along_axis', 'ravel',
            'copy', 'sort', 'argsort', 'flip', 'roll', 'tile', 'repeat', 'count_nonzero', 'nonzero',
            'flatnonzero', 'unique', 'diff', 'trace', 'diagonal', 'tril', 'triu', 'allclose',
            'array_equal', 'atleast_1d', 'atleast_2d', 'atleast_3d', 'meshgrid', 'bincount',
            'searchsorted', 'histogram', 'nanmax', 'nanmin', 'nansum', 'median', 'percentile')
for _name in ROUTINES:
    globals()[_name] = _function(_name)


def _syncing(fn, what):
    def routine(*args, **kwargs):
        _sync(what)  # the output size depends on the data: read back from the device
        return fn(*args, **kwargs)
    routine.__name__ = fn.__name__
    return routine


for _name in ('nonzero', 'flatnonzero', 'unique'):
    globals()[_name] = _syncing(globals()[_name], _name)
# CuPy returns 0-d arrays where NumPy returns Python bools
allclose = _function('allclose', lambda *a, **k: numpy.asarray(numpy.allclose(*a, **k)))
array_equal = _function('array_equal', lambda *a, **k: numpy.asarray(numpy.array_equal(*a, **k)))

for _name in ('zeros', 'ones', 'empty', 'full', 'arange', 'linspace', 'logspace', 'eye', 'identity',
              'tri', 'indices'):
    globals()[_name] = _creation(_name)
for _name in ('zeros_like', 'ones_like', 'empty_like', 'full_like'):
    globals()[_name] = _like(_name)


def array(obj, dtype=None, copy=True, order='K', subok=False, ndmin=0, *, blocking=False):
    """A device copy of ``obj`` (host data, sequences, or a device array)."""
    if isinstance(obj, ndarray):
        a = obj._a.astype(dtype or obj.dtype, order=order, copy=True) if copy else obj._a
        return _wrap(numpy.array(a, ndmin=ndmin, copy=False) if ndmin else a)
    if isinstance(obj, (list, tuple)) and _builtins.any(isinstance(v, ndarray) for v in obj):
        return stack([asarray(v, dtype) for v in obj])
    return _wrap(numpy.array(obj, dtype=dtype, order=order, ndmin=ndmin, copy=True))


def asarray(a, dtype=None, order=None, *, blocking=False):
    """``a`` itself when it is already a device array of ``dtype``, else a device copy."""
    if isinstance(a, ndarray):
        return a if dtype is None or numpy.dtype(dtype) == a.dtype else a.astype(dtype)
    return array(a, dtype=dtype, copy=True, order=order or 'K')


asanyarray = asarray


def asnumpy(a, stream=None, order='C', out=None, *, blocking=True):
    """A host (NumPy) copy of a device array; host data passes through ``numpy.asarray``."""
    if isinstance(a, ndarray):  # .get() counts the sync
        return a.get(stream=stream, order=order, out=out)
    return numpy.asarray(a, order=order)


def get_array_module(*args):
    return __import__('cupy') if _builtins.any(isinstance(a, ndarray) for a in args) else numpy


def get_default_pinned_memory_pool():
    return get_default_memory_pool()


# ---- indexing ------------------------------------------------------------------------------------
def _index(index, shape):
    """The NumPy index for a CuPy index. Integer arrays wrap out-of-bounds values around, as CuPy
    does (it never raises IndexError for them); NumPy arrays and lists are accepted as indices."""
    single = not isinstance(index, tuple)
    items = (index,) if single else index
    simple = not _builtins.any(i is Ellipsis or i is None for i in items)
    out = []
    for axis, i in enumerate(items):
        if isinstance(i, ndarray):
            i = i._a
        elif isinstance(i, list):
            i = numpy.asarray(i)
        if isinstance(i, numpy.ndarray) and i.dtype.kind in 'iu' and simple and axis < len(shape) \
                and shape[axis] > 0:
            i = numpy.mod(i, shape[axis])
        out.append(i)
    return out[0] if single else tuple(out)


def _has_mask(index):
    items = index if isinstance(index, tuple) else (index,)
    return _builtins.any(isinstance(i, numpy.ndarray) and i.dtype == numpy.bool_ for i in items)


def _binary(name, reflected=False):
    u = globals()[name]

    def op(self, other):
        if isinstance(other, numpy.ndarray):
            raise _unsupported(other)
        if not isinstance(other, (ndarray, numbers.Number, numpy.generic)):
            return NotImplemented
        return u(other, self) if reflected else u(self, other)
    return op


def _inplace(name):
    u = globals()[name]

    def op(self, other):
        if isinstance(other, numpy.ndarray):
            raise _unsupported(other)
        u(self, other, out=self)
        return self
    return op


class ndarray:
    """CuPy's array: the data lives on the (simulated) device; host reads are explicit."""

    __array_priority__ = 100
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order='C'):
        if memptr is not None or strides is not None:
            raise NotImplementedError("the CuPy stand-in does not construct arrays over a memptr")
        self._a = _wrap(numpy.empty(shape, dtype, order=order))._a

    # ---- host conversion: only explicit -------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(_IMPLICIT)

    def __array_ufunc__(self, ufunc_, method, *inputs, **kwargs):
        for x in inputs + tuple(kwargs.get('out', ())):
            if isinstance(x, numpy.ndarray):
                raise _unsupported(x)
        mine = globals().get(ufunc_.__name__)
        if not isinstance(mine, ufunc):
            return NotImplemented
        if method == '__call__':
            return mine(*inputs, **kwargs)
        if method == 'at':
            return mine.at(*inputs, **kwargs)
        return NotImplemented

    def __array_function__(self, func, types, args, kwargs):
        # numpy.X.f(device arrays) runs cupy.X.f, as CuPy's NEP-18 dispatch does
        module = __import__('cupy')
        for part in func.__module__.split('.')[1:]:
            module = getattr(module, part.lstrip('_'), None) if part not in ('core', '_core') else module
        mine = getattr(module, func.__name__, None) if module is not None else None
        if mine is None or not callable(mine):
            return NotImplemented
        return mine(*args, **kwargs)

    def get(self, stream=None, order='C', out=None, blocking=True):
        _sync('get')
        if out is not None:
            out[...] = self._a
            return out
        return numpy.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        if not isinstance(arr, numpy.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        if arr.shape != self.shape or arr.dtype != self.dtype:
            raise ValueError(f"Shape mismatch or dtype mismatch: {arr.shape} {arr.dtype} vs "
                             f"{self.shape} {self.dtype}")
        self._a[...] = arr

    def tolist(self):
        _sync('tolist')
        return self._a.tolist()

    def item(self, *args):
        _sync('item')
        return self._a.item(*args)

    def __bool__(self):
        _sync('bool')
        return bool(self._a)

    def __float__(self):
        _sync('float')
        return float(self._a)

    def __int__(self):
        _sync('int')
        return int(self._a)

    def __complex__(self):
        _sync('complex')
        return complex(self._a)

    def __repr__(self):
        _sync('repr')
        return repr(self._a)

    def __str__(self):
        _sync('str')
        return str(self._a)

    def __format__(self, spec):
        _sync('format')
        return format(self._a.item() if self.ndim == 0 else self._a, spec)

    # ---- attributes ---------------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: _wrap(self._a.T))
    mT = property(lambda self: _wrap(self._a.mT))
    device = property(lambda self: cuda.Device(0))

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    @property
    def real(self):
        return _wrap(self._a.real)

    @property
    def imag(self):
        return _wrap(self._a.imag)

    @property
    def base(self):
        return None if self._a.base is None else _wrap(_root(self._a))

    @property
    def data(self):
        root = _root(self._a)
        base = root.__array_interface__['data'][0]
        return MemoryPointer(_Memory(base, root.nbytes), self._a.__array_interface__['data'][0] - base)

    @property
    def __cuda_array_interface__(self):
        return {'shape': self.shape, 'typestr': self.dtype.str, 'descr': self.dtype.descr,
                'strides': None if self.flags.c_contiguous else self.strides,
                'data': (self.data.ptr, False), 'version': 3}

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError('iteration over a 0-d array')
        return (self[i] for i in range(self.shape[0]))

    # ---- indexing -----------------------------------------------------------------------------
    def __getitem__(self, index):
        index = _index(index, self.shape)
        if _has_mask(index):
            _sync('boolean-mask indexing')  # the result's size is read back from the device
        return _wrap(self._a[index])

    def __setitem__(self, index, value):
        if isinstance(value, ndarray):
            value = value._a
        index = _index(index, self.shape)
        if _has_mask(index):
            _sync('boolean-mask assignment')  # CuPy reads the mask's count back to scatter
        self._a[index] = value  # a host value is copied over, as in CuPy

    # ---- methods ------------------------------------------------------------------------------
    def astype(self, dtype, order='K', casting=None, subok=None, copy=True):
        return _wrap(self._a.astype(dtype, order=order, copy=copy))

    def copy(self, order='C'):
        return _wrap(self._a.copy(order=order))

    def reshape(self, *shape, order='C'):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _wrap(self._a.reshape(shape, order=order))

    def view(self, dtype=None):
        return _wrap(self._a.view() if dtype is None else self._a.view(dtype))

    def fill(self, value):
        self._a.fill(value)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):  # pickling goes through the host, explicitly
        return (array, (self.get(),))


def _method(name):
    def method(self, *args, **kwargs):
        args, kwargs = _unwrap_all(args, kwargs)
        return _wrap_result(getattr(self._a, name)(*args, **kwargs))
    method.__name__ = name
    return method


for _name in ('transpose', 'swapaxes', 'ravel', 'flatten', 'squeeze', 'sum', 'mean', 'var', 'std', 'prod',
              'max', 'min', 'argmax', 'argmin', 'any', 'all', 'cumsum', 'cumprod', 'clip', 'round',
              'conj', 'conjugate', 'take', 'repeat', 'dot', 'nonzero', 'sort', 'argsort', 'diagonal',
              'trace', 'ptp'):
    setattr(ndarray, _name, _method(_name))

ndarray.nonzero = _syncing(ndarray.nonzero, 'nonzero')

for _op, _name in (('add', 'add'), ('sub', 'subtract'), ('mul', 'multiply'), ('truediv', 'true_divide'),
                   ('floordiv', 'floor_divide'), ('pow', 'power'), ('mod', 'remainder'),
                   ('matmul', 'matmul'), ('and', 'bitwise_and'), ('or', 'bitwise_or'),
                   ('xor', 'bitwise_xor'), ('lshift', 'left_shift'), ('rshift', 'right_shift')):
    setattr(ndarray, f'__{_op}__', _binary(_name))
    setattr(ndarray, f'__r{_op}__', _binary(_name, reflected=True))
    setattr(ndarray, f'__i{_op}__', _inplace(_name))
for _op, _name in (('eq', 'equal'), ('ne', 'not_equal'), ('lt', 'less'), ('le', 'less_equal'),
                   ('gt', 'greater'), ('ge', 'greater_equal')):
    setattr(ndarray, f'__{_op}__', _binary(_name))
ndarray.__neg__ = lambda self: negative(self)
ndarray.__pos__ = lambda self: self.copy()
ndarray.__abs__ = lambda self: absolute(self)
ndarray.__invert__ = lambda self: invert(self)

from . import fft, linalg, random
from ._raw import RawKernel, RawModule

del _name, _op, operator
