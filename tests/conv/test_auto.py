import collections
import json

import numpy
import pytest

from minifft import Tensor, config, conv
from minifft import functions as F
from minifft.conv import auto, timing
from minifft.conv.geometry import ConvGeometry


@pytest.fixture(autouse=True)
def fresh_decisions():
    auto.reset()
    yield
    auto.reset()


def spy_on_timing(monkeypatch):
    calls = []
    real = auto._timed_steps

    def spy(algorithm, *args, **kwargs):
        calls.append(algorithm.name)
        return real(algorithm, *args, **kwargs)
    monkeypatch.setattr(auto, '_timed_steps', spy)
    return calls


def test_timed_choice_is_cached_and_reported(rng, monkeypatch, device):
    calls = spy_on_timing(monkeypatch)
    x = Tensor(rng.standard_normal((2, 3, 16, 16)).astype(numpy.float32), device=device)
    w = Tensor(rng.standard_normal((4, 3, 5, 5)).astype(numpy.float32), device=device, requires_grad=True)
    for _ in range(3):
        y = F.conv2d(x, w, algo='auto')
    # every registered algorithm that supports the layer here was timed, in this first call only,
    # but fft-tiled, which is one whole tile here: the fft's work
    g = y.creator.geometry
    assert conv.get('fft-tiled').same_work_as(g, device) == 'fft'
    assert set(calls) == set(conv.candidates(g, device)) - {'fft-tiled'} >= {'fft', 'direct'}
    [row] = auto.report()
    assert row['method'] == 'timed' and row['choice'] in conv.names(device)
    assert row['choice'] == min(row['seconds'], key=row['seconds'].get)
    assert all(steps >= auto.REPEATS for steps in row['steps'].values())
    assert y.creator.algorithm.name == row['choice']
    assert 'S=2 f=3' in conv.auto_report()


def test_close_candidates_get_more_timed_steps(rng, monkeypatch):
    """Two candidates whose first medians are within the noise are timed again before deciding;
    a clear winner is not."""
    x, w = rng.standard_normal((2, 3, 16, 16)), rng.standard_normal((4, 3, 5, 5))
    g = ConvGeometry(2, 3, 4, 16, 16, 5, 5)
    gy = numpy.ones(g.output_shape)
    candidates = {n: conv.get(n) for n in ('fft', 'direct')}
    for times, extra in (({'fft': 1.0, 'direct': 1.05}, True), ({'fft': 1.0, 'direct': 2.0}, False)):
        monkeypatch.setattr(auto, '_timed_steps', lambda algo, *a, warmup, repeats=auto.REPEATS, t=times:
                            [t[algo.name]] * repeats)
        seconds, steps = auto._time_candidates(candidates, x, w, gy, g)
        expected = auto.REPEATS * (1 + auto.EXTRA_ROUNDS) if extra else auto.REPEATS
        assert steps == {'fft': expected, 'direct': expected}, times
        assert seconds == times


def test_cost_model_without_timing(rng, monkeypatch):
    monkeypatch.setenv('MINIFFT_CONV_AUTOTUNE', '0')
    config.reset('autotune')
    monkeypatch.setattr(auto, '_timed_steps', lambda *a, **k: pytest.fail("timed with autotune off"))
    small_kernel = Tensor(rng.standard_normal((1, 1, 3, 3)).astype(numpy.float32))
    large_kernel = Tensor(rng.standard_normal((8, 8, 11, 11)).astype(numpy.float32))
    F.conv2d(Tensor(rng.standard_normal((4, 1, 32, 32)).astype(numpy.float32)), small_kernel, algo='auto')
    F.conv2d(Tensor(rng.standard_normal((4, 8, 32, 32)).astype(numpy.float32)), large_kernel, algo='auto')
    choices = [r['choice'] for r in auto.report()]
    assert [r['method'] for r in auto.report()] == ['cost model'] * 2
    assert choices == ['direct', 'fft']   # the paper's crossover: FFT pays for large kernels


def test_bad_autotune_variable_names_itself(monkeypatch):
    monkeypatch.setenv('MINIFFT_CONV_AUTOTUNE', 'maybe')
    config.reset('autotune')
    with pytest.raises(ValueError, match=r"MINIFFT_CONV_AUTOTUNE: expected one of 1, true, yes, on, 0, false.*got 'maybe'"):
        auto.autotune_enabled()


def test_cost_counts_groups_the_same_way_in_every_algorithm():
    """A grouped layer costs what its groups cost as separate layers, for every algorithm."""
    whole = ConvGeometry(4, 8, 12, 16, 16, 5, 5, groups=4)
    one_group = ConvGeometry(4, 2, 3, 16, 16, 5, 5)
    for name in conv.names():
        if not conv.get(name).supports(whole, 'cpu'):
            continue
        a, b = conv.get(name).cost(whole), conv.get(name).cost(one_group)
        assert a.total() == pytest.approx(4 * b.total()), name


def test_plan_round_trip_and_given_choices(rng, monkeypatch):
    x = Tensor(rng.standard_normal((2, 3, 12, 12)).astype(numpy.float32))
    w = Tensor(rng.standard_normal((4, 3, 3, 3)).astype(numpy.float32), requires_grad=True)
    F.conv2d(x, w, algo='auto')
    [entry] = auto.plan()
    assert json.loads(json.dumps(entry)) == entry
    assert entry['batch'] == 2 and entry['device'] == 'cpu' and entry['dtype'] == 'float32'
    other = 'direct' if entry['choice'] != 'direct' else 'fft'
    auto.reset()
    auto.set_plan([dict(entry, choice=other)])
    monkeypatch.setattr(auto, '_timed_steps', lambda *a, **k: pytest.fail("timed a layer the plan gives"))
    assert F.conv2d(x, w, algo='auto').creator.algorithm.name == other
    assert auto.report()[0]['method'] == 'given'


@pytest.mark.parametrize('entries,message', [
    ({'batch': 1}, "expected a list of plan entries"),
    ([{'batch': 1}], r"entry 0: missing in_channels"),
    ([dict(batch=1, in_channels=1, out_channels=1, height=5, width=5, kernel_h=3, kernel_w=3, stride_h=1, stride_w=1,
           pad_h=0, pad_w=0, groups=1, device='cpu', dtype='float32', choice='im2win')],
     r"set_plan: entry 0: unknown algo 'im2win'"),
    ([dict(batch=1, in_channels=1, out_channels=1, height=5, width=5, kernel_h=3, kernel_w=3, stride_h=1, stride_w=1,
           pad_h=0, pad_w=0, groups=1, device='cpu', dtype='float32', choice='fft-cublas')],
     r"entry 0: 'fft-cublas' does not support"),
])
def test_bad_plans_are_refused_whole(entries, message):
    if 'fft-cublas' in message and 'cpu' in conv.get('fft-cublas').devices:
        pytest.skip("fft-cublas runs on the CPU here")
    with pytest.raises(ValueError, match=message):
        auto.set_plan(entries)
    assert auto.plan() == []


def test_cost_model_counts_depthwise_sweeps_at_their_own_rate():
    """Depthwise layers run as axpy sweeps, not GEMMs: the cost model weighs them at RATES['sweep'],
    and still prefers them to the fft on the issue's depthwise layer (measured 16 against 78 ms)."""
    g = ConvGeometry(32, 64, 64, 32, 32, 3, 3, pad_h=1, pad_w=1, groups=64)
    assert set(conv.get('direct').cost(g).passes['fprop']) == {'sweep'}
    assert set(conv.get('direct').cost(ConvGeometry(2, 4, 4, 8, 8, 3, 3)).passes['fprop']) == {'gemm'}
    scores = auto.cost_model(g, 'cpu', conv.candidates(g, 'cpu'))
    assert min(scores, key=scores.get) == 'direct'


def test_cost_model_weighs_work_by_the_cpu_kernels_that_run(cpu_kernels):
    """With the C kernels, FFTs and winograd's transforms run several times faster than the NumPy
    code the first rates were measured on: the cost model then weighs them at COMPILED_RATES and
    takes winograd on a small-channel 3x3 layer (timed 6.9-12.6 ms against direct's 12.2-13.9),
    where the NumPy rates take direct; the GPU and float16 keep RATES."""
    g = ConvGeometry(32, 16, 32, 32, 32, 3, 3)
    compiled = cpu_kernels == 'compiled'
    assert auto.rates('cpu') is (auto.COMPILED_RATES if compiled else auto.RATES)
    assert auto.rates('cuda') is auto.RATES
    assert auto.rates('cpu', itemsize=2) is auto.RATES
    scores = auto.cost_model(g, 'cpu', conv.candidates(g, 'cpu'))
    assert min(scores, key=scores.get) == ('winograd' if compiled else 'direct')


def test_a_timed_choice_is_timed_again_under_the_other_cpu_kernels(rng, monkeypatch):
    """The C kernels change which algorithm is fastest: a timed decision is kept per setting, a
    given one (from a checkpoint's plan) is kept whatever the setting."""
    calls = spy_on_timing(monkeypatch)
    x = Tensor(rng.standard_normal((2, 3, 12, 12)).astype(numpy.float32))
    w = Tensor(rng.standard_normal((4, 3, 3, 3)).astype(numpy.float32))
    with config.using(cpu_kernels='off'):
        F.conv2d(x, w, algo='auto')
        F.conv2d(x, w, algo='auto')
    timed_off = len(calls)
    assert timed_off > 0
    with config.using(cpu_kernels='auto'):
        F.conv2d(x, w, algo='auto')
    assert len(calls) > timed_off
    entries = auto.plan()
    auto.reset()
    auto.set_plan(entries)
    timed = len(calls)
    with config.using(cpu_kernels='off'):
        F.conv2d(x, w, algo='auto')
    assert len(calls) == timed and auto.report()[0]['method'] == 'given'


def test_candidates_are_timed_in_balanced_orders(rng, monkeypatch):
    """Every candidate runs right after every other one equally often (a step after a heavy one is
    slower), the joins between rounds included."""
    x, w = rng.standard_normal((2, 3, 16, 16)), rng.standard_normal((4, 3, 3, 3))
    g = ConvGeometry(2, 3, 4, 16, 16, 3, 3)
    candidates = {n: a for n, a in conv.candidates(g, 'cpu').items()}
    assert len(candidates) >= 3
    order, seconds = [], {name: 2.0 ** i for i, name in enumerate(candidates)}   # no near tie: no extra rounds

    def timed(algo, *args, warmup, repeats=auto.REPEATS):
        order.extend([algo.name] * repeats)
        return [seconds[algo.name]] * repeats
    monkeypatch.setattr(auto, '_timed_steps', timed)
    monkeypatch.setattr(auto, 'REPEATS', 2 * (len(candidates) - 1))   # two periods
    auto._time_candidates(candidates, x, w, numpy.ones(g.output_shape), g)
    n = len(candidates)
    rounds = [order[i:i + n] for i in range(0, len(order), n)]
    assert rounds == timing.balanced_rounds(candidates, 2 * (n - 1))
    follows = collections.Counter(zip(order, order[1:] + order[:1]))
    assert set(follows.values()) == {2} and len(follows) == n * (n - 1)
