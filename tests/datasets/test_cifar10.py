import os
import pickle

import numpy
import pytest

from datasets import DatasetError, cifar10
from tests.datasets.files import write_cifar


def test_reads_pickle_batches(tmp_path):
    write_cifar(tmp_path)
    (x, y), (xt, yt) = cifar10.load(str(tmp_path))
    assert x.shape == (40, 3, 32, 32) and xt.shape == (8, 3, 32, 32) and x.dtype == numpy.float32
    assert y.dtype == numpy.int64 and set(y.tolist()) <= set(range(10))


def rewrite(tmp_path, name, obj=None, raw=None):
    path = tmp_path / 'cifar-10-batches-py' / name
    if raw is None:
        raw = pickle.dumps(obj)
    path.write_bytes(raw)


@pytest.mark.parametrize('name,obj,message', [
    ('data_batch_3', {b'data': numpy.zeros((8, 100), numpy.uint8), b'labels': [0] * 8}, r"data has shape \(8, 100\)"),
    ('data_batch_2', {b'data': numpy.zeros((8, 3072), numpy.uint8), b'labels': [0] * 7}, r"has 8 images but 7 labels"),
    ('test_batch', {b'pixels': 1}, r"is not a CIFAR-10 batch"),
    ('test_batch', {b'data': numpy.zeros((2, 3072), numpy.uint8), b'labels': [0, 10]}, r"labels outside 0-9"),
])
def test_bad_batches(tmp_path, name, obj, message):
    write_cifar(tmp_path)
    rewrite(tmp_path, name, obj)
    with pytest.raises(DatasetError, match=rf"CIFAR-10: .*{name}.*"):
        cifar10.load(str(tmp_path))
    with pytest.raises(DatasetError, match=message):
        cifar10.load(str(tmp_path))


def test_truncated_pickle(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / 'cifar-10-batches-py' / 'data_batch_1'
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DatasetError, match=r"cannot read .*data_batch_1"):
        cifar10.load(str(tmp_path))


class Exploit:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_pickle_that_runs_code_is_refused(tmp_path):
    write_cifar(tmp_path)
    rewrite(tmp_path, 'data_batch_1', {b'data': Exploit(), b'labels': []})
    with pytest.raises(DatasetError, match=r"refusing to load (posix|os)\.system"):
        cifar10.load(str(tmp_path))


def test_missing(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        cifar10.load(str(tmp_path / 'nowhere'))
    write_cifar(tmp_path)
    os.remove(tmp_path / 'cifar-10-batches-py' / 'data_batch_5')
    with pytest.raises(DatasetError, match=r"data_batch_5 not found"):
        cifar10.load(str(tmp_path))
