import numpy
import pytest

from minifft import Tensor
from minifft import functions as F
from minifft.backend import to_device
from minifft.testing import check_backward


def naive_pool(x, k, s, p, reduce, pad_value):
    n, c, h, w = x.shape
    xp = numpy.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=pad_value)
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    y = numpy.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = reduce(xp[:, :, i * s:i * s + k, j * s:j * s + k], axis=(2, 3))
    return y


@pytest.mark.parametrize('k,s,p', [(2, None, 0), (3, 2, 1), (3, 1, 0), (2, 3, 1)])
def test_max_pool(k, s, p, rng, device):
    x = rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 10.0  # distinct values: no ties
    y = F.max_pool2d(Tensor(x, device=device), k, s, p).numpy()
    numpy.testing.assert_allclose(y, naive_pool(x, k, s or k, p, numpy.max, -numpy.inf))
    check_backward(lambda t: F.max_pool2d(t, k, s, p), [to_device(x, device)])


@pytest.mark.parametrize('k,s,p', [(2, None, 0), (3, 2, 1), (3, 1, 0)])
def test_avg_pool(k, s, p, rng, device):
    x = rng.standard_normal((2, 3, 7, 6))
    y = F.avg_pool2d(Tensor(x, device=device), k, s, p).numpy()
    numpy.testing.assert_allclose(y, naive_pool(x, k, s or k, p, numpy.mean, 0.0))
    check_backward(lambda t: F.avg_pool2d(t, k, s, p), [to_device(x, device)])


def test_pool_errors():
    with pytest.raises(ValueError, match="max_pool2d: expected input"):
        F.max_pool2d(Tensor(numpy.ones((3, 4, 4))), 2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.avg_pool2d(Tensor(numpy.ones((1, 1, 2, 2))), 3)


def test_max_pool_makes_no_host_reads(host_reads, rng):
    x = Tensor(rng.standard_normal((2, 3, 8, 8)), device='cuda', requires_grad=True)
    F.max_pool2d(x, 3, 2, 1).sum().backward()
    assert host_reads() == 0  # no boolean-mask assignment (each is a GPU sync)
