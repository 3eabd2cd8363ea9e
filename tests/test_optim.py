import math

import numpy
import pytest

from minifft import backend, nn, optim


def reference_sgd(p, grads, lr, momentum, dampening, weight_decay, nesterov):
    """PyTorch's documented SGD update, written out by hand."""
    buf = None
    for g in grads:
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


@pytest.mark.parametrize('momentum,dampening,weight_decay,nesterov', [
    (0.0, 0.0, 0.0, False), (0.9, 0.0, 0.0, False), (0.9, 0.0, 1e-2, True), (0.5, 0.3, 1e-3, False)])
def test_sgd_matches_hand_computed_update(momentum, dampening, weight_decay, nesterov, rng):
    p0 = rng.standard_normal((3, 2))
    grads = [rng.standard_normal((3, 2)) for _ in range(4)]
    param = nn.Parameter(p0.copy())
    opt = optim.SGD([param], lr=0.1, momentum=momentum, dampening=dampening,
                    weight_decay=weight_decay, nesterov=nesterov)
    for g in grads:
        param.grad = g.copy()
        opt.step()
    numpy.testing.assert_allclose(param.data, reference_sgd(p0, grads, 0.1, momentum, dampening,
                                                            weight_decay, nesterov), rtol=1e-12)


def test_sgd_state_round_trip(rng):
    param = nn.Parameter(rng.standard_normal(4))
    opt = optim.SGD([param], lr=0.1, momentum=0.9)
    param.grad = numpy.ones(4)
    opt.step()
    other = optim.SGD([param], lr=0.5)
    other.load_state_dict(opt.state_dict())
    assert other.momentum == 0.9 and other.lr == 0.1
    numpy.testing.assert_array_equal(other.buffers[0], opt.buffers[0])


def test_sgd_errors():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="nesterov needs momentum"):
        optim.SGD([nn.Parameter(numpy.ones(1))], lr=0.1, nesterov=True)


def test_schedules():
    opt = optim.SGD([nn.Parameter(numpy.ones(1))], lr=1.0)
    step = optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        step.step()
        lrs.append(opt.lr)
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25]
    opt.lr = 1.0
    cosine = optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.0)
    for epoch in range(1, 5):
        cosine.step()
        assert opt.lr == pytest.approx((1 + math.cos(math.pi * epoch / 4)) / 2)


@pytest.mark.parametrize('target', ['cuda', 'cpu'])
def test_momentum_buffers_follow_the_parameters(target, rng):
    if not backend.cuda_available():
        pytest.skip("needs 'cuda'")
    source = 'cpu' if target == 'cuda' else 'cuda'
    grads = [rng.standard_normal((3, 2)) for _ in range(3)]
    moved = nn.Linear(2, 3, bias=False, device=source)
    p0 = moved.weight.numpy().copy()
    opt = optim.SGD(moved.parameters(), lr=0.1, momentum=0.9)
    for i, g in enumerate(grads):
        if i == 1:
            moved.to(target)
        moved.weight.grad = backend.to_device(g.astype(numpy.float32), moved.weight.device)
        opt.step()
    assert backend.device_of(opt.buffers[0]) == target
    want = reference_sgd(p0.astype(numpy.float64), grads, 0.1, 0.9, 0.0, 0.0, False)
    numpy.testing.assert_allclose(moved.weight.numpy(), want, rtol=1e-5)
