"""Every algorithm against the naive reference, forward and both gradients, on many shapes."""
import numpy
import pytest

from minifft import Tensor, backend
from minifft import functions as F
from minifft.conv.fft import transform_size
from tests.conv.reference import conv2d_reference
from tests.conv.registered import algorithms, require

ALGOS = algorithms()


def random_cases(count, seed=7):
    rng = numpy.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        S, f, fo = rng.integers(1, 4), rng.integers(1, 5), rng.integers(1, 5)
        H, W = rng.integers(1, 12, size=2)
        kh, kw = rng.integers(1, 8, size=2)
        sh, sw = rng.integers(1, 4, size=2)
        ph, pw = rng.integers(0, 4, size=2)
        if kh <= H + 2 * ph and kw <= W + 2 * pw:
            cases.append(tuple(int(v) for v in (S, f, fo, H, W, kh, kw, sh, sw, ph, pw)))
    return cases


EDGE_CASES = [
    (2, 3, 4, 9, 9, 3, 3, 1, 1, 0, 0),     # plain
    (1, 2, 3, 7, 7, 7, 7, 1, 1, 0, 0),     # k = n: a 1x1 output
    (2, 3, 2, 8, 5, 1, 1, 1, 1, 0, 0),     # k = 1, non-square input
    (2, 2, 3, 10, 7, 5, 2, 1, 1, 2, 1),    # non-square kernel, padding
    (1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0),     # everything 1
    (2, 2, 2, 4, 4, 7, 7, 1, 1, 2, 2),     # kernel larger than the input, smaller than padded
    (3, 2, 2, 11, 13, 3, 4, 2, 3, 1, 2),   # stride > 1 both ways, odd sizes
    (1, 3, 5, 17, 17, 9, 9, 3, 3, 4, 4),   # large padding with stride
]


@pytest.mark.parametrize('algo', ALGOS)
@pytest.mark.parametrize('case', EDGE_CASES + random_cases(40))
def test_matches_naive_reference_float64(algo, case, device, cpu_kernels, rng):
    """With the CPU's C kernels and without (cpu_kernels): direct's im2col.c, among others."""
    S, f, fo, H, W, kh, kw, sh, sw, ph, pw = case
    require(algo, device, (S, f, H, W), (fo, f, kh, kw), stride=(sh, sw), padding=(ph, pw))
    x = rng.standard_normal((S, f, H, W))
    w = rng.standard_normal((fo, f, kh, kw))
    xt, wt = Tensor(x, device=device, requires_grad=True), Tensor(w, device=device, requires_grad=True)
    y = F.conv2d(xt, wt, stride=(sh, sw), padding=(ph, pw), algo=algo)
    assert y.creator.algorithm.name == algo
    gy = rng.standard_normal(y.shape)
    y.backward(backend.to_device(gy, device))
    ref_y, ref_gx, ref_gw = conv2d_reference(x, w, gy, (sh, sw), (ph, pw))
    for name, got, want in (('y', y.data, ref_y), ('gx', xt.grad, ref_gx), ('gw', wt.grad, ref_gw)):
        got = backend.to_numpy(got)
        assert got.shape == want.shape, name
        # inputs are O(1); a gradient that is exactly zero (stride skipping input) gets an absolute bound
        scale = max(numpy.abs(want).max(), 1.0)
        assert numpy.abs(got - want).max() <= 1e-10 * scale, f"{algo} {name} {case}"


def test_transform_size_is_smooth_and_never_above_padded(rng):
    import scipy.fft
    for n, k, p in [(32, 5, 2), (34, 3, 0), (13, 13, 0), (7, 3, 5), (1, 1, 0), (100, 11, 5)]:
        N = transform_size(n, k, p, scipy.fft)
        assert max(n + p, n + 2 * p - k + 1, k) <= N <= scipy.fft.next_fast_len(n + 2 * p, real=True)
    assert transform_size(34, 3, 0, scipy.fft) == 36     # not 64: no power-of-two rounding


@pytest.mark.parametrize('algo', ALGOS)
def test_bias_and_dtype_kept(algo, device, rng):
    require(algo, device)
    x = rng.standard_normal((2, 3, 6, 6)).astype(numpy.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(numpy.float32)
    b = numpy.arange(4, dtype=numpy.float32)
    xt, wt = Tensor(x, requires_grad=True, device=device), Tensor(w, requires_grad=True, device=device)
    y = F.conv2d(xt, wt, Tensor(b, device=device), algo=algo)
    assert y.dtype == numpy.float32 and y.data.flags.c_contiguous
    y.backward(backend.to_device(numpy.ones(y.shape, numpy.float32), device))
    assert xt.grad.dtype == wt.grad.dtype == numpy.float32   # gradients keep the input's dtype
    ref = conv2d_reference(x.astype(float), w.astype(float)) + numpy.arange(4)[:, None, None]
    numpy.testing.assert_allclose(backend.to_numpy(y.data), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('algo', ALGOS)
def test_float16_stays_float16_whatever_the_algorithm(algo, device, rng):
    """Same dtype rule for every algorithm (fft computes half precision in float32 and rounds back),
    so under 'auto' the output dtype cannot depend on which algorithm won the timing."""
    require(algo, device)
    x = rng.standard_normal((2, 3, 7, 7)).astype(numpy.float16)
    w = rng.standard_normal((4, 3, 3, 3)).astype(numpy.float16)
    xt, wt = Tensor(x, requires_grad=True, device=device), Tensor(w, requires_grad=True, device=device)
    y = F.conv2d(xt, wt, padding=1, algo=algo)
    assert y.dtype == numpy.float16
    y.backward(backend.to_device(numpy.ones(y.shape, numpy.float16), device))
    assert xt.grad.dtype == wt.grad.dtype == numpy.float16
    ref = conv2d_reference(x.astype(float), w.astype(float), padding=(1, 1))
    numpy.testing.assert_allclose(backend.to_numpy(y.data).astype(float), ref, rtol=2e-2, atol=2e-2)


def test_one_nan_pixel_spreads_over_its_sample_with_fft_only(device):
    """Documented behaviour, not a bug to fix: a transform mixes every pixel of an image, so one NaN
    in x makes every fft output of that sample NaN, while direct keeps it to the windows that see it.
    diagnostics.fft_accuracy (train.py --check-accuracy) points at such inputs."""
    x = numpy.ones((2, 1, 8, 8))
    x[0, 0, 3, 3] = numpy.nan
    w = numpy.ones((1, 1, 3, 3))
    counts = {}
    for algo in ('fft', 'direct'):
        y = F.conv2d(Tensor(x, device=device), Tensor(w, device=device), algo=algo).numpy()
        assert numpy.isfinite(y[1]).all()            # the other sample is untouched
        counts[algo] = int(numpy.isnan(y[0]).sum())
    assert counts == {'fft': 36, 'direct': 9}


@pytest.mark.parametrize('start,step,count,n', [(0, 1, 5, 8), (-2, 1, 8, 9), (-3, -1, 7, 10), (0, -3, 4, 12),
                                                (5, 2, 6, 11), (-1, 3, 3, 4), (0, -1, 1, 1)])
def test_progression_runs_cover_the_modular_indices(start, step, count, n):
    from minifft.conv.fft import progression_runs
    a = numpy.arange(n) * 10
    got = numpy.empty(count, int)
    runs = list(progression_runs(start, step, count, n))
    for dst, src in runs:
        got[dst] = a[src]
    numpy.testing.assert_array_equal(got, a[(start + step * numpy.arange(count)) % n])
    assert len(runs) <= 1 + (count * abs(step) - 1) // n + 1
