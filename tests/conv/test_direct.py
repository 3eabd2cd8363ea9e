"""direct's own paths: batches split across the CPU thread pool in uneven chunks, groups, and the
dtype of every pass (the algorithm-wide reference tests use batches of at most 3); on the CPU each
runs through the C kernels (minifft/kernels/direct.c) and through the NumPy code (``cpu_kernels``)."""
import numpy
import pytest

from minifft import Tensor, backend
from minifft import functions as F
from minifft.conv import direct
from minifft.conv.base import training_step
from minifft.conv.geometry import ConvGeometry, ceil_div
from minifft.kernels import host
from minifft.testing import check_backward
from tests.conv.reference import conv2d_reference
from tests.conv.test_groups import grouped_reference


def reference(x, w, gy, stride, padding, dilation, groups):
    """(y, gx, gw) of a grouped, dilated layer from the naive reference, one group at a time."""
    fg, fog = x.shape[1] // groups, w.shape[0] // groups
    parts = [conv2d_reference(x[:, i * fg:(i + 1) * fg], w[i * fog:(i + 1) * fog], gy[:, i * fog:(i + 1) * fog],
                              stride, padding, dilation) for i in range(groups)]
    return [numpy.concatenate([p[j] for p in parts], axis=1 if j < 2 else 0) for j in range(3)]


@pytest.fixture
def compiled():
    """The C kernels on (cpu_kernels='on'), for tests that call them directly."""
    from minifft import config
    from minifft.kernels import host
    if host.compiler() is None:
        pytest.skip("no C compiler: the CPU kernels cannot be built here")
    with config.using(cpu_kernels='on'):
        yield


def uses_kernels(cpu_kernels, device, *arrays):
    """Whether direct runs these arrays through the C kernels: it must exactly when asked to."""
    compiled = direct._kernels(*arrays) is not None
    assert compiled == (cpu_kernels == 'compiled' and device == 'cpu')
    return compiled


@pytest.mark.parametrize('case', [  # (S, f, f', H, W, k, stride, padding, groups)
    (11, 3, 5, 9, 7, 5, 1, 2, 1),      # more samples than chunks, uneven chunks
    (13, 4, 6, 8, 11, 3, 2, 1, 2),     # grouped, strided
    (9, 2, 3, 6, 6, 1, 1, 0, 1),       # 1x1 kernel, no padding: the input is used as it is
    (5, 6, 4, 7, 9, 3, 1, 1, 2),       # f' <= f, stride 1: input gradient as a correlation of gy
    (4, 4, 4, 5, 6, 2, 1, 0, 1),       # the same with an even kernel, no padding
    (3, 4, 2, 5, 5, 1, 1, 1, 1),       # padding beyond the kernel's span: col2im again
])
def test_direct_batches_in_chunks_match_reference(case, device, cpu_kernels, rng):
    S, f, fo, H, W, k, stride, padding, groups = case
    x, w = rng.standard_normal((S, f, H, W)), rng.standard_normal((fo, f // groups, k, k))
    uses_kernels(cpu_kernels, device, backend.to_device(x, device))
    xt, wt = Tensor(x, device=device, requires_grad=True), Tensor(w, device=device, requires_grad=True)
    y = F.conv2d(xt, wt, stride=stride, padding=padding, groups=groups, algo='direct')
    gy = rng.standard_normal(y.shape)
    y.backward(backend.to_device(gy, device))
    want = grouped_reference(x, w, gy, (stride,) * 2, (padding,) * 2, groups)
    for name, got, ref in zip(('y', 'gx', 'gw'), (y.data, xt.grad, wt.grad), want):
        got = backend.to_numpy(got)
        assert got.shape == ref.shape, name
        assert numpy.abs(got - ref).max() <= 1e-10 * max(numpy.abs(ref).max(), 1.0), name


def test_direct_keeps_float32(device, cpu_kernels, rng):
    x = rng.standard_normal((10, 3, 8, 8)).astype(numpy.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(numpy.float32)
    uses_kernels(cpu_kernels, device, backend.to_device(x, device), backend.to_device(w, device))
    xt, wt = Tensor(x, device=device, requires_grad=True), Tensor(w, device=device, requires_grad=True)
    y = F.conv2d(xt, wt, padding=1, algo='direct')
    y.sum().backward()
    assert y.dtype == xt.grad.dtype == wt.grad.dtype == numpy.float32
    want = grouped_reference(x.astype(numpy.float64), w.astype(numpy.float64), numpy.ones(y.shape), (1, 1), (1, 1), 1)
    for got, ref in zip((y.data, xt.grad, wt.grad), want):
        numpy.testing.assert_allclose(backend.to_numpy(got), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('case', [  # (f, f', k, padding, dilation): stride 1, f' <= f
    (3, 2, 3, 1, 2), (4, 4, 2, (2, 0), (1, 3)), (5, 3, 3, (0, 3), 2),
])
def test_direct_input_gradient_as_correlation_with_dilation(case, device, cpu_kernels, rng):
    f, fo, k, padding, dilation = case
    x, w = rng.standard_normal((3, f, 9, 8)), rng.standard_normal((fo, f, k, k))
    uses_kernels(cpu_kernels, device, backend.to_device(x, device))
    xt, wt = Tensor(x, device=device, requires_grad=True), Tensor(w, device=device, requires_grad=True)
    y = F.conv2d(xt, wt, padding=padding, dilation=dilation, algo='direct')
    gy = rng.standard_normal(y.shape)
    y.backward(backend.to_device(gy, device))
    pair = lambda v: (v, v) if isinstance(v, int) else v
    want = conv2d_reference(x, w, gy, (1, 1), pair(padding), pair(dilation))
    for name, got, ref in zip(('y', 'gx', 'gw'), (y.data, xt.grad, wt.grad), want):
        got = backend.to_numpy(got)
        assert got.shape == ref.shape, name
        assert numpy.abs(got - ref).max() <= 1e-10 * max(numpy.abs(ref).max(), 1.0), name


LAYERS = [  # (S, f, f', H, W, kh, kw, stride, padding, dilation, groups)
    (3, 3, 4, 7, 9, 3, 3, (1, 1), (1, 1), (1, 1), 1),      # odd sizes, 'same' padding
    (5, 4, 6, 11, 8, 3, 2, (2, 3), (4, 1), (1, 1), 2),     # non-square kernel, padding beyond it, groups
    (2, 2, 3, 13, 12, 3, 3, (3, 3), (2, 5), (2, 3), 1),    # dilation, stride 3, padding beyond the span
    (6, 6, 3, 9, 10, 2, 4, (1, 2), (0, 3), (3, 1), 3),     # groups with dilation, even kernel
    (4, 5, 4, 6, 7, 1, 1, (2, 1), (3, 0), (1, 1), 1),      # 1x1 kernel with padding: zero rows in the columns
    (2, 2, 2, 5, 5, 5, 5, (1, 1), (0, 0), (1, 1), 1),      # k = n: one output
    (7, 5, 3, 8, 9, 3, 3, (1, 1), (1, 2), (1, 1), 1),      # f' <= f at stride 1: gx as a correlation of gy
    (3, 2, 2, 4, 5, 5, 6, (2, 1), (3, 3), (1, 1), 1),      # kernel larger than the image, smaller than padded
    (40, 3, 5, 6, 6, 3, 3, (1, 1), (1, 1), (1, 1), 1),     # more samples than one block per thread
    (2, 2, 3, 1, 1, 5, 5, (1, 1), (2, 2), (1, 1), 1),      # a 1x1 image: taps whose rows are all padding
    (2, 1, 2, 2, 3, 5, 3, (3, 2), (4, 3), (1, 2), 1),      # padding beyond the image on every side, strided
    # strides whose taps meet every phase: the phases path (im2col.c's split, gemm.windows forward)
    (3, 3, 5, 32, 32, 3, 3, (2, 2), (1, 1), (1, 1), 1),    # ResNet's stride 2: ow 16, panels straight from x
    (2, 2, 4, 17, 33, 3, 3, (2, 2), (2, 1), (1, 1), 2),    # odd sizes, padding 2, groups
    (2, 3, 4, 19, 20, 3, 3, (3, 3), (0, 1), (1, 1), 1),    # stride 3
    (2, 2, 3, 16, 40, 3, 5, (1, 2), (1, 2), (1, 3), 1),    # stride (1, 2) with dilation 3
    (2, 2, 3, 16, 16, 4, 4, (2, 2), (0, 0), (1, 1), 1),    # even kernel, no padding: ow 7
    (2, 2, 2, 8, 65, 3, 3, (2, 2), (1, 1), (1, 1), 1),     # ow 33: one float32 panel from x, then a copied one
    (3, 3, 4, 16, 16, 3, 3, (2, 2), (1, 1), (1, 1), 1),    # ow 8: half a float32 vector, four rows a panel
    (2, 2, 3, 8, 8, 3, 3, (2, 2), (1, 1), (1, 1), 1),      # ow 4: half a float64 vector
    (3, 4, 4, 18, 18, 3, 3, (2, 2), (1, 1), (2, 2), 2),    # dilation 2 at stride 2 misses a phase: the gather
]


@pytest.mark.parametrize('dtype', ['float64', 'float32'])
@pytest.mark.parametrize('layer', LAYERS)
def test_direct_matches_reference_with_and_without_kernels(layer, dtype, cpu_kernels, rng):
    S, f, fo, H, W, kh, kw, stride, padding, dilation, groups = layer
    x = rng.standard_normal((S, f, H, W)).astype(dtype)
    w = rng.standard_normal((fo, f // groups, kh, kw)).astype(dtype)
    uses_kernels(cpu_kernels, 'cpu', x, w)
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, stride=stride, padding=padding, dilation=dilation, groups=groups, algo='direct')
    gy = rng.standard_normal(y.shape).astype(dtype)
    y.backward(gy)
    want = reference(*(a.astype(numpy.float64) for a in (x, w, gy)), stride, padding, dilation, groups)
    tolerance = 1e-10 if dtype == 'float64' else 1e-5
    for name, got, ref in zip(('y', 'gx', 'gw'), (y.data, xt.grad, wt.grad), want):
        assert got.shape == ref.shape and got.dtype == numpy.dtype(dtype), name
        assert numpy.abs(got - ref).max() <= tolerance * max(numpy.abs(ref).max(), 1.0), name


@pytest.mark.parametrize('layer', [
    dict(stride=2, padding=1), dict(stride=(1, 3), padding=(2, 0), dilation=(1, 2)), dict(padding=1, groups=2),
])
def test_direct_finite_differences(layer, cpu_kernels, rng):
    x, w = rng.standard_normal((2, 4, 7, 8)), rng.standard_normal((4, 4 // layer.get('groups', 1), 3, 2))
    uses_kernels(cpu_kernels, 'cpu', x, w)
    check_backward(lambda x, w: F.conv2d(x, w, algo='direct', **layer), [x, w])


def test_direct_takes_non_contiguous_arrays(cpu_kernels, rng):
    """x, w and gy as strided views (a channel slice, a transposed image, a reversed batch)."""
    x = rng.standard_normal((6, 8, 9, 7)).swapaxes(2, 3)[:, ::2]        # (6, 4, 7, 9)
    w = rng.standard_normal((3, 5, 4, 3))[:, 1:].swapaxes(2, 3)[:, ::-1]   # (3, 4, 3, 3)
    uses_kernels(cpu_kernels, 'cpu', x, w)
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, stride=(2, 1), padding=(2, 1), algo='direct')
    gy = rng.standard_normal(y.shape[::-1]).T[::-1]
    y.backward(gy)
    for name, got, ref in zip(('y', 'gx', 'gw'), (y.data, xt.grad, wt.grad),
                              conv2d_reference(x, w, gy, (2, 1), (2, 1))):
        assert numpy.abs(got - ref).max() <= 1e-10 * max(numpy.abs(ref).max(), 1.0), name


@pytest.mark.parametrize('layer', LAYERS)
def test_kernels_equal_the_array_code_exactly(layer, compiled, rng):
    """im2col copies and col2im adds each position's taps in the array code's order: the same bits."""
    S, f, fo, H, W, kh, kw, stride, padding, dilation, groups = layer
    g = ConvGeometry(S, f, fo, H, W, kh, kw, *stride, *padding, groups, *dilation)
    for dtype in (numpy.float32, numpy.float64):
        x = rng.standard_normal((S, f, H, W)).astype(dtype)
        im2col, col2im = direct._kernels(x).bind(g)
        shape = (S, f, kh, kw, g.out_h, g.out_w)
        guarded = numpy.full(numpy.prod(shape) + 64, numpy.nan, dtype)   # NaN after the end: no write may land there
        got, want = guarded[:-64].reshape(shape), numpy.empty(shape, dtype)
        im2col(x, got)
        direct._im2col(numpy, x, want, g)
        numpy.testing.assert_array_equal(got, want)
        assert numpy.isnan(guarded[-64:]).all()
        gcols = rng.standard_normal(shape).astype(dtype)
        guarded = numpy.full(x.size + 64, numpy.nan, dtype)
        gx = guarded[:-64].reshape(x.shape)
        col2im(gcols, gx)
        assert numpy.isnan(guarded[-64:]).all()
        gxpad = numpy.zeros((S, f, H + 2 * g.pad_h, W + 2 * g.pad_w), dtype)
        for a, b, window in direct._offsets(g):
            gxpad[(slice(None), slice(None)) + window] += gcols[:, :, a, b]
        numpy.testing.assert_array_equal(gx, gxpad[:, :, g.pad_h:g.pad_h + H, g.pad_w:g.pad_w + W])


@pytest.mark.parametrize('layer', [layer for layer in LAYERS if max(layer[7]) > 1])
def test_split_phases_hold_every_tap_window(layer, compiled, rng):
    """Where the split pays, the phases' window of tap (a, b) is exactly that tap's columns; the
    padding's positions stay zero from one call to the next (they are never written), and nothing
    is written past the planes."""
    S, f, fo, H, W, kh, kw, stride, padding, dilation, groups = layer
    g = ConvGeometry(S, f, fo, H, W, kh, kw, *stride, *padding, groups, *dilation)
    for dtype in (numpy.float32, numpy.float64):
        kernels = direct._kernels(numpy.empty(1, dtype))
        phases = kernels.phases(g)
        covered = all({a * d % s for a in range(k)} == set(range(s))
                      for k, d, s in ((kh, dilation[0], stride[0]), (kw, dilation[1], stride[1])))
        assert (phases is not None) == covered
        if phases is None:
            continue
        size = S * f * phases.channel
        buf = numpy.zeros(size + 64, dtype)
        buf[size:] = numpy.nan
        planes = buf[:size].reshape(S, f, phases.channel)
        at = (numpy.arange(g.out_h)[:, None] * phases.vp + numpy.arange(g.out_w)).ravel()
        for trial in range(2):
            x = rng.standard_normal((S, f, H, W)).astype(dtype)
            kernels.split(x, planes, g)
            cols = numpy.empty((S, f, kh, kw, g.out_h, g.out_w), dtype)
            direct._im2col(numpy, x, cols, g)
            got = planes[:, :, phases.windows[:, None] + at].reshape(cols.shape)
            numpy.testing.assert_array_equal(got, cols)
            assert numpy.isnan(buf[size:]).all()


def test_kernels_propagate_nan_to_the_windows_that_see_it(compiled, rng):
    x = rng.standard_normal((2, 2, 6, 6))
    x[1, 0, 2, 3] = numpy.nan
    g = ConvGeometry(2, 2, 3, 6, 6, 3, 3, pad_h=1, pad_w=1)
    cols = numpy.empty((2, 2, 3, 3, 6, 6))
    direct._kernels(x).bind(g)[0](x, cols)
    assert numpy.isnan(cols).sum() == 9 and numpy.isnan(cols[1, 0]).sum() == 9


@pytest.mark.parametrize('layer', [(32, 16, 32, 32, 3, 1, 0), (8, 3, 16, 20, 5, 2, 2), (16, 8, 8, 12, 3, 1, 1),
                                   (4, 256, 256, 8, 5, 1, 2)])   # large weights: weight sums per chunk
def test_compiled_workspace_covers_what_a_step_allocates(layer, cpu_kernels):
    """A step's traced peak stays within workspace().peak plus its outputs (y, gx, gw) and 64 KiB of
    Python objects; the C path keeps nothing from forward but x."""
    from tests.conv.test_workspace import traced_peak
    S, f, fo, n, k, stride, p = layer
    if cpu_kernels == 'numpy' and f * fo * k * k > direct.WEIGHT_PRODUCTS // 4:
        pytest.skip("the array code's estimate leaves out its per-chunk weight sums (several weights' size here)")
    g = ConvGeometry(S, f, fo, n, n, k, k, stride, stride, p, p)
    x, w = numpy.ones((S, f, n, n), numpy.float32), numpy.ones((fo, f, k, k), numpy.float32)
    gy = numpy.ones(g.output_shape, numpy.float32)
    algorithm = direct.DirectConvolution()
    space = algorithm.workspace(g, 4, 'cpu')
    cols = S * f * k * k * g.out_h * g.out_w * 4
    assert space.kept == (0 if cpu_kernels == 'compiled' else cols)
    training_step(algorithm, x, w, gy, g)    # first-use objects (thread pool, BLAS controller) outside the trace
    peak = traced_peak(lambda: training_step(algorithm, x, w, gy, g))
    assert peak <= space.peak + gy.nbytes + x.nbytes + w.nbytes + 64 * 1024, (peak, space)
    if cpu_kernels == 'compiled' and cols > 8 * direct.COLUMN_BLOCK_BYTES:
        assert space.peak < cols / 2   # blocks of the columns, never all of them


@pytest.mark.parametrize('stride', [1, 2])   # 2: the strided products read x's phases
@pytest.mark.parametrize('products', [200, 10 ** 6])
def test_weight_gradient_sums_per_chunk_or_per_block(products, stride, cpu_kernels, monkeypatch, rng):
    """Large weights (few products allowed) sum per chunk of samples, small ones per block: both
    match the reference, and the same arrays give the same bits twice."""
    monkeypatch.setattr(direct, 'WEIGHT_PRODUCTS', products)
    monkeypatch.setattr(direct, 'COLUMN_BLOCK_BYTES', 1)   # one sample per block: many blocks
    monkeypatch.setattr(direct, 'PHASE_BLOCK_BYTES', 1)
    g = ConvGeometry(9, 4, 6, 7, 8, 3, 3, stride, stride, pad_h=1, pad_w=2)
    assert direct._weight_sums_per_block(g, 1) == (products > 200)
    x, w = rng.standard_normal((9, 4, 7, 8)), rng.standard_normal((6, 4, 3, 3))
    gy = rng.standard_normal(g.output_shape)
    algorithm = direct.DirectConvolution()
    first, second = (training_step(algorithm, x, w, gy, g)[1] for _ in range(2))
    numpy.testing.assert_array_equal(first, second)
    want = conv2d_reference(x, w, gy, (stride, stride), (1, 2))[2]
    assert numpy.abs(first - want).max() <= 1e-10 * numpy.abs(want).max()


def test_kernels_turned_off_between_forward_and_backward(compiled, rng):
    """Forward on the C path keeps x, not its columns: a backward under cpu_kernels='off' rebuilds
    them with the array code."""
    from minifft import config
    x, w = rng.standard_normal((5, 3, 8, 7)), rng.standard_normal((4, 3, 3, 2))
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, stride=2, padding=(1, 2), algo='direct')
    gy = rng.standard_normal(y.shape)
    with config.using(cpu_kernels='off'):
        y.backward(gy)
    for name, got, ref in zip(('y', 'gx', 'gw'), (y.data, xt.grad, wt.grad),
                              conv2d_reference(x, w, gy, (2, 2), (1, 2))):
        assert numpy.abs(got - ref).max() <= 1e-10 * max(numpy.abs(ref).max(), 1.0), name


@pytest.mark.parametrize('batch', [1, 3, 8, 32, 257])
def test_task_blocks_even_out_the_pool_within_the_cache_budget(batch, monkeypatch):
    """direct.c's passes run TASKS_PER_THREAD tasks per thread where the batch allows, each holding
    at most PHASE_BLOCK_BYTES of phases (at least one sample), and the strided weight gradient's
    partial sums (one per task) stay within WEIGHT_PRODUCTS elements."""
    monkeypatch.setattr(direct, 'cpu_workers', lambda: 2)
    g = ConvGeometry(batch, 32, 64, 32, 32, 3, 3, 2, 2, 1, 1)
    block = direct._task_block(g)
    assert ceil_div(batch, block) == min(batch, direct.TASKS_PER_THREAD * 2)
    assert direct._task_block(g, direct.PHASE_BLOCK_BYTES // 3) == min(block, 3)
    assert direct._task_block(g, 10 * direct.PHASE_BLOCK_BYTES) == 1
    lib = host.library('direct')
    if lib is not None:
        phases = direct._compiled(lib, 'f32').phases(g)
        monkeypatch.setattr(direct, 'WEIGHT_PRODUCTS', 3 * 64 * 32 * 9)   # three weights' partial sums
        assert ceil_div(batch, direct._weight_task_block(g, phases, 4)) <= 3


def test_a_pass_that_cannot_allocate_says_which():
    with pytest.raises(MemoryError, match="the weight gradient pass could not allocate"):
        direct._allocated('weight gradient', 0)
    direct._allocated('forward', 1)
