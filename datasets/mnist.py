"""MNIST from the standard IDX files (gzipped or not) in a local directory.

Expected names (as distributed): train-images-idx3-ubyte, train-labels-idx1-ubyte,
t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally with a .gz suffix.
"""
import gzip
import os
import zlib

import numpy

from .errors import DatasetError

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049   # 0x00000803 (ubyte, 3 dims), 0x00000801 (ubyte, 1 dim)
FILES = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
         'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}


def find(directory, name):
    """The path of ``name`` or ``name.gz`` in ``directory``."""
    for candidate in (name, name + '.gz'):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    raise DatasetError(f"MNIST: {name}[.gz] not found in {directory}")


def read_idx(path, magic):
    """An unsigned-byte IDX array, checked against ``magic`` and its own header's sizes."""
    opener = gzip.open if path.endswith('.gz') else open
    try:
        with opener(path, 'rb') as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as error:  # gzip raises these for corrupt or truncated streams
        raise DatasetError(f"MNIST: cannot read {path}: {error or type(error).__name__} "
                           f"(a damaged{' gzip' if path.endswith('.gz') else ''} file?)") from error
    if len(raw) < 4:
        raise DatasetError(f"MNIST: {path} is too short to be an IDX file ({len(raw)} bytes)")
    found = int.from_bytes(raw[:4], 'big')
    if found != magic:
        raise DatasetError(f"MNIST: {path} has magic number {found:#010x}, expected {magic:#010x}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"MNIST: {path} is truncated inside its header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
    expected = int(numpy.prod(shape))
    if len(raw) - header != expected:
        raise DatasetError(f"MNIST: {path} holds {len(raw) - header} data bytes, its header "
                           f"promises {expected} for shape {shape} (truncated or padded file)")
    return numpy.frombuffer(raw, numpy.uint8, offset=header).reshape(shape)


def load_split(directory, split):
    image_name, label_name = FILES[split]
    image_path, label_path = find(directory, image_name), find(directory, label_name)
    images = read_idx(image_path, IMAGES_MAGIC)
    labels = read_idx(label_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DatasetError(f"MNIST: {image_path} has {len(images)} images but {label_path} has "
                           f"{len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise DatasetError(f"MNIST: {label_path} has label {labels.max()}, expected 0-9")
    return (images[:, None].astype(numpy.float32) / 255.0), labels.astype(numpy.int64)


def load(directory):
    if not os.path.isdir(directory):
        raise DatasetError(f"MNIST: data directory {directory} "
                           f"{'is a file, not a directory' if os.path.exists(directory) else 'does not exist'}")
    return load_split(directory, 'train'), load_split(directory, 'test')
