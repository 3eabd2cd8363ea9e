import numpy
import pytest

from minifft import Tensor, backend
from minifft import functions as F
from minifft.testing import check_backward


@pytest.mark.parametrize('op', [F.sum, F.mean, F.max])
@pytest.mark.parametrize('axis', [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize('keepdims', [False, True])
def test_reductions(op, axis, keepdims, rng, device):
    x = rng.standard_normal((3, 4, 5))
    check_backward(lambda t: op(t, axis, keepdims), [backend.to_device(x, device)])
    expected = getattr(numpy, op.__name__)(x, axis=axis, keepdims=keepdims)
    numpy.testing.assert_allclose(op(Tensor(x, device=device), axis, keepdims).numpy(), expected)


def test_max_ties_share_gradient(device):
    x = Tensor(numpy.array([1.0, 3.0, 3.0]), device=device, requires_grad=True)
    F.max(x).backward()
    numpy.testing.assert_allclose(backend.to_numpy(x.grad), [0.0, 0.5, 0.5])


def test_bad_axis():
    with pytest.raises(ValueError, match="sum: axis 3 is out of range"):
        F.sum(Tensor(numpy.ones((2, 2))), axis=3)


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
def test_max_gradient_keeps_dtype(dtype, device):
    x = Tensor(numpy.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], dtype), device=device, requires_grad=True)
    F.max(x, axis=1).sum().backward()
    assert x.grad.dtype == dtype  # the int tie count must not promote float32 to float64
    numpy.testing.assert_allclose(backend.to_numpy(x.grad), [[0, 0.5, 0.5], [1, 0, 0]])
