import os
import pickle
import pickletools

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


@pytest.mark.parametrize('labels,message', [
    (numpy.zeros((8, 1), numpy.int64), r"labels have shape \(8, 1\), expected a flat list"),
    (None, r"labels have shape \(\), expected a flat list"),
    ([str(i % 10) for i in range(8)], r"labels are <U1, expected integers 0-9"),
    ([b'3'] * 8, r"labels are \|S1, expected integers 0-9"),
    ([0.7] * 8, r"labels are float64, expected integers 0-9"),
    (numpy.full(8, 2.0, numpy.float32), r"labels are float32, expected integers 0-9"),
    ([0, 1, None, 3, 4, 5, 6, 7], r"labels are object, expected integers"),
    ([[0, 1], [2]] + [0] * 6, r"labels are not a flat list of integers|labels are object"),
])
def test_bad_labels_are_refused_not_truncated(tmp_path, labels, message):
    write_cifar(tmp_path)
    rewrite(tmp_path, 'data_batch_4', {b'data': numpy.zeros((8, 3072), numpy.uint8), b'labels': labels})
    with pytest.raises(DatasetError, match=rf"CIFAR-10: .*data_batch_4 {message}"):
        cifar10.load(str(tmp_path))


def test_integer_label_arrays_are_accepted(tmp_path):
    write_cifar(tmp_path)
    rewrite(tmp_path, 'test_batch', {b'data': numpy.zeros((3, 3072), numpy.uint8),
                                     b'labels': numpy.array([1, 2, 9], numpy.uint8)})
    assert cifar10.load(str(tmp_path))[1][1].tolist() == [1, 2, 9]


def numpy_batch(n=6):
    rng = numpy.random.default_rng(1)
    return {b'data': rng.integers(0, 256, (n, 3072)).astype(numpy.uint8), b'labels': numpy.arange(n) % 10,
            b'count': numpy.int64(n), b'batch_label': b'testing batch 1 of 1'}


@pytest.mark.parametrize('protocol', [2, 3, 4, 5])
@pytest.mark.parametrize('old_numpy_names', [False, True])
def test_batches_pickled_by_numpy_with_any_protocol(tmp_path, protocol, old_numpy_names):
    """Protocol 5 stores arrays through numpy._core.numeric._frombuffer; NumPy < 2 writes numpy.core."""
    write_cifar(tmp_path)
    batch = numpy_batch()
    raw = pickle.dumps(batch, protocol=protocol)
    if old_numpy_names:  # rename numpy._core to numpy.core, fixing the string lengths (protocol >= 4)
        for module in (b'numpy._core.multiarray', b'numpy._core.numeric'):
            renamed = module.replace(b'._core', b'.core')
            raw = raw.replace(bytes([0x8c, len(module)]) + module, bytes([0x8c, len(renamed)]) + renamed)
        raw = raw.replace(b'numpy._core', b'numpy.core')   # protocols 2-3: plain text
        raw = pickletools.optimize(raw)                      # re-frame after the length changes
        assert b'numpy.core.' in raw and b'numpy._core' not in raw
    rewrite(tmp_path, 'test_batch', raw=raw)
    (_, _), (xt, yt) = cifar10.load(str(tmp_path))
    numpy.testing.assert_array_equal(xt, batch[b'data'].reshape(-1, 3, 32, 32).astype(numpy.float32) / 255)
    assert yt.tolist() == batch[b'labels'].tolist() and yt.dtype == numpy.int64


class Payload:
    def __reduce__(self):
        return (eval, ("__import__('os').system('echo pwned')",))


@pytest.mark.parametrize('protocol', [2, 5])
def test_other_globals_still_refused_under_protocol(tmp_path, protocol):
    write_cifar(tmp_path)
    rewrite(tmp_path, 'test_batch', raw=pickle.dumps({b'data': Payload(), b'labels': []}, protocol=protocol))
    with pytest.raises(DatasetError, match=r"refusing to load (__builtin__|builtins)\.eval"):
        cifar10.load(str(tmp_path))
