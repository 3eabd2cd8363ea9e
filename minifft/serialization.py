"""Save and load a model, its optimiser and run metadata as one .npz file, written atomically."""
import contextlib
import json
import os
import re
import tempfile
import time
import zipfile
import zlib

import numpy

# A save writes '.tmp-<pid>-<random>.<ext>' beside its destination; older versions wrote
# '.tmp-<random>.npz'. Only names of this form are ever cleaned up.
_TEMPORARY = re.compile(r'^\.tmp-(?:(\d+)-)?[a-z0-9_]{8}\.(?:npz|json)$')
STALE_SECONDS = 600   # a live save keeps writing its file; one untouched this long was abandoned


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, corrupt, or does not hold what was asked of it."""


def _writer_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:        # exists, owned by someone else
        return False
    return False


def remove_stale_temporaries(directory):
    """Delete the temporary files that killed saves left in ``directory``: only files named as this
    module names them, and only when their writer process is gone or they were untouched for
    STALE_SECONDS (so a save running concurrently in another process keeps its file)."""
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        match = _TEMPORARY.match(name)
        if not match:
            continue
        path = os.path.join(directory, name)
        try:
            age = now - os.stat(path).st_mtime
            pid = match.group(1)
            if (pid is not None and int(pid) != os.getpid() and _writer_gone(int(pid))) or age > STALE_SECONDS:
                os.unlink(path)
                removed.append(path)
        except OSError:     # gone meanwhile, or not ours to remove
            continue
    return removed


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path, write):
    """Call ``write(binary_file)`` on a temporary file beside ``path`` and rename it over ``path``.

    A crash or a full disk leaves the previous ``path`` untouched (the partial temporary file is
    removed, or, after a SIGKILL, by the next save). The file gets the usual permissions
    (0666 minus the umask), not the 0600 of a temporary file.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    remove_stale_temporaries(directory)
    suffix = os.path.splitext(str(path))[1] or '.npz'
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'.tmp-{os.getpid()}-', suffix=suffix)
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save(path, model, optimizer=None, **metadata):
    """Write ``model`` (and ``optimizer``) state plus JSON-able ``metadata`` to ``path``.

    The file is written beside its destination and renamed over it, so a crash leaves either the
    old checkpoint or the new one, never half of one.
    """
    arrays = {f"model/{name}": value for name, value in model.state_dict().items()}
    meta = {'metadata': metadata}
    if optimizer is not None:
        state_arrays, meta['optimizer'] = _optimizer_entries(optimizer)
        arrays.update(state_arrays)
    arrays['meta'] = numpy.frombuffer(json.dumps(meta).encode(), dtype=numpy.uint8)
    write_atomically(path, lambda f: numpy.savez(f, **arrays))


_ZIP_MAGIC = (b'PK\x03\x04', b'PK\x05\x06')


def _read(path, names=None):
    """The arrays of checkpoint ``path`` (only ``names`` if given) and its parsed 'meta' entry."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no checkpoint file at {path}")
    not_ours = f"load: {path} is not a minifft checkpoint"
    try:
        with open(path, 'rb') as f:
            head = f.read(4)
    except OSError as error:
        raise CheckpointError(f"load: cannot read {path}: {error.strerror or error}") from error
    if head not in _ZIP_MAGIC:   # before numpy.load, which would try it as a pickle
        raise CheckpointError(f"{not_ours} (not an .npz archive)")
    try:
        with numpy.load(path, allow_pickle=False) as f:
            if 'meta' not in f.files:
                raise CheckpointError(f"{not_ours} (no 'meta' entry)")
            arrays = {k: f[k] for k in f.files if names is None or k in names}
    except CheckpointError:
        raise
    except ValueError as error:
        if 'pickle' in str(error):   # an object array: never unpickled, and no advice to do so
            raise CheckpointError(f"{not_ours} (it holds a non-numeric, pickled array)") from error
        raise CheckpointError(f"{not_ours} or is damaged ({error})") from error
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as error:
        raise CheckpointError(f"load: {path} is damaged or truncated ({type(error).__name__}: {error})") from error
    try:
        meta = json.loads(arrays.pop('meta').tobytes().decode())
    except ValueError as error:   # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CheckpointError(f"{not_ours} (its 'meta' entry is not JSON)") from error
    if not isinstance(meta, dict) or not isinstance(meta.get('metadata'), dict):
        raise CheckpointError(f"{not_ours} (its 'meta' entry has no metadata)")
    return arrays, meta


def metadata(path):
    """The metadata saved with a checkpoint, without loading its arrays into a model."""
    return _read(path, names=('meta',))[1]['metadata']


def load(path, model, optimizer=None):
    """Restore ``model`` (and ``optimizer``) from ``path``; return the saved metadata dict.

    Raises CheckpointError (a ValueError) naming the file when it is damaged or was saved from
    another model or optimiser.
    """
    arrays, meta = _read(path)
    prefix = 'model/'
    try:
        model.load_state_dict({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
    except (KeyError, ValueError) as error:
        message = error.args[0] if error.args else error
        raise CheckpointError(f"load: {path} does not fit this model: {message}") from error
    if optimizer is not None:
        if 'optimizer' not in meta:
            raise KeyError(f"load: {path} holds no optimizer state")
        try:
            optimizer.load_state_dict(_optimizer_state(path, optimizer, meta['optimizer'], arrays))
        except (KeyError, ValueError, TypeError) as error:
            message = str(error.args[0] if error.args else error)
            if not message.startswith('load: '):
                message = f"load: {path} does not fit this optimizer: {message}"
            raise CheckpointError(message) from error
    return meta['metadata']


# ---- optimizers: any optim.Optimizer, through its PyTorch-layout state_dict ------------------------
_STATE = 'optimizer/state/'


def _optimizer_entries(optimizer):
    """(npz arrays, JSON meta) of ``optimizer.state_dict()``: each state array is an entry
    'optimizer/state/<parameter index>/<name>', scalars (step counts) and the param groups go
    into the JSON meta with the optimizer's class name."""
    state = optimizer.state_dict()
    arrays, scalars = {}, {}
    for i, entry in state['state'].items():
        scalars[str(i)] = {}
        for key, value in entry.items():
            if isinstance(value, numpy.ndarray):
                arrays[f"{_STATE}{i}/{key}"] = value
            else:
                scalars[str(i)][key] = value.item() if isinstance(value, numpy.generic) else value
    return arrays, {'type': type(optimizer).__name__, 'param_groups': state['param_groups'], 'state': scalars}


def _optimizer_state(path, optimizer, saved, arrays):
    """The state_dict to hand ``optimizer.load_state_dict`` from a checkpoint's meta and arrays."""
    if 'n_buffers' in saved:  # the SGD-only format before optim.Optimizer
        saved = {'type': 'SGD', 'state': {str(i): {} for i in range(saved['n_buffers'])},
                 'param_groups': [dict({k: v for k, v in saved.items() if k != 'n_buffers'},
                                       params=list(range(saved['n_buffers'])))]}
        arrays = {f"{_STATE}{k.rsplit('/', 1)[1]}/momentum_buffer": v for k, v in arrays.items()
                  if k.startswith('optimizer/buffer/')}
    kind = type(optimizer).__name__
    if saved.get('type') != kind:
        raise ValueError(f"load: {path} holds {saved.get('type')} optimizer state, not {kind} state")
    state = {int(i): dict(entry) for i, entry in saved['state'].items()}
    for key, value in arrays.items():
        if key.startswith(_STATE):
            index, name = key[len(_STATE):].split('/', 1)
            state.setdefault(int(index), {})[name] = value
    state = {i: entry for i, entry in state.items() if entry}
    return {'state': state, 'param_groups': saved['param_groups']}
