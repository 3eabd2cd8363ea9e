"""minifft/kernels/host.py: C kernels built on first use, cached, and the setting that picks them."""
import ctypes
import warnings

import numpy
import pytest

from minifft import config
from minifft.kernels import host

SCALE = r"""
#include <stddef.h>
void scale_f64(double *a, ptrdiff_t n, double s) { for (ptrdiff_t i = 0; i < n; i++) a[i] *= s; }
"""


@pytest.fixture
def sources(tmp_path, monkeypatch):
    """A source directory with scale.c and an empty cache, and the library memo cleared around."""
    src = tmp_path / 'src'
    src.mkdir()
    (src / 'scale.c').write_text(SCALE)
    monkeypatch.setattr(host, 'SOURCE_DIR', src)
    monkeypatch.setenv('MINIFFT_CACHE_DIR', str(tmp_path / 'cache'))
    host._load.cache_clear()
    host._warned.clear()
    yield src
    host._load.cache_clear()
    host._warned.clear()


needs_compiler = pytest.mark.skipif(host.compiler() is None, reason="no C compiler here")


@needs_compiler
def test_builds_once_and_calls_with_the_gil_released(sources, tmp_path):
    with config.using(cpu_kernels='on'):
        lib = host.library('scale')
    built = list((tmp_path / 'cache').glob('scale-*.so'))
    assert len(built) == 1
    a = numpy.arange(5.0)
    host.function(lib, 'scale_f64', ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_double)(host.pointer(a), a.size, 3.0)
    numpy.testing.assert_array_equal(a, 3.0 * numpy.arange(5.0))
    assert isinstance(lib, ctypes.CDLL) and not isinstance(lib, ctypes.PyDLL)   # CDLL calls drop the GIL

    # another process (memo cleared) finds the library built: same file, not rebuilt
    stamp = built[0].stat().st_mtime_ns
    host._load.cache_clear()
    with config.using(cpu_kernels='on'):
        host.library('scale')
    assert [p.stat().st_mtime_ns for p in (tmp_path / 'cache').glob('scale-*.so')] == [stamp]


@needs_compiler
def test_a_changed_source_is_built_again(sources, tmp_path):
    with config.using(cpu_kernels='on'):
        host.library('scale')
        (sources / 'scale.c').write_text(SCALE + "\nint answer(void) { return 42; }\n")
        host._load.cache_clear()
        assert host.library('scale').answer() == 42
    assert len(list((tmp_path / 'cache').glob('scale-*.so'))) == 2


@needs_compiler
def test_a_changed_included_source_is_built_again(sources, tmp_path):
    """A source's key covers the kernel-directory files it includes (direct.c includes gemm.c,
    im2col.c and pool.h): editing one of them rebuilds the library."""
    (sources / 'scale.c').write_text('#include "answer.h"\n' + SCALE)
    (sources / 'answer.h').write_text("int answer(void) { return 1; }\n")
    with config.using(cpu_kernels='on'):
        assert host.library('scale').answer() == 1
        (sources / 'answer.h').write_text("int answer(void) { return 2; }\n")
        host._load.cache_clear()
        assert host.library('scale').answer() == 2
    assert len(list((tmp_path / 'cache').glob('scale-*.so'))) == 2


def test_off_never_builds(sources, tmp_path):
    with config.using(cpu_kernels='off'):
        assert host.library('scale') is None
    assert not (tmp_path / 'cache').exists()


@needs_compiler
def test_a_source_that_does_not_compile(sources):
    (sources / 'scale.c').write_text("this is not C")
    with config.using(cpu_kernels='on'), pytest.raises(host.BuildError, match="could not build scale.c"):
        host.library('scale')
    with config.using(cpu_kernels='auto'), pytest.warns(RuntimeWarning, match="using the NumPy code"):
        assert host.library('scale') is None
    with config.using(cpu_kernels='auto'), warnings.catch_warnings():
        warnings.simplefilter('error')       # said once
        assert host.library('scale') is None


def test_no_compiler(sources, monkeypatch):
    monkeypatch.setenv('CC', 'no-such-compiler-here')
    host.compiler.cache_clear()
    try:
        with config.using(cpu_kernels='on'), pytest.raises(host.BuildError, match="no C compiler.*no-such-compiler-here"):
            host.library('scale')
        with config.using(cpu_kernels='auto'), pytest.warns(RuntimeWarning, match="no C compiler"):
            assert host.library('scale') is None
    finally:
        monkeypatch.delenv('CC')
        host.compiler.cache_clear()


def test_pointer_wants_a_contiguous_numpy_array():
    a = numpy.zeros((4, 4))
    assert host.pointer(a) == a.ctypes.data
    with pytest.raises(ValueError, match="expected a C-contiguous numpy array, got ndarray with strides"):
        host.pointer(a[:, ::2])
    with pytest.raises(ValueError, match="got list"):
        host.pointer([1.0])


def test_suffix():
    assert host.suffix(numpy.float32) == 'f32' and host.suffix('float64') == 'f64'
    assert host.suffix(numpy.float16) is None


@needs_compiler
def test_library_for_serves_one_float_dtype_of_numpy_arrays(sources):
    a32, b32 = numpy.zeros(3, numpy.float32), numpy.ones(2, numpy.float32)
    with config.using(cpu_kernels='on'):
        lib, kind = host.library_for('scale', a32, b32)
        assert isinstance(lib, ctypes.CDLL) and kind == 'f32'
        assert host.library_for('scale', numpy.zeros(2))[1] == 'f64'
        assert host.library_for('scale', a32, numpy.zeros(2)) == (None, None)            # mixed dtypes
        assert host.library_for('scale', numpy.zeros(2, numpy.float16)) == (None, None)  # no instantiation
        assert host.library_for('scale', a32, [1.0]) == (None, None)                     # not all numpy
        assert host.serves('scale', 'cpu', 4) and host.serves('scale', 'cpu', 8)
        assert not host.serves('scale', 'cuda', 4) and not host.serves('scale', 'cpu', 2)
    with config.using(cpu_kernels='off'):
        assert host.library_for('scale', a32) == (None, None)
        assert not host.serves('scale', 'cpu', 4)
