"""Dilation and padding='same'/'valid' through every registered algorithm, against the naive reference."""
import numpy
import pytest

from minifft import Tensor, backend, conv, nn
from minifft import functions as F
from minifft.functions.convolution import Convolution2D
from tests.conv.reference import conv2d_reference
from tests.conv.registered import algorithms, require

ALGOS = algorithms()

# (S, f, f', H, W, kh, kw, stride, padding, dilation, groups)
CASES = [
    (2, 3, 4, 9, 9, 3, 3, (1, 1), (0, 0), (2, 2), 1),     # plain dilation 2
    (1, 2, 3, 11, 8, 3, 2, (1, 1), (2, 1), (3, 2), 1),    # different dilations per axis, padding
    (2, 2, 2, 13, 12, 3, 3, (2, 3), (1, 2), (2, 2), 1),   # dilation with stride
    (2, 4, 4, 10, 10, 2, 3, (1, 1), (1, 1), (4, 1), 2),   # groups, even kernel
    (1, 1, 1, 5, 5, 3, 3, (1, 1), (0, 0), (2, 2), 1),     # span = input: 1x1 output
]


def conv_node(y):
    """The Convolution2D node that made y (padding='same' with an odd span - 1 crops after it)."""
    return y.creator if isinstance(y.creator, Convolution2D) else y.creator.inputs[0].creator


def run(algo, device, rng, x, w, **kwargs):
    """y, gy, gx, gw and the layer's geometry, checking the algorithm ran as asked."""
    xt, wt = Tensor(x, device=device, requires_grad=True), Tensor(w, device=device, requires_grad=True)
    y = F.conv2d(xt, wt, algo=algo, **kwargs)
    node = conv_node(y)
    assert node.algorithm.name == algo
    geometry = node.geometry
    gy = rng.standard_normal(y.shape)
    y.backward(backend.to_device(gy, device))
    return y, gy, backend.to_numpy(xt.grad), backend.to_numpy(wt.grad), geometry


def grouped_reference(x, w, gy, stride, padding, dilation, groups):
    """The reference per channel group (it knows no groups), concatenated."""
    fi, fo = x.shape[1] // groups, w.shape[0] // groups
    parts = [conv2d_reference(x[:, i * fi:(i + 1) * fi], w[i * fo:(i + 1) * fo], gy[:, i * fo:(i + 1) * fo],
                              stride, padding, dilation) for i in range(groups)]
    return [numpy.concatenate(p, axis=c) for p, c in zip(zip(*parts), (1, 1, 0))]


def assert_close(got, want, what):
    assert got.shape == want.shape, what
    assert numpy.abs(got - want).max() <= 1e-10 * max(numpy.abs(want).max(), 1.0), what


@pytest.mark.parametrize('algo', ALGOS)
@pytest.mark.parametrize('case', CASES)
def test_dilation_matches_naive_reference(algo, case, device, cpu_kernels, rng):
    S, f, fo, H, W, kh, kw, stride, padding, dilation, groups = case
    require(algo, device, (S, f, H, W), (fo, f // groups, kh, kw), stride=stride, padding=padding,
            dilation=dilation, groups=groups)
    x, w = rng.standard_normal((S, f, H, W)), rng.standard_normal((fo, f // groups, kh, kw))
    y, gy, gx, gw, g = run(algo, device, rng, x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    ref = grouped_reference(x, w, gy, stride, padding, dilation, groups)
    for name, got, want in zip(('y', 'gx', 'gw'), (y.numpy(), gx, gw), ref):
        assert_close(got, want, f"{algo} {name} {case}")


@pytest.mark.parametrize('algo', ALGOS)
@pytest.mark.parametrize('k,d', [((3, 3), (1, 1)), ((2, 4), (1, 1)), ((3, 2), (2, 3)), ((1, 1), (1, 1))])
def test_same_padding_keeps_the_size_and_pads_as_pytorch(algo, k, d, device, rng):
    require(algo, device, (2, 3, 7, 8), (2, 3) + k, padding='same', dilation=d)
    x, w = rng.standard_normal((2, 3, 7, 8)), rng.standard_normal((2, 3) + k)
    y, gy, gx, gw, g = run(algo, device, rng, x, w, padding='same', dilation=d)
    assert y.shape == (2, 2, 7, 8)
    # PyTorch: total (k - 1) * d zeros per axis, the odd one after the input
    total = [(kk - 1) * dd for kk, dd in zip(k, d)]
    before = [t // 2 for t in total]
    xpad = numpy.pad(x, ((0, 0), (0, 0), (before[0], total[0] - before[0]), (before[1], total[1] - before[1])))
    ref_y, ref_gx, ref_gw = conv2d_reference(xpad, w, gy, dilation=d)
    ref_gx = ref_gx[:, :, before[0]:before[0] + 7, before[1]:before[1] + 8]
    for name, got, want in (('y', y.numpy(), ref_y), ('gx', gx, ref_gx), ('gw', gw, ref_gw)):
        assert_close(got, want, f"{algo} {name} k={k} d={d}")


def test_valid_padding_is_zero(rng):
    x, w = rng.standard_normal((1, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3))
    numpy.testing.assert_array_equal(F.conv2d(Tensor(x), Tensor(w), padding='valid', algo='direct').numpy(),
                                     F.conv2d(Tensor(x), Tensor(w), padding=0, algo='direct').numpy())


def test_dilated_fft_splits_under_a_workspace_limit(rng):
    x, w = rng.standard_normal((6, 3, 12, 12)), rng.standard_normal((4, 3, 3, 3))
    results = []
    try:
        for limit in (None, 24 * 1024):
            conv.set_workspace_limit(limit)
            y, gy, gx, gw, g = run('fft', 'cpu', numpy.random.default_rng(0), x, w, padding=2, dilation=2)
            if limit:
                assert len(conv.get('fft').pieces(g, x)) > 1
            results.append((y.numpy(), gx, gw))
    finally:
        conv.set_workspace_limit(None)
    for whole, split in zip(*results):
        numpy.testing.assert_allclose(split, whole, rtol=1e-12, atol=1e-12)


def test_conv2d_layer_with_same_padding_and_dilation(rng):
    layer = nn.Conv2d(3, 4, 3, padding='same', dilation=2, algo='fft')
    y = layer(Tensor(rng.standard_normal((2, 3, 9, 9)).astype(numpy.float32)))
    assert y.shape == (2, 4, 9, 9) and y.dtype == numpy.float32
    assert 'dilation=2' in repr(layer) and 'padding=same' in repr(layer)
    assert 'd=2' in conv_node(y).geometry.describe()


def test_errors():
    x, w = Tensor(numpy.ones((1, 1, 5, 5))), Tensor(numpy.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="padding='same' needs stride 1, got stride"):
        F.conv2d(x, w, stride=2, padding='same')
    with pytest.raises(ValueError, match="expected padding as an int, a pair of ints, 'same' or 'valid', got 'full'"):
        F.conv2d(x, w, padding='full')
    with pytest.raises(ValueError, match="expected dilation >= 1"):
        F.conv2d(x, w, dilation=0)
    with pytest.raises(ValueError, match=r"kernel \(3, 3\) \(spanning \(7, 7\) with dilation \(3, 3\)\) is larger"):
        F.conv2d(x, w, dilation=3)
    with pytest.raises(ValueError, match="Conv2d: padding='same' needs stride 1"):
        nn.Conv2d(1, 1, 3, stride=2, padding='same')
