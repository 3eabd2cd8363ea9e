"""minifft/kernels/fft.c: the batched 2-D real FFTs against numpy.fft, through conv/fft.py's
wrappers (c_rfft2, c_irfft2_gather), on many sizes, lead counts that are not a multiple of the
kernel's vector width (16 floats, 8 doubles), placements (reversed, dilated, offset), crops,
input and output strides, with NaN guards after every output."""
import numpy
import pytest

from minifft import config
from minifft.conv import fft
from minifft.kernels import host

pytestmark = pytest.mark.skipif(host.compiler() is None, reason="no C compiler here")

SIZES = [(2, 2), (4, 2), (2, 8), (8, 8), (16, 16), (32, 32), (16, 64), (64, 32), (64, 64), (128, 8), (4, 256),
         (3, 5), (5, 3), (12, 10), (9, 15), (36, 36), (18, 20), (25, 27), (6, 30), (45, 8), (2, 243)]
LEADS = [(1,), (7,), (16,), (17,), (2, 9), (3, 11)]
DTYPES = [numpy.float32, numpy.float64]


@pytest.fixture
def kernel():
    with config.using(cpu_kernels='on'):
        yield host.library('fft')


def suffix(dtype):
    return host.suffix(dtype)


def tolerance(dtype, s):
    """Relative to the largest magnitude: a few ulps times log2 of the size."""
    return (2e-7 if dtype == numpy.float32 else 5e-16) * (4 + numpy.log2(s[0] * s[1]))


def placed(a, s, rows, cols):
    """a (..., h, w) put at ((rows[0] + i rows[1]) mod N0, (cols[0] + j cols[1]) mod N1) of zeros."""
    out = numpy.zeros(a.shape[:-2] + tuple(s))
    for i in range(a.shape[-2]):
        for j in range(a.shape[-1]):
            out[..., (rows[0] + i * rows[1]) % s[0], (cols[0] + j * cols[1]) % s[1]] = a[..., i, j]
    return out


def guarded(shape, dtype, extra=64):
    """(an array of ``shape``, the NaN guard after it in the same buffer)."""
    buffer = numpy.full(int(numpy.prod(shape)) + extra, numpy.nan, dtype)
    return buffer[:-extra].reshape(shape), buffer[-extra:]


def forward(kernel, a, s, rows=(0, 1), cols=(0, 1)):
    out, guard = guarded((s[0], s[1] // 2 + 1) + a.shape[:-2], numpy.result_type(a.dtype, numpy.complex64))
    got = fft.c_rfft2(kernel, suffix(a.dtype), a, s, rows, cols, out=out)
    assert got is out and numpy.isnan(guard).all()
    return numpy.moveaxis(numpy.moveaxis(got, 0, -1), 0, -1)     # logical (..., N0, N1//2+1)


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('s', SIZES)
@pytest.mark.parametrize('lead', LEADS)
def test_forward_matches_numpy_rfft2(kernel, s, lead, dtype, rng):
    h, w = max(1, s[0] - 3), max(1, s[1] // 2 + 1)
    a = rng.standard_normal(lead + (h, w)).astype(dtype)
    want = numpy.fft.rfft2(a.astype(numpy.float64), s=s)
    got = forward(kernel, a, s)
    assert got.dtype == numpy.result_type(dtype, numpy.complex64)
    assert numpy.abs(got - want).max() <= tolerance(dtype, s) * numpy.abs(want).max()


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('hw,s,rows,cols', [
    ((3, 3), (8, 8), (0, -1), (0, -1)),        # a reversed kernel
    ((5, 4), (16, 16), (0, -2), (0, -3)),      # a reversed gradient dilated by the stride
    ((6, 7), (16, 32), (3, 2), (-5, 1)),       # offset and dilated
    ((8, 8), (8, 8), (0, -1), (7, 1)),         # full size, wrapping
    ((1, 1), (4, 4), (2, -1), (1, -1)),
])
@pytest.mark.parametrize('lead', [(5,), (2, 17)])
def test_forward_places_reversed_dilated_offset_signals(kernel, hw, s, rows, cols, lead, dtype, rng):
    a = rng.standard_normal(lead + hw).astype(dtype)
    want = numpy.fft.rfft2(placed(a.astype(numpy.float64), s, rows, cols))
    got = forward(kernel, a, s, rows, cols)
    assert numpy.abs(got - want).max() <= tolerance(dtype, s) * numpy.abs(want).max()


@pytest.mark.parametrize('layout', ['F', 'strided', 'transposed', 'negative'])
def test_forward_reads_any_input_strides(kernel, layout, rng):
    base = rng.standard_normal((3, 18, 9, 20)).astype(numpy.float32)
    a = {'F': numpy.asfortranarray(base[:, :, :, :10]), 'strided': base[:, ::2, :, ::2],
         'transposed': base[:, :, :, :9].transpose(1, 0, 3, 2), 'negative': base[::-1, :, ::-1, ::-2]}[layout]
    s = (16, 32)
    want = numpy.fft.rfft2(a.astype(numpy.float64), s=s)
    assert numpy.abs(forward(kernel, a, s) - want).max() <= tolerance(numpy.float32, s) * numpy.abs(want).max()


def inverse(kernel, spectrum, s, rows, cols, dtype, out=None):
    t = numpy.ascontiguousarray(numpy.moveaxis(numpy.moveaxis(spectrum, -1, 0), -1, 0))   # (N0, N1h, ...)
    guard = None
    if out is None:
        out, guard = guarded(spectrum.shape[:-2] + (rows[2], cols[2]), dtype)
    fft.c_irfft2_gather(kernel, suffix(dtype), t, s, rows, cols, out)
    if guard is not None:
        assert numpy.isnan(guard).all()
    return out


def read_at(full, s, rows, cols):
    at = [[(start + i * step) % n for i in range(count)] for (start, step, count), n in zip((rows, cols), s)]
    return full[..., at[0], :][..., at[1]]


def random_spectrum(rng, shape, dtype):
    """Any complex spectrum (not Hermitian at DC and Nyquist: the inverse must ignore those
    imaginary parts as numpy's irfft2 does)."""
    z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return z.astype(numpy.result_type(dtype, numpy.complex64))


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('s', SIZES)
@pytest.mark.parametrize('lead', LEADS)
def test_inverse_matches_numpy_irfft2_on_every_position(kernel, s, lead, dtype, rng):
    spectrum = random_spectrum(rng, lead + (s[0], s[1] // 2 + 1), dtype)
    want = numpy.fft.irfft2(spectrum.astype(numpy.complex128), s=s)
    got = inverse(kernel, spectrum, s, (0, 1, s[0]), (0, 1, s[1]), dtype)
    assert got.dtype == dtype
    assert numpy.abs(got - want).max() <= tolerance(dtype, s) * numpy.abs(want).max()


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('s,rows,cols', [
    ((16, 16), (0, 1, 9), (0, 1, 9)),             # a stride-1 output
    ((16, 16), (-2, 1, 11), (-1, 1, 13)),         # padding: starts before 0, wraps
    ((32, 16), (-1, -1, 20), (-3, -1, 12)),       # bprop's reversed read
    ((32, 32), (0, 2, 12), (1, 3, 9)),            # strided
    ((8, 64), (5, 1, 1), (63, 1, 1)),             # one position
    ((4, 4), (3, -1, 4), (0, -1, 4)),
])
def test_inverse_reads_crops_and_reversals(kernel, s, rows, cols, dtype, rng):
    spectrum = random_spectrum(rng, (3, 7, s[0], s[1] // 2 + 1), dtype)
    want = read_at(numpy.fft.irfft2(spectrum.astype(numpy.complex128), s=s), s, rows, cols)
    got = inverse(kernel, spectrum, s, rows, cols, dtype)
    assert numpy.abs(got - want).max() <= tolerance(dtype, s) * numpy.abs(want).max()


def test_inverse_writes_through_output_strides_of_the_leading_axes(kernel, rng):
    """The leading axes of the output may lie in another order than the spectrum's (a product's
    transposed output is read in memory order): each item lands at its own place."""
    s, rows, cols = (16, 16), (-1, 1, 5), (2, -1, 6)
    spectrum = random_spectrum(rng, (4, 19, s[0], s[1] // 2 + 1), numpy.float32)
    want = read_at(numpy.fft.irfft2(spectrum.astype(numpy.complex128), s=s), s, rows, cols)
    buffer, guard = guarded((19, 4, 5, 6), numpy.float32)
    inverse(kernel, spectrum, s, rows, cols, numpy.float32, out=buffer.transpose(1, 0, 2, 3))
    assert numpy.isnan(guard).all()
    got = buffer.transpose(1, 0, 2, 3)
    assert numpy.abs(got - want).max() <= 1e-5 * numpy.abs(want).max()


@pytest.mark.parametrize('dtype', DTYPES)
def test_calls_on_lead_ranges_touch_only_their_items(kernel, dtype, rng):
    """The pool splits the work by ranges [l0, l1) of lead items: a call writes those items only."""
    s, L = (8, 16), 37
    lanes = fft.C_LANES // numpy.dtype(dtype).itemsize
    a = rng.standard_normal((L, 5, 6)).astype(dtype)
    spectrum = random_spectrum(rng, (s[0], s[1] // 2 + 1, L), dtype)
    forward_fn = host.function(kernel, f'fft_rfft2_{suffix(dtype)}', *fft._RFFT2_ARGS)
    inverse_fn = host.function(kernel, f'fft_irfft2_{suffix(dtype)}', *fft._IRFFT2_ARGS)
    off = numpy.arange(L, dtype=numpy.intp) * 30
    tw0, tw1 = fft.c_twiddles(s[0], dtype), fft.c_twiddles(s[1], dtype)
    for l0, l1 in [(lanes, 2 * lanes + 3), (3, 4), (2 * lanes, L)]:
        out = numpy.full((s[0], s[1] // 2 + 1, L), numpy.nan, spectrum.dtype)
        forward_fn(host.pointer(a), host.pointer(off), l0, l1, 5, 6, 6, 1, 0, 1, 0, 1, *s,
                   host.pointer(tw0), host.pointer(tw1), host.pointer(out), L)
        want = numpy.moveaxis(numpy.fft.rfft2(a[l0:l1].astype(numpy.float64), s=s), 0, -1)
        assert numpy.abs(out[..., l0:l1] - want).max() <= tolerance(dtype, s) * numpy.abs(want).max()
        assert numpy.isnan(numpy.delete(out, numpy.s_[l0:l1], axis=-1)).all()

        got = numpy.full((L, 3, 4), numpy.nan, dtype)
        inverse_fn(host.pointer(spectrum), L, l0, l1, *s, 1, 2, 3, -1, -1, 4, host.pointer(tw0),
                   host.pointer(tw1), host.pointer(got), host.pointer(numpy.arange(L, dtype=numpy.intp) * 12))
        full = numpy.fft.irfft2(numpy.moveaxis(spectrum[..., l0:l1], -1, 0).astype(numpy.complex128), s=s)
        want = read_at(full, s, (1, 2, 3), (-1, -1, 4))
        assert numpy.abs(got[l0:l1] - want).max() <= tolerance(dtype, s) * numpy.abs(want).max()
        assert numpy.isnan(numpy.delete(got, numpy.s_[l0:l1], axis=0)).all()


def test_nan_and_inf_stay_in_their_own_signal(kernel, rng):
    """Lanes of a vector are independent signals: a NaN or an infinity in one spoils that signal's
    spectrum, every bin non-finite where numpy's is (an infinity may come out as NaN: the real
    stage's Hermitian split subtracts it from itself), and no other signal's."""
    a = rng.standard_normal((20, 6, 6)).astype(numpy.float32)
    a[3, 2, 4] = numpy.nan
    a[17, 0, 0] = numpy.inf
    got = forward(kernel, a, (8, 8))
    want = numpy.fft.rfft2(a.astype(numpy.float64), s=(8, 8))
    assert numpy.array_equal(numpy.isfinite(got), numpy.isfinite(want))
    clean = [i for i in range(20) if i not in (3, 17)]
    assert numpy.isfinite(got[clean]).all() and numpy.isnan(got[3]).all()
    spectrum = random_spectrum(rng, (20, 8, 5), numpy.float32)
    spectrum[5, 1, 2] = numpy.nan
    out = inverse(kernel, spectrum, (8, 8), (0, 1, 8), (0, 1, 8), numpy.float32)
    assert numpy.isnan(out[5]).all() and numpy.isfinite(numpy.delete(out, 5, axis=0)).all()


@pytest.mark.parametrize('s', [(32, 32), (64, 64), (36, 36), (18, 45)])
def test_float32_error_at_the_level_of_pocketfft(kernel, s, rng):
    """Forward and inverse in float32 against float64, beside scipy's (pocketfft) float32 error on
    the same data: the kernel is no less accurate."""
    import scipy.fft
    a = rng.standard_normal((40, s[0] - 5, s[1] - 5)).astype(numpy.float32)
    exact = numpy.fft.rfft2(a.astype(numpy.float64), s=s)
    ours = numpy.abs(forward(kernel, a, s) - exact).max()
    library = numpy.abs(scipy.fft.rfft2(a, s=s) - exact).max()
    assert ours <= 2 * library, (ours, library)
    spectrum = exact.astype(numpy.complex64)
    exact = numpy.fft.irfft2(spectrum.astype(numpy.complex128), s=s)
    ours = numpy.abs(inverse(kernel, spectrum, s, (0, 1, s[0]), (0, 1, s[1]), numpy.float32) - exact).max()
    library = numpy.abs(scipy.fft.irfft2(spectrum, s=s) - exact).max()
    assert ours <= 2 * library, (ours, library)


def test_served_sizes():
    assert fft.c_fft_serves((16, 64)) and fft.c_fft_serves((2, 256)) and fft.c_fft_serves((36, 15))
    assert not fft.c_fft_serves((1, 16)) and not fft.c_fft_serves((14, 16)) and not fft.c_fft_serves((512, 8))


def test_unserved_sizes_give_nan_not_garbage(kernel):
    """A size the kernel cannot run (a factor 7) gives NaN, should a caller skip c_fft_serves."""
    a = numpy.ones((3, 4, 4), numpy.float32)
    out = forward(kernel, a, (7, 8))
    assert numpy.isnan(out.real).all() and numpy.isnan(out.imag).all()
    got = inverse(kernel, numpy.ones((3, 8, 4), numpy.complex64), (8, 7), (0, 1, 2), (0, 1, 2), numpy.float32)
    assert numpy.isnan(got).all()
