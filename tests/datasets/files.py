"""Tiny data files in the real formats (and broken variants) for the loader tests."""
import gzip
import os
import pickle

import numpy


def idx_bytes(array, magic):
    header = magic.to_bytes(4, 'big') + b''.join(n.to_bytes(4, 'big') for n in array.shape)
    return header + array.astype(numpy.uint8).tobytes()


def write_mnist(directory, n_train=40, n_test=20, gz=False, seed=0):
    rng = numpy.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    for prefix, n in (('train', n_train), ('t10k', n_test)):
        images = rng.integers(0, 256, (n, 28, 28))
        labels = numpy.arange(n) % 10
        for name, data in ((f'{prefix}-images-idx3-ubyte', idx_bytes(images, 2051)),
                           (f'{prefix}-labels-idx1-ubyte', idx_bytes(labels, 2049))):
            path = os.path.join(directory, name + ('.gz' if gz else ''))
            with (gzip.open if gz else open)(path, 'wb') as f:
                f.write(data)
    return directory


def write_cifar(directory, per_batch=8, seed=0):
    rng = numpy.random.default_rng(seed)
    root = os.path.join(directory, 'cifar-10-batches-py')
    os.makedirs(root, exist_ok=True)
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        batch = {b'data': rng.integers(0, 256, (per_batch, 3072)).astype(numpy.uint8),
                 b'labels': [int(v) for v in numpy.arange(per_batch) % 10], b'batch_label': name.encode()}
        with open(os.path.join(root, name), 'wb') as f:
            pickle.dump(batch, f)
    return directory
