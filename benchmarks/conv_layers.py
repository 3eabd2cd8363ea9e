"""Convolution layer benchmark: fprop, bprop and accGrad for every registered algorithm that runs on
the device (minifft.conv.names(device)), auto (and PyTorch when importable) on the paper's layers, with operation counts, achieved GFLOP/s, the time floor from
this machine's measured peaks, frequency-buffer memory, and where the FFT algorithm's time goes.

    python benchmarks/conv_layers.py [--device cpu|cuda] [--suite paper|cpu|issue] [--scale F]
                                     [--repeats R] [--out DIR] [--plot] [--layer S,f,fo,n,k[,stride,pad,groups]]

Suites (layer = S, f, f', n, k):
  paper  the paper's five layers at S = 128.
  cpu    the paper's layers scaled to run in minutes on 2 cores: batch 128 -> 16 and channel counts
         divided by 4 (the 3 input channels of the first layer stay 3), plus the six layers of the
         convolution issue. Kernel and input sizes are the paper's, so the FFT-vs-direct trade-off
         per output pixel is unchanged.
  issue  only the six layers of the convolution issue.
  stride the layer (S, f, f', n, k) = (32, 32, 32, 64, 11) at stride 1, 2 and 4: polyphase fft,
         stride-1-then-subsample fft, direct, and whether auto picked the fastest.
  cpu-vs-torch  issue 11's seven layers (stride 2 and depthwise included), the six above and the
         paper's five at S = 16 (full channel counts): every algorithm and auto as ratios to
         PyTorch's CPU conv2d measured in the same run, and the fft's spectral product as a fraction
         of the complex GEMM (CGEMM) peak measured in that run.
``--scale F`` multiplies the batch and channel counts of the chosen suite by F; ``--layer`` (repeatable)
runs the given layers in the chosen suite's way instead of its own list.
Output: a Markdown table on stdout, conv_layers_<device>_<suite>.json (and conv_figure3.png with --plot)
in --out; a run of chosen layers writes conv_layers_<device>_<suite>_layers.json, so it does not
replace the whole suite's record.
"""
import argparse
import json
import os
import platform
import sys
import numpy

# PyTorch's OpenMP workers spin after each call by default, taking the cores from OpenBLAS in the
# interleaved runs below (and slowing both); passive waiting keeps the comparison fair.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import minifft  # noqa: E402
from minifft import backend, conv  # noqa: E402
from minifft.conv import ConvGeometry, PASSES, training_step  # noqa: E402
from minifft.conv.fft import rfft2_flops  # noqa: E402
from minifft.conv.timing import interleaved_medians, median_seconds  # noqa: E402
from minifft.functions.convolution import check_conv_arguments  # noqa: E402

PAPER = [(128, 3, 96, 32, 11), (128, 96, 256, 32, 7), (128, 256, 384, 16, 5), (128, 384, 384, 16, 5),
         (128, 384, 384, 16, 3)]
ISSUE = [(32, 16, 32, 32, 3), (32, 16, 32, 32, 5), (32, 16, 32, 32, 9), (32, 32, 32, 64, 11),
         (16, 64, 64, 32, 7), (64, 3, 64, 32, 5)]
# issue 11's table: (S, f, f', n, k[, stride, padding, groups])
CPU_VS_TORCH = [(32, 16, 32, 32, 3), (32, 16, 32, 32, 5), (16, 256, 384, 16, 5), (16, 384, 384, 16, 5),
                (16, 384, 384, 16, 3), (32, 32, 64, 32, 3, 2, 1, 1), (32, 64, 64, 32, 3, 1, 1, 64)]


def suite_layers(name, scale):
    if name == 'paper':
        layers = PAPER
    elif name == 'cpu-vs-torch':
        paper = [(16,) + layer[1:] for layer in PAPER]
        layers = list(dict.fromkeys(CPU_VS_TORCH + ISSUE + paper))
    elif name == 'issue':
        layers = ISSUE
    else:
        layers = [(S // 8, f if f == 3 else f // 4, fo // 4, n, k) for S, f, fo, n, k in PAPER] + ISSUE
    def scaled(S, f, fo, n, k, *rest):
        if scale == 1.0:
            return (S, f, fo, n, k) + tuple(rest)
        if rest and rest[2] != 1 and rest[2] == f:   # depthwise stays depthwise
            rest = rest[:2] + (max(1, round(f * scale)),)
        return (max(1, round(S * scale)), f if f == 3 else max(1, round(f * scale)), max(1, round(fo * scale)),
                n, k) + tuple(rest)
    return [scaled(*layer) for layer in layers]


def layer_argument(text):
    """--layer's value S,f,fo,n,k[,stride,pad,groups], checked as F.conv2d checks its arguments."""
    try:
        layer = tuple(int(v) for v in text.split(','))
        if not 5 <= len(layer) <= 8:
            raise ValueError(f"expected 5 to 8 comma-separated integers S,f,fo,n,k[,stride,pad,groups], got {text!r}")
        S, f, fo, n, k, stride, pad, groups = layer + (1, 0, 1)[len(layer) - 5:]
        check_conv_arguments('conv2d', f, fo, k, stride, pad, groups)
        if S < 1 or n + 2 * pad < k:
            raise ValueError(f"expected S >= 1 and n + 2 pad >= k, got {text!r}")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).replace('invalid literal for int() with base 10', 'not an integer'))
    return layer


def geometry(layer):
    """ConvGeometry of a suite entry (S, f, f', n, k[, stride, padding, groups])."""
    S, f, fo, n, k, stride, pad, groups = tuple(layer) + (1, 0, 1)[len(layer) - 5:]
    return ConvGeometry(S, f, fo, n, n, k, k, stride, stride, pad, pad, groups)


# ---- operation counts: each algorithm's own cost model (ConvAlgorithm.cost) -------------------------
def op_counts(g, device, names):
    """{algorithm: {pass: {kind: flops}}} from each registered algorithm's cost()."""
    return {name: conv.get(name).cost(g, device).passes for name in names}


# ---- machine peaks --------------------------------------------------------------------------------
def machine_peaks(xp, device, dtype):
    """GFLOP/s of a large GEMM, a large complex GEMM (the spectral product's peak) and a large
    batched real 2-D FFT, timed in this run."""
    gemm, cgemm = (flops / median_seconds(timer, device, repeats=3)
                   for timer, flops in (gemm_timer(xp, dtype, 2048), gemm_timer(xp, dtype, 1024, complex_=True)))
    batch = xp.ones((512, 64, 64), dtype)
    fft = backend.fft_module(batch)
    opts = backend.fft_options(batch)
    fft_rate = 512 * rfft2_flops(64, 64) / median_seconds(lambda: fft.rfft2(batch, **opts), device, repeats=3)
    return {'gemm_gflops': gemm / 1e9, 'cgemm_gflops': cgemm / 1e9, 'fft_gflops': fft_rate / 1e9}


# ---- timing one layer -----------------------------------------------------------------------------
def time_algorithm(algorithm, x, w, gy, g, device, repeats):
    saved = {}

    def fprop():
        saved['forward'] = algorithm.forward(x, w, g)[1]

    def bprop():
        saved['ctx'] = algorithm.backward_setup(saved['forward'], gy, g)
        algorithm.backward_input(saved['ctx'], g)

    def accgrad():
        algorithm.backward_weight(saved['ctx'], g)

    def step():
        fprop()
        bprop()
        accgrad()
    times = {p: median_seconds(fn, device, repeats) for p, fn in zip(PASSES, (fprop, bprop, accgrad))}
    times['total'] = median_seconds(step, device, repeats)
    return times


def fft_time_split(x, w, gy, g, device, repeats):
    """Fractions of an fft training step spent in transforms, products and the rest (copies),
    from the profiler's breakdown of the registered algorithm."""
    algorithm = conv.get('fft')
    runs = []
    for _ in range(repeats):
        with conv.profiler.breakdown() as parts:
            total = median_seconds(lambda: training_step(algorithm, x, w, gy, g), device, repeats=1, warmup=0)
        spent = {'transforms': parts.get('transforms', 0.0), 'products': parts.get('products', 0.0)}
        spent['copies'] = max(total - spent['transforms'] - spent['products'], 0.0)
        runs.append({k: v / total for k, v in spent.items()})
    return {k: float(numpy.median([r[k] for r in runs])) for k in runs[0]}


def gemm_timer(xp, dtype, n, complex_=False):
    """(run, flops): ``run()`` does one n^3 GEMM (complex with ``complex_``) the way minifft runs CPU
    GEMMs (spectral.matmul2d: chunks on the thread pool, one BLAS thread each, so no BLAS threads
    are left spinning to slow what is timed next)."""
    a = xp.ones((n, n), numpy.result_type(dtype, numpy.complex64) if complex_ else dtype)
    return (lambda: conv.spectral.matmul2d(a, a)), (8 if complex_ else 2) * n ** 3


def product_gflops(x, w, gy, g, device, repeats):
    """Achieved GFLOP/s of the fft's per-frequency products over a training step (the three
    passes' spectral operations over the profiler's product time), and their share of the CGEMM
    peak measured beside them: each of ``repeats`` rounds times one step's products and one large
    CGEMM back to back, so a shared machine's load hits both alike; medians over the rounds."""
    algorithm = conv.get('fft')
    flops = sum(kinds.get('spectral', 0) for kinds in algorithm.cost(g, device).passes.values())
    peak, peak_flops = gemm_timer(backend.get_array_module(x), x.dtype, 1024, complex_=True)
    training_step(algorithm, x, w, gy, g)
    peak()
    rates, shares = [], []
    for _ in range(repeats):
        with conv.profiler.breakdown() as parts:
            training_step(algorithm, x, w, gy, g)
        rates.append(flops / parts['products'] / 1e9)
        shares.append(rates[-1] * 1e9 / (peak_flops / median_seconds(peak, device, repeats=1, warmup=0)))
    return float(numpy.median(rates)), float(numpy.median(shares))


def torch_passes(x, w, gy, g):
    """{pass: callable} running PyTorch's conv2d and its two gradient functions on the same arrays
    (CPU only), or None without PyTorch."""
    try:
        import torch
        import torch.nn.grad
    except ImportError:
        return None
    torch.set_num_threads(backend.cpu_workers())
    tx, tw, tgy = (torch.from_numpy(numpy.ascontiguousarray(a)) for a in (x, w, gy))
    kw = dict(stride=(g.stride_h, g.stride_w), padding=(g.pad_h, g.pad_w), groups=g.groups)
    return {'fprop': lambda: torch.nn.functional.conv2d(tx, tw, **kw),
            'bprop': lambda: torch.nn.grad.conv2d_input(tx.shape, tw, tgy, **kw),
            'accGrad': lambda: torch.nn.grad.conv2d_weight(tx, tw.shape, tgy, **kw)}


def torch_times(x, w, gy, g, repeats):
    """Median seconds of PyTorch's three passes and their total (None without PyTorch)."""
    fns = torch_passes(x, w, gy, g)
    if fns is None:
        return None
    times = {p: median_seconds(fn, 'cpu', repeats) for p, fn in fns.items()}
    times['total'] = sum(times.values())
    return times


def layer_arrays(g, xp, dtype):
    """Seeded x, w and an output gradient for layer ``g`` on the array module's device."""
    rng = numpy.random.default_rng(0)
    shapes = ((g.batch, g.in_channels, g.height, g.width), (g.out_channels, g.group_in, g.kernel_h, g.kernel_w),
              g.output_shape)
    return tuple(xp.asarray(rng.standard_normal(shape).astype(dtype)) for shape in shapes)


def bench_layer(layer, xp, device, dtype, repeats, with_torch):
    g = geometry(layer)
    x, w, gy = layer_arrays(g, xp, dtype)
    names = [name for name in conv.names(device) if conv.get(name).supports(g, device)]
    result = {'layer': dict(zip(('S', 'f', "f'", 'n', 'k', 'stride', 'padding', 'groups'), layer)),
              'algorithms': names}
    for name in names:
        result[name] = time_algorithm(conv.get(name), x, w, gy, g, device, repeats)
    conv.auto.reset()
    choice = conv.auto.choose(g, x, w)
    result['auto'] = dict(result[choice], choice=choice)
    if with_torch and device == 'cpu':
        result['torch'] = torch_times(x, w, gy, g, repeats)
    result['fft_size'] = list(conv.FFTConvolution.transform_shape(g, backend.fft_module(x)))
    result['ops'] = op_counts(g, device, names)
    space = conv.get('fft').workspace(g, numpy.dtype(dtype).itemsize, device)
    result['freq_bytes_kept'], result['freq_bytes_peak'] = space.kept, space.peak
    pieces = conv.get('fft').pieces(g, x)
    result['fft_pieces'] = 1 if pieces is None else len(pieces)
    result['fft_split'] = fft_time_split(x, w, gy, g, device, repeats)
    return result


# ---- report ---------------------------------------------------------------------------------------------
RATE_KEYS = {'gemm': 'gemm_gflops', 'spectral': 'gemm_gflops', 'fft': 'fft_gflops'}


def floors(result, peaks):
    """Seconds each algorithm's passes would take at the machine's measured peaks; kinds of work with
    no measured peak (winograd's 'elementwise' transforms, depthwise 'sweep's) are left out."""
    return {name: {p: sum(v / (peaks[RATE_KEYS[kind]] * 1e9) for kind, v in kinds.items() if kind in RATE_KEYS)
                   for p, kinds in passes.items()} for name, passes in result['ops'].items()}


def markdown(results, peaks, device):
    ms = lambda s: f"{1e3 * s:.2f}"  # noqa: E731
    names = list(dict.fromkeys(n for r in results for n in r['algorithms']))
    ref = 'direct' if 'direct' in names else names[0]
    lines = [f"Machine peaks on {device}: GEMM {peaks['gemm_gflops']:.1f} GFLOP/s, "
             f"batched rfft2 {peaks['fft_gflops']:.1f} GFLOP/s", '',
             "| S | f | f' | n | k | N | pass | " + ' | '.join(f"{a} ms" for a in names) + " | auto | torch ms | " +
             ' | '.join(f"{a}/{ref}" for a in names if a != ref) + ' | ' +
             ' | '.join(f"{a} GFLOP/s" for a in names) + ' | ' + ' | '.join(f"{a} floor ms" for a in names) + ' |',
             '|' + '---|' * (8 + 4 * len(names))]
    for r in results:
        L = r['layer']
        fl = floors(r, peaks)
        for p in PASSES + ('total',):
            t = {a: r[a][p] if a in r else None for a in names}
            torch_t = ms(r['torch'][p]) if r.get('torch') else '-'
            cell = lambda v, fmt: '-' if v is None else fmt(v)  # noqa: E731
            ratios = [cell(t[a] and t[ref] and t[a] / t[ref], lambda v: f"{v:.2f}") for a in names if a != ref]
            if p == 'total':
                rates = floor = [''] * len(names)
            else:
                rates = [cell(t[a], lambda v, a=a: f"{sum(r['ops'][a][p].values()) / v / 1e9:.1f}") for a in names]
                floor = [ms(fl[a][p]) if a in fl else '-' for a in names]
            lines.append(f"| {L['S']} | {L['f']} | {L[chr(102) + chr(39)]} | {L['n']} | {L['k']} | "
                         f"{r['fft_size'][0]} | {p} | " + ' | '.join(cell(t[a], ms) for a in names) +
                         f" | {r['auto']['choice']} | {torch_t} | " + ' | '.join(ratios + rates + floor) + ' |')
    lines += ['', "FFT step time split (transforms include scipy's own zero-padding copy), frequency "
              f"buffers, and the pieces the workspace limit ({conv.workspace_limit(device) / 2**30:.1f} GiB) "
              "splits the layer into:", '',
              "| S | f | f' | n | k | transforms | products | copies | spectra kept MiB | peak MiB | pieces |",
              '|' + '---|' * 11]
    for r in results:
        L, sp = r['layer'], r['fft_split']
        lines.append(f"| {L['S']} | {L['f']} | {L[chr(102) + chr(39)]} | {L['n']} | {L['k']} | "
                     f"{100 * sp['transforms']:.0f}% | {100 * sp['products']:.0f}% | {100 * sp['copies']:.0f}% | "
                     f"{r['freq_bytes_kept'] / 2**20:.1f} | {r['freq_bytes_peak'] / 2**20:.1f} | {r['fft_pieces']} |")
    return '\n'.join(lines)


def figure3(xp, device, dtype, out_dir, repeats):
    """Time per training step vs kernel size (n = 32) and vs input size (k = 5), like the paper's Fig. 3."""
    sweeps = {'kernel size k (n=32)': [(16, 16, 16, 32, k) for k in (3, 5, 7, 9, 11, 13)],
              'input size n (k=5)': [(16, 16, 16, n, 5) for n in (8, 16, 24, 32, 48, 64)]}
    data = {}
    for label, layers in sweeps.items():
        data[label] = []
        for layer in layers:
            S, f, fo, n, k = layer
            g = ConvGeometry(S, f, fo, n, n, k, k)
            x, w, gy = layer_arrays(g, xp, dtype)
            point = {name: median_seconds(lambda a=conv.get(name): training_step(a, x, w, gy, g), device, repeats)
                     for name in conv.names(device) if conv.get(name).supports(g, device)}
            data[label].append({'layer': layer, **point})
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: figure data is in the JSON only")
        return data
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (label, points) in zip(axes, data.items()):
        xs = [p['layer'][4] if label.startswith('kernel') else p['layer'][3] for p in points]
        for name in conv.names(device):
            ax.plot(xs, [1e3 * p.get(name, float('nan')) for p in points], 'o-', label=name)
        ax.set_xlabel(label)
        ax.set_ylabel('ms per training step (S=f=f\'=16)')
        ax.legend()
    fig.suptitle(f"minifft conv2d on {device}")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, 'conv_figure3.png'), dpi=100)
    return data


def stride_suite(xp, device, dtype, repeats):
    """Polyphase vs stride-1-then-subsample vs direct across strides, and auto's pick."""
    candidates = {'fft (polyphase)': conv.get('fft'),
                  'fft (stride 1, subsample)': conv.Chunked(conv.FFTConvolution()),
                  'direct': conv.get('direct')}
    lines = ["| S | f | f' | n | k | s | " + ' | '.join(f"{c} ms" for c in candidates) +
             " | subsample/polyphase | auto picks | fastest |", '|' + '---|' * (9 + len(candidates))]
    rows = []
    S, f, fo, n, k = 32, 32, 32, 64, 11
    for stride in (1, 2, 4):
        g = ConvGeometry(S, f, fo, n, n, k, k, stride, stride)
        x, w, gy = layer_arrays(g, xp, dtype)
        t = {c: median_seconds(lambda a=a: training_step(a, x, w, gy, g), device, repeats) for c, a in candidates.items()}
        conv.auto.reset()
        pick = conv.auto.choose(g, x, w)
        fastest = 'fft' if t['fft (polyphase)'] < t['direct'] else 'direct'
        rows.append({'stride': stride, 'seconds': t, 'auto': pick, 'fastest': fastest})
        lines.append(f"| {S} | {f} | {fo} | {n} | {k} | {stride} | " +
                     ' | '.join(f"{1e3 * v:.1f}" for v in t.values()) +
                     f" | {t['fft (stride 1, subsample)'] / t['fft (polyphase)']:.2f} | {pick} | {fastest} |")
    print('\n'.join(lines))
    return rows


def torch_step(x, w, gy, g):
    """A callable running PyTorch's fprop, bprop and accGrad of layer ``g`` (None without PyTorch)."""
    fns = torch_passes(x, w, gy, g)
    if fns is None:
        return None

    def step():
        for fn in fns.values():
            fn()
    return step


def versus_torch(layer, xp, device, dtype, repeats, with_torch=True):
    """Training-step time (fprop + bprop + accGrad) of every algorithm, auto's pick and PyTorch on one
    layer: medians of ``repeats`` interleaved runs (one step of each candidate per round, so load from
    other processes on a shared machine hits all of them alike), and the fft product's GFLOP/s.

    The rounds' orders are balanced (timing.interleaved_medians): every candidate follows every other
    one equally often. A step runs slower after a heavy one or an idle moment: in a fixed order direct
    always followed fft-tiled and PyTorch always followed direct, and direct's stride-2 step took
    6.4-7.0 ms after direct but 8.5-9.0 ms after fft-tiled (benchmarks/README.md, seventh session)."""
    g = geometry(layer)
    x, w, gy = layer_arrays(g, xp, dtype)
    names = [name for name in conv.names(device) if conv.get(name).supports(g, device)]
    conv.auto.reset()
    choice = conv.auto.choose(g, x, w)
    steps = {name: (lambda a=conv.get(name): training_step(a, x, w, gy, g)) for name in names}
    torch_fn = torch_step(x, w, gy, g) if with_torch and device == 'cpu' else None
    if torch_fn is not None:
        steps['torch'] = torch_fn
    # warm-up: plans, caches, PyTorch's oneDNN primitives
    seconds = interleaved_medians(steps, device, repeats, warmup=1)
    seconds['auto'] = seconds[choice]
    result = {'layer': g.describe(), 'shape': list(layer), 'seconds': seconds, 'auto': choice,
              'algorithms': names}
    if 'torch' in seconds:
        result['ratio'] = {name: seconds[name] / seconds['torch'] for name in names + ['auto']}
    if 'fft' in names:
        result['fft_product_gflops'], result['fft_product_share'] = product_gflops(x, w, gy, g, device, repeats)
    return result


def versus_markdown(results, peaks, device):
    names = list(dict.fromkeys(n for r in results for n in r['algorithms'])) + ['auto']
    has_torch = any('ratio' in r for r in results)
    lines = [f"Machine peaks on {device}: GEMM {peaks['gemm_gflops']:.1f} GFLOP/s, CGEMM "
             f"{peaks['cgemm_gflops']:.1f} GFLOP/s, batched rfft2 {peaks['fft_gflops']:.1f} GFLOP/s", '',
             "| layer | " + ' | '.join(f"{a} ms" for a in names) + " | auto picks | torch ms | " +
             ' | '.join(f"{a}/torch" for a in names) + " | fft product GFLOP/s | of CGEMM peak beside it |",
             '|' + '---|' * (5 + 2 * len(names))]
    for r in results:
        t = r['seconds']
        ms = [f"{1e3 * t[a]:.1f}" if a in t else '-' for a in names]
        ratios = [f"{r['ratio'][a]:.2f}" if has_torch and 'ratio' in r and a in r['ratio'] else '-' for a in names]
        rate = r.get('fft_product_gflops')
        rate_cells = [f"{rate:.1f}", f"{100 * r['fft_product_share']:.0f}%"] if rate else ['-', '-']
        torch_ms = f"{1e3 * t['torch']:.1f}" if 'torch' in t else '-'
        lines.append(f"| {r['layer']} | " + ' | '.join(ms) + f" | {r['auto']} | {torch_ms} | " +
                     ' | '.join(ratios + rate_cells) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--suite', choices=['paper', 'cpu', 'issue', 'stride', 'cpu-vs-torch'], default='cpu')
    parser.add_argument('--scale', type=float, default=1.0)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--dtype', choices=['float32', 'float64'], default='float32')
    parser.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results'))
    parser.add_argument('--plot', action='store_true', help="also sweep k and n and draw Figure 3")
    parser.add_argument('--no-torch', action='store_true')
    parser.add_argument('--layer', type=layer_argument, action='append', metavar='S,f,fo,n,k[,stride,pad,groups]',
                        help="run only this layer (repeatable) instead of the suite's")
    args = parser.parse_args(argv)
    if args.layer and args.suite == 'stride':
        parser.error("argument --layer: the stride suite has its own layer; use --suite cpu, paper, issue or cpu-vs-torch")

    backend.require_device(args.device)
    xp = backend.array_module_for(args.device)
    os.makedirs(args.out, exist_ok=True)
    if args.suite == 'stride':
        rows = stride_suite(xp, args.device, args.dtype, args.repeats)
        with open(os.path.join(args.out, f'conv_layers_{args.device}_stride.json'), 'w') as f:
            json.dump({'suite': 'stride', 'dtype': args.dtype, 'rows': rows}, f, indent=1)
        return
    peaks = machine_peaks(xp, args.device, args.dtype)
    if args.suite == 'cpu-vs-torch':
        results = []
        for layer in args.layer or suite_layers(args.suite, args.scale):
            results.append(versus_torch(layer, xp, args.device, args.dtype, args.repeats, not args.no_torch))
            print(f"# {results[-1]['layer']}: " + ', '.join(f"{a} {1e3 * v:.1f} ms" for a, v in
                                                           results[-1]['seconds'].items()), file=sys.stderr, flush=True)
        print(versus_markdown(results, peaks, args.device))
        report = {'machine': {'device': args.device, 'platform': platform.platform(), 'cpus': backend.cpu_workers(),
                              'numpy': numpy.__version__, 'minifft': minifft.__version__, **peaks},
                  'suite': args.suite, 'scale': args.scale, 'dtype': args.dtype, 'repeats': args.repeats,
                  'timing': 'medians of interleaved runs', 'layers': results}
        with open(report_path(args), 'w') as f:
            json.dump(report, f, indent=1)
        return
    results = []
    for layer in args.layer or suite_layers(args.suite, args.scale):
        results.append(bench_layer(layer, xp, args.device, args.dtype, args.repeats, not args.no_torch))
        r = results[-1]
        print(f"# {layer}: " + ', '.join(f"{a} {1e3 * r[a]['total']:.1f} ms" for a in r['algorithms']) +
              f", auto -> {r['auto']['choice']}", file=sys.stderr, flush=True)
    print(markdown(results, peaks, args.device))
    report = {'machine': {'device': args.device, 'platform': platform.platform(), 'cpus': backend.cpu_workers(),
                          'numpy': numpy.__version__, 'minifft': minifft.__version__, **peaks},
              'suite': args.suite, 'scale': args.scale, 'dtype': args.dtype, 'layers': results}
    if args.plot:
        report['figure3'] = figure3(xp, args.device, args.dtype, args.out, args.repeats)
    with open(report_path(args), 'w') as f:
        json.dump(report, f, indent=1)


def report_path(args):
    """Where a run's JSON goes: a run of chosen layers (--layer) beside the suite's, not over it."""
    chosen = '_layers' if args.layer else ''
    return os.path.join(args.out, f'conv_layers_{args.device}_{args.suite}{chosen}.json')


if __name__ == '__main__':
    main()
