import numpy
import pytest

from minifft import functions as F
from minifft.testing import check_backward


@pytest.mark.parametrize('op', [F.add, F.sub, F.mul, F.div])
@pytest.mark.parametrize('shapes', [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3))])
def test_binary_broadcasting_gradients(op, shapes, rng):
    x = rng.standard_normal(shapes[0])
    y = rng.uniform(0.5, 2.0, shapes[1])  # away from 0 for div
    check_backward(op, [x, y])


def test_pow_gradients_both_operands(rng):
    x = rng.uniform(0.5, 2.0, (3, 4))
    y = rng.uniform(-1.5, 1.5, (4,))
    check_backward(F.pow, [x, y])
    check_backward(lambda a: a ** 3, [rng.standard_normal((5,))])
    check_backward(lambda a: 2.0 ** a, [rng.standard_normal((5,))])


def test_neg(rng):
    check_backward(F.neg, [rng.standard_normal((2, 3))])


@pytest.mark.parametrize('shapes', [((3, 4), (4, 5)), ((2, 3, 4), (4, 2)), ((4,), (4, 3)), ((3, 4), (4,)),
                                    ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 2))])
def test_matmul_gradients(shapes, rng):
    check_backward(F.matmul, [rng.standard_normal(s) for s in shapes])


def test_matmul_shape_mismatch_is_clear():
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ: \(3, 4\) @ \(5, 2\)"):
        F.matmul(numpy.ones((3, 4)), numpy.ones((5, 2)))
