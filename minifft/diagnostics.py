"""Diagnostics that walk a model (so they live above minifft.nn), attached through module hooks.

``fft_accuracy``: how far the FFT algorithm's float32 results drift from a float64 reference, per
layer. Users of other FFT-convolution code report accuracy drift; this measures it on the user's
own model and batch: for every Conv2d, its float32 input from a forward pass of the model (caught
by a forward hook), then all three passes (fprop, bprop with a fixed random output gradient,
accGrad) through algo='fft' in float32 against algo='direct' in float64, as relative
Frobenius-norm errors. A layer whose input holds NaN or Inf is flagged instead: an FFT mixes
every pixel of an image, so one NaN pixel turns every fft output of that sample into NaN, where
direct keeps it to the windows that see it. That is the math of a transform, not an error to fix;
the report points at such inputs so the data (or the layer before) can be checked.

``label_conv_layers``: forward pre-hooks that tell ``minifft.conv.profiler`` which layer runs, so
its rows carry the layers' names.
"""
import numpy

from . import backend
from .conv import profiler
from .conv.base import PASSES
from .functions import conv2d
from .nn import Conv2d
from .tensor import Tensor, no_grad



def _conv_layers(model):
    return [(name, m) for name, m in model.named_modules() if isinstance(m, Conv2d)]


def _capture_conv_inputs(model, x):
    """Run ``model(x)`` once and return [(name, layer, input array, output shape)] for every Conv2d
    it calls."""
    captured = []
    handles = [layer.register_forward_hook(
        lambda layer, args, out, name=name: captured.append((name, layer, args[0].data, out.shape)))
        for name, layer in _conv_layers(model)]
    try:
        with no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return captured


def label_conv_layers(model):
    """Name every Conv2d of ``model`` in profiler reports by its dotted module name.

    Returns the hook handles; ``remove()`` them to stop. Calling it twice on a model adds a second
    set of hooks (harmless, the innermost name wins), so call it once per model.
    """
    handles = []
    for name, layer in _conv_layers(model):
        handles.append(layer.register_forward_pre_hook(lambda layer, args, name=name: profiler.enter_layer(name)))
        handles.append(layer.register_forward_hook(lambda layer, args, out: profiler.exit_layer()))
    return handles


def _passes(x, w, b, layer, algo, dtype, gy):
    xt = Tensor(x.astype(dtype), requires_grad=True)
    wt = Tensor(w.astype(dtype), requires_grad=True)
    bt = None if b is None else Tensor(b.astype(dtype))
    y = conv2d(xt, wt, bt, layer.stride, layer.padding, algo=algo, groups=layer.groups, dilation=layer.dilation)
    y.backward(gy.astype(dtype))
    return {'fprop': y.data, 'bprop': xt.grad, 'accGrad': wt.grad}


def fft_accuracy(model, x, seed=0):
    """[{'layer', 'shape', 'fprop', 'bprop', 'accGrad'}]: float32 fft vs float64 direct, per layer."""
    rows = []
    for name, layer, inp, out_shape in _capture_conv_inputs(model, x):
        w = layer.weight.data
        b = None if layer.bias is None else layer.bias.data
        xp = backend.get_array_module(inp)
        # one fixed random output gradient per layer, on the layer's device
        gy = xp.asarray(numpy.random.default_rng(seed).standard_normal(out_shape))
        want = _passes(inp, w, b, layer, 'direct', numpy.float64, gy)
        got = _passes(inp, w, b, layer, 'fft', numpy.float32, gy)
        row = {'layer': name, 'shape': f"x {tuple(inp.shape)} w {tuple(w.shape)}",
               'nonfinite_inputs': int((~xp.isfinite(inp)).sum())}
        for p in PASSES:
            diff = got[p].astype(numpy.float64) - want[p]
            row[p] = float(xp.linalg.norm(diff) / max(float(xp.linalg.norm(want[p])), 1e-300))
        rows.append(row)
    return rows


def format_accuracy(rows):
    lines = [f"{'layer':<24} {'fprop':>9} {'bprop':>9} {'accGrad':>9}   shapes"]
    for r in rows:
        lines.append(f"{r['layer']:<24} {r['fprop']:>9.2e} {r['bprop']:>9.2e} {r['accGrad']:>9.2e}   {r['shape']}")
    for r in rows:
        if r.get('nonfinite_inputs'):
            lines.append(f"warning: the input of {r['layer']} holds {r['nonfinite_inputs']} NaN/Inf values; fft "
                         f"spreads each over every output of its sample (direct keeps it local): check the data")
    return '\n'.join(lines)
