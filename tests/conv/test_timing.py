"""timing: the one timing loop and the order candidates are timed in."""
import collections

import pytest

from minifft.conv import timing


@pytest.mark.parametrize('count', [1, 2, 3, 4, 5, 6])
def test_balanced_rounds_every_name_follows_every_other_equally_often(count):
    names = ['fft', 'fft-tiled', 'direct', 'winograd', 'torch', 'other'][:count]
    period = count if count % 2 == 0 else 2 * count
    orders = timing.balanced_rounds(names, 2 * period)
    assert all(sorted(order) == sorted(names) for order in orders) and orders[period:] == orders[:period]
    follows = collections.Counter((order[i - 1], order[i]) for order in orders[:period] for i in range(1, count))
    assert set(follows.values()) <= {period // count} and len(follows) == count * (count - 1)
    assert collections.Counter(order[0] for order in orders[:period]) == {name: period // count for name in names}


def test_balanced_rounds_takes_any_iterable_and_any_count():
    assert timing.balanced_rounds({'a': 1, 'b': 2}, 3) == [['a', 'b'], ['b', 'a'], ['a', 'b']]
    assert timing.balanced_rounds(('x',), 2) == [['x'], ['x']]
    assert timing.balanced_rounds(['a', 'b', 'c'], 0) == []


def test_measure_times_each_call_after_the_warmup():
    calls = []
    times = timing.measure(lambda: calls.append(1), 'cpu', repeats=3, warmup=2)
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)


def test_interleaved_medians_warms_up_then_times_balanced_rounds():
    calls = []
    steps = {name: (lambda name=name: calls.append(name)) for name in ('fft', 'direct', 'auto', 'torch')}
    seconds = timing.interleaved_medians(steps, 'cpu', repeats=4, warmup=2)
    assert set(seconds) == set(steps) and all(v >= 0 for v in seconds.values())
    assert calls[:8] == [name for name in steps for _ in range(2)]
    assert calls[8:] == [name for order in timing.balanced_rounds(steps, 4) for name in order]
