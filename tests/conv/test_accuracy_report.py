import numpy

import minifft
import models
from minifft import conv


def test_report_covers_every_conv_layer_with_small_errors(rng):
    model = models.build('cifar', (3, 32, 32), 10)
    x = minifft.tensor(rng.standard_normal((4, 3, 32, 32)).astype(numpy.float32))
    rows = conv.fft_accuracy(model, x)
    assert [r['layer'] for r in rows] == ['features.0', 'features.3', 'features.6']
    for r in rows:
        assert 0 < r['fprop'] < 1e-5 and 0 < r['bprop'] < 1e-5 and 0 < r['accGrad'] < 1e-4, r
    assert 'features.3' in conv.format_accuracy(rows)
    assert 'forward' not in model.features[0].__dict__  # the capture leaves the model as it was


def test_report_shows_an_injected_error(monkeypatch):
    """An fft that is off by 1e-3 relative must be reported as off by 1e-3."""
    model = models.build('small', (3, 32, 32), 10)
    x = minifft.tensor(numpy.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(numpy.float32))
    fft = conv.get('fft')
    real_forward = fft.forward

    def off(x, w, g):
        y, saved = real_forward(x, w, g)
        return y * y.dtype.type(1 + 1e-3), saved
    monkeypatch.setattr(fft, 'forward', off)
    rows = conv.fft_accuracy(model, x)
    assert all(abs(r['fprop'] - 1e-3) < 1e-4 for r in rows), rows
