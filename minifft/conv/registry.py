"""The one list of convolution algorithms: every consumer reads it.

``register(cls_or_instance)`` adds an algorithm under its ``name`` (a class is instantiated with no
arguments, so ``@register`` works as a class decorator); ``unregister(name)`` removes it. Read by:
F.conv2d / nn.Conv2d / config (names accepted), auto (candidates: those whose supports() holds),
train.py (--conv choices, --compare runs), the benchmarks and the reference tests.
"""
from .base import ConvAlgorithm

AUTO = 'auto'
_algorithms = {}


def register(cls_or_instance):
    """Add an algorithm (a ConvAlgorithm subclass or instance); returns what it was given."""
    algorithm = cls_or_instance() if isinstance(cls_or_instance, type) else cls_or_instance
    if not isinstance(algorithm, ConvAlgorithm):
        raise TypeError(f"register: expected a ConvAlgorithm subclass or instance, got {cls_or_instance!r}")
    name = algorithm.name
    if not isinstance(name, str) or not name or name == AUTO:
        raise ValueError(f"register: expected a non-empty algorithm name other than {AUTO!r}, got {name!r}")
    if name in _algorithms:
        raise ValueError(f"register: an algorithm named {name!r} is already registered ({_algorithms[name]!r})")
    _algorithms[name] = algorithm
    return cls_or_instance


def unregister(name):
    """Remove the algorithm ``name``; returns it."""
    check_name('unregister', name, allow_auto=False)
    return _algorithms.pop(name)


def names(device=None):
    """Registered algorithm names, in registration order (only those that run on ``device``)."""
    return tuple(n for n, a in _algorithms.items() if device is None or device in a.devices)


def choices():
    """Every name a user may ask for: the registered algorithms and 'auto'."""
    return names() + (AUTO,)


def check_name(op, name, allow_auto=True):
    """``name`` if it names a registered algorithm (or 'auto'), else ValueError naming ``op``."""
    valid = choices() if allow_auto else names()
    if name not in valid:
        raise ValueError(f"{op}: unknown algo {name!r}; expected one of {valid}")
    return name


def get(name):
    """The registered algorithm object ``name``."""
    check_name('minifft.conv.get', name, allow_auto=False)
    return _algorithms[name]


def candidates(g, device):
    """{name: algorithm} of every registered algorithm that supports layer ``g`` on ``device``."""
    return {n: a for n, a in _algorithms.items() if a.supports(g, device)}
