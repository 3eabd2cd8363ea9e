"""How ops reach the CPU's C kernels (minifft/kernels/host.py): which library serves an array,
and running a kernel over chunks of its rows on the CPU thread pool."""
from .. import config
from ..conv.spectral import cpu_thread_pool, even_slices
from ..kernels import host

# Below this much work (elements touched, window visits) one thread beats the pool: these kernels
# are memory-bound, and on the shared 2-core machine a hand-off cost 50-70 us while a 1M-element
# ReLU or 2x2 pooling pass took 0.1-0.2 ms on one thread (threads measured 1.3-2.5x slower there).
# With the caller running a chunk itself, two threads won alone at 1M elements (BatchNorm's
# backward 0.27 ms against 0.45, ReLU's forward 0.27 against 0.33) but not in ResNet-8's whole
# step (0.97-1.045x the one-thread step): the next op then finds its input split across both
# cores' caches, and a hand-off waits whenever the host takes the other core.
PARALLEL_MIN_WORK = 1 << 22


def library(name, *arrays, min_size=0):
    """host.library_for(name, *arrays): (the compiled ``<name>.c``, entry-point suffix), or
    (None, None) for the NumPy code (also on CuPy arrays).

    ``min_size``: under cpu_kernels='auto', arrays of fewer elements take the NumPy code, where
    the kernel call's fixed cost in Python (a few microseconds per pointer and call) exceeds what
    the fused pass saves; 'on' always takes the kernels (so tests reach them on small shapes)."""
    if arrays and arrays[0].size < min_size and config.get('cpu_kernels') == 'auto':
        return None, None
    return host.library_for(name, *arrays)


def run_rows(run, rows, work):
    """``run(lo, hi)`` over ``rows`` independent rows, split across the CPU thread pool when the
    whole call does at least PARALLEL_MIN_WORK (ctypes releases the GIL).

    The calling thread runs the first chunk itself rather than sleeping on the pool's: with as
    many chunks as cores, a waiting caller is one thread more than there are cores, and the
    hand-off that costs is one wake-up fewer."""
    pool = cpu_thread_pool()
    if pool is None or rows < 2 or work < PARALLEL_MIN_WORK:
        run(0, rows)
        return
    first, *others = even_slices(rows, min(rows, pool[2]))
    futures = [pool[0].submit(run, c.start, c.stop) for c in others]
    try:
        run(first.start, first.stop)
    finally:
        for future in futures:
            future.result()
