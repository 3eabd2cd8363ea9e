"""Host (CPU) memory: keep freed large arrays in the process heap, so the next step reuses them.

Every training step allocates the same large temporaries (padded inputs, im2col columns, spectra,
GEMM outputs) and frees them a moment later. glibc's malloc serves each block above its mmap
threshold (128 KiB, adapting up to 32 MiB) with a fresh ``mmap`` and hands it back to the kernel on
``free``, so every step pays a page fault and a kernel zero-fill for each page it touches again.
On the 2-core CPU this was half of a convolution step: (32, 16, 32, 32, 3) direct 30 ms -> 15 ms,
(32, 32, 32, 64, 11) fft 139 ms -> 98 ms, with nothing else changed (benchmarks/README.md).

Policy 'keep' (the default, config ``host_memory`` / ``MINIFFT_HOST_MEMORY``) raises the mmap
threshold to ``MMAP_THRESHOLD`` and never trims the heap, so freed blocks stay mapped and are
reused as they are: the host counterpart of CuPy's memory pool. The price is the pool's: the
process keeps its high-water mark of host memory (its RSS does not shrink after a peak).
'system' leaves malloc as the C library set it up; after 'keep' it puts glibc's default thresholds
back (as fixed values: glibc stops adapting them once they are set).
Elsewhere than glibc (macOS, musl, Windows) both are a no-op and ``configure`` returns False.
"""
import ctypes
import ctypes.util
import functools

from . import config

POLICIES = config.HOST_MEMORY_POLICIES
MMAP_THRESHOLD = 1 << 30       # blocks above this still get their own mapping (and go back on free)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3    # mallopt parameters, <malloc.h>
_SYSTEM = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_THRESHOLD: 128 * 1024}
_KEEP = {_M_TRIM_THRESHOLD: 2 ** 31 - 1, _M_MMAP_THRESHOLD: MMAP_THRESHOLD}

_applied = None


@functools.lru_cache(maxsize=None)
def _mallopt():
    """glibc's mallopt, or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return None
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt


def configure(policy):
    """Apply ``policy`` ('keep' or 'system') to this process's malloc; True where it took effect."""
    global _applied
    if policy not in POLICIES:
        raise ValueError(f"host_memory.configure: expected one of {POLICIES}, got {policy!r}")
    mallopt = _mallopt()
    if mallopt is None:
        return False
    if policy == 'system' and _applied is None:
        return True     # nothing of ours to undo: glibc keeps its adaptive defaults
    values = _KEEP if policy == 'keep' else _SYSTEM
    if not all(mallopt(param, value) == 1 for param, value in values.items()):
        return False
    _applied = policy
    return True


def applied():
    """The policy last applied here ('keep' or 'system'), or None (not applied or unsupported)."""
    return _applied


config.on_change('host_memory', configure)
