import numpy
import pytest

from minifft import functions as F
from minifft.backend import to_device
from minifft.testing import check_backward


@pytest.mark.parametrize('op', [F.add, F.sub, F.mul, F.div])
@pytest.mark.parametrize('shapes', [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3))])
def test_binary_broadcasting_gradients(op, shapes, rng, device):
    x = rng.standard_normal(shapes[0])
    y = rng.uniform(0.5, 2.0, shapes[1])  # away from 0 for div
    check_backward(op, [to_device(x, device), to_device(y, device)])


def test_pow_gradients_both_operands(rng, device):
    x = rng.uniform(0.5, 2.0, (3, 4))
    y = rng.uniform(-1.5, 1.5, (4,))
    check_backward(F.pow, [to_device(x, device), to_device(y, device)])
    check_backward(lambda a: a ** 3, [to_device(rng.standard_normal((5,)), device)])
    check_backward(lambda a: 2.0 ** a, [to_device(rng.standard_normal((5,)), device)])


def test_neg(rng, device):
    check_backward(F.neg, [to_device(rng.standard_normal((2, 3)), device)])


@pytest.mark.parametrize('shapes', [((3, 4), (4, 5)), ((2, 3, 4), (4, 2)), ((4,), (4, 3)), ((3, 4), (4,)),
                                    ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 2))])
def test_matmul_gradients(shapes, rng, device):
    check_backward(F.matmul, [to_device(rng.standard_normal(s), device) for s in shapes])


def test_matmul_shape_mismatch_is_clear():
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ: \(3, 4\) @ \(5, 2\)"):
        F.matmul(numpy.ones((3, 4)), numpy.ones((5, 2)))
