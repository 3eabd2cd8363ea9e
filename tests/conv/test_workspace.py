"""Bounded memory: the FFT algorithm splits a layer so its spectra stay under the workspace limit."""
import tracemalloc

import numpy
import pytest

from minifft import Tensor, config, conv
from minifft import functions as F
from minifft.conv import chunking, workspace
from minifft.conv.geometry import ConvGeometry


@pytest.fixture(autouse=True)
def default_limit():
    saved = config.snapshot()
    yield
    config.restore(saved)


def test_parse_and_set_limit(monkeypatch):
    assert workspace.parse_bytes('512M') == 512 * 2 ** 20
    assert workspace.parse_bytes('1.5GiB') == 3 * 2 ** 29
    assert workspace.parse_bytes(4096) == 4096
    with pytest.raises(ValueError, match="expected a byte count like 1048576, 512M or 2G, got 'lots'"):
        workspace.parse_bytes('lots')
    with pytest.raises(ValueError, match="expected a positive byte count"):
        conv.set_workspace_limit(0)
    monkeypatch.setenv('MINIFFT_CONV_WORKSPACE', '3M')
    config.reset()
    assert conv.workspace_limit() == 3 * 2 ** 20
    conv.set_workspace_limit('1K')
    assert conv.workspace_limit() == 1024
    with config.using(workspace_limit='2K'):
        assert conv.workspace_limit() == 2048
    assert conv.workspace_limit() == 1024
    monkeypatch.delenv('MINIFFT_CONV_WORKSPACE')
    conv.set_workspace_limit(None)
    assert conv.workspace_limit() > 2 ** 20  # a quarter of the RAM
    monkeypatch.setenv('MINIFFT_CONV_WORKSPACE', 'lots')
    config.reset()
    with pytest.raises(ValueError, match="MINIFFT_CONV_WORKSPACE: expected a byte count like 1048576, 512M or 2G"):
        conv.workspace_limit()


@pytest.mark.parametrize('g', [ConvGeometry(7, 4, 6, 9, 9, 3, 3), ConvGeometry(5, 6, 9, 8, 8, 3, 3, groups=3)])
@pytest.mark.parametrize('budget', [1, 2, 3, 10])
def test_pieces_cover_the_layer_once(g, budget):
    """With fits() allowing ``budget`` units of work, every (sample, output channel) is covered once."""
    pieces = chunking.plan(g, lambda sub: sub.batch * sub.out_channels <= budget * 3)
    covered = numpy.zeros((g.batch, g.out_channels), int)
    for p in pieces:
        covered[p.batch, p.outputs] += 1
        assert p.geometry.batch == p.batch.stop - p.batch.start
        assert p.geometry.out_channels == p.outputs.stop - p.outputs.start
        assert p.geometry.in_channels == p.inputs.stop - p.inputs.start
    assert (covered == 1).all()
    assert chunking.plan(g, lambda sub: True) is None


CASES = [  # (S, f, f', n, k, stride, padding, groups): split along batch, outputs, groups, strided
    (8, 3, 4, 12, 3, 1, 1, 1), (1, 4, 16, 16, 5, 1, 2, 1), (4, 6, 6, 10, 3, 1, 1, 3), (6, 4, 4, 13, 5, 2, 2, 2),
]


@pytest.mark.parametrize('case', CASES)
def test_chunked_matches_unchunked(case, rng):
    S, f, fo, n, k, stride, padding, groups = case
    x, w = rng.standard_normal((S, f, n, n)), rng.standard_normal((fo, f // groups, k, k))
    results = []
    for limit in (None, 24 * 1024):
        conv.set_workspace_limit(limit)
        xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        y = F.conv2d(xt, wt, stride=stride, padding=padding, algo='fft', groups=groups)
        if limit:  # the limit really splits the layer
            assert len(conv.get('fft').pieces(y.creator.geometry, x)) > 1
        y.backward(numpy.cos(numpy.arange(y.size)).reshape(y.shape))
        results.append((y.data, xt.grad, wt.grad))
    for whole, split in zip(*results):
        numpy.testing.assert_allclose(split, whole, rtol=1e-12, atol=1e-12)


def traced_peak(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_layer_too_big_for_the_limit_runs_within_it(rng):
    g = ConvGeometry(32, 16, 32, 32, 32, 5, 5, pad_h=2, pad_w=2)
    kept = conv.spectral_bytes(g, 4, 'cpu').kept
    limit = 2 * 2 ** 20
    assert kept > 2 * limit  # unchunked, the spectra kept for backward alone would not fit
    x = Tensor(rng.standard_normal((32, 16, 32, 32)).astype(numpy.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((32, 16, 5, 5)).astype(numpy.float32), requires_grad=True)
    gy = rng.standard_normal((32, 32, 32, 32)).astype(numpy.float32)
    io_bytes = 2 * x.data.nbytes + 2 * gy.nbytes + 2 * w.data.nbytes  # x, gx, y, gy, w, gw

    results = []

    def step():
        x.grad = w.grad = None
        y = F.conv2d(x, w, padding=2, algo='fft')
        y.backward(gy)
        results.append((y.data, x.grad, w.grad))
    unchunked = traced_peak(step)
    conv.set_workspace_limit(limit)
    chunked = traced_peak(step)
    for whole, split in zip(*results):  # the same numbers, up to float32 summation order
        numpy.testing.assert_allclose(split, whole, rtol=1e-5, atol=1e-5 * numpy.abs(whole).max())
    print(f"peak traced bytes: unchunked {unchunked / 2**20:.1f} MiB, with a {limit / 2**20:.0f} MiB "
          f"limit {chunked / 2**20:.1f} MiB (inputs and outputs {io_bytes / 2**20:.1f} MiB)")
    assert chunked <= io_bytes + 1.5 * limit
    assert unchunked > chunked + 2 * limit
