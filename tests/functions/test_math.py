import numpy
import pytest

from minifft import Tensor
from minifft import functions as F
from minifft.testing import check_backward


@pytest.mark.parametrize('op', [F.exp, F.tanh, F.sigmoid])
def test_smooth_ops(op, rng):
    check_backward(op, [rng.standard_normal((3, 5))])


@pytest.mark.parametrize('op', [F.log, F.sqrt])
def test_positive_domain_ops(op, rng):
    check_backward(op, [rng.uniform(0.5, 3.0, (4, 3))])


def test_relu_away_from_kink(rng):
    x = rng.standard_normal((4, 5))
    x[numpy.abs(x) < 0.1] = 0.5
    check_backward(F.relu, [x])


def test_sigmoid_large_inputs_do_not_overflow():
    y = F.sigmoid(Tensor(numpy.array([-1000.0, 0.0, 1000.0]))).numpy()
    numpy.testing.assert_allclose(y, [0.0, 0.5, 1.0])
