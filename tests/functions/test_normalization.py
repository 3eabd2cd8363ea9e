import numpy
import pytest

from minifft import Tensor, backend
from minifft import functions as F
from minifft.testing import check_backward


@pytest.mark.parametrize('shape', [(5, 3), (4, 3, 5), (3, 2, 4, 3)])
@pytest.mark.parametrize('affine', [True, False])
def test_batch_norm_training_gradients(shape, affine, rng, device):
    x = backend.to_device(rng.standard_normal(shape) * 2 + 1, device)
    c = shape[1]
    if affine:
        gamma = backend.to_device(rng.standard_normal(c), device)
        beta = backend.to_device(rng.standard_normal(c), device)
        check_backward(lambda t, g, b: F.batch_norm(t, weight=g, bias=b, training=True), [x, gamma, beta],
                       atol=1e-6, rtol=1e-5)
    else:
        check_backward(lambda t: F.batch_norm(t, training=True), [x], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize('shape', [(5, 3), (3, 3, 4, 3)])
def test_batch_norm_eval_gradients(shape, rng, device):
    x = backend.to_device(rng.standard_normal(shape), device)
    rm = backend.to_device(rng.standard_normal(3), device)
    rv = backend.to_device(rng.uniform(0.5, 2, 3), device)
    gamma = backend.to_device(rng.standard_normal(3), device)
    beta = backend.to_device(rng.standard_normal(3), device)
    check_backward(lambda t, g, b: F.batch_norm(t, rm, rv, g, b, training=False), [x, gamma, beta])


def test_batch_norm_values_by_hand(device):
    eps = 1e-5
    x = backend.to_device(numpy.array([[1.0, 2.0], [3.0, 6.0]]), device)
    rm, rv = backend.to_device(numpy.zeros(2), device), backend.to_device(numpy.ones(2), device)
    gamma, beta = (backend.to_device(numpy.array(v), device) for v in ([2.0, 1.0], [0.0, 1.0]))
    y = F.batch_norm(Tensor(x), rm, rv, gamma, beta, training=True, momentum=0.1, eps=eps).numpy()
    # channel 0: [1, 3], mean 2, biased var 1; channel 1: [2, 6], mean 4, biased var 4
    numpy.testing.assert_allclose(y, [[-2 / numpy.sqrt(1 + eps), 1 - 2 / numpy.sqrt(4 + eps)],
                                      [2 / numpy.sqrt(1 + eps), 1 + 2 / numpy.sqrt(4 + eps)]])
    # running estimates: 0.9 * old + 0.1 * (mean, unbiased var [2, 8])
    numpy.testing.assert_allclose(backend.to_numpy(rm), [0.2, 0.4])
    numpy.testing.assert_allclose(backend.to_numpy(rv), [0.9 + 0.2, 0.9 + 0.8])
    y = F.batch_norm(Tensor(x), rm, rv, training=False, eps=eps).numpy()
    numpy.testing.assert_allclose(y, [[0.8 / numpy.sqrt(1.1 + eps), 1.6 / numpy.sqrt(1.7 + eps)],
                                      [2.8 / numpy.sqrt(1.1 + eps), 5.6 / numpy.sqrt(1.7 + eps)]])


def test_batch_norm_errors():
    x = Tensor(numpy.ones((4, 3)))
    with pytest.raises(ValueError, match=r"batch_norm: expected input \(N, C\)"):
        F.batch_norm(Tensor(numpy.ones(3)), training=True)
    with pytest.raises(ValueError, match=r"expected running_mean of shape \(3,\), got \(2,\)"):
        F.batch_norm(x, numpy.zeros(2), numpy.ones(2), training=True)
    with pytest.raises(ValueError, match="eval mode .* needs running_mean"):
        F.batch_norm(x)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(Tensor(numpy.ones((1, 3))), training=True)
    with pytest.raises(ValueError, match="give both weight and bias"):
        F.batch_norm(x, weight=numpy.ones(3), training=True)


def test_running_statistics_on_another_device_are_refused():
    if not backend.cuda_available():
        pytest.skip("needs 'cuda' (a GPU or the stand-in)")
    with pytest.raises(ValueError, match="running_mean is on 'cpu' but x is on 'cuda'"):
        F.batch_norm(Tensor(backend.to_device(numpy.ones((4, 3)), 'cuda')), numpy.zeros(3), numpy.ones(3))
