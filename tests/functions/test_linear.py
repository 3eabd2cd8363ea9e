import numpy
import pytest

from minifft import Tensor
from minifft import functions as F
from minifft.backend import to_device
from minifft.testing import check_backward


def test_linear(rng, device):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
    dx, dw, db = (to_device(a, device) for a in (x, w, b))
    check_backward(F.linear, [dx, dw, db])
    check_backward(F.linear, [dx, dw])
    numpy.testing.assert_allclose(F.linear(Tensor(dx), Tensor(dw), Tensor(db)).numpy(), x @ w.T + b)


def test_linear_errors():
    with pytest.raises(ValueError, match="linear: input has 3 features but weight expects 4"):
        F.linear(Tensor(numpy.ones((2, 3))), Tensor(numpy.ones((5, 4))))
    with pytest.raises(ValueError, match=r"expected bias of shape \(5,\)"):
        F.linear(Tensor(numpy.ones((2, 4))), Tensor(numpy.ones((5, 4))), Tensor(numpy.ones(4)))
