import numpy
import pytest

import minifft
from minifft import backend, nn


def test_forward_pre_hook_and_forward_hook_observe_replace_and_remove(device):
    layer = nn.Linear(2, 2).to(device)
    x = minifft.tensor(numpy.ones((1, 2), numpy.float32), device=device)
    seen = []
    pre = layer.register_forward_pre_hook(lambda m, args: seen.append(('pre', m, args[0].shape)))
    post = layer.register_forward_hook(lambda m, args, out: seen.append(('post', args[0].shape, out.shape)))
    y = layer(x)
    assert seen == [('pre', layer, (1, 2)), ('post', (1, 2), (1, 2))]
    pre.remove()
    post.remove()
    layer(x)
    assert len(seen) == 2
    with layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,)):  # replaces the input
        doubled = layer(x)
    numpy.testing.assert_allclose(doubled.numpy() - layer.bias.numpy(), 2 * (y.numpy() - layer.bias.numpy()),
                                  rtol=1e-6)
    with layer.register_forward_hook(lambda m, args, out: out * 0):  # replaces the output
        assert (layer(x).numpy() == 0).all()
    numpy.testing.assert_allclose(layer(x).numpy(), y.numpy())  # the context manager removed both


def test_full_backward_hook_sees_input_and_output_gradients(rng, device):
    layer = nn.Linear(3, 2).to(device)
    x = minifft.tensor(backend.to_device(rng.standard_normal((4, 3)), device), requires_grad=True)
    gy = rng.standard_normal((4, 2))
    calls = []
    handle = layer.register_full_backward_hook(
        lambda m, grad_input, grad_output: calls.append((m, grad_input, grad_output)))
    layer(x).backward(backend.to_device(gy, device))
    [(module, grad_input, grad_output)] = calls
    assert module is layer
    numpy.testing.assert_allclose(backend.to_numpy(grad_output[0]), gy)
    numpy.testing.assert_allclose(backend.to_numpy(grad_input[0]), gy @ layer.weight.numpy(), rtol=1e-6)
    numpy.testing.assert_allclose(backend.to_numpy(x.grad), backend.to_numpy(grad_input[0]))
    handle.remove()
    layer(x).sum().backward()
    assert len(calls) == 1


def test_backward_hook_can_replace_grad_input_and_runs_for_inputs_without_grad(rng):
    inner = nn.Linear(3, 3)
    model = nn.Sequential(inner, nn.ReLU(), nn.Linear(3, 1))
    x = minifft.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    model(x).sum().backward()
    plain = x.grad.copy()
    x.grad = None
    model[2].register_full_backward_hook(lambda m, gi, go: tuple(2 * g for g in gi))
    model(x).sum().backward()
    numpy.testing.assert_allclose(x.grad, 2 * plain)  # the doubled gradient flowed on
    calls = []
    inner.register_full_backward_hook(lambda m, gi, go: calls.append(gi))
    model(minifft.tensor(rng.standard_normal((2, 3)))).sum().backward()  # the input needs no gradient
    assert calls == [(None,)]
    with minifft.no_grad():
        model(x)  # no graph: nothing hooked, nothing raised


def test_hook_errors():
    with pytest.raises(TypeError, match="expected a callable"):
        nn.ReLU().register_forward_hook(3)
