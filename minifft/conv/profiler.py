"""Per-layer convolution timings (fprop / bprop / accGrad), off unless switched on, and a
breakdown of where an algorithm's time goes (transforms, products), off unless asked for.

When on, each timed section synchronises the device first and last (timing.stopwatch), so GPU
times measure the work and not the launch; that costs some overlap, which is why it is off by
default.
"""
import contextlib
from collections import OrderedDict

from .. import backend
from .base import PASSES
from .timing import stopwatch

_enabled = False
_records = OrderedDict()
_breakdown = None   # {part: seconds} while a breakdown() block runs


def enable(on=True):
    global _enabled
    _enabled = on


def enabled():
    return _enabled


def reset():
    _records.clear()


# The name of the layer being run, set by forward hooks (minifft.diagnostics.label_conv_layers), so
# F.conv2d needs no label argument; a stack because modules nest.
_layers = []


def enter_layer(name):
    _layers.append(name)


def exit_layer():
    if _layers:
        _layers.pop()


def current_layer():
    """The innermost layer name entered and not yet exited, or None."""
    return _layers[-1] if _layers else None


@contextlib.contextmanager
def timed(layer, pass_name, algorithm, like):
    """Add the time of the enclosed block to ``layer``'s ``pass_name`` total (when enabled)."""
    if not _enabled:
        yield
        return
    with stopwatch(backend.device_of(like)) as t:
        yield
    record = _records.setdefault(layer, {'algorithms': [], 'calls': 0, **{p: 0.0 for p in PASSES}})
    if algorithm not in record['algorithms']:  # auto may pick differently for another batch size
        record['algorithms'].append(algorithm)
    record[pass_name] += t.seconds
    if pass_name == 'fprop':
        record['calls'] += 1


@contextlib.contextmanager
def breakdown():
    """``with breakdown() as parts:`` ... then ``parts`` holds the seconds spent in each named part
    (the FFT algorithm reports 'transforms' and 'products') during the block."""
    global _breakdown
    previous, _breakdown = _breakdown, {}
    try:
        yield _breakdown
    finally:
        _breakdown = previous


@contextlib.contextmanager
def part(name, device):
    """Charge the enclosed block to part ``name`` of the running breakdown(), if any."""
    if _breakdown is None:
        yield
        return
    parts = _breakdown
    with stopwatch(device) as t:
        yield
    parts[name] = parts.get(name, 0.0) + t.seconds


def report():
    """{layer: {'algorithms', 'calls', 'fprop', 'bprop', 'accGrad'}} with times in seconds."""
    return OrderedDict((k, dict(v, algorithms=list(v['algorithms']))) for k, v in _records.items())


def format_report():
    """The report as an aligned text table, milliseconds per call."""
    lines = [f"{'layer':<44} {'algo':>11} {'calls':>6} {'fprop ms':>9} {'bprop ms':>9} {'accGrad ms':>10}"]
    for layer, r in _records.items():
        n = max(r['calls'], 1)
        lines.append(f"{layer:<44} {'/'.join(r['algorithms']):>11} {r['calls']:>6} {1e3 * r['fprop'] / n:>9.2f} "
                     f"{1e3 * r['bprop'] / n:>9.2f} {1e3 * r['accGrad'] / n:>10.2f}")
    return '\n'.join(lines)
