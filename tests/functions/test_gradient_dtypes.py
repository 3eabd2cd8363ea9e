"""Every differentiable op returns gradients in its inputs' dtype, on both devices: a promoted
gradient doubles memory and work on the CPU and breaks typed kernels on the GPU."""
import numpy
import pytest

from minifft import Tensor, backend
from minifft import functions as F
from minifft.tensor import Tensor as _Tensor

NO_GRADIENT = {'equal', 'not_equal', 'less', 'less_equal', 'greater', 'greater_equal'}
LABELS = numpy.array([0, 2, 1, 2])

# op name -> (function of Tensors, input shapes)
CASES = {
    'add': (F.add, [(4, 3), (3,)]), 'sub': (F.sub, [(4, 3), (3,)]), 'mul': (F.mul, [(4, 3), (4, 1)]),
    'div': (F.div, [(4, 3), (3,)]), 'pow': (F.pow, [(4, 3), (3,)]), 'neg': (F.neg, [(4, 3)]),
    'matmul': (F.matmul, [(4, 3), (3, 2)]),
    'exp': (F.exp, [(4, 3)]), 'log': (F.log, [(4, 3)]), 'sqrt': (F.sqrt, [(4, 3)]),
    'tanh': (F.tanh, [(4, 3)]), 'sigmoid': (F.sigmoid, [(4, 3)]), 'relu': (F.relu, [(4, 3)]),
    'softmax': (F.softmax, [(4, 3)]), 'log_softmax': (F.log_softmax, [(4, 3)]),
    'sum': (lambda x: F.sum(x, 1), [(4, 3)]), 'mean': (lambda x: F.mean(x, 0), [(4, 3)]),
    'max': (lambda x: F.max(x, 1), [(4, 3)]),
    'reshape': (lambda x: F.reshape(x, 3, 4), [(4, 3)]), 'transpose': (F.transpose, [(4, 3)]),
    'flatten': (F.flatten, [(2, 3, 2)]), 'getitem': (lambda x: x[numpy.array([0, 0, 2])], [(4, 3)]),
    'to_device': (lambda x: F.to_device(x, 'cpu'), [(4, 3)]),
    'astype': (lambda x: F.astype(x, numpy.float32 if x.dtype == numpy.float64 else numpy.float64), [(4, 3)]),
    'linear': (F.linear, [(4, 3), (2, 3), (2,)]),
    'conv2d': (lambda x, w, b: F.conv2d(x, w, b, padding=1, algo='fft'), [(2, 3, 6, 6), (4, 3, 3, 3), (4,)]),
    'max_pool2d': (lambda x: F.max_pool2d(x, 2), [(2, 3, 4, 4)]),
    'avg_pool2d': (lambda x: F.avg_pool2d(x, 2), [(2, 3, 4, 4)]),
    'dropout': (lambda x: F.dropout(x, 0.5), [(4, 3)]),
    'cross_entropy': (lambda x: F.cross_entropy(x, Tensor(LABELS, device=x.device)), [(4, 3)]),
    'mse_loss': (F.mse_loss, [(4, 3), (4, 3)]),
    'batch_norm': (lambda x, g, b: F.batch_norm(x, weight=g, bias=b, training=True), [(4, 3, 2, 2), (3,), (3,)]),
    'adaptive_avg_pool2d': (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [(2, 3, 5, 5)]),
    'leaky_relu': (F.leaky_relu, [(4, 3)]), 'gelu': (F.gelu, [(4, 3)]),
}


def test_every_op_has_a_case():
    assert set(F.__all__) == set(CASES) | NO_GRADIENT, "add the new op to CASES (or NO_GRADIENT)"


@pytest.fixture
def arriving_grads(monkeypatch):
    """The gradients as the ops return them to each leaf, before the leaf casts them to its dtype."""
    seen = {}
    accumulate = _Tensor._accumulate

    def record(self, g):
        seen[id(self)] = g
        accumulate(self, g)
    monkeypatch.setattr(_Tensor, '_accumulate', record)
    return seen


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
@pytest.mark.parametrize('name', sorted(CASES))
def test_gradient_keeps_input_dtype(name, dtype, device, rng, arriving_grads):
    fn, shapes = CASES[name]
    inputs = [Tensor(rng.uniform(0.5, 2.0, s).astype(dtype), device=device, requires_grad=True) for s in shapes]
    y = fn(*inputs)
    y.sum().backward()
    for i, t in enumerate(inputs):
        g = arriving_grads.get(id(t))
        assert g is not None, f"{name}: input {i} got no gradient"
        assert g.dtype == dtype, f"{name}: input {i} is {dtype.__name__} but its gradient arrives as {g.dtype}"
        assert backend.device_of(g) == device
