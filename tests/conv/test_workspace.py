"""Bounded memory: the FFT algorithm splits a layer so its spectra stay under the workspace limit."""
import dataclasses
import tracemalloc

import numpy
import pytest
import scipy.fft

from minifft import Tensor, config, conv
from minifft import functions as F
from minifft.conv import chunking, fft, registry, workspace
from minifft.conv.geometry import ConvGeometry
from minifft.kernels import host

from .registered import geometry


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


@pytest.mark.parametrize('algo', ['fft', 'direct'])
@pytest.mark.parametrize('case', CASES)
def test_chunked_matches_unchunked(case, algo, rng):
    S, f, fo, n, k, stride, padding, groups = case
    x, w = rng.standard_normal((S, f, n, n)), rng.standard_normal((fo, f // groups, k, k))
    results = []
    for limit in (None, 24 * 1024):
        conv.set_workspace_limit(limit)
        xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        y = F.conv2d(xt, wt, stride=stride, padding=padding, algo=algo, groups=groups)
        if limit:  # the limit really splits the layer
            assert len(conv.get(algo).pieces(y.creator.geometry, x)) > 1
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


def test_gpu_default_counts_the_pools_free_blocks_as_free(monkeypatch):
    """After a step CuPy's pool keeps the step's buffers: the driver's free memory drops by what the
    pool holds, and the default limit must not drop with it."""
    monkeypatch.setattr(workspace, '_driver_free_bytes', lambda: 10 * 2 ** 30)
    monkeypatch.setattr(workspace, '_pool_free_bytes', lambda: 0)
    before = workspace.default_limit('cuda')
    monkeypatch.setattr(workspace, '_driver_free_bytes', lambda: 7 * 2 ** 30)
    monkeypatch.setattr(workspace, '_pool_free_bytes', lambda: 3 * 2 ** 30)
    assert workspace.default_limit('cuda') == before == 5 * 2 ** 30


def test_a_layers_pieces_stay_the_same_when_free_memory_changes(monkeypatch, device, rng):
    """The default limit follows free memory; a layer's pieces are decided at its first step and
    kept, so a run's plan does not change between steps (free memory falls as the run allocates)."""
    fft = conv.get('fft')
    fft.reset()
    g = ConvGeometry(8, 4, 8, 16, 16, 3, 3, pad_h=1, pad_w=1)
    peak = fft.workspace(g, 8, device).peak
    share = 4 if device == 'cpu' else 2                          # the default's share of free memory
    free = iter([share * 2 * peak, share * peak // 3, share * peak // 5])
    monkeypatch.setattr(workspace, 'available_bytes', lambda device: next(free))
    calls = []
    real_forward = fft.inner.forward
    monkeypatch.setattr(fft.inner, 'forward', lambda *a: calls.append(1) or real_forward(*a))
    x = Tensor(rng.standard_normal((8, 4, 16, 16)), device=device, requires_grad=True)
    w = Tensor(rng.standard_normal((8, 4, 3, 3)), device=device, requires_grad=True)
    per_step = []
    try:
        for step in range(3):
            calls.clear()
            F.conv2d(x, w, padding=1, algo='fft').sum().backward()
            per_step.append(len(calls))
        assert per_step == [1, 1, 1]          # whole at every step (no recompute in backward)
        fft.reset()                           # planned afresh with the lower free memory: split
        assert len(fft.pieces(g, x.data)) > 1
    finally:
        fft.reset()


def test_gpu_workspace_counts_cupys_temporaries():
    """On the GPU the estimate adds what CuPy allocates besides our buffers: the swap-axes copy for
    ifft along a non-last axis, irfft's input copy, a cuFFT work area, rfft2's padded input copy."""
    g = ConvGeometry(16, 8, 32, 20, 20, 5, 5, pad_h=2, pad_w=2, groups=2)
    cpu, gpu = conv.spectral_bytes(g, 4, 'cpu'), conv.spectral_bytes(g, 4, 'cuda')
    n0, n1 = conv.FFTConvolution.transform_shape(g, fft.fft_module_for('cuda'))
    per = n0 * (n1 // 2 + 1) * 8
    largest = max(16 * 32, 16 * 8, 32 * 4) * per
    for term in ('ifft swap-axes copy', 'irfft input copy', 'cuFFT work area'):
        assert gpu.terms[term] == largest and term not in cpu.terms
    assert gpu.terms['rfft2 padded input copy (forward)'] == 16 * 8 * n0 * n1 * 4
    assert gpu.kept == (16 * 8 + 32 * 4) * per
    assert gpu.peak == gpu.kept + 16 * 32 * per + 5 * largest
    if fft.fft_module_for('cuda') is scipy.fft:   # the same transform sizes on both devices
        assert gpu.peak == cpu.peak + 3 * largest


def test_chunked_wraps_an_algorithm_without_a_workspace_model(rng):
    class Unmodelled(conv.DirectConvolution):
        def workspace(self, g, itemsize, device='cpu'):
            return None
    algorithm = conv.Chunked(Unmodelled())
    g = ConvGeometry(2, 2, 3, 6, 6, 3, 3)
    x = rng.standard_normal((2, 2, 6, 6))
    conv.set_workspace_limit(1)
    assert algorithm.pieces(g, x) is None
    y, _ = algorithm.forward(x, rng.standard_normal((3, 2, 3, 3)), g)
    assert y.shape == g.output_shape


@pytest.fixture
def cuda_pool(device):
    if device != 'cuda':
        pytest.skip("the memory pool is CuPy's")
    from minifft import backend
    return backend.cupy.get_default_memory_pool()


def test_cuda_limit_stays_when_the_pool_keeps_freed_blocks(cuda_pool):
    from minifft import backend
    before = workspace.default_limit('cuda')
    free_before = backend.cupy.cuda.runtime.memGetInfo()[0]
    block = backend.cupy.empty(64 * 2 ** 20, numpy.uint8)
    del block                                     # freed to the pool, still used to the driver
    assert backend.cupy.cuda.runtime.memGetInfo()[0] <= free_before - 64 * 2 ** 20
    assert workspace.default_limit('cuda') == before


def test_cuda_peak_stays_under_the_estimate(cuda_pool, monkeypatch, rng):
    """The pool's high-water mark during a whole fft step, less the step's inputs and outputs, is
    within spectral_bytes' peak for 'cuda'."""
    from minifft import backend
    g = ConvGeometry(8, 6, 10, 20, 20, 5, 5, pad_h=2, pad_w=2)
    x = Tensor(rng.standard_normal((8, 6, 20, 20)).astype(numpy.float32), device='cuda', requires_grad=True)
    w = Tensor(rng.standard_normal((10, 6, 5, 5)).astype(numpy.float32), device='cuda', requires_grad=True)
    gy = backend.to_device(rng.standard_normal(g.output_shape).astype(numpy.float32), 'cuda')
    F.conv2d(x, w, padding=2, algo='fft').backward(gy)    # plans, caches
    x.grad = w.grad = None
    high = [cuda_pool.used_bytes()]
    real_adopt = type(cuda_pool).adopt

    def adopt(pool, root):
        real_adopt(pool, root)
        high.append(pool.used_bytes())
    monkeypatch.setattr(type(cuda_pool), 'adopt', adopt)
    start = cuda_pool.used_bytes()
    F.conv2d(x, w, padding=2, algo='fft').backward(gy)
    io = 2 * x.data.nbytes + 2 * w.data.nbytes + 2 * gy.nbytes   # y, gx, gw and their sums
    estimate = conv.spectral_bytes(g, 4, 'cuda').peak
    print(f"measured {(max(high) - start) / 2**20:.2f} MiB, estimate {estimate / 2**20:.2f} MiB + io")
    assert max(high) - start <= estimate + io


def test_direct_respects_the_limit_so_auto_can_time_it(rng, cpu_kernels):
    """im2col of a large-kernel layer is far above the limit: direct splits by batch (array code) or
    makes the columns a block of samples at a time (C kernels) and stays within it, so auto times it
    without the memory blow-up."""
    g = ConvGeometry(16, 8, 8, 32, 32, 9, 9, pad_h=4, pad_w=4)
    cols = g.batch * g.in_channels * g.kernel_h * g.kernel_w * g.out_h * g.out_w * 4
    limit = 4 * 2 ** 20
    assert cols > 4 * limit
    x = Tensor(rng.standard_normal((16, 8, 32, 32)).astype(numpy.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((8, 8, 9, 9)).astype(numpy.float32), requires_grad=True)
    gy = rng.standard_normal((16, 8, 32, 32)).astype(numpy.float32)
    io_bytes = 2 * x.data.nbytes + 2 * gy.nbytes + 2 * w.data.nbytes

    def step():
        F.conv2d(x, w, padding=4, algo='direct').backward(gy)
    conv.set_workspace_limit(limit)
    peak = traced_peak(step)
    assert peak <= io_bytes + 1.5 * limit, peak / 2 ** 20


def test_auto_never_times_an_algorithm_that_cannot_fit(rng, monkeypatch):
    """Issue 12's case scaled down: direct's im2col for one sample is above the limit, fft's pieces
    fit, so auto must pick fft without running direct (which would blow through the limit)."""
    import warnings
    g = ConvGeometry(4, 8, 8, 32, 32, 9, 9, pad_h=4, pad_w=4)
    limit = 2 ** 20
    assert conv.get('direct').workspace(dataclasses.replace(g, batch=1), 4, 'cpu').peak > limit
    conv.set_workspace_limit(limit)
    conv.auto.reset()
    assert not conv.get('direct').fits(g, 'cpu', 4) and conv.get('fft').fits(g, 'cpu', 4)

    def refuse(*args):
        raise AssertionError("auto ran direct, which cannot fit the workspace limit")
    monkeypatch.setattr(conv.get('direct'), 'forward', refuse)
    x = Tensor(rng.standard_normal((4, 8, 32, 32)).astype(numpy.float32))
    w = Tensor(rng.standard_normal((8, 8, 9, 9)).astype(numpy.float32))
    x.requires_grad = True
    gy = rng.standard_normal((4, 8, 32, 32)).astype(numpy.float32)
    with warnings.catch_warnings():
        warnings.simplefilter('error')            # and nothing is warned about a layer it never runs
        peak = traced_peak(lambda: F.conv2d(x, w, padding=4, algo='auto').backward(gy))
    assert peak <= 2 * x.data.nbytes + 2 * gy.nbytes + 2 * w.data.nbytes + 1.5 * limit, peak / 2 ** 20
    decision = conv.auto.report()[-1]
    assert 'fft' in decision['seconds'] and 'direct' not in decision['seconds']
    assert decision['choice'] != 'direct'
    conv.auto.reset()


def test_a_layer_that_cannot_fit_says_so_once(rng):
    conv.set_workspace_limit(1024)
    fft = conv.get('fft')
    fft.reset()
    x, w = Tensor(rng.standard_normal((1, 1, 16, 16))), Tensor(rng.standard_normal((1, 1, 3, 3)))
    with pytest.warns(ResourceWarning, match=r"fft: the layer S=1 f=1 f'=1 n=16 k=3 needs \d+ bytes .* above the "
                                             r"1024-byte limit"):
        F.conv2d(x, w, algo='fft')
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        F.conv2d(x, w, algo='fft')          # decided once: no second warning
    fft.reset()


@pytest.mark.skipif(host.compiler() is None, reason="no C compiler: the C kernels' plan cannot be made")
def test_a_plan_is_kept_per_cpu_kernels_setting():
    """direct's C path keeps nothing from forward and fits 300 kB whole; the NumPy path keeps the
    columns and needs pieces: switching the setting must not reuse the other path's plan."""
    algo = registry.get('direct')
    g = geometry((8, 4, 16, 16), (6, 4, 3, 3))
    x = numpy.zeros((8, 4, 16, 16), numpy.float32)
    with config.using(workspace_limit=300_000):
        with config.using(cpu_kernels='on'):
            assert algo.pieces(g, x) is None
        with config.using(cpu_kernels='off'):
            pieces = algo.pieces(g, x)
            assert pieces is not None and algo.workspace(pieces[0].geometry, 4, 'cpu').peak <= 300_000
        with config.using(cpu_kernels='on'):
            assert algo.pieces(g, x) is None
