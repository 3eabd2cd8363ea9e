"""The workspace limit: how many bytes of frequency-domain buffers one convolution may hold.

Set it with ``set_workspace_limit(bytes)``, ``minifft.config.using(workspace_limit=...)`` or
``MINIFFT_CONV_WORKSPACE`` (``"512M"``, ``"2G"``, a plain byte count). The default is a quarter of
the machine's RAM on the CPU and half of the free device memory on the GPU, where free counts the
bytes CuPy's memory pool holds but does not use: the driver counts them as used, so a limit from
``memGetInfo`` alone would fall after the first step, when the pool keeps the step's buffers.
Chunked decides each layer's pieces once from the limit in force then (chunking.py).
"""
import os

from .. import backend, config
from ..config import parse_bytes  # noqa: F401  (the one parser; re-exported for callers)


def set_workspace_limit(nbytes):
    """Cap the FFT convolution's frequency buffers at ``nbytes`` (None: back to the default)."""
    config.set(workspace_limit=nbytes)


def _driver_free_bytes():
    return backend.cupy.cuda.runtime.memGetInfo()[0]


def _pool_free_bytes():
    """Bytes CuPy's default pool holds for reuse: free to us, used to the driver."""
    return backend.cupy.get_default_memory_pool().free_bytes()


def available_bytes(device):
    """Memory a convolution on ``device`` may plan with: free device memory (the pool's free
    blocks included) on the GPU, physical RAM on the CPU."""
    if device == 'cuda':
        return _driver_free_bytes() + _pool_free_bytes()
    try:
        return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    except (ValueError, OSError, AttributeError):  # no sysconf: assume 16 GiB of RAM
        return 16 * 2 ** 30


def default_limit(device):
    return available_bytes(device) // (2 if device == 'cuda' else 4)


def workspace_limit(device='cpu'):
    """The limit in force: the configured one (set_workspace_limit, config, MINIFFT_CONV_WORKSPACE),
    else the device default."""
    limit = config.get('workspace_limit')
    return limit if limit is not None else default_limit(device)
