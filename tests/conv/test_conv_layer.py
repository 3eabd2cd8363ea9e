"""Conv2d through finite differences, input validation, algorithm switching."""
import numpy
import pytest

from minifft import Tensor, backend, config, conv, nn
from minifft import functions as F
from minifft.testing import check_backward
from tests.conv.registered import algorithms, require


@pytest.mark.parametrize('algo', algorithms())
@pytest.mark.parametrize('stride,padding', [(1, 0), (2, 1), ((1, 2), (2, 0))])
def test_conv2d_finite_differences_with_bias(algo, stride, padding, device, rng):
    require(algo, device, (2, 2, 6, 5), (3, 2, 3, 2), stride=stride, padding=padding)
    x = rng.standard_normal((2, 2, 6, 5))
    w = rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(3)
    check_backward(lambda x, w, b: F.conv2d(x, w, b, stride, padding, algo=algo),
                   [backend.to_device(a, device) for a in (x, w, b)])


@pytest.mark.parametrize('algo', algorithms())
def test_layer_gradients_through_finite_differences(algo, device, rng):
    require(algo, device)
    layer = nn.Conv2d(2, 3, 3, padding=1, algo=algo).to(device)
    w = layer.weight.data.astype(numpy.float64)
    b = layer.bias.data.astype(numpy.float64)
    x = backend.to_device(rng.standard_normal((2, 2, 5, 5)), device)
    check_backward(lambda x, w, b: F.conv2d(x, w, b, padding=1, algo=algo), [x, w, b])
    layer.weight.data, layer.bias.data = w, b
    y = layer(Tensor(x))
    want = F.conv2d(Tensor(x), Tensor(w), Tensor(b), padding=1, algo='direct').data
    numpy.testing.assert_allclose(backend.to_numpy(y.data), backend.to_numpy(want), atol=1e-12)


@pytest.mark.parametrize('algo', algorithms())
def test_frozen_input_skips_input_gradient(algo, device, rng):
    require(algo, device)
    x = Tensor(rng.standard_normal((1, 2, 5, 5)), device=device)
    w = Tensor(rng.standard_normal((2, 2, 3, 3)), device=device, requires_grad=True)
    F.conv2d(x, w, algo=algo).sum().backward()
    assert x.grad is None and w.grad.shape == (2, 2, 3, 3)


@pytest.mark.parametrize('kwargs,error,message', [
    (dict(x=(1, 3, 8, 8), w=(4, 2, 3, 3)), ValueError, r"x has 3 channels but w expects 2"),
    (dict(x=(1, 2, 4, 4), w=(4, 2, 5, 5)), ValueError, r"kernel \(5, 5\) is larger than the padded input \(4, 4\)"),
    (dict(x=(2, 8, 8), w=(4, 2, 3, 3)), ValueError, r"expected input x \(N, C, H, W\) with 4 dimensions, got shape \(2, 8, 8\)"),
    (dict(x=(1, 2, 8, 8), w=(4, 2, 3, 3), stride=0), ValueError, r"expected stride >= 1, got \(0, 0\)"),
    (dict(x=(1, 2, 8, 8), w=(4, 2, 3, 3), padding=-1), ValueError, r"expected padding >= 0, got \(-1, -1\)"),
    (dict(x=(1, 2, 8, 8), w=(4, 2, 3, 3), algo='im2win'), ValueError, r"unknown algo 'im2win'; expected one of"),
    (dict(x=(1, 2, 8, 8), w=(4, 2, 3, 3), stride=1.5), TypeError, r"expected stride as an int or a pair of ints"),
    (dict(x=(1, 2, 8, 8), w=(4, 2, 3, 3), groups=0), ValueError, r"expected groups as a positive int, got 0"),
])
def test_clear_errors(kwargs, error, message):
    x = Tensor(numpy.zeros(kwargs.pop('x'), numpy.float32))
    w = Tensor(numpy.zeros(kwargs.pop('w'), numpy.float32))
    with pytest.raises(error, match='conv2d: ' + message):
        F.conv2d(x, w, **kwargs)


def test_default_algorithm_switches_every_layer(rng, monkeypatch):
    monkeypatch.delenv('MINIFFT_CONV_ALGO', raising=False)
    config.reset()
    assert conv.default_algorithm() == 'auto'
    conv.set_default_algorithm('direct')
    layer = nn.Conv2d(1, 1, 3)
    y = layer(Tensor(rng.standard_normal((1, 1, 5, 5)).astype(numpy.float32)))
    assert y.creator.algorithm.name == 'direct'
    with conv.using('fft'):
        assert layer(Tensor(numpy.zeros((1, 1, 5, 5), numpy.float32))).creator.algorithm.name == 'fft'
    assert conv.default_algorithm() == 'direct'
    with pytest.raises(ValueError, match="config conv_algorithm: unknown algo 'fast'"):
        conv.set_default_algorithm('fast')
    monkeypatch.setenv('MINIFFT_CONV_ALGO', 'fft')
    config.reset()
    assert conv.default_algorithm() == 'fft'
    monkeypatch.setenv('MINIFFT_CONV_ALGO', 'im2win')
    config.reset()
    with pytest.raises(ValueError, match=r"MINIFFT_CONV_ALGO: unknown algo 'im2win'; expected one of \('fft'"):
        conv.default_algorithm()


def test_layer_arguments_are_validated_like_the_function():
    with pytest.raises(ValueError, match=r"Conv2d: expected kernel_size >= 1, got \(0, 0\)"):
        nn.Conv2d(2, 3, 0)
    with pytest.raises(ValueError, match=r"Conv2d: expected stride >= 1"):
        nn.Conv2d(2, 3, 3, stride=0)
    with pytest.raises(ValueError, match=r"Conv2d: unknown algo 'im2win'"):
        nn.Conv2d(2, 3, 3, algo='im2win')
    with pytest.raises(ValueError, match=r"Conv2d: expected in_channels as a positive int, got 0"):
        nn.Conv2d(0, 3, 3)


def test_an_algorithm_that_does_not_support_the_layer_is_refused(rng):
    if 'cpu' in conv.get('fft-cublas').devices:
        pytest.skip("fft-cublas runs on the CPU here")
    with pytest.raises(ValueError, match=r"conv2d: algo 'fft-cublas' does not support the layer .* on 'cpu'"):
        F.conv2d(Tensor(numpy.zeros((1, 1, 5, 5))), Tensor(numpy.zeros((1, 1, 3, 3))), algo='fft-cublas')


def test_profiler_records_every_pass(rng):
    conv.profiler.reset()
    conv.profiler.enable()
    try:
        x = Tensor(rng.standard_normal((2, 2, 8, 8)), requires_grad=True)
        w = Tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
        F.conv2d(x, w, algo='fft', label='conv1').sum().backward()
    finally:
        conv.profiler.enable(False)
    record = conv.profiler.report()['conv1']
    assert record['algorithms'] == ['fft'] and record['calls'] == 1
    assert all(record[p] > 0 for p in conv.profiler.PASSES)
    assert 'conv1' in conv.profiler.format_report()
