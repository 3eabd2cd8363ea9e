import numpy
import pytest

from minifft import Tensor
from minifft.backend import to_device
from minifft import functions as F
from minifft.testing import check_backward


@pytest.mark.parametrize('op', [F.softmax, F.log_softmax])
@pytest.mark.parametrize('axis', [-1, 0])
def test_softmax_gradients(op, axis, rng, device):
    check_backward(lambda t: op(t, axis), [to_device(rng.standard_normal((4, 5)), device)])


def test_softmax_is_stable_and_normalised(device):
    x = Tensor(numpy.array([[1000.0, 1000.0, -1000.0]]), device=device)
    numpy.testing.assert_allclose(F.softmax(x).numpy(), [[0.5, 0.5, 0.0]])
    numpy.testing.assert_allclose(F.log_softmax(x).numpy()[0, :2], numpy.log([0.5, 0.5]))
