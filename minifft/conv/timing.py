"""The one timing loop: auto, the profiler and the benchmarks all measure through it.

On the GPU every measured interval is bracketed by device synchronisations, so it covers the
queued work and not only its launch. Candidates timed against each other run in rounds, one step
of each per round, in the orders of ``balanced_rounds``.
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


def balanced_rounds(names, count):
    """The order of each of ``count`` rounds that time ``names`` against each other, from Williams'
    balanced Latin square: over one period (len(names) rounds, twice that for an odd count) every
    name runs right after every other one equally often, and equally often first.

    Order matters because a step runs slower right after a heavy one, or after the cores sat idle
    (stride-2 layer on the 2-core CPU: direct 6.4-7.3 ms after a light step, 7.4-9.4 ms after an
    fft step). In one fixed order the same candidate always follows the heaviest; a rotation keeps
    the cyclic order, so it does too."""
    names = list(names)
    n = len(names)
    first = [0] + [(k + 1) // 2 if k % 2 else n - k // 2 for k in range(1, n)]   # 0, 1, n-1, 2, n-2, ...
    period = [[names[(v + r) % n] for v in first] for r in range(n)]
    if n % 2:
        period += [row[::-1] for row in period]
    return [period[r % len(period)] for r in range(count)]


def interleaved_medians(steps, device, repeats, warmup=1):
    """{name: median seconds} of the callables ``steps`` (a dict) timed against each other:
    ``warmup`` untimed calls of each, then ``repeats`` rounds of one timed call of each in the
    orders of ``balanced_rounds``, so load that drifts on a shared machine hits all of them alike."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    runs = {name: [] for name in steps}
    for order in balanced_rounds(steps, repeats):
        for name in order:
            runs[name].append(median_seconds(steps[name], device, repeats=1, warmup=0))
    return {name: statistics.median(t) for name, t in runs.items()}
