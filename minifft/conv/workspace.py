"""The workspace limit: how many bytes of frequency-domain buffers one convolution may hold.

Set it with ``set_workspace_limit(bytes)`` or ``MINIFFT_CONV_WORKSPACE`` (``"512M"``, ``"2G"``,
a plain byte count). The default is a quarter of the machine's RAM on the CPU and half of the
free device memory on the GPU.
"""
import os
import re

from .. import backend

_limit = None
_UNITS = {'': 1, 'k': 2 ** 10, 'm': 2 ** 20, 'g': 2 ** 30, 't': 2 ** 40}


def parse_bytes(text):
    """'512M' -> 536870912; accepts K, M, G, T (powers of 1024), an optional 'B'/'iB', or a number."""
    match = re.fullmatch(r'\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*', str(text).lower())
    if not match:
        raise ValueError(f"workspace limit: expected a byte count like 1048576, 512M or 2G, got {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def set_workspace_limit(nbytes):
    """Cap the FFT convolution's frequency buffers at ``nbytes`` (None: back to the default)."""
    global _limit
    if nbytes is not None:
        nbytes = parse_bytes(nbytes) if isinstance(nbytes, str) else int(nbytes)
        if nbytes <= 0:
            raise ValueError(f"set_workspace_limit: expected a positive byte count, got {nbytes}")
    _limit = nbytes


def default_limit(device):
    if device == 'cuda':
        free, _ = backend.cupy.cuda.runtime.memGetInfo()
        return free // 2
    try:
        return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 4
    except (ValueError, OSError, AttributeError):  # no sysconf: assume 16 GiB of RAM
        return 4 * 2 ** 30


def workspace_limit(device='cpu'):
    """The limit in force: set_workspace_limit, else MINIFFT_CONV_WORKSPACE, else the default."""
    if _limit is not None:
        return _limit
    env = os.environ.get('MINIFFT_CONV_WORKSPACE', '').strip()
    return parse_bytes(env) if env else default_limit(device)
