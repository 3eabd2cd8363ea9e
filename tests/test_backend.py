import numpy
import pytest
import scipy.fft

from minifft import backend


def test_cpu_modules():
    a = numpy.zeros(3)
    assert backend.get_array_module(a) is numpy
    assert backend.fft_module(a) is scipy.fft
    assert backend.fft_options(a)['workers'] >= 1
    assert backend.device_of(a) == 'cpu'


def test_unknown_device_is_rejected():
    with pytest.raises(ValueError, match="device: expected one of"):
        backend.require_device('tpu')


def test_cuda_request_without_gpu_says_why():
    usable, reason = backend.cuda_status()
    if usable:
        pytest.skip("a GPU is usable here")
    with pytest.raises(RuntimeError, match="device 'cuda' is not usable"):
        backend.require_device('cuda')
    assert 'CuPy' in reason


def test_default_device_from_environment(monkeypatch):
    from minifft import config
    saved = config.snapshot()
    try:
        config.reset('device')
        monkeypatch.setenv('MINIFFT_DEVICE', 'cpu')
        assert backend.default_device() == 'cpu'
        config.reset('device')
        monkeypatch.delenv('MINIFFT_DEVICE')
        assert backend.default_device() == ('cuda' if backend.cuda_available() else 'cpu')
        config.reset('device')
        monkeypatch.setenv('MINIFFT_DEVICE', 'tpu')
        with pytest.raises(ValueError, match=r"MINIFFT_DEVICE: expected one of \('auto', 'cpu', 'cuda'\), got 'tpu'"):
            backend.default_device()
    finally:
        config.restore(saved)


def test_to_device_cpu_is_identity():
    a = numpy.arange(4.0)
    assert backend.to_device(a, 'cpu') is a
