import numpy
import pytest

import minifft
from minifft import Tensor, backend, no_grad
from minifft.tensor import Function


def test_float_default_and_dtypes_kept():
    assert minifft.tensor([1.0, 2.0]).dtype == numpy.float32
    assert minifft.tensor([1, 2]).dtype.kind == 'i'
    assert minifft.tensor(numpy.zeros(2)).dtype == numpy.float64
    t = minifft.tensor(numpy.ones((2, 3)))
    assert (t.shape, t.ndim, t.size, t.T.shape, t.device) == ((2, 3), 2, 6, (3, 2), 'cpu')


def test_non_float_cannot_require_grad():
    with pytest.raises(TypeError, match="requires_grad needs floating-point"):
        Tensor(numpy.arange(3), requires_grad=True)


def test_reused_tensor_accumulates(device):
    x = Tensor(numpy.array([2.0, 3.0]), device=device, requires_grad=True)
    y = x * x + x * 3 + x  # x used four times
    y.sum().backward()
    numpy.testing.assert_allclose(backend.to_numpy(x.grad), 2 * x.numpy() + 4)


def test_reuse_through_finite_differences(rng, device):
    from minifft.testing import check_backward
    check_backward(lambda x: x * x + x.exp() * x - x / (x * x + 1) + (x ** 2).sum(axis=0, keepdims=True) * x,
                   [backend.to_device(rng.standard_normal((3, 4)), device)])
    check_backward(lambda x: x.astype(numpy.float64).to('cpu') * 2, [backend.to_device(rng.standard_normal(5), device)])


def test_diamond_graph_walks_each_node_once(device):
    x = Tensor(numpy.array(1.5), device=device, requires_grad=True)
    a = x.exp()
    b = a * a + a  # a feeds two ops
    b.backward()
    numpy.testing.assert_allclose(backend.to_numpy(x.grad), 2 * numpy.exp(3.0) + numpy.exp(1.5))


class _Scale(Function):
    """y = x * k, recording the gradient lists its backward_sum is given."""

    def forward(self, x):
        return x * self.k

    def backward(self, gy):
        return gy * self.k

    def backward_sum(self, gys):
        self.log.append([backend.to_numpy(g).copy() for g in gys])
        return super().backward_sum(gys)


@pytest.mark.parametrize('fan_out', [1, 2, 3, 6])
def test_gradients_of_a_shared_tensor_are_added_in_arrival_order(fan_out, rng, device):
    """The gradients from an output's consumers reach its op's backward_sum as at most two arrays
    (a wide fan-in keeps one running sum and the newest, so it holds no more memory than one
    extra gradient), and their left-to-right sum is what backward then gets."""
    x = Tensor(backend.to_device(rng.standard_normal(5).astype(numpy.float32), device), requires_grad=True)
    log = []
    h = _Scale.apply(x, k=3.0, log=log)
    weights = [Tensor(backend.to_device(rng.standard_normal(5).astype(numpy.float32), device)) for _ in range(fan_out)]
    total = h * weights[0]
    for w in weights[1:]:
        total = total + h * w
    total.sum().backward()
    assert len(log) == (fan_out > 1)
    if log:
        assert len(log[0]) == 2
        numpy.testing.assert_allclose(log[0][0] + log[0][1], sum(w.numpy() for w in weights), rtol=1e-6)
    numpy.testing.assert_allclose(backend.to_numpy(x.grad), 3 * sum(w.numpy() for w in weights), rtol=1e-5)


def test_default_backward_sum_adds_left_to_right_then_calls_backward():
    fn = _Scale(k=2.0, log=[])
    gys = [numpy.array([v], numpy.float32) for v in (1e8, 4.0, 4.0)]
    # in float32 (1e8 + 4) + 4 is 1e8 (4 is half an ulp of 1e8: ties round to even), 1e8 + (4 + 4) is not
    numpy.testing.assert_array_equal(fn.backward_sum(gys), [numpy.float32(1e8) * 2])
    assert len(fn.log) == 1 and all((a == b).all() for a, b in zip(fn.log[0], gys))


def test_grad_shape_and_dtype_match_tensor(device):
    x = Tensor(numpy.ones((3, 1), numpy.float32), device=device, requires_grad=True)
    (x + Tensor(numpy.ones((3, 4), numpy.float32), device=device)).sum().backward()
    assert x.grad.shape == (3, 1) and x.grad.dtype == numpy.float32
    numpy.testing.assert_allclose(backend.to_numpy(x.grad), 4.0)


def test_backward_twice_needs_retain_graph(device):
    x = Tensor(numpy.array([1.0, 2.0]), device=device, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    numpy.testing.assert_allclose(backend.to_numpy(x.grad), 4 * x.numpy())
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_backward_on_non_scalar_needs_grad(device):
    x = Tensor(numpy.ones(3), device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="one-element tensor"):
        (x * 2).backward()
    (x * 2).backward(Tensor(numpy.array([1.0, 2.0, 3.0]), device=device))
    numpy.testing.assert_allclose(backend.to_numpy(x.grad), [2.0, 4.0, 6.0])


def test_no_grad_builds_no_graph(device):
    x = Tensor(numpy.ones(3), device=device, requires_grad=True)
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y.creator is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_deep_graph_has_no_recursion_limit():
    x = Tensor(numpy.array(1.0), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1e-3
    y.backward()
    assert x.grad == 1.0


def test_saved_arrays_released_after_backward(device):
    x = Tensor(numpy.ones(3), device=device, requires_grad=True)
    y = (x * x).sum()
    fn = y.creator.inputs[0].creator
    y.backward()
    assert fn.released and not hasattr(fn, 'x')


def test_scalar_operands_keep_dtype(device):
    x = Tensor(numpy.ones(2, numpy.float32), device=device)
    assert (x * 2.5).dtype == numpy.float32
    assert (1 - x).dtype == numpy.float32
    assert (2 ** x).dtype == numpy.float32


def test_comparisons_item_numpy_detach(device):
    x = minifft.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    assert (x > 1.5).numpy().tolist() == [False, True, True]
    assert (x == 2.0).numpy().tolist() == [False, True, False]
    assert x.sum().item() == 6.0
    assert not x.detach().requires_grad
    assert x.to(device) is x and x.detach().device == device
    with pytest.raises(ValueError, match="one element"):
        x.item()


def test_truth_value(device):
    assert bool(minifft.tensor([2.0], device=device)) and not bool(minifft.tensor(0.0, device=device))
    a, b = minifft.tensor([1.0, 2.0], device=device), minifft.tensor([1.0, 2.0], device=device)
    assert a in [a]  # identity first, as for NumPy arrays
    with pytest.raises(ValueError, match="truth value of a tensor with 2 elements is ambiguous"):
        bool(a == b)
    with pytest.raises(ValueError, match="ambiguous"):
        _ = a in [b]  # would otherwise be always True


def test_host_gradient_moves_to_the_graph_device(device):
    x = Tensor(numpy.ones(3), device=device, requires_grad=True)
    (x * 2).backward(numpy.array([1.0, 2.0, 3.0]))  # a host gradient for a graph on `device`
    assert x.grad is not None and backend.device_of(x.grad) == device
    numpy.testing.assert_allclose(backend.to_numpy(x.grad), [2.0, 4.0, 6.0])


@pytest.fixture
def default_cuda(monkeypatch):
    if not backend.cuda_available():
        pytest.skip("needs 'cuda'")
    from minifft import config
    saved = config.snapshot()
    config.set(device='cuda')
    yield
    config.restore(saved)


def test_new_tensors_and_parameters_go_to_the_default_device(default_cuda):
    from minifft import nn
    assert minifft.tensor([1.0, 2.0]).device == 'cuda'
    assert Tensor(numpy.ones(2)).device == 'cuda'
    assert minifft.tensor([1.0], device='cpu').device == 'cpu'  # device= overrides
    for layer in (nn.Linear(3, 2), nn.Conv2d(2, 3, 3)):
        assert all(p.device == 'cuda' for p in layer.parameters())
    assert all(p.device == 'cpu' for p in nn.Linear(3, 2, device='cpu').parameters())


def test_op_results_stay_on_their_inputs_device(default_cuda):
    x = Tensor(numpy.ones(3), device='cpu', requires_grad=True)
    y = (x * 2 + 1).sum()
    assert y.device == 'cpu' and (x > 0).device == 'cpu' and x.detach().device == 'cpu'
    y.backward()
    assert backend.device_of(x.grad) == 'cpu'
