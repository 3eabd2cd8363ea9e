"""direct's own paths: batches split across the CPU thread pool in uneven chunks, groups, and the
dtype of every pass (the algorithm-wide reference tests use batches of at most 3)."""
import numpy
import pytest

from minifft import Tensor, backend
from minifft import functions as F
from tests.conv.reference import conv2d_reference
from tests.conv.test_groups import grouped_reference


@pytest.mark.parametrize('case', [  # (S, f, f', H, W, k, stride, padding, groups)
    (11, 3, 5, 9, 7, 5, 1, 2, 1),      # more samples than chunks, uneven chunks
    (13, 4, 6, 8, 11, 3, 2, 1, 2),     # grouped, strided
    (9, 2, 3, 6, 6, 1, 1, 0, 1),       # 1x1 kernel, no padding: the input is used as it is
    (5, 6, 4, 7, 9, 3, 1, 1, 2),       # f' <= f, stride 1: input gradient as a correlation of gy
    (4, 4, 4, 5, 6, 2, 1, 0, 1),       # the same with an even kernel, no padding
    (3, 4, 2, 5, 5, 1, 1, 1, 1),       # padding beyond the kernel's span: col2im again
])
def test_direct_batches_in_chunks_match_reference(case, device, rng):
    S, f, fo, H, W, k, stride, padding, groups = case
    x, w = rng.standard_normal((S, f, H, W)), rng.standard_normal((fo, f // groups, k, k))
    xt, wt = Tensor(x, device=device, requires_grad=True), Tensor(w, device=device, requires_grad=True)
    y = F.conv2d(xt, wt, stride=stride, padding=padding, groups=groups, algo='direct')
    gy = rng.standard_normal(y.shape)
    y.backward(backend.to_device(gy, device))
    want = grouped_reference(x, w, gy, (stride,) * 2, (padding,) * 2, groups)
    for name, got, ref in zip(('y', 'gx', 'gw'), (y.data, xt.grad, wt.grad), want):
        got = backend.to_numpy(got)
        assert got.shape == ref.shape, name
        assert numpy.abs(got - ref).max() <= 1e-10 * max(numpy.abs(ref).max(), 1.0), name


def test_direct_keeps_float32(device, rng):
    x = rng.standard_normal((10, 3, 8, 8)).astype(numpy.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(numpy.float32)
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
def test_direct_input_gradient_as_correlation_with_dilation(case, device, rng):
    f, fo, k, padding, dilation = case
    x, w = rng.standard_normal((3, f, 9, 8)), rng.standard_normal((fo, f, k, k))
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
