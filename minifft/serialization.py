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
        state = optimizer.state_dict()
        buffers = state.pop('buffers')
        for i, b in enumerate(buffers):
            if b is not None:
                arrays[f"optimizer/buffer/{i}"] = b
        state['n_buffers'] = len(buffers)
        meta['optimizer'] = state
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
        state = dict(meta['optimizer'])
        n = state.pop('n_buffers')
        state['buffers'] = [arrays.get(f"optimizer/buffer/{i}") for i in range(n)]
        optimizer.load_state_dict(state)
    return meta['metadata']
