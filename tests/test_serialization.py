import os

import numpy
import pytest

import minifft
from minifft import nn, optim


def make():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def test_save_load_round_trip(tmp_path):
    model, opt = make()
    for p in model.parameters():
        p.grad = numpy.ones_like(p.data)
    opt.step()
    path = tmp_path / 'ckpt.npz'
    minifft.save(path, model, opt, epoch=3, note='x')
    model2, opt2 = make()
    meta = minifft.load(path, model2, opt2)
    assert meta == {'epoch': 3, 'note': 'x'}
    for p, q in zip(model.parameters(), model2.parameters()):
        numpy.testing.assert_array_equal(p.data, q.data)
    for a, b in zip(opt.buffers, opt2.buffers):
        numpy.testing.assert_array_equal(a, b)


def test_interrupted_save_keeps_old_checkpoint(tmp_path, monkeypatch):
    model, opt = make()
    path = tmp_path / 'ckpt.npz'
    minifft.save(path, model, opt, epoch=1)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(numpy, 'savez', crash)
    with pytest.raises(OSError, match="disk full"):
        minifft.save(path, model, opt, epoch=2)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ['ckpt.npz']  # no temp file left behind


def test_load_errors(tmp_path):
    model, _ = make()
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        minifft.load(tmp_path / 'missing.npz', model)
    bad = tmp_path / 'bad.npz'
    bad.write_bytes(b'not a zip')
    with pytest.raises(ValueError, match="is not a minifft checkpoint"):
        minifft.load(bad, model)
