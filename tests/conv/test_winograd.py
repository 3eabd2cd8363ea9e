"""winograd: F(2x2, 3x3) and F(4x4, 3x3) against the naive reference, forward and both gradients; on
the CPU each through the C transforms (minifft/kernels/winograd.c) and the NumPy code (``cpu_kernels``)."""
import warnings

import numpy
import pytest

from minifft import Tensor, backend, config, conv
from minifft import functions as F
from minifft.conv import ConvGeometry, WinogradConvolution, training_step
from minifft.conv.winograd import TRANSFORMS
from minifft.testing import check_backward
from tests.conv.reference import conv2d_reference

# (S, f, f', H, W, padding)
CASES = [
    (2, 3, 4, 9, 9, 1), (1, 2, 3, 7, 5, 0), (3, 5, 2, 16, 16, 1), (2, 4, 4, 8, 11, 2),
    (1, 1, 1, 3, 3, 0),      # a 1x1 output: one tile, mostly overhang
    (2, 3, 2, 4, 13, 3),     # padding larger than the kernel's reach
    (1, 6, 7, 10, 10, 0),    # an output size divisible by neither tile
    (4, 2, 5, 12, 12, 1),    # divisible by both
    (1, 3, 3, 1, 6, 1),      # one-pixel-high input
    (2, 2, 3, 35, 38, 1),    # rows of 8 tiles and more (the C kernels' vector paths) and a tail
    (1, 2, 2, 17, 32, 0),    # 8 tiles of 4 a row, the last block past the output's edge (30)
    (2, 3, 2, 10, 17, 0),    # 8 tiles of 2 a row, the last block past the output's edge (15)
]


def uses_kernels(cpu_kernels, device, saved):
    """Whether this step ran the C transforms: it must exactly when asked to, on the CPU."""
    assert saved.compiled == (cpu_kernels == 'compiled' and device == 'cpu')
    return saved.compiled


def _check(algorithm, case, device, rng, cpu_kernels, dtype=numpy.float64, tol=1e-10, k=3):
    S, f, fo, H, W, p = case
    x, w = rng.standard_normal((S, f, H, W)), rng.standard_normal((fo, f, k, k))
    g = ConvGeometry(S, f, fo, H, W, k, k, pad_h=p, pad_w=p)
    gy = rng.standard_normal(g.output_shape)
    y, saved = algorithm.forward(*(backend.to_device(a.astype(dtype), device) for a in (x, w)), g)
    uses_kernels(cpu_kernels, device, saved)
    ctx = algorithm.backward_setup(saved, backend.to_device(gy.astype(dtype), device), g)
    got = [y, algorithm.backward_input(ctx, g), algorithm.backward_weight(ctx, g)]
    for name, a, want in zip(('y', 'gx', 'gw'), got, conv2d_reference(x, w, gy, (1, 1), (p, p))):
        a = backend.to_numpy(a)
        assert a.shape == want.shape and a.dtype == dtype, name
        assert numpy.abs(a - want).max() <= tol * max(numpy.abs(want).max(), 1.0), f"{name} {case}"


@pytest.mark.parametrize('tile', [2, 4, None])
@pytest.mark.parametrize('case', CASES)
def test_matches_naive_reference_float64(tile, case, device, cpu_kernels, rng):
    _check(WinogradConvolution(tile=tile), case, device, rng, cpu_kernels)


@pytest.mark.parametrize('tile', [2, 4])
@pytest.mark.parametrize('case', CASES)
def test_matches_naive_reference_float32(tile, case, device, cpu_kernels, rng):
    _check(WinogradConvolution(tile=tile), case, device, rng, cpu_kernels, numpy.float32, tol=2e-5)


# 5 x 5 kernels: F(2x2, 5x5), whose six points (and input transform) are F(4x4, 3x3)'s, and F(4x4, 5x5)
CASES_5 = [
    (2, 3, 4, 9, 9, 2), (1, 2, 3, 7, 5, 1), (1, 1, 1, 5, 5, 0),    # a 1x1 output
    (2, 2, 3, 21, 24, 2),    # rows of 8 tiles and more (the vector paths) and a tail
    (1, 2, 2, 19, 20, 0),    # 8 tiles of 2 a row, the last block past the output's edge (15, 16)
    (1, 2, 3, 34, 35, 0),    # 8 tiles of 4 a row, the last block past the output's edge (30, 31)
    (2, 2, 2, 40, 41, 1),    # more than 8 tiles of 4 and a tail
    (1, 3, 2, 3, 12, 3),     # padding larger than the kernel's reach
]


@pytest.mark.parametrize('tile', [2, 4])
@pytest.mark.parametrize('case', CASES_5)
@pytest.mark.parametrize('dtype, tol', [(numpy.float64, 1e-10), (numpy.float32, 5e-5)])
def test_5x5_matches_naive_reference(tile, case, dtype, tol, device, cpu_kernels, rng):
    _check(WinogradConvolution(tile=tile), case, device, rng, cpu_kernels, dtype, tol, k=5)


def test_5x5_tiles():
    g = ConvGeometry(2, 4, 4, 12, 12, 5, 5)
    assert all(WinogradConvolution(tile=t).supports(g, 'cpu') for t in (None, 2, 4))
    assert WinogradConvolution().output_tile(g, compiled=True) == 4      # 8x8: 4 tiles of 8x8 points, not 16 of 6x6
    assert WinogradConvolution().output_tile(ConvGeometry(2, 4, 4, 6, 6, 5, 5), compiled=True) == 2     # 2x2
    assert not WinogradConvolution().supports(ConvGeometry(2, 4, 4, 12, 12, 7, 7), 'cpu')
    assert not WinogradConvolution().supports(ConvGeometry(2, 4, 4, 12, 12, 5, 3), 'cpu')


@pytest.mark.parametrize('tile', [2, 4])
@pytest.mark.parametrize('case', [(3, 5, 2, 16, 16, 1), (2, 4, 4, 8, 11, 2)])
def test_weight_gradient_alone(tile, case, device, cpu_kernels, rng):
    """accGrad without bprop (an input that needs no gradient: the first layer): the C path then
    makes dM and dU in its own pass instead of beside dV; a second backward_weight gives the same."""
    S, f, fo, H, W, p = case
    x, w = rng.standard_normal((S, f, H, W)), rng.standard_normal((fo, f, 3, 3))
    g = ConvGeometry(S, f, fo, H, W, 3, 3, pad_h=p, pad_w=p)
    gy = rng.standard_normal(g.output_shape)
    algorithm = WinogradConvolution(tile=tile)
    saved = algorithm.forward(backend.to_device(x, device), backend.to_device(w, device), g)[1]
    ctx = algorithm.backward_setup(saved, backend.to_device(gy, device), g)
    want = conv2d_reference(x, w, gy, (1, 1), (p, p))[2]
    for _ in range(2):
        numpy.testing.assert_allclose(backend.to_numpy(algorithm.backward_weight(ctx, g)), want, atol=1e-10)


@pytest.mark.parametrize('tile', [2, 4])
def test_non_contiguous_inputs(tile, device, cpu_kernels, rng):
    """x, w and gy as strided views (every other sample, channel-swapped, transposed)."""
    x = rng.standard_normal((6, 11, 13, 3)).transpose(0, 3, 2, 1)[::2]     # (3, 3, 13, 11)
    w = rng.standard_normal((3, 3, 4, 3))[..., ::-1].transpose(2, 3, 0, 1)  # (4, 3, 3, 3)
    g = ConvGeometry(3, 3, 4, 13, 11, 3, 3, pad_h=1, pad_w=2)
    gy = rng.standard_normal(g.output_shape[::-1]).T
    algorithm = WinogradConvolution(tile=tile)
    y, saved = algorithm.forward(backend.to_device(x, device), backend.to_device(w, device), g)
    uses_kernels(cpu_kernels, device, saved)
    ctx = algorithm.backward_setup(saved, backend.to_device(gy, device), g)
    got = (y, algorithm.backward_input(ctx, g), algorithm.backward_weight(ctx, g))
    for a, want in zip(got, conv2d_reference(x, w, gy, (1, 1), (1, 2))):
        numpy.testing.assert_allclose(backend.to_numpy(a), want, atol=1e-10)


@pytest.mark.parametrize('chunking', ['threads', 'one sample each', 'one thread'])
def test_sample_chunks_match_reference(chunking, cpu_kernels, rng, monkeypatch):
    """The C path runs forward and bprop in chunks of samples (uneven here: 7 samples), on the pool
    or one after the other; every chunk's offsets into V, dM, y and gx must line up."""
    from minifft.conv import winograd
    if chunking == 'one sample each':
        monkeypatch.setattr(winograd, 'CHUNK_BYTES', 1)
        monkeypatch.setattr(winograd, 'MIN_TILES', 1)
    elif chunking == 'one thread':
        monkeypatch.setattr(winograd, 'CHUNK_BYTES', 1)
        monkeypatch.setattr(winograd, 'cpu_thread_pool', lambda: None)
    chunks, _ = winograd._sample_chunks(7, 10 ** 6, 64)
    assert len(chunks) > 1
    for tile in (2, 4):
        _check(WinogradConvolution(tile=tile), (7, 3, 4, 30, 29, 1), 'cpu', rng, cpu_kernels)


def test_nan_propagates_like_the_numpy_code(device, cpu_kernels, rng):
    """IEEE arithmetic in the kernels: a NaN pixel spoils exactly the outputs whose tiles read it."""
    x, w = rng.standard_normal((1, 2, 10, 10)), rng.standard_normal((3, 2, 3, 3))
    x[0, 1, 4, 6] = numpy.nan
    g = ConvGeometry(1, 2, 3, 10, 10, 3, 3, pad_h=1, pad_w=1)
    y, _ = WinogradConvolution(tile=4).forward(backend.to_device(x, device), backend.to_device(w, device), g)
    nan = numpy.isnan(backend.to_numpy(y))
    with config.using(cpu_kernels='off'):
        want = numpy.isnan(WinogradConvolution(tile=4).forward(x, w, g)[0])
    assert nan.any() and (nan == want).all()


@pytest.mark.parametrize('m, r', sorted(TRANSFORMS))
def test_one_dimensional_identity(m, r, rng):
    """A^T [(G g) . (B^T d)] is the correlation of d (m + r - 1 samples) with g (r taps): the matrices."""
    T = {k: numpy.asarray(v) for k, v in TRANSFORMS[(m, r)].items()}
    d, g = rng.standard_normal(m + r - 1), rng.standard_normal(r)
    numpy.testing.assert_allclose(T['AT'] @ ((T['G'] @ g) * (T['BT'] @ d)),
                                  [d[i:i + r] @ g for i in range(m)], atol=1e-13)


@pytest.mark.parametrize('tile', [2, 4])
def test_float32_error_stays_small(tile, device, cpu_kernels, rng):
    """F(4x4, 3x3) amplifies rounding more than F(2x2, 3x3) (its points reach +-2); both stay near
    float32 epsilon on a layer with 64 input channels."""
    x = rng.standard_normal((2, 64, 20, 20))
    w = rng.standard_normal((8, 64, 3, 3)) / 24
    g = ConvGeometry(2, 64, 8, 20, 20, 3, 3, pad_h=1, pad_w=1)
    gy = rng.standard_normal(g.output_shape)
    algorithm = WinogradConvolution(tile=tile)
    got = training_step(algorithm, *(backend.to_device(a.astype(numpy.float32), device) for a in (x, w, gy)), g)
    _, gx, gw = conv2d_reference(x, w, gy, (1, 1), (1, 1))
    y = algorithm.forward(*(backend.to_device(a.astype(numpy.float32), device) for a in (x, w)), g)[0]
    for a, want in ((y, conv2d_reference(x, w, padding=(1, 1))), (got[0], gx), (got[1], gw)):
        a = backend.to_numpy(a)
        assert a.dtype == numpy.float32
        assert numpy.abs(a - want).max() <= 2e-5 * numpy.abs(want).max()


@pytest.mark.parametrize('tile', [2, 4])
def test_5x5_float32_error_stays_small(tile, device, cpu_kernels, rng):
    """F(2x2, 5x5) has F(4x4, 3x3)'s points (+-2), F(4x4, 5x5) adds +-1/2: the error of both stays
    near float32 epsilon on a layer with 64 input channels."""
    x = rng.standard_normal((2, 64, 20, 20))
    w = rng.standard_normal((8, 64, 5, 5)) / 40
    g = ConvGeometry(2, 64, 8, 20, 20, 5, 5, pad_h=2, pad_w=2)
    gy = rng.standard_normal(g.output_shape)
    algorithm = WinogradConvolution(tile=tile)
    y = algorithm.forward(*(backend.to_device(a.astype(numpy.float32), device) for a in (x, w)), g)[0]
    got = training_step(algorithm, *(backend.to_device(a.astype(numpy.float32), device) for a in (x, w, gy)), g)
    _, gx, gw = conv2d_reference(x, w, gy, (1, 1), (2, 2))
    for a, want in ((y, conv2d_reference(x, w, padding=(2, 2))), (got[0], gx), (got[1], gw)):
        a = backend.to_numpy(a)
        assert a.dtype == numpy.float32
        assert numpy.abs(a - want).max() <= 2e-5 * numpy.abs(want).max()


@pytest.mark.parametrize('tile, k', [(2, 3), (4, 3), (2, 5), (4, 5)])
def test_gradients_through_finite_differences(tile, k, device, cpu_kernels, rng):
    arrays = [rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, k, k)), rng.standard_normal(4)]
    algorithm = WinogradConvolution(tile=tile, name=f'winograd-{tile}')
    conv.register(algorithm)
    try:
        # the layer is linear in each input, so central differences have no truncation error and a
        # larger step keeps F(4x4, 5x5)'s rounding (its points reach 8 and 1/8) out of the difference
        check_backward(lambda x, w, b: F.conv2d(x, w, b, padding=k // 2, algo=algorithm.name),
                       [backend.to_device(a, device) for a in arrays], eps=1e-4)
    finally:
        conv.unregister(algorithm.name)


def test_runs_under_a_workspace_limit(device, cpu_kernels, rng):
    """Registered as Chunked(WinogradConvolution()): a layer over the limit runs in pieces."""
    x, w = rng.standard_normal((4, 3, 10, 10)), rng.standard_normal((5, 3, 3, 3))
    xt = Tensor(backend.to_device(x, device), requires_grad=True)
    wt = Tensor(backend.to_device(w, device), requires_grad=True)
    with config.using(workspace_limit=20_000):
        y = F.conv2d(xt, wt, padding=1, algo='winograd')
        assert len(conv.get('winograd').pieces(y.creator.geometry, xt.data)) > 1
        gy = rng.standard_normal(y.shape)
        y.backward(backend.to_device(gy, device))
    for got, want in zip((y.data, xt.grad, wt.grad), conv2d_reference(x, w, gy, (1, 1), (1, 1))):
        numpy.testing.assert_allclose(backend.to_numpy(got), want, atol=1e-10)


@pytest.mark.parametrize('kwargs', [dict(stride=2), dict(dilation=2), dict(groups=2)])
def test_refuses_what_it_cannot_run(kwargs, rng):
    x, w = Tensor(rng.standard_normal((1, 4, 9, 9))), Tensor(rng.standard_normal((4, 4 // kwargs.get('groups', 1), 3, 3)))
    with pytest.raises(ValueError, match=r"conv2d: algo 'winograd' does not support the layer S=1 f=4"):
        F.conv2d(x, w, algo='winograd', **kwargs)
    with pytest.raises(ValueError, match=r"does not support the layer .* k=7"):
        F.conv2d(x, Tensor(rng.standard_normal((2, 4, 7, 7))), algo='winograd')
    with pytest.raises(ValueError, match=r"WinogradConvolution: expected tile None, 2 or 4, got 3"):
        WinogradConvolution(tile=3)


def test_default_winograd_leaves_other_layers_to_auto(rng):
    """As the default (config / --conv) it runs the 3x3 and 5x5 layers; auto takes the rest, warning once."""
    x = Tensor(rng.standard_normal((1, 2, 8, 8)), requires_grad=True)
    w3, w7 = Tensor(rng.standard_normal((2, 2, 3, 3))), Tensor(rng.standard_normal((2, 2, 7, 7)))
    with config.using(conv_algorithm='winograd'):
        assert F.conv2d(x, w3).creator.algorithm.name == 'winograd'
        assert F.conv2d(x, Tensor(rng.standard_normal((2, 2, 5, 5)))).creator.algorithm.name == 'winograd'
        with pytest.warns(UserWarning, match=r"default algo 'winograd' does not support .* k=7 on 'cpu'; auto chooses"):
            y = F.conv2d(x, w7)
        assert y.creator.algorithm.name in conv.names()
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            F.conv2d(x, w7)     # once per layer shape
    numpy.testing.assert_allclose(y.data, conv2d_reference(x.data, w7.data), atol=1e-10)


def test_tile_follows_the_output_size():
    algorithm = WinogradConvolution()
    assert algorithm.output_tile(ConvGeometry(1, 64, 64, 16, 16, 3, 3, pad_h=1, pad_w=1)) == 4
    assert algorithm.output_tile(ConvGeometry(1, 64, 64, 8, 8, 3, 3)) == 2     # 6x6 output
    assert algorithm.output_tile(ConvGeometry(1, 16, 32, 32, 32, 3, 3)) == 2   # transforms dominate
    # the C transforms: fewest transform points, whatever the channels
    assert algorithm.output_tile(ConvGeometry(1, 16, 32, 32, 32, 3, 3), compiled=True) == 4
    assert algorithm.output_tile(ConvGeometry(1, 2, 2, 3, 3, 3, 3, pad_h=1, pad_w=1), compiled=True) == 4
    assert algorithm.output_tile(ConvGeometry(1, 64, 64, 8, 8, 3, 3), compiled=True) == 2     # 6x6: a tie
    assert algorithm.output_tile(ConvGeometry(1, 64, 64, 9, 9, 3, 3), compiled=True) == 4     # 7x7
    assert algorithm.output_tile(ConvGeometry(1, 64, 64, 4, 4, 3, 3), compiled=True) == 2     # 2x2
    fixed = WinogradConvolution(tile=2)
    assert fixed.output_tile(ConvGeometry(1, 8, 8, 8, 8, 3, 3, pad_h=1, pad_w=1), compiled=True) == 2
    assert conv.get('winograd').supports(ConvGeometry(1, 1, 1, 8, 8, 3, 3), 'cpu')
    assert not conv.get('winograd').supports(ConvGeometry(1, 1, 1, 8, 8, 3, 3, 2, 2), 'cpu')


@pytest.mark.parametrize('tile', [2, 4])
@pytest.mark.parametrize('case', [(8, 16, 32, 32, 1), (4, 64, 64, 16, 1), (2, 8, 8, 9, 0)])
def test_workspace_estimate_covers_what_a_step_allocates(tile, case, cpu_kernels):
    """A step's traced peak stays within workspace().peak plus its outputs (y, gx, gw), which the
    estimate leaves to the caller, a tenth for the transforms' scratch rows and 32 KiB of Python
    objects (which decide the smallest case); and reaches 60% of it, less 64 KiB (how many chunks'
    buffers are alive at once varies with the threads' timing: the C path's backward chunks hold
    their dM and dV, which two threads may or may not hold at the same moment), so the estimate
    follows the path that runs: the C transforms allocate no padded copies."""
    from tests.conv.test_workspace import traced_peak
    S, f, fo, n, p = case
    g = ConvGeometry(S, f, fo, n, n, 3, 3, pad_h=p, pad_w=p)
    x, w = numpy.ones((S, f, n, n), numpy.float32), numpy.ones((fo, f, 3, 3), numpy.float32)
    gy = numpy.ones(g.output_shape, numpy.float32)
    algorithm = WinogradConvolution(tile=tile)
    outputs = gy.nbytes + x.nbytes + w.nbytes
    training_step(algorithm, x, w, gy, g)    # first-use objects (thread pool, BLAS controller) outside the trace
    peak = traced_peak(lambda: training_step(algorithm, x, w, gy, g))
    estimate = algorithm.workspace(g, 4).peak + outputs
    assert 0.6 * estimate - 64 * 1024 <= peak <= 1.1 * estimate + 32 * 1024   # + Python objects
