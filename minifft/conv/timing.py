"""The one timing loop: auto, the profiler and the benchmarks all measure through it.

On the GPU every measured interval is bracketed by device synchronisations, so it covers the
queued work and not only its launch.
"""
import contextlib
import statistics
import time

from .. import backend


class Stopwatch:
    seconds = 0.0


@contextlib.contextmanager
def stopwatch(device):
    """``with stopwatch(device) as t:`` ... then ``t.seconds`` is the block's wall time."""
    watch = Stopwatch()
    backend.synchronize(device)
    start = time.perf_counter()
    try:
        yield watch
    finally:
        backend.synchronize(device)
        watch.seconds = time.perf_counter() - start


def measure(fn, device, repeats=5, warmup=1):
    """Wall times of ``repeats`` calls of ``fn()`` after ``warmup`` untimed ones (plans, caches)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        with stopwatch(device) as t:
            fn()
        times.append(t.seconds)
    return times


def median_seconds(fn, device, repeats=5, warmup=1):
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    return statistics.median(measure(fn, device, repeats, warmup))
