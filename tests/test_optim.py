import math

import numpy
import pytest

import minifft
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
def test_sgd_matches_hand_computed_update(momentum, dampening, weight_decay, nesterov, rng, device):
    p0 = rng.standard_normal((3, 2))
    grads = [rng.standard_normal((3, 2)) for _ in range(4)]
    param = nn.Parameter(backend.to_device(p0.copy(), device))
    opt = optim.SGD([param], lr=0.1, momentum=momentum, dampening=dampening,
                    weight_decay=weight_decay, nesterov=nesterov)
    for g in grads:
        param.grad = backend.to_device(g, device)
        opt.step()
    numpy.testing.assert_allclose(param.numpy(), reference_sgd(p0, grads, 0.1, momentum, dampening,
                                                            weight_decay, nesterov), rtol=1e-12)


@pytest.mark.parametrize('dampening', [0.0, 0.25])
def test_sgd_momentum_float32_to_the_bit(dampening, rng, device):
    """float32 parameters follow the in-place float32 update exactly (the dampening-free case
    adds g itself), and a NaN gradient stays in its element."""
    p0 = rng.standard_normal(7).astype(numpy.float32)
    grads = [rng.standard_normal(7).astype(numpy.float32) for _ in range(3)]
    grads[2][4] = numpy.nan
    param = nn.Parameter(backend.to_device(p0.copy(), device))
    opt = optim.SGD([param], lr=0.1, momentum=0.9, dampening=dampening)
    p, buf = p0.copy(), None
    for g in grads:
        param.grad = backend.to_device(g, device)
        opt.step()
        if buf is None:
            buf = g.copy()
        else:
            buf *= 0.9
            buf += (1 - dampening) * g
        p -= numpy.float32(0.1) * buf
    assert param.dtype == numpy.float32
    numpy.testing.assert_array_equal(param.numpy(), p)
    assert numpy.isnan(param.numpy()[4]) and numpy.isfinite(numpy.delete(param.numpy(), 4)).all()


def test_sgd_state_round_trip(rng, device):
    param = nn.Parameter(backend.to_device(rng.standard_normal(4), device))
    opt = optim.SGD([param], lr=0.1, momentum=0.9)
    param.grad = backend.to_device(numpy.ones(4), device)
    opt.step()
    other = optim.SGD([param], lr=0.5)
    other.load_state_dict(opt.state_dict())
    assert other.momentum == 0.9 and other.lr == 0.1 and backend.device_of(other.buffers[0]) == device
    numpy.testing.assert_array_equal(backend.to_numpy(other.buffers[0]), backend.to_numpy(opt.buffers[0]))


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


def reference_adam(p, grads, lr, betas, eps, weight_decay, amsgrad, decoupled):
    """PyTorch's documented Adam / AdamW update, written out by hand in NumPy."""
    b1, b2 = betas
    m = numpy.zeros_like(p)
    v = numpy.zeros_like(p)
    v_max = numpy.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        if amsgrad:
            v_max = numpy.maximum(v_max, v)
            v_hat = v_max / (1 - b2 ** t)
        else:
            v_hat = v / (1 - b2 ** t)
        p = p - lr * m_hat / (numpy.sqrt(v_hat) + eps)
    return p


@pytest.mark.parametrize('cls', ['Adam', 'AdamW'])
@pytest.mark.parametrize('weight_decay,amsgrad', [(0.0, False), (0.1, False), (0.05, True)])
def test_adam_matches_hand_computed_update(cls, weight_decay, amsgrad, rng, device):
    p0 = rng.standard_normal((3, 2))
    grads = [rng.standard_normal((3, 2)) * s for s in (1.0, 0.1, 3.0, 0.5, 1e-3)]
    param = nn.Parameter(backend.to_device(p0.copy(), device))
    opt = getattr(optim, cls)([param], lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay,
                              amsgrad=amsgrad)
    for g in grads:
        param.grad = backend.to_device(g.copy(), device)
        opt.step()
    want = reference_adam(p0, grads, 0.01, (0.8, 0.99), 1e-6, weight_decay, amsgrad, cls == 'AdamW')
    numpy.testing.assert_allclose(param.numpy(), want, rtol=1e-12, atol=1e-15)
    assert opt.state[param]['step'] == len(grads)
    assert all(backend.device_of(v) == device for v in opt.state[param].values() if hasattr(v, 'shape'))


def test_adam_float32_keeps_dtype(rng):
    param = nn.Parameter(rng.standard_normal(4).astype(numpy.float32))
    opt = optim.Adam([param])
    param.grad = numpy.ones(4, numpy.float32)
    opt.step()
    assert param.dtype == numpy.float32 and opt.state[param]['exp_avg'].dtype == numpy.float32


def test_param_groups_have_their_own_hyper_parameters(rng):
    a, b = nn.Parameter(numpy.ones(2)), nn.Parameter(numpy.ones(2))
    opt = optim.SGD([{'params': [a]}, {'params': [b], 'lr': 0.5}], lr=0.1)
    a.grad = b.grad = numpy.ones(2)
    opt.step()
    numpy.testing.assert_allclose(a.data, 0.9)
    numpy.testing.assert_allclose(b.data, 0.5)
    schedule = optim.StepLR(opt, step_size=1, gamma=0.5)
    schedule.step()
    assert [g['lr'] for g in opt.param_groups] == [0.05, 0.25]
    opt.lr = 1.0  # sets every group
    assert [g['lr'] for g in opt.param_groups] == [1.0, 1.0]
    with pytest.raises(ValueError, match="more than one param group"):
        optim.SGD([{'params': [a]}, {'params': [a]}], lr=0.1)
    with pytest.raises(ValueError, match=r"unknown hyper-parameters \['beta'\]"):
        optim.Adam([{'params': [a], 'beta': 0.1}])


def test_schedules_drive_adam():
    opt = optim.Adam([nn.Parameter(numpy.ones(1))], lr=0.01)
    cosine = optim.CosineAnnealingLR(opt, T_max=2)
    cosine.step()
    assert opt.lr == pytest.approx(0.005)
    other = optim.CosineAnnealingLR(optim.Adam([nn.Parameter(numpy.ones(1))], lr=0.01), T_max=2)
    other.load_state_dict(cosine.state_dict())
    assert other.optimizer.lr == pytest.approx(0.005)


def test_optimizer_state_dict_round_trip_and_errors(rng):
    params = [nn.Parameter(rng.standard_normal(3)), nn.Parameter(rng.standard_normal((2, 2)))]
    opt = optim.Adam(params, lr=0.1, amsgrad=True)
    for p in params:
        p.grad = numpy.ones(p.shape)
    opt.step()
    state = opt.state_dict()
    assert state['param_groups'][0]['params'] == [0, 1] and state['state'][1]['step'] == 1
    clones = [nn.Parameter(p.data.copy()) for p in params]
    other = optim.Adam(clones, lr=0.5)
    other.load_state_dict(state)
    assert other.lr == 0.1 and other.amsgrad
    numpy.testing.assert_array_equal(other.state[clones[1]]['exp_avg_sq'], opt.state[params[1]]['exp_avg_sq'])
    with pytest.raises(ValueError, match="state of another optimizer"):
        optim.SGD(clones, lr=0.1).load_state_dict(state)
    bad = opt.state_dict()
    bad['state'][1]['exp_avg'] = numpy.zeros(5)
    fresh = optim.Adam(clones, lr=0.5)
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 1 has shape \(5,\)"):
        fresh.load_state_dict(bad)
    assert fresh.state == {} and fresh.lr == 0.5  # nothing changed


def test_state_follows_the_parameter_to_its_device(device):
    model = nn.Linear(2, 2)
    opt = optim.Adam(model.parameters())
    model(minifft.tensor(numpy.ones((1, 2), numpy.float32))).sum().backward()
    opt.step()
    model.to(device)
    opt.zero_grad()
    model(minifft.tensor(numpy.ones((1, 2), numpy.float32), device=device)).sum().backward()
    opt.step()
    for p in model.parameters():
        assert all(backend.device_of(v) == device for v in opt.state[p].values() if hasattr(v, 'shape'))


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
