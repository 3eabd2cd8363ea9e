"""Grouped and depthwise convolution, both algorithms, against the reference per group."""
import numpy
import pytest

from minifft import Tensor, backend, nn
from minifft import functions as F
from minifft.testing import check_backward
from tests.conv.reference import conv2d_reference
from tests.conv.registered import algorithms, require


def grouped_reference(x, w, gy, stride, padding, groups):
    fg, fog = x.shape[1] // groups, w.shape[0] // groups
    parts = [conv2d_reference(x[:, i * fg:(i + 1) * fg], w[i * fog:(i + 1) * fog], gy[:, i * fog:(i + 1) * fog],
                              stride, padding) for i in range(groups)]
    return [numpy.concatenate([p[j] for p in parts], axis=1 if j < 2 else 0) for j in range(3)]


CASES = [  # (S, f, f', H, W, k, stride, padding, groups)
    (2, 4, 6, 9, 9, 3, 1, 1, 2), (2, 6, 6, 8, 7, 5, 1, 2, 6), (1, 3, 6, 11, 11, 3, 2, 1, 3),
    (2, 8, 4, 7, 9, 2, 1, 0, 4), (1, 5, 10, 13, 13, 7, 3, 3, 5), (3, 4, 4, 6, 6, 6, 1, 0, 2),
    (2, 4, 4, 9, 8, 3, 2, 1, 4), (1, 4, 4, 7, 7, 4, 1, 0, 4),   # depthwise: strided, even kernel
]


@pytest.mark.parametrize('algo', algorithms())
@pytest.mark.parametrize('case', CASES)
def test_groups_match_reference(algo, case, device, cpu_kernels, rng):
    S, f, fo, H, W, k, stride, padding, groups = case
    require(algo, device, (S, f, H, W), (fo, f // groups, k, k), stride=stride, padding=padding, groups=groups)
    x, w = rng.standard_normal((S, f, H, W)), rng.standard_normal((fo, f // groups, k, k))
    xt, wt = Tensor(x, device=device, requires_grad=True), Tensor(w, device=device, requires_grad=True)
    y = F.conv2d(xt, wt, stride=stride, padding=padding, algo=algo, groups=groups)
    gy = rng.standard_normal(y.shape)
    y.backward(backend.to_device(gy, device))
    for got, want in zip((y.data, xt.grad, wt.grad), grouped_reference(x, w, gy, (stride,) * 2, (padding,) * 2, groups)):
        got = backend.to_numpy(got)
        assert got.shape == want.shape
        assert numpy.abs(got - want).max() <= 1e-10 * max(numpy.abs(want).max(), 1.0)


@pytest.mark.parametrize('algo', algorithms())
def test_depthwise_layer_gradients(algo, device, rng):
    require(algo, device, (2, 3, 5, 5), (3, 1, 3, 3), padding=1, groups=3)
    arrays = [rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((3, 1, 3, 3)), rng.standard_normal(3)]
    check_backward(lambda x, w, b: F.conv2d(x, w, b, padding=1, algo=algo, groups=3),
                   [backend.to_device(a, device) for a in arrays])
    layer = nn.Conv2d(4, 8, 3, groups=4, algo=algo).to(device)
    assert layer.weight.shape == (8, 1, 3, 3)
    assert layer(Tensor(numpy.zeros((1, 4, 6, 6), numpy.float32), device=device)).shape == (1, 8, 4, 4)


def test_group_errors():
    x = Tensor(numpy.zeros((1, 6, 8, 8)))
    with pytest.raises(ValueError, match=r"conv2d: groups=4 must divide the 6 input and 4 output channels"):
        F.conv2d(x, Tensor(numpy.zeros((4, 1, 3, 3))), groups=4)
    with pytest.raises(ValueError, match=r"conv2d: x has 6 channels but w expects 4 .*groups=2"):
        F.conv2d(x, Tensor(numpy.zeros((4, 2, 3, 3))), groups=2)
    with pytest.raises(ValueError, match=r"Conv2d: groups=4 must divide the 6 input and 8 output channels"):
        nn.Conv2d(6, 8, 3, groups=4)
