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


def test_relu_away_from_kink(rng, device, cpu_kernels):
    x = rng.standard_normal((4, 5))
    x[numpy.abs(x) < 0.1] = 0.5
    check_backward(F.relu, [to_device(x, device)])


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
@pytest.mark.parametrize('threads', [False, True])
def test_relu_values_gradient_and_nan(dtype, threads, rng, cpu_kernels, monkeypatch):
    """Both CPU paths: max(x, 0) with NaN kept and -inf giving 0 (as PyTorch), gradient gy where x > 0 and gy * 0 elsewhere
    (a NaN gradient stays NaN, as NumPy's product gives), on a non-contiguous odd-sized input,
    in one piece and in chunks on the thread pool."""
    if threads:
        monkeypatch.setattr('minifft.functions._kernels.PARALLEL_MIN_WORK', 0)
    x = rng.standard_normal((3, 5, 7, 9)).astype(dtype).transpose(0, 2, 1, 3)
    x[0, 0, 0, :4] = [numpy.nan, 0.0, numpy.inf, -numpy.inf]
    gy = rng.standard_normal(x.shape).astype(dtype)
    gy[0, 0, 1, 3] = numpy.nan
    t = Tensor(x, requires_grad=True)
    y = F.relu(t)
    assert y.dtype == dtype
    numpy.testing.assert_array_equal(y.numpy(), numpy.where((x > 0) | numpy.isnan(x), x, 0))
    assert y.numpy()[0, 0, 0, 3] == 0
    y.backward(gy)
    assert t.grad.dtype == dtype
    numpy.testing.assert_array_equal(t.grad, numpy.where(x > 0, gy, gy * 0))


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
@pytest.mark.parametrize('threads', [False, True])
def test_relu_adds_the_gradients_of_two_consumers_in_its_backward(dtype, threads, rng, cpu_kernels, monkeypatch):
    """Where ReLU's output feeds two ops, its backward gets both gradients and returns, to the
    bit, the backward of their sum (NaN kept), in both CPU paths, in one piece and in chunks; a
    non-contiguous gradient and three gradients give the same; and so does the graph."""
    from minifft.functions.math import ReLU
    if threads:
        monkeypatch.setattr('minifft.functions._kernels.PARALLEL_MIN_WORK', 0)
    x = rng.standard_normal((4, 3, 5, 7)).astype(dtype)
    x[0, 0, 0, :3] = [numpy.nan, 0.0, -numpy.inf]
    g0 = rng.standard_normal(x.shape).astype(dtype)
    g1 = rng.standard_normal(x.shape[::-1]).astype(dtype).T
    g0[1, 1, 1, 1] = numpy.nan
    fn = ReLU()
    fn.forward(x)
    numpy.testing.assert_array_equal(fn.backward_sum([g0, g1]), fn.backward(g0 + g1))
    numpy.testing.assert_array_equal(fn.backward_sum([g0, g1, g0]), fn.backward(g0 + g1 + g0))
    assert fn.backward_sum([g0, g1]).dtype == dtype
    t = Tensor(x, requires_grad=True)
    y = F.relu(t)
    a, b = (Tensor(rng.standard_normal(x.shape).astype(dtype)) for _ in range(2))
    (y * a + y * b).backward(g1)
    numpy.testing.assert_array_equal(t.grad, numpy.where(x > 0, g1 * a.numpy() + g1 * b.numpy(), 0))


def test_sigmoid_large_inputs_do_not_overflow(device):
    y = F.sigmoid(Tensor(numpy.array([-1000.0, 0.0, 1000.0]), device=device)).numpy()
    numpy.testing.assert_allclose(y, [0.0, 0.5, 1.0])
