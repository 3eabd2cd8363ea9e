import numpy
import pytest

import minifft
from minifft import Tensor, backend
from minifft import functions as F
from minifft.testing import check_backward


@pytest.mark.parametrize('shape', [(5, 3), (4, 3, 5), (3, 2, 4, 3)])
@pytest.mark.parametrize('affine', [True, False])
def test_batch_norm_training_gradients(shape, affine, rng, device, cpu_kernels):
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
def test_batch_norm_eval_gradients(shape, rng, device, cpu_kernels):
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


def reference_batch_norm(x, gamma, beta, gy, eps, training, rm, rv):
    """y and the three gradients in float64 from the formulas, summing over all but axis 1."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    x, gy = x.astype(numpy.float64), gy.astype(numpy.float64)
    mean, var = (x.mean(axis=axes), x.var(axis=axes)) if training else (rm, rv)
    inv = 1 / numpy.sqrt(var + eps)
    xhat = (x - mean.reshape(shape)) * inv.reshape(shape)
    y = xhat * gamma.reshape(shape) + beta.reshape(shape)
    gbeta, ggamma = gy.sum(axis=axes), (gy * xhat).sum(axis=axes)
    m = x.size // x.shape[1]
    g = gy - (gbeta.reshape(shape) / m + xhat * ggamma.reshape(shape) / m if training else 0)
    return y, (gamma * inv).reshape(shape) * g, ggamma, gbeta, mean, var


@pytest.mark.parametrize('shape', [(3, 5, 7), (4, 3, 5, 7), (2, 6, 1, 1), (1, 2, 3, 5), (2, 3, 9, 8)])
@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
@pytest.mark.parametrize('training', [True, False])
def test_batch_norm_paths_against_the_formulas(shape, dtype, training, rng, cpu_kernels):
    """Both CPU paths (C kernels and NumPy) against float64 formulas: odd shapes, one pixel per
    plane, one sample, a non-contiguous input and gradient, running statistics updated in place."""
    c = shape[1]
    x = (rng.standard_normal(shape[::-1]) * 3 + 2).astype(dtype).T
    gy = rng.standard_normal(shape[::-1]).astype(dtype).T
    assert not x.flags.c_contiguous and not gy.flags.c_contiguous
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    rm, rv = rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype)
    ry, rgx, rggamma, rgbeta, mean, var = reference_batch_norm(x, gamma, beta, gy, 1e-5, training, rm, rv)
    m = x.size // c
    expected_rm, expected_rv = (0.9 * rm + 0.1 * mean, 0.9 * rv + 0.1 * var * m / (m - 1)) if training else (rm, rv)
    t, g, b = (Tensor(a, requires_grad=True) for a in (x, gamma, beta))
    y = F.batch_norm(t, rm, rv, g, b, training=training, momentum=0.1)
    assert y.dtype == dtype
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == numpy.float32 else dict(rtol=1e-11, atol=1e-11)
    numpy.testing.assert_allclose(y.numpy(), ry, **tol)
    numpy.testing.assert_allclose(rm, expected_rm, **tol)
    numpy.testing.assert_allclose(rv, expected_rv, **tol)
    y.backward(gy)
    for got, want in ((t.grad, rgx), (g.grad, rggamma), (b.grad, rgbeta)):
        assert got.dtype == dtype
        numpy.testing.assert_allclose(got, want, **(dict(rtol=1e-4, atol=1e-4) if dtype == numpy.float32 else tol))


def test_batch_norm_nan_stays_in_its_channel(cpu_kernels):
    """A NaN makes its channel's statistics, outputs and gradients NaN, and no other channel's."""
    x = numpy.arange(2 * 3 * 2 * 2, dtype=numpy.float32).reshape(2, 3, 2, 2)
    x[1, 1, 0, 1] = numpy.nan
    t = Tensor(x, requires_grad=True)
    y = F.batch_norm(t, training=True)
    y.backward(numpy.ones_like(x))
    out, grad = y.numpy(), t.grad
    assert numpy.isnan(out[:, 1]).all() and numpy.isnan(grad[:, 1]).all()
    assert numpy.isfinite(out[:, [0, 2]]).all() and numpy.isfinite(grad[:, [0, 2]]).all()


@pytest.mark.parametrize('threads', [False, True])
def test_batch_norm_kernels_in_chunks_of_channels(threads, rng, cpu_kernels, monkeypatch):
    """Channels split across the thread pool give what one piece gives."""
    if threads:
        monkeypatch.setattr('minifft.functions._kernels.PARALLEL_MIN_WORK', 0)
    x = rng.standard_normal((3, 5, 4, 6))
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    ry, rgx, rggamma, rgbeta, _, _ = reference_batch_norm(x, gamma, beta, numpy.ones_like(x), 1e-5, True, None, None)
    t = Tensor(x, requires_grad=True)
    y = F.batch_norm(t, weight=gamma, bias=beta, training=True)
    y.backward(numpy.ones_like(x))
    numpy.testing.assert_allclose(y.numpy(), ry, rtol=1e-11, atol=1e-11)
    numpy.testing.assert_allclose(t.grad, rgx, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize('shape', [(4, 3), (4, 3, 5, 2)])
def test_eval_backward_uses_the_statistics_of_its_forward(shape, rng, cpu_kernels):
    """A training step between an eval forward and its backward changes the running statistics in
    place; the eval graph's gradient is still that of the function it computed."""
    x = rng.standard_normal(shape)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    gamma, beta, gy = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(shape)
    grads = []
    for step_between in (False, True):
        running = rm.copy(), rv.copy()
        t, g, b = (Tensor(a, requires_grad=True) for a in (x, gamma, beta))
        y = F.batch_norm(t, *running, g, b, training=False)
        if step_between:
            F.batch_norm(Tensor(x * 5 + 3), *running, training=True, momentum=0.9)
            assert not numpy.allclose(running[0], rm)
        y.backward(gy)
        grads.append((t.grad, g.grad, b.grad))
    for got, want in zip(grads[1], grads[0]):
        numpy.testing.assert_array_equal(got, want)


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


def test_batch_norm_auto_takes_the_kernels_only_where_they_pay(rng):
    """Under cpu_kernels='auto' small inputs take the NumPy code (the call's fixed cost is larger
    than the pass it saves); 'on' takes the kernels whatever the size."""
    from minifft.functions import normalization
    from minifft.kernels import host
    if host.compiler() is None:
        pytest.skip("no C compiler: the CPU kernels cannot be built here")
    small = rng.standard_normal((2, 3, 4, 4))
    large = rng.standard_normal((2, 4, normalization.MIN_KERNEL_SIZE // 8, 1))
    for setting, x, compiled in (('auto', small, False), ('auto', large, True), ('on', small, True)):
        with minifft.config.using(cpu_kernels=setting):
            y = F.batch_norm(Tensor(x, requires_grad=True), training=True)
        assert (y.creator.lib is not None) == compiled, (setting, x.shape)
