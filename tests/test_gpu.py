"""The core checks on 'cuda' against the CPU. They run under the CuPy stand-in too; what only a real
GPU can show (cuFFT's numerics, asynchrony) is ``gpu``-marked."""
import numpy
import pytest

import minifft
from minifft import backend, nn, optim
from minifft import functions as F


@pytest.fixture(autouse=True)
def cuda():
    if not backend.cuda_available():
        pytest.skip("needs 'cuda' (a GPU or the CuPy stand-in)")


def test_ops_match_cpu(rng):
    x = rng.standard_normal((4, 3, 8, 8)).astype(numpy.float32)
    cpu = minifft.tensor(x, device='cpu', requires_grad=True)
    gpu = minifft.tensor(x, device='cuda', requires_grad=True)
    for t in (cpu, gpu):
        y = F.max_pool2d(F.relu(t * 2 - 1), 2)
        F.log_softmax(F.flatten(y)).sum().backward()
    assert backend.device_of(gpu.grad) == 'cuda'
    numpy.testing.assert_allclose(gpu.grad.get(), cpu.grad, rtol=1e-5, atol=1e-6)


def test_training_step_on_gpu():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).to('cuda')
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = minifft.tensor(numpy.ones((5, 4), numpy.float32), device='cuda')
    labels = minifft.tensor(numpy.array([0, 1, 2, 0, 1]), device='cuda')
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    opt.step()
    assert all(p.device == 'cuda' and backend.device_of(p.grad) == 'cuda' for p in model.parameters())
    assert all(backend.device_of(b) == 'cuda' for b in opt.buffers)


def test_to_device_round_trip_keeps_gradient():
    x = minifft.tensor(numpy.arange(3.0), device='cpu', requires_grad=True)
    (x.to('cuda') * 2).sum().backward()
    numpy.testing.assert_allclose(x.grad, [2.0, 2.0, 2.0])


@pytest.mark.gpu
def test_cufft_float32_conv_error_is_the_papers(rng):
    """cuFFT's float32 rounding (the stand-in computes with pocketfft): fprop within ~1e-5 relative
    of a float64 reference, as Mathieu et al. report."""
    x = rng.standard_normal((8, 16, 32, 32))
    w = rng.standard_normal((16, 16, 5, 5))
    want = F.conv2d(minifft.tensor(x, device='cpu'), minifft.tensor(w, device='cpu'), algo='direct').numpy()
    got = F.conv2d(minifft.tensor(x.astype(numpy.float32), device='cuda'),
                   minifft.tensor(w.astype(numpy.float32), device='cuda'), algo='fft').numpy()
    assert numpy.linalg.norm(got - want) / numpy.linalg.norm(want) < 1e-5


@pytest.mark.gpu
def test_synchronize_waits_for_queued_work():
    """Asynchrony: only a real GPU queues work; after synchronize an event recorded last is done."""
    cupy = backend.cupy
    a = cupy.ones((4096, 4096), numpy.float32)
    for _ in range(10):
        a = a @ a * 1e-4
    end = cupy.cuda.Event()
    end.record()
    backend.synchronize('cuda')
    assert end.done
