import numpy
import pytest

import minifft
from minifft import backend, nn
from minifft.testing import check_backward


def test_batchnorm1d_running_stats_and_eval_by_hand(device):
    bn = nn.BatchNorm1d(2).to(device)
    x = minifft.tensor(numpy.array([[1.0, 2.0], [3.0, 6.0]], numpy.float32), device=device)
    bn(x)
    bn(x)
    # per step: r = 0.9 r + 0.1 stat; means [2, 4], unbiased variances [2, 8]
    numpy.testing.assert_allclose(backend.to_numpy(bn.running_mean), [0.38, 0.76], rtol=1e-6)
    numpy.testing.assert_allclose(backend.to_numpy(bn.running_var), [0.81 + 0.18 + 0.2, 0.81 + 0.72 + 0.8],
                                  rtol=1e-6)
    assert int(backend.to_numpy(bn.num_batches_tracked)) == 2
    bn.eval()
    y = bn(x).numpy()
    numpy.testing.assert_allclose(y, (numpy.array([[1, 2], [3, 6]]) - [0.38, 0.76]) / numpy.sqrt(
        numpy.array([1.19, 2.33]) + 1e-5), rtol=1e-5)
    before = backend.to_numpy(bn.running_mean).copy()
    bn(x)  # eval leaves the running statistics alone
    numpy.testing.assert_array_equal(backend.to_numpy(bn.running_mean), before)


def test_momentum_none_is_the_cumulative_average(device):
    bn = nn.BatchNorm1d(2, momentum=None).to(device)
    x = numpy.array([[1.0, 2.0], [3.0, 6.0]], numpy.float32)
    bn(minifft.tensor(x, device=device))
    bn(minifft.tensor(2 * x, device=device))
    # means [2, 4] and [4, 8] -> [3, 6]; unbiased variances [2, 8] and [8, 32] -> [5, 20]
    numpy.testing.assert_allclose(backend.to_numpy(bn.running_mean), [3, 6], rtol=1e-6)
    numpy.testing.assert_allclose(backend.to_numpy(bn.running_var), [5, 20], rtol=1e-6)


def test_batchnorm2d_normalises_each_channel_over_batch_and_space(rng, device, cpu_kernels):
    bn = nn.BatchNorm2d(3).to(device)
    bn.weight.data[...] = backend.to_device(numpy.array([1, 2, 3], numpy.float32), device)
    x = rng.standard_normal((4, 3, 5, 5)).astype(numpy.float32) * 3 + 2
    y = bn(minifft.tensor(x, device=device)).numpy()
    numpy.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    numpy.testing.assert_allclose(y.var(axis=(0, 2, 3)), numpy.array([1, 4, 9]) * x.var(axis=(0, 2, 3)) /
                                  (x.var(axis=(0, 2, 3)) + 1e-5), rtol=1e-4)
    numpy.testing.assert_allclose(backend.to_numpy(bn.running_mean), 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5)


def test_without_running_stats_eval_uses_batch_statistics(rng):
    bn = nn.BatchNorm2d(2, affine=False, track_running_stats=False).eval()
    assert list(bn.state_dict()) == [] and bn.running_mean is None
    x = rng.standard_normal((3, 2, 4, 4)).astype(numpy.float32)
    y = bn(minifft.tensor(x)).numpy()
    numpy.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)


def test_state_dict_has_pytorch_keys_and_round_trips():
    a, b = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    assert list(a.state_dict()) == ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    a(minifft.tensor(numpy.random.default_rng(0).standard_normal((2, 3, 2, 2)).astype(numpy.float32)))
    b.load_state_dict(a.state_dict())
    numpy.testing.assert_array_equal(b.running_var, a.running_var)
    assert int(b.num_batches_tracked) == 1


@pytest.mark.parametrize('training', [True, False])
def test_layer_gradient_check(training, rng, device, cpu_kernels):
    bn = nn.BatchNorm2d(2)
    bn.running_mean[...] = [0.5, -0.2]
    bn.running_var[...] = [1.5, 0.7]
    bn.train(training).to(device)
    x = backend.to_device(rng.standard_normal((3, 2, 3, 2)), device)

    def f(t):
        bn.running_mean = bn.running_mean.astype(numpy.float64)  # the check runs in float64
        bn.running_var = bn.running_var.astype(numpy.float64)
        bn.weight.data = bn.weight.data.astype(numpy.float64)
        bn.bias.data = bn.bias.data.astype(numpy.float64)
        return bn(t)
    check_backward(f, [x], atol=1e-6, rtol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="BatchNorm2d: expected num_features"):
        nn.BatchNorm2d(0)
    with pytest.raises(ValueError, match="BatchNorm2d: expected input with 4 dimensions"):
        nn.BatchNorm2d(2)(minifft.tensor(numpy.ones((2, 2), numpy.float32)))
    with pytest.raises(ValueError, match="BatchNorm1d: expected 3 channels"):
        nn.BatchNorm1d(3)(minifft.tensor(numpy.ones((2, 2), numpy.float32)))
    with pytest.raises(ValueError, match="momentum in"):
        nn.BatchNorm1d(3, momentum=2)
