import os

import numpy
import pytest

from datasets import DatasetError, mnist
from tests.datasets.files import idx_bytes, write_mnist


@pytest.mark.parametrize('gz', [False, True])
def test_reads_idx_files(tmp_path, gz):
    write_mnist(tmp_path, gz=gz)
    (x, y), (xt, yt) = mnist.load(str(tmp_path))
    assert x.shape == (40, 1, 28, 28) and x.dtype == numpy.float32 and 0 <= x.min() and x.max() <= 1
    assert y.tolist() == [i % 10 for i in range(40)] and xt.shape == (20, 1, 28, 28) and len(yt) == 20


def corrupt(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)


@pytest.mark.parametrize('name,data,message', [
    ('train-images-idx3-ubyte', idx_bytes(numpy.zeros((40, 28, 28)), 2049), r"magic number 0x00000801, expected 0x00000803"),
    ('train-images-idx3-ubyte', idx_bytes(numpy.zeros((40, 28, 28)), 2051)[:-5], r"holds 31355 data bytes, its header promises 31360"),
    ('train-labels-idx1-ubyte', idx_bytes(numpy.zeros(39), 2049), r"has 40 images but .* has 39 labels"),
    ('train-labels-idx1-ubyte', idx_bytes(numpy.full(40, 12), 2049), r"has label 12, expected 0-9"),
    ('train-labels-idx1-ubyte', b'\x00\x00', r"too short to be an IDX file"),
])
def test_broken_files_name_the_file_and_problem(tmp_path, name, data, message):
    write_mnist(tmp_path)
    corrupt(tmp_path, name, data)
    with pytest.raises(DatasetError, match=message) as info:
        mnist.load(str(tmp_path))
    assert 'MNIST' in str(info.value)


def test_corrupt_gzip(tmp_path):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / 'train-images-idx3-ubyte.gz'
    path.write_bytes(path.read_bytes()[:100])  # truncated stream
    with pytest.raises(DatasetError, match=r"cannot read .*train-images-idx3-ubyte.gz"):
        mnist.load(str(tmp_path))


def test_missing_directory_and_file(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        mnist.load(str(tmp_path / 'nowhere'))
    write_mnist(tmp_path)
    os.remove(tmp_path / 't10k-labels-idx1-ubyte')
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\[.gz\] not found"):
        mnist.load(str(tmp_path))


def test_gzip_with_a_corrupt_compressed_body(tmp_path):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / 't10k-images-idx3-ubyte.gz'
    raw = bytearray(path.read_bytes())
    for i in range(30, len(raw) - 30, 7):   # header and trailer intact, deflate stream damaged
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"MNIST: cannot read .*t10k-images-idx3-ubyte.gz: .*damaged gzip file"):
        mnist.load(str(tmp_path))


def test_data_dir_that_is_a_file(tmp_path):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(DatasetError, match=r"MNIST: data directory .*file is a file, not a directory"):
        mnist.load(str(tmp_path / 'file'))
