"""Timing helpers shared by the benchmarks: warm-up, median of repeats, device synchronisation."""
import statistics
import time

from minifft import backend


def median_seconds(fn, device, repeats=5, warmup=1):
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` runs.

    On the GPU each run is bracketed by a synchronisation, so the time covers the queued work.
    """
    for _ in range(warmup):
        fn()
    backend.synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        backend.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
