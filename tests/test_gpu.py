"""The core checks again on 'cuda'; skipped cleanly without a usable GPU."""
import numpy
import pytest

import minifft
from minifft import nn, optim
from minifft import functions as F

pytestmark = pytest.mark.gpu


def test_ops_match_cpu(rng):
    x = rng.standard_normal((4, 3, 8, 8)).astype(numpy.float32)
    cpu = minifft.tensor(x, requires_grad=True)
    gpu = minifft.tensor(x, device='cuda', requires_grad=True)
    for t in (cpu, gpu):
        y = F.max_pool2d(F.relu(t * 2 - 1), 2)
        F.log_softmax(F.flatten(y)).sum().backward()
    numpy.testing.assert_allclose(gpu.grad.get(), cpu.grad, rtol=1e-5, atol=1e-6)


def test_training_step_on_gpu():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).to('cuda')
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = minifft.tensor(numpy.ones((5, 4), numpy.float32), device='cuda')
    labels = minifft.tensor(numpy.array([0, 1, 2, 0, 1]), device='cuda')
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    opt.step()
    assert all(p.device == 'cuda' for p in model.parameters())


def test_to_device_round_trip_keeps_gradient():
    x = minifft.tensor(numpy.arange(3.0), requires_grad=True)
    (x.to('cuda') * 2).sum().backward()
    numpy.testing.assert_allclose(x.grad, [2.0, 2.0, 2.0])
