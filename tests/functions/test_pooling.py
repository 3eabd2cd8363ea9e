import numpy
import pytest

from minifft import Tensor
from minifft import functions as F
from minifft.backend import to_device, to_numpy
from minifft.testing import check_backward


def naive_pool(x, k, s, p, reduce, pad_value):
    n, c, h, w = x.shape
    xp = numpy.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=pad_value)
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    y = numpy.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = reduce(xp[:, :, i * s:i * s + k, j * s:j * s + k], axis=(2, 3))
    return y


@pytest.mark.parametrize('k,s,p', [(2, None, 0), (3, 2, 1), (3, 1, 0), (2, 3, 1)])
def test_max_pool(k, s, p, rng, device, cpu_kernels):
    x = rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 10.0  # distinct values: no ties
    y = F.max_pool2d(Tensor(x, device=device), k, s, p).numpy()
    numpy.testing.assert_allclose(y, naive_pool(x, k, s or k, p, numpy.max, -numpy.inf))
    check_backward(lambda t: F.max_pool2d(t, k, s, p), [to_device(x, device)])


@pytest.mark.parametrize('k,s,p', [(2, None, 0), (3, 2, 1), (3, 1, 0)])
def test_avg_pool(k, s, p, rng, device):
    x = rng.standard_normal((2, 3, 7, 6))
    y = F.avg_pool2d(Tensor(x, device=device), k, s, p).numpy()
    numpy.testing.assert_allclose(y, naive_pool(x, k, s or k, p, numpy.mean, 0.0))
    check_backward(lambda t: F.avg_pool2d(t, k, s, p), [to_device(x, device)])


@pytest.mark.parametrize('k,s,p', [(2, None, 0), (3, 2, 1), (3, 1, 1), (2, 3, 0)])
@pytest.mark.parametrize('pool', ['max', 'avg'])
def test_pool_odd_sizes_and_float32(pool, k, s, p, rng, device, cpu_kernels):
    """Odd H, W (windows do not reach the last row or column), overlapping, padded and gapped
    windows; float32 in, float32 out and gradient."""
    x = rng.standard_normal((3, 2, 9, 7)).astype(numpy.float32)
    op = F.max_pool2d if pool == 'max' else F.avg_pool2d
    reduce, pad_value = (numpy.max, -numpy.inf) if pool == 'max' else (numpy.mean, 0.0)
    t = Tensor(x, device=device, requires_grad=True)
    y = op(t, k, s, p)
    assert y.dtype == numpy.float32
    numpy.testing.assert_allclose(y.numpy(), naive_pool(x, k, s or k, p, reduce, pad_value), rtol=1e-6)
    y.sum().backward()
    assert t.grad.dtype == numpy.float32 and t.grad.shape == x.shape
    check_backward(lambda u: op(u, k, s, p), [to_device(x.astype(numpy.float64), device)])


@pytest.mark.parametrize('k,s', [(2, None), (3, 1)])
def test_max_pool_ties_send_the_gradient_to_the_first_maximum(k, s, device, cpu_kernels):
    """As PyTorch: with equal values in a window, the first in row-major order gets the gradient,
    once, also where overlapping windows share it."""
    x = numpy.zeros((1, 1, 4, 4))
    y = Tensor(x, device=device, requires_grad=True)
    F.max_pool2d(y, k, s).sum().backward()
    expected = numpy.zeros((4, 4))
    for i in range(0, 4 - k + 1, s or k):
        for j in range(0, 4 - k + 1, s or k):
            expected[i, j] += 1
    numpy.testing.assert_array_equal(to_numpy(y.grad)[0, 0], expected)


def test_max_pool_propagates_nan_to_its_position(device, cpu_kernels):
    """A NaN anywhere in a window is that window's maximum (PyTorch's rule), and its gradient goes
    to the NaN's position."""
    x = numpy.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = numpy.nan      # last offset of no window, third of the first
    x[0, 0, 0, 3] = numpy.nan      # second offset of the second window
    t = Tensor(x, device=device, requires_grad=True)
    y = F.max_pool2d(t, 2)
    out = y.numpy()[0, 0]
    assert numpy.isnan(out[0, 0]) and numpy.isnan(out[0, 1])
    numpy.testing.assert_array_equal(out[1], [13.0, 15.0])
    y.sum().backward()
    g = to_numpy(t.grad)[0, 0]
    expected = numpy.zeros((4, 4))
    expected[1, 0] = expected[0, 3] = expected[3, 1] = expected[3, 3] = 1
    numpy.testing.assert_array_equal(g, expected)


def test_max_pool_window_of_more_than_256_offsets(rng, device, cpu_kernels):
    """Windows with more offsets than a byte can number keep a wider index."""
    x = rng.permutation(2 * 18 * 19).reshape(1, 2, 18, 19) / 7.0
    t = Tensor(x, device=device, requires_grad=True)
    y = F.max_pool2d(t, 17, 1)
    numpy.testing.assert_allclose(y.numpy(), naive_pool(x, 17, 1, 0, numpy.max, -numpy.inf))
    y.sum().backward()
    expected = numpy.zeros_like(x)   # distinct values: each window's maximum gets one
    for c in range(2):
        for i in range(2):
            for j in range(3):
                a, b = numpy.unravel_index(numpy.argmax(x[0, c, i:i + 17, j:j + 17]), (17, 17))
                expected[0, c, i + a, j + b] += 1
    numpy.testing.assert_array_equal(to_numpy(t.grad), expected)


def test_pool_errors():
    with pytest.raises(ValueError, match="max_pool2d: expected input"):
        F.max_pool2d(Tensor(numpy.ones((3, 4, 4))), 2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.avg_pool2d(Tensor(numpy.ones((1, 1, 2, 2))), 3)


def test_max_pool_makes_no_host_reads(host_reads, rng):
    x = Tensor(rng.standard_normal((2, 3, 8, 8)), device='cuda', requires_grad=True)
    F.max_pool2d(x, 3, 2, 1).sum().backward()
    assert host_reads() == 0  # no boolean-mask assignment (each is a GPU sync)


@pytest.mark.parametrize('k,s,p', [(2, None, 0), (2, 2, 1), (3, 2, 1), (3, 1, 1), (2, 3, 0), ((3, 2), (2, 1), (1, 0)),
                                   ((1, 4), (3, 2), (0, 2))])
@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
def test_max_pool_kernels_on_odd_shapes(k, s, p, dtype, rng, cpu_kernels):
    """Both CPU paths against the naive reference: odd and non-square planes, rectangular windows,
    padding on one axis, gaps, overlaps; non-contiguous input; the gradient scattered to the
    maximum of each window (distinct values), added where windows share it."""
    x = (rng.permutation(3 * 4 * 11 * 13).reshape(3, 4, 13, 11).transpose(0, 1, 3, 2) / 700.0).astype(dtype)
    assert not x.flags.c_contiguous
    kh, kw = (k, k) if isinstance(k, int) else k
    sh, sw = (kh, kw) if s is None else ((s, s) if isinstance(s, int) else s)
    ph, pw = (p, p) if isinstance(p, int) else p
    xpad = numpy.pad(x.astype(numpy.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-numpy.inf)
    oh, ow = (x.shape[2] + 2 * ph - kh) // sh + 1, (x.shape[3] + 2 * pw - kw) // sw + 1
    expected, gx = numpy.empty((3, 4, oh, ow)), numpy.zeros(xpad.shape)
    gy = rng.standard_normal(expected.shape)
    nn, cc = numpy.indices((3, 4))
    for i in range(oh):
        for j in range(ow):
            window = xpad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(3, 4, -1)
            expected[:, :, i, j] = window.max(axis=2)
            a, b = numpy.divmod(window.argmax(axis=2), kw)
            numpy.add.at(gx, (nn, cc, i * sh + a, j * sw + b), gy[:, :, i, j])
    t = Tensor(x, requires_grad=True)
    y = F.max_pool2d(t, k, s, p)
    assert y.dtype == dtype
    numpy.testing.assert_array_equal(y.numpy(), expected.astype(dtype))
    y.backward(gy.astype(dtype))
    assert t.grad.dtype == dtype
    numpy.testing.assert_allclose(t.grad, gx[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]], rtol=1e-6,
                                  atol=1e-6 if dtype == numpy.float32 else 0)  # float32 sums where windows overlap
    check_backward(lambda u: F.max_pool2d(u, k, s, p), [numpy.ascontiguousarray(x, numpy.float64)])


def test_max_pool_kernels_nan_wins_over_infinity(cpu_kernels):
    """NaN beats +inf and any later value; -inf everywhere still has a maximum."""
    x = numpy.full((1, 2, 2, 4), -numpy.inf, numpy.float32)
    x[0, 0, 0, 0], x[0, 0, 1, 1], x[0, 0, 0, 3] = numpy.inf, numpy.nan, numpy.inf
    y = F.max_pool2d(Tensor(x), 2).numpy()
    assert numpy.isnan(y[0, 0, 0, 0]) and y[0, 0, 0, 1] == numpy.inf
    numpy.testing.assert_array_equal(y[0, 1], [[-numpy.inf, -numpy.inf]])


@pytest.mark.parametrize('k,s,p', [(2, None, 0), (3, 1, 1)])
def test_max_pool_kernels_in_chunks_on_the_thread_pool(k, s, p, rng, cpu_kernels, monkeypatch):
    """Planes split across the thread pool give what one piece gives."""
    x = rng.standard_normal((3, 5, 9, 8))
    gy = rng.standard_normal(F.max_pool2d(Tensor(x), k, s, p).shape)
    results = []
    for work in (float('inf'), 0):
        monkeypatch.setattr('minifft.functions._kernels.PARALLEL_MIN_WORK', work)
        t = Tensor(x, requires_grad=True)
        y = F.max_pool2d(t, k, s, p)
        y.backward(gy)
        results.append((y.numpy(), t.grad))
    numpy.testing.assert_array_equal(results[0][0], results[1][0])
    numpy.testing.assert_array_equal(results[0][1], results[1][1])
