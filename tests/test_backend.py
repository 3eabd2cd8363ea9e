import numpy
import pytest
import scipy.fft

import minifft
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


def test_cuda_request_without_gpu_says_why(monkeypatch):
    usable, reason = backend.cuda_status()
    if usable:  # a GPU or the CuPy stand-in: pretend the probe failed
        monkeypatch.setattr(backend, '_cuda_checked', (False, "CuPy is installed but no CUDA device is usable"))
        reason = backend.cuda_status()[1]
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


def test_cupy_arrays_are_seen_as_cupy():
    """A cupy.ndarray has a ``.data`` (a MemoryPointer): only Tensors may be unwrapped."""
    if not backend.cuda_available():
        pytest.skip("a CuPy array is needed")
    a = backend.cupy.zeros(3)
    assert backend.get_array_module(a) is backend.cupy
    assert backend.fft_module(a) is backend.cupy_fft
    assert backend.device_of(a) == 'cuda'
    t = minifft.Tensor(a)
    assert t.device == 'cuda' and backend.get_array_module(t) is backend.cupy


@pytest.fixture
def plan_cache():
    if not backend.cuda_available():
        pytest.skip("CuPy's plan cache needs 'cuda'")
    cache = backend.cupy.fft.config.get_plan_cache()
    size = cache.get_size()
    yield cache
    cache.set_size(size)


def test_reserve_fft_plans_keeps_unlimited_and_is_bounded(plan_cache):
    plan_cache.set_size(-1)
    backend.reserve_fft_plans(10)
    assert plan_cache.get_size() == -1  # unlimited stays unlimited
    plan_cache.set_size(4)
    backend.reserve_fft_plans(10)
    assert plan_cache.get_size() == 10
    backend.reserve_fft_plans(5)
    assert plan_cache.get_size() == 10  # never shrinks
    backend.reserve_fft_plans(10 ** 6)
    assert plan_cache.get_size() == backend.MAX_RESERVED_FFT_PLANS
