"""RawModule / RawKernel: the CUDA source built by g++ through tests/kernels/cuda_shim.h.

The source is preprocessed (so entry points made by macros count), every ``extern "C" __global__``
entry point found, and a C wrapper generated per entry point that casts an argument array to the
entry point's own parameter types and runs the grid with ``MINIFFT_RUN_GRID``. The wrapper library
also exports, per parameter, what C++ says its type is (pointer or scalar kind, size, pointee size),
so each launch checks the arguments the way they would arrive on a GPU: CuPy converts a Python int
to int64, a float to double, a bool to bool, a complex to complex128, a NumPy scalar to its own
dtype, an array to a pointer; a value whose converted type differs from the parameter's would be
read as garbage by the kernel, so here it raises. Builds are cached by a hash of the source, the
options and the shim, in memory and on disk.
"""
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy

from .cuda.compiler import CompileException
from .cuda.driver import CUDADriverError

SHIM_DIR = Path(__file__).resolve().parents[2] / 'kernels'  # tests/kernels
SHIM = SHIM_DIR / 'cuda_shim.h'
MARK = '__minifft_standin_global__'
GRID_MAX = (2 ** 31 - 1, 65535, 65535)
BLOCK_MAX = (1024, 1024, 64)
THREADS_MAX = 1024
_KIND = {ord('p'): 'pointer', ord('b'): 'bool', ord('f'): 'floating', ord('i'): 'signed integer',
         ord('u'): 'unsigned integer', ord('o'): 'struct'}
_built = {}  # hash -> (CDLL, {entry: [param signature]})


def _split_params(text):
    """Top-level comma split of a parameter list (templates and parentheses nest)."""
    params, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in '<([':
            depth += 1
        elif ch in '>)]':
            depth -= 1
        elif ch == ',' and depth == 0:
            params.append(text[start:i])
            start = i + 1
    params.append(text[start:])
    return [p.strip() for p in params if p.strip() and p.strip() != 'void']


def _param_type(param):
    """'const Complex<float>* __restrict__ a' -> ('const Complex<float>* __restrict__', 'a')."""
    param = param.split('=')[0].strip()
    m = re.match(r'^(.*?)([A-Za-z_]\w*)\s*(\[\s*\])?$', param, re.DOTALL)
    if m is None or not m.group(1).strip():
        return param, '?'
    ctype = m.group(1).strip() + (' *' if m.group(3) else '')
    return ctype, m.group(2)


def _entry_points(preprocessed):
    entries = {}
    pattern = re.compile(r'extern\s+"C"\s+' + MARK + r'\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?void\s+'
                         r'(?:__launch_bounds__\s*\([^)]*\)\s*)?([A-Za-z_]\w*)\s*\(')
    for m in pattern.finditer(preprocessed):
        depth, i = 1, m.end()
        while depth:
            depth += {'(': 1, ')': -1}.get(preprocessed[i], 0)
            i += 1
        entries[m.group(1)] = [_param_type(p) for p in _split_params(preprocessed[m.end():i - 1])]
    return entries


def _compiler_flags(options):
    flags = []
    for option in options:
        if option.startswith(('--std=', '-std=')):
            flags.append('-std=' + option.split('=', 1)[1])
        elif option.startswith(('-D', '-I', '-U')):
            flags.append(option)
    if not any(f.startswith('-std=') for f in flags):
        flags.append('-std=c++17')  # CuPy's default standard
    return flags


_WRAPPER_HEAD = r'''
#include <type_traits>
namespace minifft_standin {
template <class P> struct size_of { static constexpr long long value = sizeof(P); };
template <> struct size_of<void> { static constexpr long long value = 0; };
template <class T> struct info {
    using U = typename std::remove_cv<T>::type;
    static constexpr long long kind = std::is_pointer<U>::value ? 'p' : std::is_same<U, bool>::value ? 'b'
        : std::is_floating_point<U>::value ? 'f' : std::is_integral<U>::value ? (std::is_signed<U>::value ? 'i' : 'u')
        : 'o';
    static constexpr long long size = sizeof(T);
    static constexpr long long pointee = std::is_pointer<U>::value ? size_of<typename std::remove_cv<
        typename std::remove_pointer<U>::type>::type>::value : -1;
};
}
'''


def _wrapper_source(source_file, entries):
    lines = ['#include "cuda_shim.h"', f'#include "{source_file}"', _WRAPPER_HEAD]
    for name, params in entries.items():
        usings = ' '.join(f'using T{i} = {ctype};' for i, (ctype, _) in enumerate(params))
        call = ', '.join(f'*(T{i}*)args[{i}]' for i in range(len(params)))
        lines.append(f'extern "C" void minifft_standin_launch_{name}(const unsigned* g, const unsigned* b, '
                     f'void** args) {{\n    {usings}\n    (void)args;\n'
                     f'    MINIFFT_RUN_GRID((uint3{{g[0], g[1], g[2]}}), (uint3{{b[0], b[1], b[2]}}), {name}({call}));\n}}')
        sig = ', '.join(f'minifft_standin::info<{ctype}>::{field}' for ctype, _ in params
                        for field in ('kind', 'size', 'pointee'))
        lines.append(f'extern "C" const long long minifft_standin_sig_{name}[] = {{{sig or "0"}}};')
    return '\n'.join(lines) + '\n'


def _build(code, options):
    flags = _compiler_flags(options)
    key = hashlib.sha256('\0'.join([code, SHIM.read_text(), *flags, _WRAPPER_HEAD]).encode()).hexdigest()[:24]
    if key in _built:
        return _built[key]
    gxx = shutil.which('g++')
    if gxx is None:
        raise CompileException('g++ is not installed: the CuPy stand-in builds RawModules with it', code,
                               'standin', options)
    cache = Path(tempfile.gettempdir()) / f'minifft-cupy-standin-{os.getuid()}' / key
    cache.mkdir(parents=True, exist_ok=True)
    source = cache / 'kernel.cu'
    source.write_text(code)
    pre = subprocess.run([gxx, '-E', '-P', '-x', 'c++', *flags, f'-D__global__={MARK}', '-I', str(SHIM_DIR),
                          str(source)], capture_output=True, text=True)
    if pre.returncode:
        raise CompileException(pre.stderr, code, 'standin', options)
    entries = _entry_points(pre.stdout)
    library = cache / 'module.so'
    if not library.exists():
        wrapper = cache / 'wrapper.cpp'
        wrapper.write_text(_wrapper_source(source.name, entries))
        tmp = cache / f'module.{os.getpid()}.so'
        built = subprocess.run([gxx, '-O1', '-shared', '-fPIC', '-pthread', '-w', *flags, '-I', str(SHIM_DIR),
                                '-I', str(cache), str(wrapper), '-o', str(tmp)], capture_output=True, text=True)
        if built.returncode:
            raise CompileException(built.stderr, code, 'standin', options)
        os.replace(tmp, library)
    lib = ctypes.CDLL(str(library))
    signatures = {}
    for name, params in entries.items():
        values = (ctypes.c_longlong * max(3 * len(params), 1)).in_dll(lib, f'minifft_standin_sig_{name}')
        signatures[name] = [dict(name=pname, ctype=ctype, kind=values[3 * i], size=values[3 * i + 1],
                                 pointee=values[3 * i + 2]) for i, (ctype, pname) in enumerate(params)]
    _built[key] = (lib, signatures)
    return _built[key]


def _dims(kernel, what, value):
    if not isinstance(value, tuple):
        raise TypeError(f"Argument '{what}' has incorrect type (expected tuple, got {type(value).__name__})")
    if not 1 <= len(value) <= 3 or not all(isinstance(v, (int, numpy.integer)) for v in value):
        raise TypeError(f"{kernel}: {what} must be a tuple of 1 to 3 ints, got {value!r}")
    return tuple(max(1, int(v)) for v in (value + (1, 1))[:3])


def _convert(x):
    """The value CuPy passes for a kernel argument: ('pointer', itemsize or None) or a NumPy scalar."""
    from . import ndarray
    from .cuda.memory import MemoryPointer
    if x is None:
        return 'pointer', None, 0
    if isinstance(x, ndarray):
        return 'pointer', x.itemsize, x.data.ptr
    if isinstance(x, MemoryPointer):
        return 'pointer', None, x.ptr
    if isinstance(x, numpy.ndarray):
        if x.size != 1:
            raise TypeError(f"You are trying to pass a numpy.ndarray of shape {x.shape} as a kernel parameter. "
                            "Only numpy.ndarrays of size one can be passed by value. If you meant to pass a "
                            "pointer to __global__ memory, you need to pass a cupy.ndarray instead.")
        return 'scalar', x.reshape(()).copy(), None
    if type(x) is bool:
        return 'scalar', numpy.bool_(x), None
    if type(x) is int:
        return 'scalar', (numpy.uint64(x) if x >= 2 ** 63 else numpy.int64(x)), None
    if type(x) is float:
        return 'scalar', numpy.float64(x), None
    if type(x) is complex:
        return 'scalar', numpy.complex128(x), None
    if isinstance(x, numpy.generic):
        return 'scalar', x, None
    raise TypeError(f"Unsupported type {type(x)}")


def _check_argument(kernel, index, param, x):
    kind, value, ptr = _convert(x)
    where = f"{kernel}: argument {index} ('{param['name']}', C type '{param['ctype']}')"
    expected = _KIND[param['kind']]
    if kind == 'pointer':
        if expected != 'pointer':
            raise TypeError(f"{where} is a {expected} of {param['size']} bytes, but a pointer "
                            f"({type(x).__name__}) was passed")
        if value is not None and param['pointee'] > 0 and value != param['pointee']:
            raise TypeError(f"{where} points to {param['pointee']}-byte elements, but an array of "
                            f"{x.dtype} ({value}-byte elements) was passed")
        return ctypes.c_void_p(ptr)
    dtype = numpy.asarray(value).dtype
    if expected == 'pointer':
        raise TypeError(f"{where} is a pointer, but {type(x).__name__} (passed as {dtype}) was passed; "
                        f"pass a cupy.ndarray")
    matches = {'bool': dtype.kind == 'b', 'floating': dtype.kind == 'f', 'signed integer': dtype.kind == 'i',
               'unsigned integer': dtype.kind == 'u', 'struct': True}[expected]
    if not matches or dtype.itemsize != param['size']:
        raise TypeError(f"{where} expects a {param['size']}-byte {expected}, but {x!r} of type "
                        f"{type(x).__name__} is passed by CuPy as {dtype} ({dtype.itemsize} bytes)")
    return numpy.array(value, dtype)  # the bytes the kernel reads, kept alive for the launch


class Function:
    """A kernel entry point of a RawModule: ``f(grid, block, args, shared_mem=0, stream=None)``."""

    def __init__(self, lib, name, params):
        self._launch = getattr(lib, f'minifft_standin_launch_{name}')
        self._launch.restype = None
        self.name, self.params = name, params

    def __call__(self, grid, block, args, shared_mem=0, stream=None, enable_cooperative_groups=False):
        grid, block = _dims(self.name, 'grid', grid), _dims(self.name, 'block', block)
        for what, dims, limits in (('grid', grid, GRID_MAX), ('block', block, BLOCK_MAX)):
            for axis, n, limit in zip('xyz', dims, limits):
                if n > limit:
                    raise CUDADriverError(f"CUDA_ERROR_INVALID_VALUE: invalid argument (kernel {self.name}: "
                                          f"{what} {axis} = {n} exceeds {limit})")
        if block[0] * block[1] * block[2] > THREADS_MAX:
            raise CUDADriverError(f"CUDA_ERROR_INVALID_VALUE: invalid argument (kernel {self.name}: "
                                  f"block {block} has more than {THREADS_MAX} threads)")
        if not isinstance(args, tuple):
            raise TypeError(f"{self.name}: args must be a tuple, got {type(args).__name__}")
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}: takes {len(self.params)} arguments, {len(args)} were passed")
        held = [_check_argument(self.name, i, p, x) for i, (p, x) in enumerate(zip(self.params, args))]
        addresses = [ctypes.addressof(h) if isinstance(h, ctypes.c_void_p) else h.ctypes.data for h in held]
        argv = (ctypes.c_void_p * max(len(held), 1))(*addresses)
        self._launch((ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block), argv)


class RawModule:
    """``cupy.RawModule(code=..., options=(...))``; ``get_function(name)`` builds on first use."""

    def __init__(self, *, code=None, path=None, options=(), backend='nvrtc', translate_cucomplex=False,
                 enable_cooperative_groups=False, name_expressions=None, jitify=False):
        if not isinstance(options, tuple):
            raise TypeError(f"Argument 'options' has incorrect type (expected tuple, got {type(options).__name__})")
        if (code is None) == (path is None):
            raise TypeError('Exactly one of code and path keyword arguments must be given.')
        self.code = code if code is not None else Path(path).read_text()
        self.options, self.backend = options, backend
        self._module = None

    def _load(self):
        if self._module is None:
            self._module = _build(self.code, self.options)
        return self._module

    def compile(self, log_stream=None):
        self._load()

    def get_function(self, name):
        lib, signatures = self._load()
        if name not in signatures:
            raise CUDADriverError(f"CUDA_ERROR_NOT_FOUND: named symbol not found ({name!r}; the module has "
                                  f"{sorted(signatures)})")
        return Function(lib, name, signatures[name])


class RawKernel:
    """``cupy.RawKernel(code, name, options=())``: one entry point of a RawModule."""

    def __init__(self, code, name, options=(), backend='nvrtc', translate_cucomplex=False,
                 enable_cooperative_groups=False, jitify=False):
        self.code, self.name = code, name
        self._module = RawModule(code=code, options=options)

    @property
    def kernel(self):
        return self._module.get_function(self.name)

    def __call__(self, grid, block, args, **kwargs):
        self.kernel(grid, block, args, **kwargs)
