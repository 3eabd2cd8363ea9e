"""The one timing loop: auto, the profiler and the benchmarks all measure through it.

On the GPU every measured interval is bracketed by device synchronisations, so it covers the
queued work and not only its launch. Candidates timed against each other run in rounds, one step
of each per round, in the orders of ``balanced_rounds``.
"""
import contextlib
import functools
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


# Above this many names the search for rounds balanced across their joins (_joined_rounds) can take
# seconds (20 names: 1.6 s); minifft times at most its algorithms and PyTorch (6), so it never gets there.
MOST_JOINED_NAMES = 12


@functools.lru_cache(maxsize=None)
def _joined_rounds(n):
    """n - 1 orders of range(n) (one for n <= 2) whose cyclic concatenation holds every ordered pair
    of distinct indices exactly once as neighbours: a depth-first search, the first order fixed to
    start at 0; microseconds for n <= 12."""
    if n <= 2:
        return (tuple(range(n)),)
    steps, used = [], set()

    def extend():
        position = len(steps)
        if position == n * (n - 1):
            return (steps[-1], steps[0]) not in used   # the period closes on its first step
        taken = steps[position - position % n:]   # this round's names so far
        for v in range(n) if position else (0,):
            if v in taken or (position and (steps[-1], v) in used):
                continue
            if position:
                used.add((steps[-1], v))
            steps.append(v)
            if extend():
                return True
            steps.pop()
            if position:
                used.discard((steps[-1], v))
        return False
    extend()   # succeeds for every n it is asked for (tested up to MOST_JOINED_NAMES)
    return tuple(tuple(steps[i:i + n]) for i in range(0, len(steps), n))


def _williams_rounds(n):
    """Williams' balanced Latin square: n orders (2n for odd n) in which every index follows every
    other equally often within the orders, but not across their joins."""
    first = [0] + [(k + 1) // 2 if k % 2 else n - k // 2 for k in range(1, n)]   # 0, 1, n-1, 2, n-2, ...
    period = [tuple((v + r) % n for v in first) for r in range(n)]
    return period + [row[::-1] for row in period] if n % 2 else period


def balanced_rounds(names, count):
    """The order of each of ``count`` rounds (every name once per round) that time ``names`` against
    each other, so that over the whole run, read as one line of steps, every name runs right after
    every other one equally often: in one period of the rounds (len(names) - 1 of them, one for two
    names) each ordered pair of names is adjacent exactly once, the joins between rounds and the
    return from the period's end to its start included. A count that is a multiple of the period
    is exactly balanced.

    Order matters because a step runs slower right after a heavy one, or after the cores sat idle
    (stride-2 layer on the 2-core CPU: direct 6.4-7.3 ms after a light step, 7.4-9.4 ms after an
    fft step). In one fixed order the same candidate always follows the heaviest; a rotation keeps
    the cyclic order, so it does too; Williams' Latin square balances the pairs within its rounds,
    but each join between rounds added one fixed predecessor: with fft, fft-tiled, direct and
    PyTorch, half of direct's steps came right after PyTorch. Past MOST_JOINED_NAMES names,
    Williams' square it is."""
    period = round_period(names)
    return [period[r % len(period)] for r in range(count)]


def round_period(names):
    """One period of balanced_rounds' orders of ``names`` (lists). Warming up in the order of its
    last round makes the first timed step follow its predecessor in the cycle as well."""
    names = list(names)
    n = len(names)
    period = _joined_rounds(n) if n <= MOST_JOINED_NAMES else _williams_rounds(n)
    return [[names[i] for i in order] for order in period]


def interleaved_medians(steps, device, repeats, warmup=1):
    """{name: median seconds} of the callables ``steps`` (a dict) timed against each other:
    ``warmup`` untimed rounds (the period's last order: round_period), then ``repeats`` rounds of
    one timed call of each in the orders of ``balanced_rounds``, so load that drifts on a shared
    machine hits all of them alike."""
    warmup_order = round_period(steps)[-1]
    for _ in range(warmup):
        for name in warmup_order:
            steps[name]()
    runs = {name: [] for name in steps}
    for order in balanced_rounds(steps, repeats):
        for name in order:
            runs[name].append(median_seconds(steps[name], device, repeats=1, warmup=0))
    return {name: statistics.median(t) for name, t in runs.items()}
