import numpy
import pytest

from minifft import Tensor
from minifft import functions as F
from minifft.backend import to_device
from minifft.testing import check_backward


@pytest.mark.parametrize('op', [F.exp, F.tanh, F.sigmoid])
def test_smooth_ops(op, rng, device):
    check_backward(op, [to_device(rng.standard_normal((3, 5)), device)])


@pytest.mark.parametrize('op', [F.log, F.sqrt])
def test_positive_domain_ops(op, rng, device):
    check_backward(op, [to_device(rng.uniform(0.5, 3.0, (4, 3)), device)])


def test_relu_away_from_kink(rng, device):
    x = rng.standard_normal((4, 5))
    x[numpy.abs(x) < 0.1] = 0.5
    check_backward(F.relu, [to_device(x, device)])


def test_sigmoid_large_inputs_do_not_overflow(device):
    y = F.sigmoid(Tensor(numpy.array([-1000.0, 0.0, 1000.0]), device=device)).numpy()
    numpy.testing.assert_allclose(y, [0.0, 0.5, 1.0])
