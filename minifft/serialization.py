"""Save and load a model, its optimiser and run metadata as one .npz file, written atomically."""
import json
import os
import tempfile

import numpy


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

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp-', suffix='.npz')
    try:
        with os.fdopen(fd, 'wb') as f:
            numpy.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _read(path, names=None):
    """The arrays of checkpoint ``path`` (only ``names`` if given) and its parsed 'meta' entry."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no checkpoint file at {path}")
    try:
        with numpy.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files if names is None or k in names}
        meta = json.loads(arrays.pop('meta').tobytes().decode())
    except (ValueError, KeyError, OSError) as error:
        raise ValueError(f"load: {path} is not a minifft checkpoint ({error})") from error
    return arrays, meta


def metadata(path):
    """The metadata saved with a checkpoint, without loading its arrays into a model."""
    return _read(path, names=('meta',))[1]['metadata']


def load(path, model, optimizer=None):
    """Restore ``model`` (and ``optimizer``) from ``path``; return the saved metadata dict."""
    arrays, meta = _read(path)
    prefix = 'model/'
    model.load_state_dict({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
    if optimizer is not None:
        if 'optimizer' not in meta:
            raise KeyError(f"load: {path} holds no optimizer state")
        optimizer.load_state_dict(_optimizer_state(path, optimizer, meta['optimizer'], arrays))
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
