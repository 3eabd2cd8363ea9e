"""Strided FFT convolution through the polyphase decomposition."""
import numpy
import pytest

from minifft import Tensor, backend
from minifft.conv import fft
from minifft import functions as F
from minifft.conv import polyphase
from minifft.conv import Chunked, DirectConvolution, FFTConvolution, Polyphase
from minifft.conv.geometry import ConvGeometry
from tests.conv.reference import conv2d_reference

CASES = [  # (S, f, f', H, W, kh, kw, sh, sw, ph, pw): s = 2, 3, odd sizes, padding
    (2, 3, 4, 11, 11, 3, 3, 2, 2, 1, 1), (1, 2, 3, 13, 9, 5, 4, 3, 3, 2, 1), (2, 2, 2, 7, 10, 7, 3, 2, 3, 0, 2),
    (3, 1, 2, 9, 9, 2, 2, 3, 2, 1, 0), (1, 3, 2, 17, 15, 11, 11, 2, 2, 5, 5), (2, 2, 3, 5, 5, 5, 5, 3, 3, 3, 3),
    (1, 2, 2, 8, 8, 1, 1, 2, 2, 0, 0), (2, 1, 1, 6, 7, 3, 3, 4, 4, 1, 1),
]


COMPOSITIONS = {  # the wrappers compose with any stride-1 algorithm, in either order
    'fft (stride 1, subsample)': lambda: FFTConvolution(),
    'polyphase(fft)': lambda: Polyphase(FFTConvolution()),
    'polyphase(direct)': lambda: Polyphase(DirectConvolution()),
    'chunked(polyphase(fft))': lambda: Chunked(Polyphase(FFTConvolution())),
    'polyphase(chunked(fft))': lambda: Polyphase(Chunked(FFTConvolution())),
}


@pytest.mark.parametrize('composition', COMPOSITIONS)
@pytest.mark.parametrize('case', CASES)
def test_strided_fft_matches_reference(case, composition, cpu_kernels, rng):
    S, f, fo, H, W, kh, kw, sh, sw, ph, pw = case
    g = ConvGeometry(S, f, fo, H, W, kh, kw, sh, sw, ph, pw)
    x, w = rng.standard_normal((S, f, H, W)), rng.standard_normal((fo, f, kh, kw))
    gy = rng.standard_normal(g.output_shape)
    algorithm = COMPOSITIONS[composition]()
    y, saved = algorithm.forward(x, w, g)
    ctx = algorithm.backward_setup(saved, gy, g)
    gx, gw = algorithm.backward_input(ctx, g), algorithm.backward_weight(ctx, g)
    for got, want in zip((y, gx, gw), conv2d_reference(x, w, gy, (sh, sw), (ph, pw))):
        assert got.shape == want.shape
        assert numpy.abs(got - want).max() <= 1e-10 * max(numpy.abs(want).max(), 1.0)


def test_split_and_merge_are_inverse(rng):
    g = ConvGeometry(2, 3, 4, 9, 8, 5, 3, 2, 3, 2, 1)
    gp = polyphase.phase_geometry(g)
    x, w = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 5, 3))
    numpy.testing.assert_array_equal(polyphase.merge_input(polyphase.split_input(x, g, gp), g), x)
    numpy.testing.assert_array_equal(polyphase.merge_weight(polyphase.split_weight(w, g, gp), g), w)
    assert gp.out_h >= g.out_h and gp.out_w >= g.out_w


class LengthRecordingFFT:
    """scipy.fft recording the length of every transform axis it is asked for."""

    def __init__(self):
        self.lengths = []

    def __getattr__(self, name):
        import scipy.fft
        target = getattr(scipy.fft, name)
        if name == 'next_fast_len':
            return target

        def recorded(a, *args, s=None, n=None, axes=None, axis=-1, **kwargs):
            if name == 'rfft2':
                self.lengths += list(s) if s is not None else [a.shape[i] for i in axes]
            else:
                self.lengths.append(n if n is not None else a.shape[axis])
            extra = {'s': s, 'axes': axes} if name == 'rfft2' else {'n': n, 'axis': axis}
            return target(a, *args, **{k: v for k, v in extra.items() if v is not None}, **kwargs)
        return recorded


def test_no_transform_at_full_resolution(monkeypatch, cpu_kernels, rng):
    """Every transform of a stride-2 layer on 64x64 inputs is at the phase size, 32, not 64 (in the
    FFT library, or in kernels/fft.c with the C kernels: sizes recorded at its wrappers)."""
    recorder = LengthRecordingFFT()
    monkeypatch.setattr(backend, 'fft_module', lambda array: recorder)
    monkeypatch.setattr(fft, 'DFT_GEMM_MAX_RATIO', 0)    # the kernel's transforms through the library too
    c_sizes = []
    for name in ('c_rfft2', 'c_irfft2_gather'):
        def recorded(lib, kind, a, s, *args, _run=getattr(fft, name), **kwargs):
            c_sizes.extend(s)
            return _run(lib, kind, a, s, *args, **kwargs)
        monkeypatch.setattr(fft, name, recorded)
    x = Tensor(rng.standard_normal((2, 3, 64, 64)), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 3, 11, 11)), requires_grad=True)
    F.conv2d(x, w, stride=2, algo='fft').sum().backward()
    if cpu_kernels == 'compiled':   # 3 forward and 3 inverse 2-D sets, all in the C kernel
        assert recorder.lengths == [] and c_sizes == [32] * 12
        return
    # 3 forward 2-D sets, 3 inverse sets of 2 stages (the second once per run of kept rows: up to 2)
    assert 3 * 2 + 3 * 2 <= len(recorder.lengths) <= 3 * 2 + 3 * 3
    assert max(recorder.lengths) == 32 and c_sizes == []
