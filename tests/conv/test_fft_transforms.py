"""The FFT algorithm transforms each of x, w and gy exactly once: 3 forward + 3 inverse sets."""
from collections import Counter

import numpy
import pytest
import scipy.fft

from minifft import Tensor, backend
from minifft.conv import fft
from minifft import functions as F
from tests.conv.registered import algorithms, require


class CountingFFT:
    """scipy.fft with every call counted by function name."""

    def __init__(self):
        self.calls = Counter()

    def __getattr__(self, name):
        target = getattr(scipy.fft, name)
        if name == 'next_fast_len':
            return target

        def counted(*args, **kwargs):
            self.calls[name] += 1
            return target(*args, **kwargs)
        return counted


@pytest.fixture
def fft_library():
    """The FFT library's path, whose calls these tests count: with the C kernels, kernels/fft.c
    runs every 2-3-5-smooth size instead (test_smooth_sizes_run_in_the_c_kernel)."""
    from minifft import config
    with config.using(cpu_kernels='off'):
        yield


@pytest.mark.parametrize('stride,padding', [(1, 0), (2, 1)])
def test_three_forward_and_three_inverse_sets_per_step(monkeypatch, stride, padding, fft_library, rng):
    counter = CountingFFT()
    monkeypatch.setattr(backend, 'fft_module', lambda array: counter)
    monkeypatch.setattr(fft, 'DFT_GEMM_MAX_RATIO', 0)    # every transform through the FFT library
    x = Tensor(rng.standard_normal((2, 3, 9, 9)).astype(numpy.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 3, 3, 3)).astype(numpy.float32), requires_grad=True)
    for step in range(2):
        counter.calls.clear()
        F.conv2d(x, w, stride=stride, padding=padding, algo='fft').sum().backward()
        # forward sets: x, w, gy; inverse sets: y, dx, dw; on the CPU every set runs in two
        # stages (real along W, then complex along H); an inverse's real stage runs once per run
        # of kept rows (at most two: a wrap-around, as dx's reversed rows)
        calls = dict(counter.calls)
        irfft = calls.pop('irfft')
        assert calls == dict(rfft=3, fft=3, ifft=3) and 3 <= irfft <= 6, f"step {step}: {dict(counter.calls)}"


def test_small_kernel_transforms_are_dft_gemms_on_the_cpu(monkeypatch, fft_library, rng):
    """w's spectrum and dw's inverse run as DFT-matrix GEMMs (x, gy, y, dx still through the FFT),
    with the same results as the FFT library's."""
    counter = CountingFFT()
    monkeypatch.setattr(backend, 'fft_module', lambda array: counter)
    x = rng.standard_normal((2, 3, 9, 9))
    w = rng.standard_normal((4, 3, 3, 3))
    grads = {}
    for ratio in (fft.DFT_GEMM_MAX_RATIO, 0):
        monkeypatch.setattr(fft, 'DFT_GEMM_MAX_RATIO', ratio)
        xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        counter.calls.clear()
        y = F.conv2d(xt, wt, padding=1, algo='fft')
        (y * y).sum().backward()
        grads[ratio] = (y.data, xt.grad, wt.grad)
        if ratio:   # y's rows (from offset -1) wrap around: two runs of its real stage
            assert counter.calls == Counter(rfft=2, fft=2, ifft=2, irfft=3)
    for a, b in zip(*grads.values()):
        numpy.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_plans_are_made_in_the_first_step_only(fft_library, rng):
    from minifft import nn
    from minifft.conv import fft
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, algo='fft'), nn.ReLU(),
                          nn.Conv2d(4, 2, 5, stride=2, algo='fft'))
    x = Tensor(rng.standard_normal((2, 3, 12, 12)).astype(numpy.float32))
    fft.PLAN_KEYS.clear()
    model(x).sum().backward()
    first = set(fft.PLAN_KEYS)
    # per layer: 3 forward and 3 inverse sets of 2 stages each (on the CPU), an inverse's second
    # stage once per run of kept rows (at most 2); the first layer's input needs no gradient, so
    # its dx inverse is skipped; equal shapes share a plan
    assert 0 < len(first) <= 15 + 12
    for _ in range(2):
        model(x).sum().backward()
    assert fft.PLAN_KEYS == first


class OrderKeepingFFT:
    """scipy.fft returning an F-ordered input's transform in F order, as CuPy's rfft2 does (an
    axis-swapped view): the layouts _Spectra must not depend on."""

    def __getattr__(self, name):
        target = getattr(scipy.fft, name)
        if name == 'next_fast_len':
            return target

        def keeping(a, *args, **kwargs):
            out = target(a, *args, **kwargs)
            return numpy.asfortranarray(out) if a.flags.f_contiguous and not a.flags.c_contiguous else out
        return keeping


def layouts(rng):
    a = rng.standard_normal((3, 4, 9, 10))
    return {'C': a, 'F': numpy.asfortranarray(a), 'strided': rng.standard_normal((3, 8, 9, 20))[:, ::2, :, ::2],
            'transposed': rng.standard_normal((10, 9, 4, 3)).transpose(3, 2, 1, 0)}


@pytest.mark.parametrize('bins_first', [True, False])
@pytest.mark.parametrize('layout', ['C', 'F', 'strided', 'transposed'])
@pytest.mark.parametrize('s', [(12, 10), (16, 16)])     # the FFT library; kernels/fft.c where compiled
def test_spectra_layout_is_guaranteed_whatever_the_input_order(monkeypatch, bins_first, layout, s, cpu_kernels, rng):
    from minifft.conv.fft import _Spectra
    monkeypatch.setattr(backend, 'fft_module', lambda array: OrderKeepingFFT())
    a = layouts(rng)[layout]
    sp = _Spectra(a, bins_first)
    for spectrum in (sp.rfft2(a, s), sp.rfft2_reversed(a, s, (1, 1))):
        assert spectrum.shape == (3, 4, s[0], s[1] // 2 + 1)
        memory = spectrum.transpose(2, 3, 0, 1) if bins_first else spectrum   # the promised memory order
        assert memory.flags.c_contiguous, (layout, spectrum.strides)
    numpy.testing.assert_allclose(sp.rfft2(a, s), scipy.fft.rfft2(a, s=s), atol=1e-12)


@pytest.mark.parametrize('bins_first', [True, False])
def test_f_ordered_input_through_both_layouts_matches_the_reference(monkeypatch, bins_first, rng):
    """A whole layer on an F-ordered input, with each spectrum layout (the GPU RawKernel's bins-last
    and the BLAS/cuBLAS bins-first), against the C-ordered input's result."""
    from minifft.conv import FFTConvolution, spectral
    from minifft.conv.geometry import ConvGeometry
    monkeypatch.setattr(backend, 'fft_module', lambda array: OrderKeepingFFT())
    product = spectral.MatmulProduct()
    product.bins_first = bins_first   # the CPU product reads either layout; the layout is under test
    monkeypatch.setitem(spectral.PRODUCTS, 'layout-test', product)
    algorithm = FFTConvolution(product='layout-test')
    g = ConvGeometry(2, 3, 4, 9, 9, 3, 3, pad_h=1, pad_w=1)
    x, w = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3))
    results = []
    for xin in (x, numpy.asfortranarray(x)):
        y, saved = algorithm.forward(xin, numpy.asfortranarray(w), g)
        (S, f), bins, item = x.shape[:2], saved.X.shape[-1], saved.X.itemsize
        # X (G=1, S, f, N0, N1//2+1) over (N0, bins, S, f) memory, or (S, f, N0, bins)
        expected = (bins * S * f * item, S * f * item) if bins_first else (bins * item, item)
        assert saved.X.strides[-2:] == expected
        results.append(y)
    numpy.testing.assert_allclose(results[1], results[0], atol=1e-12)


@pytest.mark.parametrize('algo', algorithms())
def test_any_input_memory_order_on_every_algorithm(algo, device, rng):
    """F-ordered and strided inputs give the C-ordered input's results, on every device (on 'cuda'
    CuPy's rfft2 returns an F-ordered input's spectrum axis-swapped; the RawKernel needs bins last)."""
    require(algo, device)
    x = rng.standard_normal((2, 3, 9, 9)).astype(numpy.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(numpy.float32)
    gy = rng.standard_normal((2, 4, 9, 9)).astype(numpy.float32)
    results = []
    for xin, win in ((x, w), (numpy.asfortranarray(x), numpy.asfortranarray(w))):
        xt = Tensor(backend.to_device(xin, device), requires_grad=True)
        wt = Tensor(backend.to_device(win, device), requires_grad=True)
        assert xt.data.flags.f_contiguous == (xin is not x)
        y = F.conv2d(xt, wt, padding=1, algo=algo)
        y.backward(backend.to_device(gy, device))
        results.append([backend.to_numpy(a) for a in (y.data, xt.grad, wt.grad)])
    for c_order, f_order in zip(*results):
        numpy.testing.assert_allclose(f_order, c_order, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('step', [(1, 1), (2, 3)])
@pytest.mark.parametrize('s', [(12, 10), (9, 7), (16, 16), (8, 32)])
def test_staged_transforms_match_the_library_rfft2(s, step, cpu_kernels, rng):
    """The CPU's two-stage transforms (real along W, complex along H in place; the reversed signal's
    first stage on its data rows only; kernels/fft.c at powers of two) against scipy's rfft2 of the
    same padded, reversed signal."""
    from minifft.conv.fft import _Spectra
    a = rng.standard_normal((3, 2, 4, 3))
    sp = _Spectra(a, bins_first=True)
    assert sp.staged
    numpy.testing.assert_allclose(sp.rfft2(a, s), scipy.fft.rfft2(a, s=s), atol=1e-12)
    placed = numpy.zeros((3, 2) + s)
    for i in range(4):
        for j in range(3):
            placed[..., (-i * step[0]) % s[0], (-j * step[1]) % s[1]] = a[..., i, j]
    numpy.testing.assert_allclose(sp.rfft2_reversed(a, s, step), scipy.fft.rfft2(placed), atol=1e-12)


@pytest.mark.parametrize('positions', ['kernel', 'output'])   # DFT-matrix GEMM, two-stage FFT
@pytest.mark.parametrize('memory', [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_inverse_gathers_read_any_memory_order_of_the_leading_axes(positions, memory, cpu_kernels, rng):
    """A product may store the spectrum's leading axes in another order than their logical one (the
    CPU product's transposed GEMM keeps the batch fastest): the inverse reads them in memory order and
    gives the logical result, with the spectrum it may overwrite taken as used."""
    from minifft.conv.fft import _Spectra
    s = (16, 16)
    lead = (2, 3, 4)
    spectrum = scipy.fft.rfft2(rng.standard_normal(lead + s))
    rows, cols = ((-1, 1, 3), (-1, 1, 3)) if positions == 'kernel' else ((-3, 1, 11), (-2, -1, 13))
    at = [[(start + i * step) % 16 for i in range(count)] for start, step, count in (rows, cols)]
    want = scipy.fft.irfft2(spectrum, s=s)[..., at[0], :][..., at[1]]
    stored = numpy.ascontiguousarray(spectrum.transpose((3, 4) + memory))          # bins first, then `memory`
    view = stored.transpose(tuple(2 + memory.index(i) for i in range(3)) + (0, 1))  # logical (2, 3, 4, 16, 9)
    assert view.shape == spectrum.shape
    got = _Spectra(view, bins_first=True).irfft2_gather(view, s, rows, cols)
    assert got.shape == lead + (rows[2], cols[2]) and got.flags.c_contiguous
    numpy.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize('n', [14, 15])     # N = 16, 18 (p = 2)
def test_smooth_sizes_run_in_the_c_kernel(monkeypatch, n, rng):
    """With the C kernels, every transform of a layer at 2-3-5-smooth sizes runs in kernels/fft.c,
    with no FFT library call, and gives the library path's results."""
    from minifft import config
    from minifft.kernels import host
    if host.compiler() is None:
        pytest.skip("no C compiler here")
    counter = CountingFFT()
    monkeypatch.setattr(backend, 'fft_module', lambda array: counter)
    monkeypatch.setattr(fft, 'DFT_GEMM_MAX_RATIO', 0)    # every transform through the FFT path
    x = rng.standard_normal((3, 5, n, n)).astype(numpy.float32)
    w = rng.standard_normal((4, 5, 5, 5)).astype(numpy.float32)
    calls, results = {}, {}
    for setting in ('on', 'off'):
        with config.using(cpu_kernels=setting):
            counter.calls.clear()
            xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
            y = F.conv2d(xt, wt, padding=2, algo='fft')
            (y * y).sum().backward()
            calls[setting], results[setting] = sum(counter.calls.values()), [y.data, xt.grad, wt.grad]
    assert calls['on'] == 0 and calls['off'] >= 12, calls
    for a, b in zip(results['on'], results['off']):
        numpy.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * numpy.abs(b).max())


@pytest.mark.parametrize('share', [0.0, 1.0])   # never / always pruned
def test_reversed_spectrum_with_and_without_pruned_rows(monkeypatch, share, rng):
    """Both ways of the staged reversed transform (first stage on the data rows only, or on all
    rows) give the library's rfft2 of the reversed, dilated signal."""
    from minifft.conv import fft as fft_module
    from minifft.conv.fft import _Spectra
    monkeypatch.setattr(fft_module, 'PRUNE_MAX_SHARE', share)
    a = rng.standard_normal((2, 3, 5, 4))
    s, step = (13, 12), (2, 1)
    placed = numpy.zeros((2, 3) + s)
    for i in range(5):
        for j in range(4):
            placed[..., (-i * step[0]) % s[0], (-j * step[1]) % s[1]] = a[..., i, j]
    got = _Spectra(a, bins_first=True).rfft2_reversed(a, s, step)
    numpy.testing.assert_allclose(got, scipy.fft.rfft2(placed), atol=1e-12)


@pytest.mark.parametrize('layer', [(8, 4, 6, 32, 5, 2), (4, 6, 8, 30, 7, 0)])   # N = 36, 30
def test_workspace_estimate_bounds_a_steps_traced_peak(layer, cpu_kernels, rng):
    """The fft's workspace model (spectral_bytes) on either CPU path, against the NumPy memory a
    whole step allocates beyond its inputs and outputs (the C kernels' own scratch is malloc'ed,
    outside tracemalloc: the model counts it, so it only adds to the margin here)."""
    from minifft.conv.geometry import ConvGeometry
    from tests.conv.test_workspace import traced_peak
    S, f, fo, n, k, p = layer
    g = ConvGeometry(S, f, fo, n, n, k, k, pad_h=p, pad_w=p)
    x = Tensor(rng.standard_normal((S, f, n, n)).astype(numpy.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((fo, f, k, k)).astype(numpy.float32), requires_grad=True)
    gy = rng.standard_normal(g.output_shape).astype(numpy.float32)

    def step():
        x.grad = w.grad = None
        F.conv2d(x, w, padding=p, algo='fft').backward(gy)
    step()
    io_bytes = 2 * x.data.nbytes + 2 * gy.nbytes + 2 * w.data.nbytes    # x, gx, y, gy, w, gw
    model = fft.spectral_bytes(g, 4, 'cpu')
    assert ('kernel scratch' in model.terms) == (cpu_kernels == 'compiled')
    assert traced_peak(step) - io_bytes <= model.peak


@pytest.mark.parametrize('layer', [(4, 6, 8, 32, 9, 0), (4, 5, 6, 30, 5, 2)])   # N = 32, 36
def test_float32_layer_error_with_the_c_kernels_at_the_library_level(layer, rng):
    """A whole float32 step (y, gx, gw) with kernels/fft.c against the float64 result, beside the
    FFT library path's float32 error on the same data: no worse than twice it."""
    from minifft import config
    from minifft.kernels import host
    if host.compiler() is None:
        pytest.skip("no C compiler here")
    S, f, fo, n, k, p = layer
    x, w = rng.standard_normal((S, f, n, n)), rng.standard_normal((fo, f, k, k))
    gy = rng.standard_normal((S, fo, n + 2 * p - k + 1, n + 2 * p - k + 1))

    def step(dtype):
        xt, wt = Tensor(x.astype(dtype), requires_grad=True), Tensor(w.astype(dtype), requires_grad=True)
        y = F.conv2d(xt, wt, padding=p, algo='fft')
        y.backward(gy.astype(dtype))
        return y.data, xt.grad, wt.grad
    with config.using(cpu_kernels='off'):
        exact, library = step(numpy.float64), step(numpy.float32)
    with config.using(cpu_kernels='on'):
        ours = step(numpy.float32)
    for name, want, lib, got in zip(('y', 'gx', 'gw'), exact, library, ours):
        scale = numpy.abs(want).max()
        assert numpy.abs(got - want).max() <= 2 * numpy.abs(lib - want).max() + 1e-7 * scale, name
