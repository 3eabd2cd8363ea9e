import numpy

import minifft
import models
from minifft import conv, diagnostics


def test_report_covers_every_conv_layer_with_small_errors(rng):
    model = models.build('cifar', (3, 32, 32), 10)
    x = minifft.tensor(rng.standard_normal((4, 3, 32, 32)).astype(numpy.float32))
    rows = diagnostics.fft_accuracy(model, x)
    assert [r['layer'] for r in rows] == ['features.0', 'features.3', 'features.6']
    for r in rows:
        assert 0 < r['fprop'] < 1e-5 and 0 < r['bprop'] < 1e-5 and 0 < r['accGrad'] < 1e-4, r
    assert 'features.3' in diagnostics.format_accuracy(rows)
    assert not any(m._forward_hooks for m in model.modules())  # the capture leaves the model as it was


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
    rows = diagnostics.fft_accuracy(model, x)
    assert all(abs(r['fprop'] - 1e-3) < 1e-4 for r in rows), rows


def test_report_points_at_nonfinite_inputs(device):
    model = models.build('small', (3, 32, 32), 10).to(device)
    x = numpy.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(numpy.float32)
    clean = diagnostics.fft_accuracy(model, minifft.tensor(x, device=device))
    assert all(r['nonfinite_inputs'] == 0 for r in clean)
    assert 'NaN' not in diagnostics.format_accuracy(clean)
    x[1, 0, 5, 5] = numpy.nan
    rows = diagnostics.fft_accuracy(model, minifft.tensor(x, device=device))
    assert rows[0]['nonfinite_inputs'] == 1
    assert "the input of features.0 holds 1 NaN/Inf values" in diagnostics.format_accuracy(rows)


def test_profiler_rows_are_named_through_hooks(rng):
    model = models.build('small', (3, 32, 32), 10)
    handles = diagnostics.label_conv_layers(model)
    conv.profiler.reset()
    conv.profiler.enable()
    try:
        model(minifft.tensor(rng.standard_normal((2, 3, 32, 32)).astype(numpy.float32))).sum().backward()
    finally:
        conv.profiler.enable(False)
    assert list(conv.profiler.report()) == ['features.0', 'features.3', 'features.6']
    assert conv.profiler.current_layer() is None  # every layer entered was left
    for handle in handles:
        handle.remove()
    conv.profiler.reset()
    conv.profiler.enable()
    try:
        model(minifft.tensor(rng.standard_normal((2, 3, 32, 32)).astype(numpy.float32)))
    finally:
        conv.profiler.enable(False)
    assert 'features.0' not in conv.profiler.report()  # unlabelled: rows named by shape


def test_conv_does_not_import_nn():
    import ast
    import pathlib
    for path in pathlib.Path(conv.__file__).parent.glob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or '').endswith('nn') and 'nn' not in [a.name for a in node.names], path


def test_report_covers_dilated_and_same_padded_layers(rng):
    model = minifft.nn.Sequential(minifft.nn.Conv2d(2, 3, 3, padding='same', dilation=2),
                                  minifft.nn.Conv2d(3, 2, 2, padding='same'))
    x = minifft.tensor(rng.standard_normal((2, 2, 9, 9)).astype(numpy.float32))
    rows = diagnostics.fft_accuracy(model, x)
    assert [r['layer'] for r in rows] == ['0', '1']
    assert all(0 < r[p] < 1e-5 for r in rows for p in ('fprop', 'bprop', 'accGrad')), rows
