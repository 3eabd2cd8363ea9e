import numpy
import pytest

from minifft import Tensor
from minifft import functions as F
from minifft.backend import to_device
from minifft.testing import check_backward


def test_cross_entropy_value_and_gradient(rng, device):
    logits = rng.standard_normal((6, 4))
    labels = numpy.array([0, 3, 1, 1, 2, 0])
    check_backward(F.cross_entropy, [to_device(logits, device), to_device(labels, device)])
    p = numpy.exp(logits) / numpy.exp(logits).sum(1, keepdims=True)
    expected = -numpy.log(p[numpy.arange(6), labels]).mean()
    numpy.testing.assert_allclose(F.cross_entropy(Tensor(logits, device=device), Tensor(labels, device=device)).item(),
                                  expected)


def test_cross_entropy_is_stable(device):
    logits = Tensor(numpy.array([[1e4, 0.0], [0.0, 1e4]], numpy.float32), device=device)
    assert F.cross_entropy(logits, Tensor(numpy.array([0, 1]), device=device)).item() == 0.0


def test_cross_entropy_bad_labels():
    logits = Tensor(numpy.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got values from 0 to 3"):
        F.cross_entropy(logits, numpy.array([0, 3]))
    with pytest.raises(TypeError, match="integer labels"):
        F.cross_entropy(logits, numpy.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="2 rows of logits but 3 labels"):
        F.cross_entropy(logits, numpy.array([0, 1, 2]))


def test_mse_loss(rng, device):
    check_backward(F.mse_loss, [to_device(rng.standard_normal((3, 4)), device),
                                to_device(rng.standard_normal((3, 4)), device)])
    with pytest.raises(ValueError, match="mse_loss: input shape"):
        F.mse_loss(Tensor(numpy.ones(3)), Tensor(numpy.ones(4)))


def test_device_labels_out_of_range_give_nan_without_a_host_read(host_reads):
    logits = Tensor(numpy.zeros((2, 3)), device='cuda')
    good = F.cross_entropy(logits, Tensor(numpy.array([0, 2]), device='cuda'))
    bad = F.cross_entropy(logits, Tensor(numpy.array([0, 3]), device='cuda'))  # CuPy would wrap 3 to 0
    assert host_reads() == 0
    assert numpy.isfinite(good.item()) and numpy.isnan(bad.item())
