"""The FFT algorithm transforms each of x, w and gy exactly once: 3 forward + 3 inverse sets."""
from collections import Counter

import numpy
import pytest
import scipy.fft

from minifft import Tensor, backend
from minifft import functions as F


class CountingFFT:
    """scipy.fft with every call counted by function name."""

    def __init__(self):
        self.calls = Counter()

    def __getattr__(self, name):
        target = getattr(scipy.fft, name)
        if name == 'next_fast_len':
            return target

        def counted(*args, **kwargs):
            self.calls[name] += 1
            return target(*args, **kwargs)
        return counted


@pytest.mark.parametrize('stride,padding', [(1, 0), (2, 1)])
def test_three_forward_and_three_inverse_sets_per_step(monkeypatch, stride, padding, rng):
    counter = CountingFFT()
    monkeypatch.setattr(backend, 'fft_module', lambda array: counter)
    x = Tensor(rng.standard_normal((2, 3, 9, 9)).astype(numpy.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 3, 3, 3)).astype(numpy.float32), requires_grad=True)
    for step in range(2):
        counter.calls.clear()
        F.conv2d(x, w, stride=stride, padding=padding, algo='fft').sum().backward()
        # forward sets: x, w, gy; inverse sets (two stages each): y, dx, dw
        assert counter.calls == Counter(rfft2=3, ifft=3, irfft=3), f"step {step}: {dict(counter.calls)}"


def test_plans_are_made_in_the_first_step_only(rng):
    from minifft import nn
    from minifft.conv import fft
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, algo='fft'), nn.ReLU(),
                          nn.Conv2d(4, 2, 5, stride=2, algo='fft'))
    x = Tensor(rng.standard_normal((2, 3, 12, 12)).astype(numpy.float32))
    fft.PLAN_KEYS.clear()
    model(x).sum().backward()
    first = set(fft.PLAN_KEYS)
    # per layer: 3 forward transforms + 3 inverse sets of 2 stages; the first layer's input needs
    # no gradient, so its dx inverse (2 transforms) is skipped; equal shapes share a plan
    assert 0 < len(first) <= 9 + 7
    for _ in range(2):
        model(x).sum().backward()
    assert fft.PLAN_KEYS == first
