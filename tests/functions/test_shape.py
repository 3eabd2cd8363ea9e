import numpy
import pytest

from minifft import Tensor
from minifft import functions as F
from minifft.backend import to_device, to_numpy
from minifft.testing import check_backward


def test_reshape_transpose_flatten(rng, device):
    x = to_device(rng.standard_normal((2, 3, 4)), device)
    check_backward(lambda t: F.reshape(t, 4, -1), [x])
    check_backward(lambda t: F.transpose(t, 2, 0, 1), [x])
    check_backward(lambda t: t.T, [x])
    check_backward(F.flatten, [x])
    assert F.flatten(Tensor(x)).shape == (2, 12)


@pytest.mark.parametrize('index', [1, (slice(None), 2), (Ellipsis, slice(1, 3)), (None, 0),
                                   numpy.array([0, 2, 0]), (numpy.array([1, 1]), numpy.array([0, 3]))])
def test_getitem(index, rng, device):
    check_backward(lambda t: t[index], [to_device(rng.standard_normal((3, 4)), device)])


def test_getitem_repeated_index_accumulates(device):
    x = Tensor(numpy.zeros(3), device=device, requires_grad=True)
    x[numpy.array([0, 0, 2])].sum().backward()
    numpy.testing.assert_allclose(to_numpy(x.grad), [2.0, 0.0, 1.0])


def test_bad_reshape_and_transpose():
    x = Tensor(numpy.ones((2, 3)))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="transpose: axes"):
        x.transpose(0, 0)
