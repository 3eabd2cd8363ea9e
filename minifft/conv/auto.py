"""algo='auto': per layer shape, the fastest registered algorithm that supports the layer.

Like cuDNN's benchmark mode, the first call with a new (geometry, device, dtype) decides for the
process, by one of three methods:

* 'timed' (autotuning on, the default): every candidate (registry.candidates: the registered
  algorithms whose supports() holds for the layer on its device) runs one untimed warm-up step
  (plans, caches), then ``REPEATS`` rounds time one training step of each candidate in turn on
  the real inputs (interleaved, so drift on a shared machine hits all alike; in balanced orders,
  so none always follows the heaviest); a candidate's score
  is its median. When the two best medians are within ``NOISE`` (10%) of each other, one
  measurement cannot tell them apart, so ``EXTRA_ROUNDS`` x ``REPEATS`` more rounds of just those
  two are timed, and the choice goes to the smaller median over all their steps. The report keeps
  the medians and step counts.
* 'cost model' (``MINIFFT_CONV_AUTOTUNE=0`` / ``config.using(autotune=False)``): deterministic;
  each candidate's ``cost(g)`` operation counts weighted by how fast each kind of work runs
  relative to a large GEMM (``RATES``, or ``COMPILED_RATES`` where the CPU's C kernels run).
* 'given': pre-seeded by ``set_plan`` (a plan saved by an earlier run: train.py --conv-plan and
  --resume), so a run repeats another's choices exactly.

``plan()`` exports the decisions as JSON-able entries for ``set_plan``.
"""
import dataclasses
import statistics

from .. import backend, config
from ..kernels import host
from . import registry
from .base import training_step
from .geometry import ConvGeometry
from .timing import balanced_rounds, measure, round_period

# Relative throughput of each kind of work against a large real GEMM (1.0), measured on our
# 2-core CPU: per-bin complex matmuls run at about half of GEMM speed, FFTs at about a fifth,
# elementwise array arithmetic (winograd's transforms) at a few percent, depthwise sweeps (BLAS axpy
# over long rows) at about a tenth (21 GFLOP/s on the depthwise layer).
RATES = {'gemm': 1.0, 'spectral': 0.5, 'fft': 0.2, 'elementwise': 0.03, 'sweep': 0.1}
# With the CPU's C kernels (minifft/kernels/*.c): FFTs in fft.c at about 2.5x pocketfft, the
# products in cproduct.c at 70-90% of a large CGEMM, winograd's transforms and depthwise sweeps in
# one pass each instead of NumPy's several. Fitted to five runs of the cpu-vs-torch benchmark: the
# model's pick is within 7% of the fastest timed candidate on all 13 layers (the near ties are
# paper layers 3 and 4, fft or winograd), where RATES took direct on (32, 16, 32, 32, 3) at 1.7x
# winograd's time. The plateau is wide: fft 0.3-0.4, elementwise 0.08-0.12, sweep 0.2-0.3 pick alike.
COMPILED_RATES = {'gemm': 1.0, 'spectral': 0.7, 'fft': 0.3, 'elementwise': 0.1, 'sweep': 0.3}
COMPILED_KERNELS = ('fft', 'cproduct', 'winograd', 'depthwise')
REPEATS = 3
NOISE = 0.10
EXTRA_ROUNDS = 2
GEOMETRY_FIELDS = tuple(f.name for f in dataclasses.fields(ConvGeometry))
DILATION_FIELDS = ('dilation_h', 'dilation_w')  # newer than the first plans: absent means 1

_decisions = {}


def autotune_enabled():
    return config.get('autotune')


def _timed_steps(algorithm, x, w, gy, g, warmup, repeats=REPEATS):
    """Seconds of ``repeats`` training steps of ``algorithm`` (after ``warmup`` untimed ones)."""
    return measure(lambda: training_step(algorithm, x, w, gy, g), backend.device_of(x), repeats, warmup)


def _time_candidates(candidates, x, w, gy, g):
    """Per candidate one untimed warm-up step, then rounds of one timed step of each in turn, so
    load that drifts on a shared machine hits all of them alike (timing one candidate after the
    other picked fft at 25 ms over direct at 19 ms in a benchmark run), in balanced orders, so no
    candidate runs right after the heaviest more often than after any other (timing.balanced_rounds)."""
    samples = {name: [] for name in candidates}

    def rounds(names, count):
        for order in balanced_rounds(names, count):
            for name in order:
                samples[name] += _timed_steps(candidates[name], x, w, gy, g, warmup=0, repeats=1)
    for name in round_period(candidates)[-1]:   # so the first timed step's predecessor is balanced too
        _timed_steps(candidates[name], x, w, gy, g, warmup=1, repeats=0)
    rounds(list(candidates), REPEATS)
    ranked = sorted(samples, key=lambda n: statistics.median(samples[n]))
    if len(ranked) > 1:
        best, second = (statistics.median(samples[n]) for n in ranked[:2])
        if second - best <= NOISE * best:
            rounds(ranked[:2], EXTRA_ROUNDS * REPEATS)
    return ({n: statistics.median(s) for n, s in samples.items()}, {n: len(s) for n, s in samples.items()})


def rates(device, itemsize=4):
    """The throughputs the cost model weighs work by: COMPILED_RATES where the CPU's C kernels serve
    a layer of this itemsize (cpu_kernels not 'off' and they build), else RATES."""
    compiled = all(host.serves(name, device, itemsize) for name in COMPILED_KERNELS)
    return COMPILED_RATES if compiled else RATES


def cost_model(g, device, candidates, itemsize=4):
    """Estimated relative cost of a training step for each candidate (smaller is faster)."""
    weights = rates(device, itemsize)
    return {name: algo.cost(g, device).weighted(weights) for name, algo in candidates.items()}


def _key(g, device, dtype):
    return (g, device, str(dtype))


def choose(g, x, w):
    """The name of the algorithm to use for this layer (decided once per key)."""
    device = backend.device_of(x)
    key = _key(g, device, x.dtype)
    decision = _decisions.get(key)
    kernels = config.get('cpu_kernels')
    if (decision is None or decision['choice'] not in registry.names()    # unregistered since
            or decision.get('cpu_kernels', kernels) != kernels):   # timed with the other CPU kernels
        candidates = registry.candidates(g, device)
        if not candidates:
            raise ValueError(f"conv2d: no registered algorithm supports the layer {g.describe()} on "
                             f"'{device}' (registered: {registry.names()})")
        # never time (or pick) one whose smallest pieces exceed the workspace limit, unless none fits
        candidates = {n: a for n, a in candidates.items() if a.fits(g, device, x.dtype.itemsize)} or candidates
        # nor one that does another candidate's work under another name (fft-tiled with one tile)
        candidates = {n: a for n, a in candidates.items() if a.same_work_as(g, device) not in candidates}
        if autotune_enabled():
            xp = backend.get_array_module(x)
            gy = xp.ones(g.output_shape, x.dtype)
            seconds, steps = _time_candidates(candidates, x, w, gy, g)
            decision = {'method': 'timed', 'seconds': seconds, 'steps': steps, 'cpu_kernels': kernels}
            scores = seconds
        else:
            scores = cost_model(g, device, candidates, x.dtype.itemsize)
            decision = {'method': 'cost model', 'seconds': None, 'cost': scores}
        decision['choice'] = min(scores, key=scores.get)
        _decisions[key] = decision
    return decision['choice']


def plan():
    """Every decision so far as JSON-able entries: the geometry's fields, device, dtype, choice."""
    return [dict(dataclasses.asdict(g), device=device, dtype=dtype, choice=d['choice'])
            for (g, device, dtype), d in _decisions.items()]


def set_plan(entries):
    """Pre-seed decisions from ``plan()`` entries (method 'given'); a later choose() for the same
    layer, device and dtype returns the given choice without timing. Every entry is checked before
    any is used: ValueError names the entry and what is wrong."""
    given = {}
    if not isinstance(entries, (list, tuple)):
        raise ValueError(f"set_plan: expected a list of plan entries, got {type(entries).__name__}")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"set_plan: entry {i}: expected an object, got {entry!r}")
        missing = [f for f in GEOMETRY_FIELDS + ('device', 'dtype', 'choice') if f not in entry
                   and f not in DILATION_FIELDS]
        if missing:
            raise ValueError(f"set_plan: entry {i}: missing {', '.join(missing)}")
        fields = [entry.get(f, 1) for f in GEOMETRY_FIELDS]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in fields):
            raise ValueError(f"set_plan: entry {i}: geometry fields must be integers, got {fields}")
        g = ConvGeometry(*fields)
        device, dtype, choice = entry['device'], entry['dtype'], entry['choice']
        if device not in ('cpu', 'cuda'):
            raise ValueError(f"set_plan: entry {i}: expected device 'cpu' or 'cuda', got {device!r}")
        registry.check_name(f"set_plan: entry {i}", choice, allow_auto=False)
        if not registry.get(choice).supports(g, device):
            raise ValueError(f"set_plan: entry {i}: {choice!r} does not support {g.describe()} on '{device}'")
        given[_key(g, device, dtype)] = {'method': 'given', 'seconds': None, 'choice': choice}
    _decisions.update(given)


def report():
    """Every decision so far: geometry, device, dtype, choice, method and the measured seconds."""
    rows = []
    for (g, device, dtype), d in _decisions.items():
        rows.append({'layer': g.describe(), 'device': device, 'dtype': dtype, 'choice': d['choice'],
                     'method': d['method'], 'seconds': d['seconds'], 'steps': d.get('steps')})
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
