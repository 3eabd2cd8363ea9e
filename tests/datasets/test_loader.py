import numpy
import pytest

import datasets
from datasets import DataLoader, random_crop_flip


def data(n=10):
    return numpy.arange(n * 2 * 4 * 4, dtype=numpy.float32).reshape(n, 2, 4, 4), numpy.arange(n) % 3


def test_batches_cover_everything_once_and_drop_last():
    x, y = data(10)
    loader = DataLoader(x, y, batch_size=4, prefetch=False)
    sizes = [len(b[1]) for b in loader]
    assert sizes == [4, 4, 2] and len(loader) == 3
    assert [len(b[1]) for b in DataLoader(x, y, batch_size=4, drop_last=True)] == [4, 4]


def test_shuffle_is_seeded_per_epoch():
    x, y = data(20)
    loader = DataLoader(x, y, batch_size=20, shuffle=True, seed=5)
    first = next(iter(loader))[1].numpy()
    again = next(iter(loader))[1].numpy()
    loader.set_epoch(1)
    other = next(iter(loader))[1].numpy()
    numpy.testing.assert_array_equal(first, again)
    assert not numpy.array_equal(first, other)
    assert sorted(first.tolist()) == sorted(y.tolist())


def test_prefetch_gives_the_same_batches():
    x, y = data(17)
    a = [b[0].numpy() for b in DataLoader(x, y, 5, shuffle=True, prefetch=True)]
    b = [b[0].numpy() for b in DataLoader(x, y, 5, shuffle=True, prefetch=False)]
    for u, v in zip(a, b):
        numpy.testing.assert_array_equal(u, v)


def test_normalisation_per_channel():
    x, y = data(10)
    mean, std = datasets.channel_stats(x)
    batch = next(iter(DataLoader(x, y, 10, mean=mean, std=std)))[0].numpy()
    numpy.testing.assert_allclose(batch.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    numpy.testing.assert_allclose(batch.std(axis=(0, 2, 3)), 1, atol=1e-4)


def test_errors_in_the_producer_thread_reach_the_caller():
    x, y = data(10)

    def broken(batch, rng):
        raise RuntimeError("augment failed")
    with pytest.raises(RuntimeError, match="augment failed"):
        list(DataLoader(x, y, 4, shuffle=True, augment=broken))


def test_random_crop_flip_keeps_shape_and_content():
    rng = numpy.random.default_rng(0)
    x = rng.random((6, 3, 8, 8)).astype(numpy.float32)
    out = random_crop_flip(x, rng, padding=2)
    assert out.shape == x.shape
    same = random_crop_flip(x, numpy.random.default_rng(1), padding=0)
    for a, b in zip(same, x):  # no padding: each image is itself or its mirror
        assert numpy.array_equal(a, b) or numpy.array_equal(a, b[:, :, ::-1])


def test_mismatched_lengths():
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        DataLoader(numpy.zeros((10, 1, 2, 2)), numpy.zeros(9), 2)


@pytest.mark.parametrize('limit', [0, -5, 2.5, True])
def test_load_refuses_a_limit_that_is_not_a_positive_count(limit):
    with pytest.raises(datasets.DatasetError, match=r"limit: expected a whole number of images >= 1"):
        datasets.load('shapes', limit=limit)


def test_load_refuses_a_data_dir_for_built_in_data(tmp_path):
    with pytest.raises(datasets.DatasetError, match=r"shapes: takes no data directory"):
        datasets.load('shapes', data_dir=str(tmp_path))
