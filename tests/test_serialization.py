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


def test_full_disk_keeps_previous_checkpoint(tmp_path, monkeypatch):
    import errno
    model, opt = make()
    path = tmp_path / 'ckpt.npz'
    minifft.save(path, model, opt, epoch=1)
    before = path.read_bytes()
    real = numpy.savez

    def disk_full(f, **arrays):
        f.write(b'PK\x03\x04 half an archive')  # a partial write, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(numpy, 'savez', disk_full)
    with pytest.raises(OSError) as info:
        minifft.save(path, model, opt, epoch=2)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before and os.listdir(tmp_path) == ['ckpt.npz']
    monkeypatch.setattr(numpy, 'savez', real)
    assert minifft.serialization.metadata(path) == {'epoch': 1}


KILLED_SAVE = """
import os, signal, sys, numpy
sys.path.insert(0, {root!r})
import minifft
from minifft import nn
def killed(f, **arrays):
    f.write(b'PK partial')
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
numpy.savez = killed
minifft.save({path!r}, nn.Linear(2, 2))
"""


def test_killed_save_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = str(tmp_path / 'ckpt.npz')
    child = subprocess.run([sys.executable, '-c', KILLED_SAVE.format(root=root, path=path)])
    assert child.returncode == -9
    [left] = os.listdir(tmp_path)
    assert left.startswith('.tmp-') and left.endswith('.npz')
    # not ours or not stale: kept
    (tmp_path / '.tmp-notes.npz').write_bytes(b'x')
    (tmp_path / f'.tmp-{os.getpid()}-abcdefgh.npz').write_bytes(b'x')    # a live writer's file
    (tmp_path / 'other.npz').write_bytes(b'x')
    legacy_fresh = tmp_path / '.tmp-k2j4h5g6.npz'
    legacy_fresh.write_bytes(b'x')
    legacy_old = tmp_path / '.tmp-a1b2c3d4.npz'
    legacy_old.write_bytes(b'x')
    old = os.stat(legacy_old).st_mtime - 2 * minifft.serialization.STALE_SECONDS
    os.utime(legacy_old, (old, old))
    model, opt = make()
    minifft.save(path, model, opt, epoch=1)
    assert sorted(os.listdir(tmp_path)) == sorted(['ckpt.npz', '.tmp-notes.npz', f'.tmp-{os.getpid()}-abcdefgh.npz',
                                                  'other.npz', '.tmp-k2j4h5g6.npz'])


@pytest.mark.parametrize('umask', [0o022, 0o027])
def test_checkpoint_permissions_follow_the_umask(tmp_path, umask):
    model, opt = make()
    previous = os.umask(umask)
    try:
        minifft.save(tmp_path / 'ckpt.npz', model, opt)
    finally:
        os.umask(previous)
    assert os.stat(tmp_path / 'ckpt.npz').st_mode & 0o777 == 0o666 & ~umask


def checkpoint_bytes(tmp_path):
    model, opt = make()
    minifft.save(tmp_path / 'good.npz', model, opt, epoch=1)
    return (tmp_path / 'good.npz').read_bytes()


def npz_bytes(tmp_path, **arrays):
    numpy.savez(tmp_path / 'made.npz', **arrays)
    return (tmp_path / 'made.npz').read_bytes()


@pytest.mark.parametrize('content,message', [
    (lambda t: numpy.random.default_rng(0).bytes(4096), r"not a minifft checkpoint \(not an .npz archive\)"),
    (lambda t: b'', r"not an .npz archive"),
    (lambda t: checkpoint_bytes(t)[:300], r"damaged or truncated"),
    (lambda t: checkpoint_bytes(t)[:-40], r"damaged or truncated"),
    (lambda t: npz_bytes(t, weights=numpy.zeros(3)), r"no 'meta' entry"),
    (lambda t: npz_bytes(t, meta=numpy.frombuffer(b'{not json', numpy.uint8)), r"'meta' entry is not JSON"),
    (lambda t: npz_bytes(t, meta=numpy.array([{'a': 1}], dtype=object)), r"pickled array"),
    (lambda t: npz_bytes(t, meta=numpy.frombuffer(b'{"metadata": {}}', numpy.uint8),
                         **{'model/0.weight': numpy.zeros((5, 5))}), r"does not fit this model"),
])
def test_corrupt_checkpoints_give_one_clear_error(tmp_path, content, message):
    path = tmp_path / 'ckpt.npz'
    path.write_bytes(content(tmp_path))
    model, opt = make()
    with pytest.raises(minifft.serialization.CheckpointError, match=message) as info:
        minifft.load(path, model, opt)
    assert str(path) in str(info.value) and 'allow_pickle' not in str(info.value)
    assert '\n' not in str(info.value)


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        return self.out(self.bn(self.lin(x)).relu())


@pytest.mark.parametrize('cls', [optim.Adam, optim.AdamW, optim.SGD])
def test_checkpoint_with_buffers_and_optimizer_state_resumes_exactly(tmp_path, cls):
    rng = numpy.random.default_rng(0)
    batches = [(rng.standard_normal((8, 3)).astype(numpy.float32), rng.integers(0, 2, 8)) for _ in range(6)]

    def train(model, opt, steps):
        for x, y in steps:
            opt.zero_grad()
            minifft.F.cross_entropy(model(minifft.tensor(x)), y).backward()
            opt.step()

    def make_run():
        minifft.manual_seed(1)
        model = BNNet()
        kwargs = {'lr': 0.05, 'momentum': 0.9} if cls is optim.SGD else {'lr': 0.01, 'amsgrad': True}
        return model, cls(model.parameters(), **kwargs)

    model, opt = make_run()
    train(model, opt, batches[:3])
    minifft.save(tmp_path / 'c.npz', model, opt, step=3)
    train(model, opt, batches[3:])

    resumed, resumed_opt = make_run()
    train(resumed, resumed_opt, batches[:1])  # different state: load must overwrite all of it
    assert minifft.load(tmp_path / 'c.npz', resumed, resumed_opt) == {'step': 3}
    assert int(resumed.bn.num_batches_tracked) == 3
    train(resumed, resumed_opt, batches[3:])
    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        numpy.testing.assert_array_equal(a, b, err_msg=name)
    assert int(resumed.bn.num_batches_tracked) == 6


def test_loading_another_optimizers_state_is_refused(tmp_path):
    model, opt = make()
    minifft.save(tmp_path / 'c.npz', model, opt)
    with pytest.raises(ValueError, match="holds SGD optimizer state, not Adam state"):
        minifft.load(tmp_path / 'c.npz', model, optim.Adam(model.parameters()))


def test_sgd_checkpoint_of_the_earlier_format_still_loads(tmp_path):
    """Checkpoints written before optim.Optimizer kept SGD's buffers as optimizer/buffer/<i>."""
    import json
    model, opt = make()
    params = list(model.parameters())
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    arrays['optimizer/buffer/1'] = numpy.full(params[1].shape, 2.0, numpy.float32)
    meta = {'metadata': {'epoch': 1}, 'optimizer': {'lr': 0.2, 'momentum': 0.5, 'dampening': 0.0,
                                                    'weight_decay': 0.0, 'nesterov': False, 'n_buffers': 4}}
    arrays['meta'] = numpy.frombuffer(json.dumps(meta).encode(), dtype=numpy.uint8)
    numpy.savez(tmp_path / 'old.npz', **arrays)
    assert minifft.load(tmp_path / 'old.npz', model, opt) == {'epoch': 1}
    assert opt.lr == 0.2 and opt.momentum == 0.5
    assert opt.buffers[0] is None and (opt.buffers[1] == 2).all()
