"""Test configuration: the CuPy stand-in, the ``device`` fixture, the ``gpu`` marker.

Without a real CuPy that can use a GPU, ``tests/cupy_standin`` goes first on ``sys.path`` before
minifft is imported, so device 'cuda' runs everywhere (on the CPU, with CuPy's strictness; see the
stand-in's docstring for what it cannot show). ``gpu``-marked tests need a real GPU and are
skipped under the stand-in.
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

STANDIN_DIR = str(Path(__file__).resolve().parent / 'cupy_standin')
_PROBE = "import cupy; assert cupy.cuda.runtime.getDeviceCount() > 0; cupy.zeros(1) + 1"


def _real_gpu():
    """Whether an installed, real CuPy can use a GPU: probed in a subprocess so that a failing
    import leaves nothing half-imported in this process."""
    if 'cupy' in sys.modules or importlib.util.find_spec('cupy') is None:
        return False
    try:
        return subprocess.run([sys.executable, '-c', _PROBE], capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


REAL_GPU = _real_gpu()
STANDIN = not REAL_GPU
if STANDIN:
    sys.path.insert(0, STANDIN_DIR)
# Tests say which device they use: the default stays the CPU unless a test sets it.
os.environ.setdefault('MINIFFT_DEVICE', 'cpu')

import minifft
from minifft import backend

if STANDIN:
    import cupy
    assert getattr(cupy, 'IS_STANDIN', False), f"expected the CuPy stand-in, imported {cupy.__file__}"


def standin_environment():
    """Environment for a subprocess that must see the same CuPy as this test session."""
    env = dict(os.environ)
    if STANDIN:
        env['PYTHONPATH'] = os.pathsep.join([STANDIN_DIR, str(Path(STANDIN_DIR).parents[1])] +
                                            [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    return env


def pytest_collection_modifyitems(config, items):
    if STANDIN:
        reason = ("needs a real GPU: running under the CuPy stand-in, which cannot show asynchrony, "
                  "cuFFT numerics or speed")
    else:
        usable, why = backend.cuda_status()
        reason = None if usable else f"no usable GPU: {why}"
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if 'gpu' in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seeded_with_config_restored():
    """Every test starts from seed 0 and leaves minifft.config as it found it (algorithm,
    workspace limit, autotune, device, dtype), whatever it set."""
    minifft.manual_seed(0)
    saved = minifft.config.snapshot()
    yield
    minifft.config.restore(saved)


@pytest.fixture
def rng():
    return numpy.random.default_rng(1234)


@pytest.fixture(params=['cpu', 'cuda'])
def device(request):
    """Each device test runs on the CPU and on 'cuda' (a real GPU, or the CuPy stand-in)."""
    if request.param == 'cuda':
        usable, why = backend.cuda_status()
        if not usable:
            pytest.skip(f"device 'cuda' is not usable: {why}")
    return request.param


@pytest.fixture(params=['compiled', 'numpy'])
def cpu_kernels(request):
    """Each test using it runs with the CPU's C kernels (minifft/kernels/host.py) and with the NumPy
    code they replace; the name of the variant, on the CPU."""
    from minifft.kernels import host
    if request.param == 'compiled' and host.compiler() is None:
        pytest.skip("no C compiler: the CPU kernels cannot be built here")
    with minifft.config.using(cpu_kernels='on' if request.param == 'compiled' else 'off'):
        yield request.param


@pytest.fixture
def xp(device):
    """The array module of ``device``."""
    return backend.array_module_for(device)



@pytest.fixture
def host_reads():
    """A function returning the device-to-host reads (GPU synchronisations) since the fixture was
    made; counted by the CuPy stand-in, so tests using it skip on a real GPU."""
    if not STANDIN:
        pytest.skip("host reads are counted by the CuPy stand-in only")
    import cupy
    start = cupy.standin_sync_count()
    return lambda: cupy.standin_sync_count() - start
