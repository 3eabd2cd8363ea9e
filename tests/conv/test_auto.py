import numpy
import pytest

from minifft import Tensor, conv
from minifft import functions as F
from minifft.conv import auto


@pytest.fixture(autouse=True)
def fresh_decisions():
    auto.reset()
    yield
    auto.reset()


def test_timed_choice_is_cached_and_reported(rng, monkeypatch):
    calls = []
    real = auto._step_seconds

    def spy(algorithm, *args, **kwargs):
        calls.append(algorithm.name)
        return real(algorithm, *args, **kwargs)
    monkeypatch.setattr(auto, '_step_seconds', spy)
    x = Tensor(rng.standard_normal((2, 3, 16, 16)).astype(numpy.float32))
    w = Tensor(rng.standard_normal((4, 3, 5, 5)).astype(numpy.float32), requires_grad=True)
    for _ in range(3):
        y = F.conv2d(x, w, algo='auto')
    assert sorted(calls) == ['direct', 'fft']          # timed once, then cached
    [row] = auto.report()
    assert row['method'] == 'timed' and row['choice'] in ('fft', 'direct')
    assert row['choice'] == min(row['seconds'], key=row['seconds'].get)
    assert y.creator.algorithm.name == row['choice']
    assert 'S=2 f=3' in conv.auto_report()


def test_cost_model_without_timing(rng, monkeypatch):
    monkeypatch.setenv('MINIFFT_CONV_AUTOTUNE', '0')
    monkeypatch.setattr(auto, '_step_seconds', lambda *a, **k: pytest.fail("timed with autotune off"))
    small_kernel = Tensor(rng.standard_normal((1, 1, 3, 3)).astype(numpy.float32))
    large_kernel = Tensor(rng.standard_normal((8, 8, 11, 11)).astype(numpy.float32))
    F.conv2d(Tensor(rng.standard_normal((4, 1, 32, 32)).astype(numpy.float32)), small_kernel, algo='auto')
    F.conv2d(Tensor(rng.standard_normal((4, 8, 32, 32)).astype(numpy.float32)), large_kernel, algo='auto')
    choices = [r['choice'] for r in auto.report()]
    assert [r['method'] for r in auto.report()] == ['cost model'] * 2
    assert choices == ['direct', 'fft']   # the paper's crossover: FFT pays for large kernels
