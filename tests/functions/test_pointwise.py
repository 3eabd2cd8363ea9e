import math

import numpy
import pytest

from minifft import Tensor, backend
from minifft import functions as F
from minifft.testing import check_backward


def test_leaky_relu_values_and_gradient(rng, device):
    x = backend.to_device(numpy.array([-2.0, -0.5, 0.5, 3.0]), device)
    numpy.testing.assert_allclose(F.leaky_relu(Tensor(x), 0.2).numpy(), [-0.4, -0.1, 0.5, 3.0])
    x = backend.to_device(rng.standard_normal((3, 4)) + 0.05, device)  # away from the kink at 0
    check_backward(lambda t: F.leaky_relu(t, 0.1), [x])


def test_gelu_exact_values_and_gradient(rng, device):
    values = [-3.0, -1.0, 0.0, 0.5, 2.0]
    want = [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in values]
    got = F.gelu(Tensor(backend.to_device(numpy.array(values), device))).numpy()
    numpy.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-16)
    check_backward(F.gelu, [backend.to_device(rng.standard_normal((2, 3, 4)) * 2, device)])


def test_gelu_tanh_values_and_gradient(rng, device):
    values = numpy.array([-3.0, -1.0, 0.0, 0.5, 2.0])
    want = 0.5 * values * (1 + numpy.tanh(math.sqrt(2 / math.pi) * (values + 0.044715 * values ** 3)))
    got = F.gelu(Tensor(backend.to_device(values, device)), approximate='tanh').numpy()
    numpy.testing.assert_allclose(got, want, rtol=1e-14)
    assert numpy.abs(got - F.gelu(Tensor(values)).numpy()).max() < 1e-3  # close to the exact form
    check_backward(lambda t: F.gelu(t, approximate='tanh'), [backend.to_device(rng.standard_normal(7) * 2, device)])


def test_float32_stays_float32():
    x = Tensor(numpy.linspace(-2, 2, 5, dtype=numpy.float32), requires_grad=True)
    y = F.gelu(x) + F.leaky_relu(x)
    y.sum().backward()
    assert y.dtype == numpy.float32 and x.grad.dtype == numpy.float32


def test_errors():
    with pytest.raises(ValueError, match="gelu: expected approximate 'none' or 'tanh', got 'erf'"):
        F.gelu(Tensor(numpy.ones(2)), approximate='erf')
    with pytest.raises(TypeError, match="leaky_relu: expected input x of a floating dtype"):
        F.leaky_relu(Tensor(numpy.ones(2, numpy.int64)))
