"""timing: the one timing loop and the order candidates are timed in."""
import collections

import pytest

from minifft.conv import timing


@pytest.mark.parametrize('count', range(1, timing.MOST_JOINED_NAMES + 1))
def test_balanced_rounds_every_name_follows_every_other_once_per_period_joins_included(count):
    names = ['fft', 'fft-tiled', 'direct', 'winograd', 'torch'] + [f'other{i}' for i in range(count)]
    names = names[:count]
    period = max(1, count - 1)
    orders = timing.balanced_rounds(names, 2 * period)
    assert all(sorted(order) == sorted(names) for order in orders) and orders[period:] == orders[:period]
    line = [name for order in orders[:period] for name in order]
    follows = collections.Counter(zip(line, line[1:] + line[:1]))   # the period read as a cycle
    if count > 1:
        assert set(follows.values()) == {1} and len(follows) == count * (count - 1)


def test_williams_rounds_past_the_search_limit_balance_within_rounds():
    n = timing.MOST_JOINED_NAMES + 1
    orders = timing.balanced_rounds(range(n), 2 * n)
    follows = collections.Counter((o[i - 1], o[i]) for o in orders for i in range(1, n))
    assert set(follows.values()) == {2} and len(follows) == n * (n - 1)


def test_williams_joins_were_unbalanced():
    """Why the joins count: with Williams' square, half of the third name's steps follow the last."""
    orders = [[['fft', 'tiled', 'direct', 'torch'][i] for i in o] for o in timing._williams_rounds(4)]
    line = [name for order in orders for name in order]
    before_direct = collections.Counter(a for a, b in zip(line, line[1:] + line[:1]) if b == 'direct')
    assert before_direct['torch'] == 2


def test_balanced_rounds_takes_any_iterable_and_any_count():
    assert timing.balanced_rounds({'a': 1, 'b': 2}, 3) == [['a', 'b'], ['a', 'b'], ['a', 'b']]
    assert timing.balanced_rounds(('x',), 2) == [['x'], ['x']]
    assert timing.balanced_rounds(['a', 'b', 'c'], 0) == []
    assert timing.round_period(['a', 'b', 'c'])[-1] == timing.balanced_rounds('abc', 2)[-1]


def test_measure_times_each_call_after_the_warmup():
    calls = []
    times = timing.measure(lambda: calls.append(1), 'cpu', repeats=3, warmup=2)
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)


def test_interleaved_medians_warms_up_then_times_balanced_rounds():
    calls = []
    steps = {name: (lambda name=name: calls.append(name)) for name in ('fft', 'direct', 'auto', 'torch')}
    seconds = timing.interleaved_medians(steps, 'cpu', repeats=4, warmup=2)
    assert set(seconds) == set(steps) and all(v >= 0 for v in seconds.values())
    # warm-up in the period's last order: the first timed step follows its predecessor in the cycle
    assert calls[:8] == 2 * timing.round_period(steps)[-1]
    assert calls[8:] == [name for order in timing.balanced_rounds(steps, 4) for name in order]
