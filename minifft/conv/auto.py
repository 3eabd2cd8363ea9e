"""algo='auto': per layer shape, the faster of fft and direct.

Like cuDNN's benchmark mode, the first call with a new (geometry, device, dtype) times a whole
training step of each candidate on the real inputs and keeps the winner for the process.
With MINIFFT_CONV_AUTOTUNE=0 a deterministic cost model decides instead: the paper's operation
counts, weighted by how fast each kind of work runs relative to a large GEMM.
"""
import math
import os
import time

from .. import backend

# Relative throughput of each kind of work against a large real GEMM (1.0), measured on our
# 2-core CPU: per-bin complex matmuls run at about half of GEMM speed, FFTs at about a fifth.
RATE_GEMM, RATE_SPECTRAL, RATE_FFT = 1.0, 0.5, 0.2

_decisions = {}


def autotune_enabled():
    return os.environ.get('MINIFFT_CONV_AUTOTUNE', '1').strip() not in ('0', 'false', 'no', 'off')


def training_step(algorithm, x, w, gy, g):
    """One training step of layer ``g`` through ``algorithm``: forward and both gradients."""
    _, saved = algorithm.forward(x, w, g)
    ctx = algorithm.backward_setup(saved, gy, g)
    return algorithm.backward_input(ctx, g), algorithm.backward_weight(ctx, g)


def _step_seconds(algorithm, x, w, gy, g, repeats=2):
    """Best of ``repeats`` timed training steps after one warm-up (plans, caches)."""
    best = math.inf
    device = backend.device_of(x)
    for i in range(repeats + 1):
        backend.synchronize(device)
        start = time.perf_counter()
        training_step(algorithm, x, w, gy, g)
        backend.synchronize(device)
        if i:
            best = min(best, time.perf_counter() - start)
    return best


def cost_model(g, fft_shape):
    """Estimated relative cost of a training step for each algorithm (smaller is faster)."""
    S, f, fo, fg = g.batch, g.in_channels, g.out_channels, g.group_in
    direct = 3 * 2 * S * fg * fo * g.out_h * g.out_w * g.kernel_h * g.kernel_w
    n0, n1 = fft_shape
    bins = n0 * (n1 // 2 + 1)
    transforms = 2 * (S * f + fg * fo + S * fo)          # 3 forward + 3 inverse transform sets
    fft_flops = transforms * 2.5 * n0 * n1 * math.log2(n0 * n1)
    spectral_flops = 3 * 8 * S * fg * fo * bins
    return {'direct': direct / RATE_GEMM,
            'fft': fft_flops / RATE_FFT + spectral_flops / RATE_SPECTRAL}


def choose(g, x, w, candidates):
    """The name of the algorithm to use for this layer (decided once per key)."""
    key = (g, backend.device_of(x), str(x.dtype))
    decision = _decisions.get(key)
    if decision is None:
        if autotune_enabled():
            xp = backend.get_array_module(x)
            gy = xp.ones(g.output_shape, x.dtype)
            seconds = {name: _step_seconds(algo, x, w, gy, g) for name, algo in candidates.items()}
            decision = {'method': 'timed', 'seconds': seconds}
        else:
            from .fft import FFTConvolution
            shape = FFTConvolution.transform_shape(g, backend.fft_module(x))
            decision = {'method': 'cost model', 'seconds': None, 'cost': cost_model(g, shape)}
        scores = decision['seconds'] or decision['cost']
        decision['choice'] = min(scores, key=scores.get)
        _decisions[key] = decision
    return decision['choice']


def report():
    """Every decision so far: geometry, device, dtype, choice, method and the measured seconds."""
    rows = []
    for (g, device, dtype), d in _decisions.items():
        rows.append({'layer': g.describe(), 'device': device, 'dtype': dtype, 'choice': d['choice'],
                     'method': d['method'], 'seconds': d['seconds']})
    return rows


def format_report():
    lines = []
    for r in report():
        times = ''
        if r['seconds']:
            times = '  ' + '  '.join(f"{k} {1e3 * v:.2f} ms" for k, v in sorted(r['seconds'].items()))
        lines.append(f"{r['layer']:<40} {r['device']:<4} {r['dtype']:<8} -> {r['choice']:<6} "
                     f"({r['method']}){times}")
    return '\n'.join(lines) if lines else '(auto made no decisions)'


def reset():
    _decisions.clear()
