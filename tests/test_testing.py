"""minifft.testing.check_backward checked itself: it passes a right gradient, fails a wrong one,
and refuses a gradient that never arrived instead of counting it as zero."""
import numpy
import pytest

from minifft import functions as F
from minifft.tensor import Function
from minifft.testing import check_backward


class Scale(Function):
    """y = 3x, with a backward that can be made wrong or missing."""

    def forward(self, x):
        return 3 * x

    def backward(self, gy):
        if self.mode == 'missing':
            return None
        return gy * (3.0 if self.mode == 'right' else 3.001)


def scale(x, mode):
    return Scale.apply(x, mode=mode)


def test_a_right_gradient_passes(rng):
    check_backward(lambda x: scale(x, 'right'), [rng.standard_normal((3, 4))])
    check_backward(lambda x, w: F.conv2d(x, w, algo='direct'),
                   [rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((2, 2, 3, 3))])


def test_a_wrong_gradient_fails(rng):
    with pytest.raises(AssertionError, match=r"check_backward: input 0 \(shape \(3, 4\)\) gradient mismatch"):
        check_backward(lambda x: scale(x, 'wrong'), [rng.standard_normal((3, 4))])


def test_a_missing_gradient_raises_instead_of_counting_as_zero(rng):
    with pytest.raises(AssertionError, match=r"check_backward: input 0 \(shape \(3, 4\)\) got no gradient"):
        check_backward(lambda x: scale(x, 'missing'), [rng.standard_normal((3, 4))])
    # a function of x that ignores w: w's true gradient is zero, but none arrives at all
    with pytest.raises(AssertionError, match=r"input 1 .* got no gradient"):
        check_backward(lambda x, w: scale(x, 'right'), [rng.standard_normal(3), rng.standard_normal(3)])


def test_integer_inputs_get_no_gradient_and_are_not_checked(rng):
    check_backward(lambda x, i: scale(x, 'right') * i, [rng.standard_normal(4), numpy.arange(4)])
