"""Run-time configuration: every setting that used to be a module global or an environment variable.

    setting           environment variable       values
    conv_algorithm    MINIFFT_CONV_ALGO          a registered algorithm name or 'auto' (default 'auto')
    workspace_limit   MINIFFT_CONV_WORKSPACE     bytes: 1048576, '512M', '2G'; None: the device default
    autotune          MINIFFT_CONV_AUTOTUNE      1/0, true/false, yes/no, on/off (default on)
    device            MINIFFT_DEVICE             'auto', 'cpu' or 'cuda' (default 'auto')
    dtype             -                          a floating dtype (default float32)
    host_memory       MINIFFT_HOST_MEMORY        'keep' (reuse freed arrays, default) or 'system'
    cpu_kernels       MINIFFT_CPU_KERNELS        'auto' (C kernels where they build, default), 'on', 'off'

Each environment variable is read and validated once, the first time its setting is asked for; a
bad value raises ValueError naming the variable and the values it accepts. ``set(**settings)``
changes settings for the process and ``using(**settings)`` for a block:

    with minifft.config.using(conv_algorithm='direct', workspace_limit='256M'):
        ...
"""
import contextlib
import os
import re

import numpy

_UNITS = {'': 1, 'k': 2 ** 10, 'm': 2 ** 20, 'g': 2 ** 30, 't': 2 ** 40}
_TRUE, _FALSE = ('1', 'true', 'yes', 'on'), ('0', 'false', 'no', 'off')
DEVICE_SETTINGS = ('auto', 'cpu', 'cuda')


def parse_bytes(text, source='workspace limit'):
    """'512M' -> 536870912; accepts K, M, G, T (powers of 1024), an optional 'B'/'iB', or a number."""
    match = re.fullmatch(r'\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*', str(text).lower())
    if not match:
        raise ValueError(f"{source}: expected a byte count like 1048576, 512M or 2G, got {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def _conv_algorithm(value, source):
    from .conv import registry  # the registry imports this module: look names up when asked
    return registry.check_name(source, value.strip() if isinstance(value, str) else value)


def _workspace_limit(value, source):
    if value is None:
        return None
    nbytes = parse_bytes(value, source) if isinstance(value, str) else value
    if isinstance(nbytes, bool) or not isinstance(nbytes, (int, numpy.integer)) or nbytes <= 0:
        raise ValueError(f"{source}: expected a positive byte count, got {value!r}")
    return int(nbytes)


def _autotune(value, source):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"{source}: expected one of {', '.join(_TRUE + _FALSE)}, got {value!r}")


def _device(value, source):
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in DEVICE_SETTINGS:
        raise ValueError(f"{source}: expected one of {DEVICE_SETTINGS}, got {value!r}")
    return text


HOST_MEMORY_POLICIES = ('keep', 'system')   # minifft/host_memory.py applies them


def _host_memory(value, source):
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in HOST_MEMORY_POLICIES:
        raise ValueError(f"{source}: expected 'keep' or 'system', got {value!r}")
    return text


CPU_KERNEL_SETTINGS = ('auto', 'on', 'off')   # minifft/kernels/host.py reads them


def _cpu_kernels(value, source):
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in CPU_KERNEL_SETTINGS:
        raise ValueError(f"{source}: expected one of {CPU_KERNEL_SETTINGS}, got {value!r}")
    return text


def _dtype(value, source):
    try:
        dtype = numpy.dtype(value)
    except TypeError:
        raise TypeError(f"{source}: expected a floating dtype, got {value!r}") from None
    if dtype.kind != 'f':
        raise TypeError(f"{source}: expected a floating dtype, got {dtype}")
    return dtype


# name: (environment variable or None, default, parser(value, source))
SETTINGS = {
    'conv_algorithm': ('MINIFFT_CONV_ALGO', 'auto', _conv_algorithm),
    'workspace_limit': ('MINIFFT_CONV_WORKSPACE', None, _workspace_limit),
    'autotune': ('MINIFFT_CONV_AUTOTUNE', True, _autotune),
    'device': ('MINIFFT_DEVICE', 'auto', _device),
    'dtype': (None, numpy.dtype(numpy.float32), _dtype),
    'host_memory': ('MINIFFT_HOST_MEMORY', 'keep', _host_memory),
    'cpu_kernels': ('MINIFFT_CPU_KERNELS', 'auto', _cpu_kernels),
}
_values = {}
_appliers = {}   # name: function(value) that makes a setting take effect (settings read only when used need none)


def on_change(name, apply):
    """Call ``apply(value)`` now and whenever setting ``name`` changes (set, using, reset, restore):
    for settings that act on the process rather than being read when used (host_memory)."""
    _check_name('config.on_change', name)
    _appliers[name] = apply
    apply(get(name))


@contextlib.contextmanager
def _applying():
    """Re-apply the settings with an applier whose value changed inside the block."""
    before = {name: get(name) for name in _appliers}
    try:
        yield
    finally:
        for name, value in before.items():
            if get(name) != value:
                _appliers[name](get(name))


def _check_name(op, name):
    if name not in SETTINGS:
        raise ValueError(f"{op}: unknown setting {name!r}; expected one of {tuple(SETTINGS)}")


def get(name):
    """The value of setting ``name``: set() or using() if called, else its environment variable,
    else the default."""
    _check_name('config.get', name)
    if name not in _values:
        env, default, parse = SETTINGS[name]
        text = os.environ.get(env, '').strip() if env else ''
        _values[name] = parse(text, env) if text else default
    return _values[name]


def set(**settings):  # noqa: A001 (the module's public verb, as in numpy.set_printoptions)
    """Change settings for the rest of the process; each value is validated before any is stored."""
    parsed = {}
    for name, value in settings.items():
        _check_name('config.set', name)
        parsed[name] = SETTINGS[name][2](value, f"config {name}")
    with _applying():
        _values.update(parsed)


@contextlib.contextmanager
def using(**settings):
    """Within this block, the given settings; the previous values come back on exit."""
    previous = {name: get(name) for name in settings if name in SETTINGS}
    set(**settings)
    try:
        yield
    finally:
        with _applying():
            _values.update(previous)


def reset(*names):
    """Forget set values (all, or ``names``): the next get() reads the environment again."""
    with _applying():
        for name in names or tuple(_values):
            _values.pop(name, None)


def snapshot():
    """Every setting's current value, for restoring with ``restore`` (tests, subprocess-free runs)."""
    return dict(_values)


def restore(values):
    with _applying():
        _values.clear()
        _values.update(values)
