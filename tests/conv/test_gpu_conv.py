"""conv2d on 'cuda' (a real GPU or the CuPy stand-in) against the CPU, and cuFFT plan reuse."""
import numpy
import pytest

from minifft import Tensor, backend
from minifft import functions as F
from minifft.conv import names as conv_names
from tests.conv.registered import algorithms, require


@pytest.mark.parametrize('algo', algorithms())
@pytest.mark.parametrize('stride,padding,groups', [(1, 0, 1), (1, 2, 1), (2, 1, 1), (1, 1, 5), (2, 2, 5)])
def test_cuda_matches_cpu(algo, stride, padding, groups, rng):
    require(algo, 'cuda', (3, 5, 17, 13), (10, 5 // groups, 5, 3), stride=stride, padding=padding, groups=groups)
    x = rng.standard_normal((3, 5, 17, 13))
    w = rng.standard_normal((10, 5 // groups, 5, 3))
    gy = None
    results = {}
    for device in ('cpu', 'cuda'):
        xt = Tensor(x, device=device, requires_grad=True)
        wt = Tensor(w, device=device, requires_grad=True)
        # the CPU result comes from direct when ``algo`` is GPU-only (fft-cublas)
        name = algo if algo in conv_names(device) else 'direct'
        y = F.conv2d(xt, wt, stride=stride, padding=padding, algo=name, groups=groups)
        gy = rng.standard_normal(y.shape) if gy is None else gy
        y.backward(backend.to_device(gy, device))
        results[device] = [backend.to_numpy(a) for a in (y.data, xt.grad, wt.grad)]
    for cpu, gpu in zip(results['cpu'], results['cuda']):
        numpy.testing.assert_allclose(gpu, cpu, rtol=1e-10, atol=1e-10)


def test_no_new_plan_after_first_step(rng):
    cache = backend.cupy.fft.config.get_plan_cache()
    x = Tensor(rng.standard_normal((8, 4, 32, 32)).astype(numpy.float32), device='cuda')
    w = Tensor(rng.standard_normal((8, 4, 5, 5)).astype(numpy.float32), device='cuda', requires_grad=True)
    F.conv2d(x, w, padding=2, algo='fft').sum().backward()
    plans = cache.get_curr_size()
    for _ in range(3):
        F.conv2d(x, w, padding=2, algo='fft').sum().backward()
    assert cache.get_curr_size() == plans > 0
