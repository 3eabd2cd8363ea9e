"""C kernels for the CPU: ``<name>.c`` beside this module, built on first use by the host C compiler
and loaded with ctypes; the CPU counterpart of the RawModules the GPU builds from ``.cu`` sources.

Why: NumPy runs each elementwise step as its own pass over memory, so an op made of several steps
(a depthwise tap sum, im2col, a pooling window) reads and writes its arrays several times where a
fused loop does it once; on the 2-core CPU that, not the arithmetic, was most of the gap to
PyTorch's compiled kernels (benchmarks/README.md).

Nothing is compiled at install time: ``library(name)`` compiles the source with ``$CC`` (else
``cc``) once per source, flags, compiler and CPU, into a cache directory (``MINIFFT_CACHE_DIR``,
else ``$XDG_CACHE_HOME/minifft`` or ``~/.cache/minifft``), and memoises the loaded library. The
setting ``cpu_kernels`` (``MINIFFT_CPU_KERNELS``) decides whether they are used:

    'auto'  use them where a C compiler builds them, else the NumPy code (one warning says why)
    'on'    use them; a source that does not build is an error
    'off'   always the NumPy code (the reference the compiled kernels are tested against)

ctypes releases the GIL for the length of each call, so callers run the kernels on chunks of
their work across the CPU thread pool (conv/spectral.run_in_chunks), as they do NumPy's loops.
Sources are C11 with IEEE arithmetic (no -ffast-math: NaN and signed zeros behave as in NumPy);
``-fopenmp-simd`` lets a loop marked ``#pragma omp simd reduction`` reorder its own sum.
"""
import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import numpy

from .. import config
from . import SOURCE_DIR

FLAGS = ('-O3', '-std=c11', '-fPIC', '-shared', '-fopenmp-simd', '-fno-math-errno', '-pthread')
TUNE = ('-march=native',)   # dropped where the compiler refuses it
_lock = threading.Lock()


class BuildError(RuntimeError):
    """A kernel source did not compile or load."""


def cache_dir():
    """Where built kernels are kept."""
    if os.environ.get('MINIFFT_CACHE_DIR'):
        return Path(os.environ['MINIFFT_CACHE_DIR'])
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / 'minifft'


@functools.lru_cache(maxsize=None)
def compiler():
    """(path, version line) of the host C compiler, or None when there is none."""
    path = shutil.which(os.environ.get('CC') or 'cc')
    if path is None:
        return None
    try:
        out = subprocess.run([path, '--version'], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return (path, out.stdout.split('\n')[0]) if out.returncode == 0 else None


def _cpu_signature():
    """What -march=native depends on: a library built for one CPU must not load on another."""
    try:
        info = Path('/proc/cpuinfo').read_text()
    except OSError:
        return platform.processor()
    lines = [line for line in info.splitlines() if line.startswith(('model name', 'flags', 'Features'))]
    return '\n'.join(sorted(set(lines)))


def _source_text(filename, seen=()):
    """A kernel source with the text of every file it includes from the kernel directory
    (``#include "name"``) after it, recursively: a change to an included source rebuilds the
    library."""
    text = (SOURCE_DIR / filename).read_text()
    parts = [text]
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == '#include' and words[1].startswith('"'):
            included = words[1].strip('"')
            if included not in seen:
                parts.append(_source_text(included, seen + (filename, included)))
    return '\0'.join(parts)


def _build(name):
    """Compile ``<name>.c`` (or find it built) and return the path of the shared library."""
    found = compiler()
    if found is None:
        raise BuildError(f"cpu kernels: no C compiler (looked for {os.environ.get('CC') or 'cc'!r} on PATH)")
    text = _source_text(f"{name}.c")
    key = hashlib.sha256('\0'.join((text, ' '.join(FLAGS + TUNE), found[1], platform.machine(),
                                    _cpu_signature())).encode()).hexdigest()[:20]
    target = cache_dir() / f"{name}-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    errors = ''
    for tune in (TUNE, ()):
        # built beside the target and renamed over it: processes building at once never load half a file
        fd, partial = tempfile.mkstemp(suffix='.so', dir=target.parent)
        os.close(fd)
        result = subprocess.run([found[0], *FLAGS, *tune, '-o', partial, str(SOURCE_DIR / f"{name}.c"), '-lm'],
                                capture_output=True, text=True)
        if result.returncode == 0:
            os.replace(partial, target)
            return target
        os.unlink(partial)
        errors = result.stderr.strip()
    raise BuildError(f"cpu kernels: {found[0]} could not build {name}.c:\n{errors}")


@functools.lru_cache(maxsize=None)
def _load(name):
    """The loaded library, or the BuildError that stopped it (remembered: one build try each)."""
    try:
        return ctypes.CDLL(str(_build(name)))
    except BuildError as error:
        return error
    except OSError as error:
        return BuildError(f"cpu kernels: could not load {name}: {error}")


_warned = set()


def library(name):
    """The compiled ``<name>.c`` (a ctypes.CDLL) when the setting ``cpu_kernels`` allows it and it
    builds; None means: use the NumPy code."""
    setting = config.get('cpu_kernels')
    if setting == 'off':
        return None
    with _lock:
        loaded = _load(name)
    if isinstance(loaded, BuildError):
        if setting == 'on':
            raise loaded
        if name not in _warned:
            _warned.add(name)
            warnings.warn(f"{loaded}; using the NumPy code (config cpu_kernels='off' says so quietly)",
                          RuntimeWarning, stacklevel=2)
        return None
    return loaded


def library_for(name, *arrays):
    """(the compiled ``<name>.c``, entry-point suffix 'f32'/'f64') for these arrays, or (None, None)
    where the NumPy (or CuPy) code runs: arrays that are not all NumPy arrays of one dtype the
    kernels are instantiated for, cpu_kernels='off', or no compiler."""
    if not arrays or not all(isinstance(a, numpy.ndarray) for a in arrays):
        return None, None
    kind = suffix(arrays[0].dtype)
    if kind is None or any(a.dtype != arrays[0].dtype for a in arrays[1:]):
        return None, None
    lib = library(name)
    return (lib, kind) if lib is not None else (None, None)


def serves(name, device, itemsize):
    """Whether a layer on ``device`` with floats of ``itemsize`` bytes runs ``<name>.c``, as far as
    is known without its arrays (workspace estimates)."""
    return device == 'cpu' and itemsize in C_ITEMSIZES and library(name) is not None


def function(lib, symbol, *argtypes, returns=None):
    """``lib.symbol`` typed with ``argtypes`` (the ctypes types of its parameters) and result type
    ``returns`` (None: no result), memoised per library."""
    return _function(lib, symbol, argtypes, returns)


@functools.lru_cache(maxsize=None)
def _function(lib, symbol, argtypes, returns):
    f = getattr(lib, symbol)
    f.argtypes, f.restype = argtypes, returns
    return f


C_TYPES = {numpy.dtype(numpy.float32): 'f32', numpy.dtype(numpy.float64): 'f64'}
C_ITEMSIZES = tuple(dtype.itemsize for dtype in C_TYPES)


def suffix(dtype):
    """The entry-point suffix of a kernel instantiated for ``dtype`` ('f32', 'f64'), or None."""
    return C_TYPES.get(numpy.dtype(dtype))


def address(a):
    """The address of a NumPy array's first element, whatever its strides (for kernels that are
    given the strides too)."""
    return a.__array_interface__['data'][0]   # half the cost of a.ctypes.data (1.1 against 2 us)


def pointer(a):
    """The address of a NumPy array's first element, for a kernel parameter; the array must be
    C-contiguous (kernels index it densely)."""
    if not isinstance(a, numpy.ndarray) or not a.flags.c_contiguous:
        raise ValueError(f"cpu kernels: expected a C-contiguous numpy array, got "
                         f"{type(a).__name__}{'' if not isinstance(a, numpy.ndarray) else ' with strides ' + str(a.strides)}")
    return address(a)
