"""Convolution algorithms behind one function: ``conv2d(..., algo='fft' | 'direct' | 'auto')``.

Each algorithm implements ``forward(x, w, g) -> (y, saved)``, ``backward_setup(saved, gy, g)``,
``backward_input(ctx, g)`` and ``backward_weight(ctx, g)`` on raw arrays; backward is split so the
FFT algorithm transforms gy once for both gradients and the profiler can time each pass.
"""
import contextlib
import os

from . import auto, profiler
from .chunking import Chunked
from .direct import DirectConvolution
from .fft import FFTConvolution, spectral_bytes
from .geometry import ConvGeometry
from .workspace import set_workspace_limit, workspace_limit

# fft runs in pieces when its spectra would not fit the workspace limit (chunking.py)
ALGORITHMS = {'fft': Chunked(FFTConvolution(), spectral_bytes), 'direct': DirectConvolution()}
ALGORITHM_NAMES = ('fft', 'direct', 'auto')

_default_algorithm = None


def check_algorithm_name(op, name):
    if name not in ALGORITHM_NAMES:
        raise ValueError(f"{op}: unknown algo {name!r}; expected one of {ALGORITHM_NAMES}")
    return name


def default_algorithm():
    """The algorithm used when none is named: ``MINIFFT_CONV_ALGO`` if set, else 'auto'."""
    global _default_algorithm
    if _default_algorithm is None:
        _default_algorithm = check_algorithm_name('MINIFFT_CONV_ALGO',
                                                  os.environ.get('MINIFFT_CONV_ALGO', 'auto').strip() or 'auto')
    return _default_algorithm


def set_default_algorithm(name):
    """Switch every convolution that names no algorithm (all layers built with algo=None)."""
    global _default_algorithm
    _default_algorithm = check_algorithm_name('set_default_algorithm', name)


@contextlib.contextmanager
def using(name):
    """Within this block, convolutions that name no algorithm use ``name``."""
    previous = default_algorithm()
    set_default_algorithm(name)
    try:
        yield
    finally:
        set_default_algorithm(previous)


def select(name, g, x, w):
    """The algorithm object for ``name`` (None: the default), resolving 'auto' per layer shape."""
    name = name or default_algorithm()
    if name == 'auto':
        name = auto.choose(g, x, w, ALGORITHMS)
    return ALGORITHMS[name]


auto_report = auto.format_report

__all__ = [
    'ALGORITHMS', 'ALGORITHM_NAMES', 'ConvGeometry', 'FFTConvolution', 'DirectConvolution', 'Chunked',
    'select', 'default_algorithm', 'set_default_algorithm', 'using', 'check_algorithm_name',
    'auto', 'auto_report', 'profiler', 'spectral_bytes', 'set_workspace_limit', 'workspace_limit',
]
