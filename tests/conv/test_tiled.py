"""The tiled FFT (overlap-save / overlap-add): tiling edge cases against the naive reference, the tile
rule, and that the transform size is the tile's, not the image's."""
import numpy
import pytest
import scipy.fft

from minifft import Tensor, backend, conv
from minifft import functions as F
from minifft.conv import ConvGeometry, TiledFFT
from minifft.conv.tiled import tile_axis, tile_size
from minifft.testing import check_backward
from tests.conv.reference import conv2d_reference


def run(algorithm, x, w, gy, g):
    y, saved = algorithm.forward(x, w, g)
    ctx = algorithm.backward_setup(saved, gy, g)
    return y, algorithm.backward_input(ctx, g), algorithm.backward_weight(ctx, g), saved


def check_against_reference(algorithm, g, device, rng):
    x = rng.standard_normal((g.batch, g.in_channels, g.height, g.width))
    w = rng.standard_normal((g.out_channels, g.group_in, g.kernel_h, g.kernel_w))
    gy = rng.standard_normal(g.output_shape)
    xd, wd, gyd = (backend.to_device(a, device) for a in (x, w, gy))
    y, gx, gw, saved = run(algorithm, xd, wd, gyd, g)
    if g.groups == 1:
        want = conv2d_reference(x, w, gy, padding=(g.pad_h, g.pad_w))
    else:  # one reference per group
        parts = [conv2d_reference(x[:, i * g.group_in:(i + 1) * g.group_in], w[i * g.group_out:(i + 1) * g.group_out],
                                  gy[:, i * g.group_out:(i + 1) * g.group_out], padding=(g.pad_h, g.pad_w))
                 for i in range(g.groups)]
        want = [numpy.concatenate([p[j] for p in parts], axis=0 if j == 2 else 1) for j in range(3)]
    for name, got, ref in zip(('y', 'gx', 'gw'), (y, gx, gw), want):
        got = backend.to_numpy(got)
        assert got.shape == ref.shape, name
        assert numpy.abs(got - ref).max() <= 1e-10 * max(numpy.abs(ref).max(), 1.0), f"{name} {g.describe()}"
    return saved


# tiles of 8 and more (T >= 2(k - 1)) on images of any size: small images get many tiles
SMALL_TILES = TiledFFT(min_tile=8, share=0.5, min_tiles=1)

# (S, f, f', H, W, kh, kw, ph, pw, groups), with SMALL_TILES' tiling each exercises
TILING_CASES = [
    (2, 3, 2, 29, 23, 3, 3, 0, 0, 1),      # outputs not multiples of the tile step (27 = 4*6 + 3, 21)
    (1, 2, 3, 40, 40, 5, 5, 0, 0, 1),      # k = 5 on T = 8: tile step 4, a tile spans 2 blocks
    (2, 2, 2, 30, 20, 1, 1, 0, 0, 1),      # k = 1: tiles do not overlap
    (1, 2, 2, 50, 45, 9, 8, 0, 0, 1),      # k close to T (T = 16, step 8 and 9)
    (2, 2, 3, 6, 7, 3, 3, 0, 0, 1),        # one tile per axis
    (2, 2, 2, 20, 18, 3, 2, 5, 4, 1),      # padding larger than k
    (1, 2, 2, 9, 40, 3, 3, 7, 1, 1),       # padding larger than k: one tile on one axis, several on the other
    (2, 4, 6, 26, 26, 3, 3, 1, 1, 2),      # groups
    (1, 3, 3, 21, 21, 3, 3, 1, 1, 3),      # depthwise
]


@pytest.mark.parametrize('case', TILING_CASES)
def test_tiled_matches_naive_reference(case, device, cpu_kernels, rng):
    S, f, fo, H, W, kh, kw, ph, pw, G = case
    g = ConvGeometry(S, f, fo, H, W, kh, kw, pad_h=ph, pad_w=pw, groups=G)
    check_against_reference(SMALL_TILES, g, device, rng)


def test_cases_cover_the_tilings():
    rules = [SMALL_TILES.tiling(ConvGeometry(S, f, fo, H, W, kh, kw, pad_h=ph, pad_w=pw), scipy.fft)
             for S, f, fo, H, W, kh, kw, ph, pw, _ in TILING_CASES]
    axes = [a for r in rules for a in r]
    assert any(a.count == 1 for a in axes) and any(a.count > 3 for a in axes)
    assert any(a.blocks > 1 for a in axes)                        # tiles assembled from several blocks
    assert any(a.step == a.size for a in axes)                    # k = 1
    m = [H + 2 * ph - kh + 1 for _, _, _, H, _, kh, _, ph, _, _ in TILING_CASES]
    assert any(mi % r[0].step for mi, r in zip(m, rules) if r[0].count > 1)   # a partial last tile


def test_tile_rule():
    # smallest power of two >= 16 with T - k + 1 >= 0.8 T; one whole-axis tile below 4 such tiles
    assert [tile_size(512, k, 0, scipy.fft) for k in (1, 3, 4, 5, 7, 8, 11, 13, 14)] == [16, 16, 16, 32, 32, 64, 64,
                                                                                           64, 128]
    assert tile_size(64, 3, 0, scipy.fft) == 16           # 64 = 4 tiles of 16
    assert tile_size(62, 3, 0, scipy.fft) == 64           # below 4 tiles: next_fast_len(62)
    assert tile_size(60, 5, 3, scipy.fft) == 72           # 66 < 4 * 32: the whole padded axis, 72 (2-3-5 smooth)
    assert tile_size(7, 3, 0, scipy.fft, 8, 0.5, 1) == 8  # one tile covers 7: next_fast_len(7) = 8 for scipy
    a = tile_axis(64, 3, 1, 8)
    assert (a.size, a.step, a.count) == (8, 6, 11)        # 64 outputs in tiles of 6


def test_transform_size_is_the_tile_size_not_the_image_size(device, rng):
    g = ConvGeometry(1, 2, 2, 150, 130, 3, 5, pad_h=1, pad_w=2)
    saved = check_against_reference(TiledFFT(), g, device, rng)    # the registered rule
    assert tuple(saved.inner.s) == (16, 32)
    assert (saved.rows.count, saved.cols.count) == (11, 5)   # ceil(150/14), ceil(130/28)
    assert saved.tile_geometry.batch == 11 * 5
    assert conv.FFTConvolution.transform_shape(g, scipy.fft)[0] >= 150   # what the untiled fft would use


def test_registered_through_the_wrappers_strides_dilation():
    algorithm = conv.get('fft-tiled')
    assert isinstance(algorithm.inner.inner.inner, TiledFFT)
    strided = ConvGeometry(2, 3, 4, 33, 33, 5, 5, 2, 2, 2, 2, dilation_h=2, dilation_w=2)
    assert algorithm.supports(strided, 'cpu')
    assert not TiledFFT().supports(strided, 'cpu')           # the wrappers reduce it to stride 1


def test_dilated_strided_through_the_registered_algorithm(device, rng):
    x = rng.standard_normal((2, 2, 31, 27))
    w = rng.standard_normal((3, 2, 3, 3))
    xt, wt = Tensor(x, device=device, requires_grad=True), Tensor(w, device=device, requires_grad=True)
    y = F.conv2d(xt, wt, stride=2, padding=3, dilation=2, algo='fft-tiled')
    gy = rng.standard_normal(y.shape)
    y.backward(backend.to_device(gy, device))
    ref = conv2d_reference(x, w, gy, (2, 2), (3, 3), (2, 2))
    for got, want in zip((y.data, xt.grad, wt.grad), ref):
        numpy.testing.assert_allclose(backend.to_numpy(got), want, atol=1e-10)


def test_cost_and_workspace_count_the_overlap():
    tiled, fft = SMALL_TILES, conv.FFTConvolution()
    g = ConvGeometry(4, 8, 8, 64, 64, 5, 5)               # T = 8, step 4: 4x the bins of the outputs
    ct, cf = tiled.cost(g), fft.cost(g)
    rows, cols = tiled.tiling(g, scipy.fft)
    bins_tiled = rows.count * cols.count * 8 * 5
    assert ct.total('spectral') == 3 * 8 * 4 * 8 * 8 * bins_tiled    # three passes, every tile's bins
    assert ct.total('spectral') > cf.total('spectral')    # the overlap costs products
    space = tiled.workspace(g, 4)
    assert space.peak > space.kept > 0 and 'x tiles and block buffer (forward)' in space.terms
    # the tiles' real buffers hold every overlapping tile: more than the input itself
    assert space.terms['gx tiles and overlap-add buffer'] > 4 * 8 * 64 * 64 * 4


def test_gradient_check(device, rng):
    x = backend.to_device(rng.standard_normal((1, 2, 11, 9)), device)
    w = backend.to_device(rng.standard_normal((2, 2, 3, 3)), device)
    check_backward(lambda x, w: F.conv2d(x, w, padding=(2, 1), algo='fft-tiled'), [x, w])


def test_strided_dilated_on_many_tiles_through_the_wrappers(device, rng):
    algorithm = conv.Chunked(conv.Dilated(conv.Polyphase(SMALL_TILES)))
    g = ConvGeometry(2, 2, 3, 41, 37, 3, 2, 2, 3, 3, 1, dilation_h=2, dilation_w=3)
    x, w, gy = (rng.standard_normal(s) for s in ((2, 2, 41, 37), (3, 2, 3, 2), g.output_shape))
    y, saved = algorithm.forward(*(backend.to_device(a, device) for a in (x, w)), g)
    ctx = algorithm.backward_setup(saved, backend.to_device(gy, device), g)
    got = (y, algorithm.backward_input(ctx, g), algorithm.backward_weight(ctx, g))
    for a, want in zip(got, conv2d_reference(x, w, gy, (2, 3), (3, 1), (2, 3))):
        numpy.testing.assert_allclose(backend.to_numpy(a), want, atol=1e-10)


def test_one_tile_is_the_fft_for_auto(rng, monkeypatch):
    """Where both axes are one whole tile fft-tiled does the fft's work: auto leaves it out; where
    it tiles, auto times it."""
    from minifft.conv import auto
    one = ConvGeometry(2, 3, 4, 32, 32, 5, 5)
    tiled = ConvGeometry(1, 2, 2, 128, 128, 3, 3)
    assert conv.get('fft-tiled').same_work_as(one, 'cpu') == 'fft'
    assert conv.get('fft-tiled').same_work_as(tiled, 'cpu') is None
    assert conv.get('fft-tiled').same_work_as(ConvGeometry(2, 3, 4, 32, 32, 5, 5, 2, 2), 'cpu') is None  # strided
    timed = []
    real = auto._timed_steps
    monkeypatch.setattr(auto, '_timed_steps', lambda algorithm, *a, **k: timed.append(algorithm.name) or
                        real(algorithm, *a, **k))
    for g in (one, tiled):
        x = rng.standard_normal((g.batch, g.in_channels, g.height, g.width)).astype(numpy.float32)
        w = rng.standard_normal((g.out_channels, g.in_channels, g.kernel_h, g.kernel_w)).astype(numpy.float32)
        timed.clear()
        auto.choose(g, x, w)
        assert ('fft-tiled' in timed) == (g is tiled), (g.describe(), timed)
