"""Depthwise convolution (minifft/conv/depthwise.py: the CPU's C kernels and the NumPy sweeps)
against the naive reference, channel by channel."""
import dataclasses

import numpy
import pytest

from minifft import Tensor, backend, config, conv
from minifft import functions as F
from minifft.conv import depthwise, spectral
from minifft.conv.base import training_step
from tests.conv.test_workspace import traced_peak
from minifft.conv.geometry import ConvGeometry
from minifft.testing import check_backward
from tests.conv.reference import conv2d_reference


def depthwise_reference(x, w, gy, g):
    """y, gx, gw of a depthwise layer from the naive reference, one input channel at a time."""
    m = g.group_out
    parts = [conv2d_reference(x[:, c:c + 1], w[c * m:(c + 1) * m], gy[:, c * m:(c + 1) * m],
                              (g.stride_h, g.stride_w), (g.pad_h, g.pad_w), (g.dilation_h, g.dilation_w))
             for c in range(g.in_channels)]
    return [numpy.concatenate([p[j] for p in parts], axis=1 if j < 2 else 0) for j in range(3)]


def layer(S, f, H, W, kh, kw, stride=(1, 1), pad=(0, 0), dilation=(1, 1), m=1):
    return ConvGeometry(S, f, f * m, H, W, kh, kw, stride[0], stride[1], pad[0], pad[1], groups=f,
                        dilation_h=dilation[0], dilation_w=dilation[1])


CASES = [
    layer(2, 3, 8, 8, 3, 3, pad=(1, 1)),
    layer(1, 4, 7, 9, 3, 3),                                   # batch 1, non-square, no padding
    layer(3, 2, 11, 6, 5, 3, pad=(2, 1)),                      # non-square kernel
    layer(2, 3, 9, 9, 3, 3, stride=(2, 2), pad=(1, 1)),        # stride 2, odd size
    layer(2, 2, 10, 13, 3, 3, stride=(2, 2), pad=(1, 1)),      # stride 2, even and odd sides
    layer(2, 2, 12, 11, 3, 5, stride=(3, 2), pad=(2, 0)),      # unequal strides
    layer(2, 3, 8, 8, 4, 4, pad=(1, 2)),                       # even kernel, unequal padding
    layer(1, 2, 7, 7, 2, 2, stride=(2, 2)),                    # even kernel, stride 2
    layer(2, 2, 11, 11, 3, 3, pad=(2, 2), dilation=(2, 2)),    # dilation
    layer(2, 2, 13, 12, 3, 2, stride=(2, 2), pad=(3, 1), dilation=(3, 2)),   # dilation with stride
    layer(2, 2, 9, 9, 1, 1, stride=(2, 2)),                    # 1x1: phases no tap reads
    layer(1, 2, 5, 5, 3, 3, pad=(3, 3)),                       # padding larger than the kernel reach
    layer(2, 3, 8, 7, 3, 3, pad=(1, 1), m=2),                  # channel multiplier 2
    layer(1, 2, 9, 9, 3, 3, stride=(2, 2), pad=(1, 1), m=3),   # multiplier 3, strided
    layer(1, 2, 6, 70, 3, 3, pad=(1, 1)),                      # wide images
    layer(1, 1, 3, 3, 3, 3),                                   # one output pixel
    layer(2, 3, 5, 37, 3, 3, pad=(1, 1)),                      # rows of several vector blocks, odd
    layer(2, 2, 9, 10, 3, 3, stride=(3, 3), pad=(1, 1)),       # stride 3
    layer(1, 2, 4, 23, 3, 5, stride=(1, 3), pad=(1, 2)),       # stride 3 across, 1 down
    layer(1, 2, 5, 19, 1, 1, m=2),                             # 1x1, multiplier 2
    layer(2, 2, 10, 17, 3, 3, pad=(2, 2), dilation=(2, 2), m=3),   # dilation with multiplier 3
    layer(1, 2, 4, 3, 3, 5, pad=(1, 2)),                       # kernel as wide as the padded image
    layer(1, 2, 6, 6, 3, 3, pad=(4, 5)),                       # padding beyond the kernel, unequal
]


def random_layer(g, rng, dtype=numpy.float64):
    """x, w, gy of layer g (float64 draws, cast to dtype)."""
    return tuple(rng.standard_normal(shape).astype(dtype) for shape in
                 ((g.batch, g.in_channels, g.height, g.width), (g.out_channels, 1, g.kernel_h, g.kernel_w),
                  g.output_shape))


def passes(x, w, gy, g):
    """y, gx, gw of the depthwise path."""
    y, saved = depthwise.forward(x, w, g)
    ctx = depthwise.backward_setup(saved, gy, g)
    return y, depthwise.backward_input(ctx, g), depthwise.backward_weight(ctx, g)


def assert_matches_reference(got, x, w, gy, g, dtype):
    tolerance = 1e-10 if dtype == numpy.float64 else 2e-5
    want = depthwise_reference(*(a.astype(numpy.float64) for a in (x, w, gy)), g)
    for name, a, b in zip(('y', 'gx', 'gw'), got, want):
        assert a.shape == b.shape and a.dtype == dtype, name
        assert numpy.abs(a - b).max() <= tolerance * max(numpy.abs(b).max(), 1.0), name


@pytest.mark.parametrize('g', CASES, ids=lambda g: g.describe().replace(' ', '_'))
def test_sweeps_match_reference(g, device, cpu_kernels, rng):
    """Every shape on both devices; on the CPU through the C kernels and the NumPy sweeps (the
    setting changes nothing on the GPU: its arrays always take the array code)."""
    xp = backend.array_module_for(device)
    x, w, gy = random_layer(g, rng)
    got = passes(xp.asarray(x), xp.asarray(w), xp.asarray(gy), g)
    assert all(backend.get_array_module(a) is xp for a in got)
    assert_matches_reference([backend.to_numpy(a) for a in got], x, w, gy, g, numpy.float64)


@pytest.mark.parametrize('g', CASES, ids=lambda g: g.describe().replace(' ', '_'))
def test_float32_matches_reference(g, cpu_kernels, rng):
    x, w, gy = random_layer(g, rng, numpy.float32)
    assert_matches_reference(passes(x, w, gy, g), x, w, gy, g, numpy.float32)


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
def test_non_contiguous_inputs(dtype, cpu_kernels, rng):
    """Transposed, strided and reversed views give the reference's values."""
    g = layer(3, 4, 9, 11, 3, 3, stride=(2, 1), pad=(1, 1), m=2)
    x = rng.standard_normal((g.width, g.height, g.in_channels, g.batch)).astype(dtype).transpose(3, 2, 1, 0)
    w = rng.standard_normal((g.out_channels, 1, g.kernel_h, 2 * g.kernel_w)).astype(dtype)[..., ::-2]
    gy = rng.standard_normal(g.output_shape[:3] + (2 * g.out_w,)).astype(dtype)[..., 1::2]
    assert not any(a.flags.c_contiguous for a in (x, w, gy))
    assert_matches_reference(passes(x, w, gy, g), x, w, gy, g, dtype)


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
@pytest.mark.parametrize('g', [CASES[0], CASES[5], CASES[12], CASES[13]], ids=lambda g: g.describe().replace(' ', '_'))
def test_blas_rows_match_reference(g, dtype, monkeypatch, rng):
    """The NumPy sweeps' BLAS axpy and dot path (long rows), forced on for small layers."""
    config.set(cpu_kernels='off')
    monkeypatch.setattr(depthwise, 'AXPY_MIN_LENGTH', 1)
    x, w, gy = random_layer(g, rng, dtype)
    assert_matches_reference(passes(x, w, gy, g), x, w, gy, g, dtype)


@pytest.mark.parametrize('budget, blocks', [(1, 30), (10000, 3)])   # one sample each; two channels each
def test_blocks_of_channels_and_samples_give_the_same_result(budget, blocks, monkeypatch, rng):
    """The NumPy sweeps with a small BLOCK_BYTES: blocks of one channel's samples, or of several
    channels, on the thread pool."""
    config.set(cpu_kernels='off')
    g = layer(5, 6, 9, 8, 3, 3, stride=(2, 1), pad=(1, 1), m=2)
    x = rng.standard_normal((g.batch, g.in_channels, g.height, g.width)).astype(numpy.float32)
    w = rng.standard_normal((g.out_channels, 1, 3, 3)).astype(numpy.float32)
    gy = rng.standard_normal(g.output_shape).astype(numpy.float32)
    whole = (depthwise.forward(x, w, g)[0],) + training_step(conv.get('direct'), x, w, gy, g)
    monkeypatch.setattr(depthwise, 'BLOCK_BYTES', budget)
    plan = depthwise._plan(g)
    assert len(depthwise._blocks(g, depthwise._input_image_bytes(g, plan, 4))) == blocks
    blocked = (depthwise.forward(x, w, g)[0],) + training_step(conv.get('direct'), x, w, gy, g)
    want = depthwise_reference(x.astype(float), w.astype(float), gy.astype(float), g)
    for a, b, c in zip(whole, blocked, want):
        assert a.dtype == b.dtype == numpy.float32
        numpy.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
        numpy.testing.assert_allclose(b, c, rtol=1e-4, atol=1e-4 * numpy.abs(c).max())


@pytest.mark.parametrize('g', [CASES[0], CASES[5], CASES[9], CASES[13]], ids=lambda g: g.describe().replace(' ', '_'))
def test_gradients_by_finite_differences(g, device, cpu_kernels, rng):
    arrays = [rng.standard_normal((g.batch, g.in_channels, g.height, g.width)),
              rng.standard_normal((g.out_channels, 1, g.kernel_h, g.kernel_w))]
    check_backward(lambda x, w: F.conv2d(x, w, stride=(g.stride_h, g.stride_w), padding=(g.pad_h, g.pad_w),
                                         dilation=(g.dilation_h, g.dilation_w), groups=g.groups, algo='direct'),
                   [backend.to_device(a, device) for a in arrays])


def test_direct_takes_the_sweeps_for_depthwise_layers_only(monkeypatch, rng):
    calls = []
    real = depthwise.forward
    monkeypatch.setattr(depthwise, 'forward', lambda *a: calls.append(a[2]) or real(*a))
    for g in (layer(1, 4, 6, 6, 3, 3), layer(1, 4, 6, 6, 3, 3, m=2),
              dataclasses.replace(layer(1, 4, 6, 6, 3, 3), groups=2, out_channels=4)):
        x = rng.standard_normal((1, 4, 6, 6))
        w = rng.standard_normal((g.out_channels, g.group_in, 3, 3))
        y = F.conv2d(Tensor(x), Tensor(w), groups=g.groups, algo='direct')
        assert y.shape == g.output_shape
    assert [g.groups for g in calls] == [4, 4]


@pytest.mark.parametrize('budget', [1, 400000, 2 ** 30])   # one image, a few, one block of all
@pytest.mark.parametrize('g', [layer(8, 8, 40, 36, 3, 3, pad=(1, 1)),
                               layer(6, 4, 52, 50, 3, 2, stride=(2, 2), pad=(3, 1), dilation=(3, 2)),
                               layer(4, 4, 41, 41, 3, 3, stride=(2, 2), pad=(1, 1), m=3)],
                         ids=lambda g: g.describe().replace(' ', '_'))
def test_workspace_bounds_what_one_worker_allocates(g, budget, cpu_kernels, monkeypatch, rng):
    """On one worker each pass allocates at most the estimate beyond its output; nothing is kept.
    (The C kernels' buffers come from C's heap, which the trace does not see: their estimate stays
    under the allowance for small objects.)"""
    monkeypatch.setattr(depthwise, 'BLOCK_BYTES', budget)
    monkeypatch.setattr(depthwise, 'cpu_thread_pool', lambda: None)    # the NumPy sweeps' blocks
    monkeypatch.setattr(spectral, 'cpu_thread_pool', lambda: None)     # the C kernels' chunks (split_on_pool)
    monkeypatch.setattr(depthwise, 'cpu_workers', lambda: 1)
    x = rng.standard_normal((g.batch, g.in_channels, g.height, g.width))
    w = rng.standard_normal((g.out_channels, 1, g.kernel_h, g.kernel_w))
    gy = rng.standard_normal(g.output_shape)
    space = conv.get('direct').workspace(g, 8, 'cpu')
    assert space.kept == 0
    y, saved = depthwise.forward(x, w, g)
    assert saved.x is x
    ctx = depthwise.backward_setup(saved, gy, g)
    # Python objects, and NumPy's iterator buffers (up to bufsize elements per operand, any array size)
    small = 32768 + 3 * numpy.getbufsize() * 8
    for name, fn, out in (('forward', lambda: depthwise.forward(x, w, g), y.nbytes),
                          ('input gradient', lambda: depthwise.backward_input(ctx, g), x.nbytes),
                          ('weight gradient', lambda: depthwise.backward_weight(ctx, g),
                           (g.batch + 1) * w.nbytes * 2)):
        used = traced_peak(fn) - out
        assert used <= space.terms[name] + small, name
        assert space.terms[name] <= 3 * used + small, name


def test_workspace_on_the_gpu_is_one_block_of_everything(monkeypatch):
    g = layer(4, 3, 9, 10, 3, 3, stride=(2, 2), pad=(1, 1), m=2)
    gpu = conv.get('direct').workspace(g, 4, 'cuda')
    assert gpu.kept == 0
    assert gpu.terms == depthwise._block_bytes(g, depthwise._plan(g), 4, g.in_channels, g.batch)
    assert gpu.peak == max(gpu.terms.values()) >= conv.get('direct').workspace(g, 4, 'cpu').peak


def test_no_host_reads_on_the_device(host_reads, rng):
    """The device path never reads device data back to the host (no synchronisation per pass)."""
    import cupy
    g = layer(2, 3, 9, 8, 3, 3, stride=(2, 1), pad=(1, 1), m=2)
    x, w, gy = (cupy.asarray(rng.standard_normal(shape)) for shape in
                ((g.batch, g.in_channels, g.height, g.width), (g.out_channels, 1, 3, 3), g.output_shape))
    before = host_reads()
    y, saved = depthwise.forward(x, w, g)
    ctx = depthwise.backward_setup(saved, gy, g)
    gx, gw = depthwise.backward_input(ctx, g), depthwise.backward_weight(ctx, g)
    assert host_reads() == before
    assert all(isinstance(a, cupy.ndarray) for a in (y, gx, gw))


def test_each_setting_takes_its_path(cpu_kernels, monkeypatch, rng):
    """'compiled' runs the C kernels for float32 and float64 (never the NumPy blocks), 'numpy' the
    NumPy sweeps; other dtypes take the NumPy sweeps under either."""
    calls = []
    real = depthwise._over_blocks
    monkeypatch.setattr(depthwise, '_over_blocks', lambda *a: calls.append(1) or real(*a))
    g = layer(2, 3, 7, 9, 3, 3, pad=(1, 1), m=2)
    for dtype in (numpy.float32, numpy.float64):
        calls.clear()
        passes(*random_layer(g, rng, dtype), g)
        assert len(calls) == (0 if cpu_kernels == 'compiled' else 3), dtype
    calls.clear()
    x, w, gy = random_layer(g, rng, numpy.float16)
    y = passes(x, w, gy, g)[0]
    assert len(calls) == 3 and y.dtype == numpy.float16


@pytest.mark.parametrize('units', [1, 6, 60])   # the whole batch; 11 + 10 samples; 10 x 2 + 1
def test_compiled_weight_gradient_is_the_same_on_any_threads(units, monkeypatch, rng):
    """The C kernels in chunks across the thread pool (forced on for a small layer) give the same
    bits as in one call: the weight gradient sums fixed blocks of samples in a fixed order."""
    config.set(cpu_kernels='on')
    monkeypatch.setattr(depthwise, 'WEIGHT_UNITS', units)
    monkeypatch.setattr(depthwise, 'THREADED_MIN_MACS', 0)
    g = layer(21, 3, 9, 12, 3, 3, stride=(2, 1), pad=(1, 1), m=2)
    assert depthwise._weight_blocks(g) == {1: (21, 1), 6: (11, 2), 60: (2, 11)}[units]
    x, w, gy = random_layer(g, rng, numpy.float32)
    threaded = passes(x, w, gy, g)
    monkeypatch.setattr(spectral, 'cpu_thread_pool', lambda: None)    # the C kernels' chunks (split_on_pool)
    alone = passes(x, w, gy, g)
    for a, b in zip(threaded, alone):
        assert numpy.array_equal(a, b)
    assert_matches_reference(alone, x, w, gy, g, numpy.float32)


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
@pytest.mark.parametrize('g', CASES, ids=lambda g: g.describe().replace(' ', '_'))
def test_compiled_without_image_copies_matches_reference(g, dtype, monkeypatch, rng):
    """The C kernels' path that clips each tap to its columns (no copy between zero columns, as
    when the copy cannot be allocated)."""
    config.set(cpu_kernels='on')
    monkeypatch.setattr(depthwise, 'COPY_IMAGES', False)
    x, w, gy = random_layer(g, rng, dtype)
    assert_matches_reference(passes(x, w, gy, g), x, w, gy, g, dtype)


def test_bad_input_is_rejected_at_the_public_boundary(cpu_kernels, rng):
    """F.conv2d validates before either path runs: mixed dtypes and channel counts that do not fit
    the groups get the same messages with the C kernels as without."""
    x = Tensor(rng.standard_normal((1, 4, 6, 6)).astype(numpy.float32))
    with pytest.raises(TypeError, match='conv2d: expected x and w of the same floating dtype'):
        F.conv2d(x, Tensor(rng.standard_normal((4, 1, 3, 3))), groups=4, algo='direct')
    with pytest.raises(ValueError, match='conv2d: x has 4 channels but w expects 8'):
        F.conv2d(x, Tensor(rng.standard_normal((4, 2, 3, 3)).astype(numpy.float32)), groups=4, algo='direct')


@pytest.mark.parametrize('g', [layer(2, 460, 4, 5, 3, 3, pad=(1, 1)), layer(2, 2, 6, 6, 5, 5, pad=(2, 2), m=170)],
                         ids=['runs_of_455_channels', 'one_channel_a_run'])
def test_compiled_weight_gradient_in_runs_of_channels(g, rng):
    """The C weight gradient sums a run of channels sample by sample (at most 4096 sums at once):
    many channels take several runs, a large multiplier one channel a run."""
    config.set(cpu_kernels='on')
    x, w, gy = random_layer(g, rng, numpy.float64)
    assert_matches_reference(passes(x, w, gy, g), x, w, gy, g, numpy.float64)


@pytest.mark.parametrize('g', [CASES[0], CASES[3], CASES[13]], ids=lambda g: g.describe().replace(' ', '_'))
def test_nan_reaches_what_the_reference_says(g, cpu_kernels, rng):
    """A NaN in x or gy spreads to the outputs it takes part in, as in the reference (IEEE
    arithmetic, no fast-math). One difference: the reference and the NumPy sweeps multiply the
    padding's zeros, so a NaN output gradient at the border reaches every tap of gw; the C kernels
    form no products with padding rows, so there it reaches the taps that read real input."""
    x, w, gy = random_layer(g, rng, numpy.float32)
    x[0, 1, 2, 3] = numpy.nan
    gy[-1, 0, 0, g.out_w - 1] = numpy.nan
    want = depthwise_reference(*(a.astype(numpy.float64) for a in (x, w, gy)), g)
    for name, a, b in zip(('y', 'gx', 'gw'), passes(x, w, gy, g), want):
        assert numpy.isnan(a).any(), name
        if name == 'gw' and cpu_kernels == 'compiled':
            assert not (numpy.isnan(a) & ~numpy.isnan(b)).any()
        else:
            numpy.testing.assert_array_equal(numpy.isnan(a), numpy.isnan(b), err_msg=name)
