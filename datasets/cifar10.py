"""CIFAR-10 from the standard Python pickle batches (the ``cifar-10-batches-py`` directory).

The pickles are read with an unpickler that accepts only the NumPy array types they contain, so a
tampered file cannot run code.
"""
import codecs
import importlib
import os
import pickle

import numpy

from .errors import DatasetError

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ('test_batch',)


def _numpy_core(module):
    """numpy._core.<module> (NumPy >= 2) or numpy.core.<module> (older), without the deprecated alias."""
    try:
        return importlib.import_module(f'numpy._core.{module}')
    except ImportError:
        return importlib.import_module(f'numpy.core.{module}')


def _allowed():
    """What NumPy pickles of arrays reference, under the names old (numpy.core) and new
    (numpy._core) NumPy write, mapped to this NumPy's objects: array reconstruction (protocols 2-4),
    _frombuffer (protocol 5), dtypes and scalars; and codecs.encode, which Python 3 uses for bytes
    under protocol 2. None of them runs code."""
    multiarray, numeric = _numpy_core('multiarray'), _numpy_core('numeric')
    allowed = {('numpy', 'ndarray'): numpy.ndarray, ('numpy', 'dtype'): numpy.dtype,
               ('_codecs', 'encode'): codecs.encode}
    for core in ('numpy.core', 'numpy._core'):
        allowed[(f'{core}.multiarray', '_reconstruct')] = multiarray._reconstruct
        allowed[(f'{core}.multiarray', 'scalar')] = multiarray.scalar
        allowed[(f'{core}.numeric', '_frombuffer')] = numeric._frombuffer
    return allowed


ALLOWED = _allowed()


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return ALLOWED[(module, name)]


def _labels(path, raw):
    """The labels of one batch as int64 (n,), or a DatasetError saying what is wrong with them."""
    try:
        labels = numpy.asarray(raw)
    except ValueError as error:   # ragged nested lists
        raise DatasetError(f"CIFAR-10: {path} labels are not a flat list of integers ({error})") from error
    if labels.ndim != 1:
        raise DatasetError(f"CIFAR-10: {path} labels have shape {labels.shape}, expected a flat list (n,) "
                           f"of integers 0-9")
    if labels.size and labels.dtype.kind not in 'iu':   # floats would be silently truncated
        raise DatasetError(f"CIFAR-10: {path} labels are {labels.dtype}, expected integers 0-9")
    return labels.astype(numpy.int64)


def read_batch(path):
    """(images (n, 3, 32, 32) uint8, labels (n,) int64) from one pickle batch."""
    if not os.path.isfile(path):
        raise DatasetError(f"CIFAR-10: {path} not found")
    try:
        with open(path, 'rb') as f:
            batch = _ArraysOnly(f, encoding='bytes').load()
    except Exception as error:  # truncated (EOFError), corrupt (UnpicklingError), ...
        raise DatasetError(f"CIFAR-10: cannot read {path}: {type(error).__name__}: {error}") from error
    if not isinstance(batch, dict) or b'data' not in batch or b'labels' not in batch:
        raise DatasetError(f"CIFAR-10: {path} is not a CIFAR-10 batch (no data/labels entries)")
    try:
        data = numpy.asarray(batch[b'data'])
    except ValueError as error:   # ragged nested lists
        raise DatasetError(f"CIFAR-10: {path} data is not an (n, 3072) uint8 array ({error})") from error
    labels = _labels(path, batch[b'labels'])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.dtype != numpy.uint8:
        raise DatasetError(f"CIFAR-10: {path} data has shape {data.shape} {data.dtype}, "
                           f"expected (n, 3072) uint8")
    if len(data) != len(labels):
        raise DatasetError(f"CIFAR-10: {path} has {len(data)} images but {len(labels)} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(f"CIFAR-10: {path} has labels outside 0-9")
    return data.reshape(-1, 3, 32, 32), labels


def load_split(directory, names):
    parts = [read_batch(os.path.join(directory, name)) for name in names]
    images = numpy.concatenate([p[0] for p in parts]).astype(numpy.float32) / 255.0
    return images, numpy.concatenate([p[1] for p in parts])


def load(directory):
    if os.path.isdir(os.path.join(directory, 'cifar-10-batches-py')):
        directory = os.path.join(directory, 'cifar-10-batches-py')
    if not os.path.isdir(directory):
        raise DatasetError(f"CIFAR-10: data directory {directory} "
                           f"{'is a file, not a directory' if os.path.exists(directory) else 'does not exist'}")
    return load_split(directory, TRAIN_FILES), load_split(directory, TEST_FILES)
