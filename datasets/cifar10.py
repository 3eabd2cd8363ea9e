"""CIFAR-10 from the standard Python pickle batches (the ``cifar-10-batches-py`` directory).

The pickles are read with an unpickler that accepts only the NumPy array types they contain, so a
tampered file cannot run code.
"""
import os
import pickle

import numpy

from .errors import DatasetError

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ('test_batch',)
ALLOWED = {('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
           ('numpy', 'ndarray'), ('numpy', 'dtype'), ('numpy.core.multiarray', 'scalar'),
           ('numpy._core.multiarray', 'scalar')}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


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
    data = numpy.asarray(batch[b'data'])
    labels = numpy.asarray(batch[b'labels'], dtype=numpy.int64)
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
        raise DatasetError(f"CIFAR-10: data directory {directory} does not exist")
    return load_split(directory, TRAIN_FILES), load_split(directory, TEST_FILES)
