"""train.py as a new user meets it: resume that remembers the run's settings, output files checked
before training and written atomically, and one line plus exit code 2 for every bad input."""
import errno
import io
import json
import os
import pickle

import numpy
import pytest

import minifft
import train
from minifft import config, conv
from tests.datasets.files import idx_bytes, write_cifar, write_mnist


@pytest.fixture(autouse=True)
def restore_globals(monkeypatch):
    monkeypatch.delenv('MINIFFT_CONV_ALGO', raising=False)
    monkeypatch.delenv('MINIFFT_DEVICE', raising=False)
    yield
    conv.profiler.enable(False)
    conv.auto.reset()


def run(out, *args, quiet=True):
    """train.main's exit code (argparse's SystemExit included)."""
    try:
        return train.main((['--quiet'] if quiet else []) + ['--device', 'cpu', '--out', str(out), *args])
    except SystemExit as exit:
        return exit.code


def history(out, name='metrics.json'):
    return json.loads((out / name).read_text())['epochs']


def snapshot(directory):
    """Every file under ``directory`` with its bytes (None: the directory does not exist)."""
    if not directory.exists():
        return None
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob('*')) if p.is_file()}


SMALL = ['--limit', '32', '--batch-size', '16', '--conv', 'direct']


def interrupt_in_epoch(monkeypatch, stop_epoch):
    real = train.train_epoch

    def interrupted(model, opt, loader, epoch, args):
        if epoch == stop_epoch:
            raise KeyboardInterrupt   # Ctrl-C (or a kill) during this epoch
        return real(model, opt, loader, epoch, args)
    monkeypatch.setattr(train, 'train_epoch', interrupted)
    return real


# ---- resume remembers ------------------------------------------------------------------------------
def test_resume_alone_continues_with_the_runs_settings(tmp_path, monkeypatch):
    settings = ['--limit', '48', '--batch-size', '8', '--seed', '7', '--lr', '0.02', '--momentum', '0.5',
                '--weight-decay', '0.001', '--schedule', 'step', '--epochs', '3', '--conv', 'direct',
                '--model', 'lenet']
    assert run(tmp_path / 'full', *settings) == 0
    real = interrupt_in_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / 'part', *settings)
    monkeypatch.setattr(train, 'train_epoch', real)
    assert run(tmp_path / 'part', '--resume', str(tmp_path / 'part' / 'checkpoint.npz')) == 0
    full, part = history(tmp_path / 'full'), history(tmp_path / 'part')
    for key in ('train_loss', 'train_acc', 'test_loss', 'test_acc', 'lr'):
        assert [e[key] for e in part] == [e[key] for e in full], key
    run_settings = minifft.serialization.metadata(tmp_path / 'part' / 'checkpoint.npz')['run']
    assert {k: run_settings[k] for k in ('model', 'seed', 'batch_size', 'limit', 'lr', 'momentum', 'weight_decay',
                                         'schedule', 'epochs', 'conv', 'dataset', 'data_dir')} == {
        'model': 'lenet', 'seed': 7, 'batch_size': 8, 'limit': 48, 'lr': 0.02, 'momentum': 0.5, 'weight_decay': 0.001,
        'schedule': 'step', 'epochs': 3, 'conv': 'direct', 'dataset': 'shapes', 'data_dir': None}
    assert len(run_settings['data_fingerprint']) == 32


def test_resume_with_lr_and_schedule_overrides_trains_at_that_lr(tmp_path, capsys):
    out = tmp_path / 'run'
    assert run(out, *SMALL, '--epochs', '2', '--schedule', 'cosine') == 0
    assert history(out)[-1]['lr'] < 0.05
    capsys.readouterr()
    ckpt = out / 'checkpoint.npz'
    before = [p.data.copy() for p in load_model(ckpt)]
    assert run(out, '--resume', str(ckpt), '--epochs', '3', '--lr', '0.5', '--schedule', 'none') == 0
    printed = capsys.readouterr().out
    assert 'note: --lr 0.5 overrides 0.05' in printed and 'note: --schedule none overrides cosine' in printed
    assert 'note: --epochs 3 overrides 2' in printed
    assert [e['lr'] for e in history(out)][-1] == 0.5
    after = [p.data for p in load_model(ckpt)]
    assert any(not numpy.array_equal(a, b) for a, b in zip(before, after))   # it really trained
    meta = minifft.serialization.metadata(ckpt)
    assert meta['run']['lr'] == 0.5 and meta['run']['schedule'] == 'none' and meta['epoch'] == 3


def load_model(path):
    import models
    model = models.build('small', (3, 32, 32), 10)
    minifft.load(path, model)
    return list(model.parameters())


def test_resume_with_a_cosine_lr_override_restarts_the_schedule_from_it(tmp_path):
    out = tmp_path / 'run'
    assert run(out, *SMALL, '--epochs', '1', '--schedule', 'cosine') == 0
    assert run(out, '--resume', str(out / 'checkpoint.npz'), '--epochs', '2', '--lr', '0.5') == 0
    # cosine over 2 epochs from base lr 0.5, at epoch 1: 0.5 * (1 + cos(pi / 2)) / 2
    assert history(out)[-1]['lr'] == pytest.approx(0.25)


@pytest.mark.parametrize('flags,message', [
    (['--seed', '5'], r"was trained with --seed 0, not --seed 5"),
    (['--batch-size', '8'], r"was trained with --batch-size 16, not --batch-size 8"),
    (['--limit', '24'], r"was trained with --limit 32, not --limit 24"),
    (['--model', 'cifar'], r"was trained with --model small, not --model cifar"),
    (['--dataset', 'digits'], r"was trained with --dataset shapes, not --dataset digits"),
])
def test_resume_refuses_flags_that_contradict_the_run(tmp_path, capsys, flags, message):
    out = tmp_path / 'run'
    assert run(out, *SMALL, '--epochs', '1') == 0
    before = snapshot(out)
    capsys.readouterr()
    assert run(out, '--resume', str(out / 'checkpoint.npz'), '--epochs', '2', *flags) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('error: ') and message.replace('\\', '') in err
    assert snapshot(out) == before


def test_resume_refuses_other_data_in_the_data_dir(tmp_path, capsys):
    out = tmp_path / 'run'
    data = write_mnist(tmp_path / 'data', seed=0)
    assert run(out, '--dataset', 'mnist', '--data-dir', str(data), '--epochs', '1', *SMALL) == 0
    moved = write_mnist(tmp_path / 'moved', seed=0)      # the same files elsewhere: fine
    assert run(out, '--resume', str(out / 'checkpoint.npz'), '--data-dir', str(moved), '--epochs', '2') == 0
    other = write_mnist(tmp_path / 'other', seed=1)
    before = snapshot(out)
    capsys.readouterr()
    assert run(out, '--resume', str(out / 'checkpoint.npz'), '--data-dir', str(other), '--epochs', '3') == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'differs from the data the checkpoint was trained on' in err
    assert snapshot(out) == before


def test_resume_finds_the_data_dir_itself(tmp_path):
    out = tmp_path / 'run'
    data = write_mnist(tmp_path / 'data')
    assert run(out, '--dataset', 'mnist', '--data-dir', str(data), '--epochs', '1', *SMALL) == 0
    assert run(out, '--resume', str(out / 'checkpoint.npz'), '--epochs', '2') == 0
    assert len(history(out)) == 2


@pytest.mark.parametrize('epochs', [[], ['--epochs', '1'], ['--epochs', '2']])
def test_resume_of_a_finished_run_has_nothing_to_do(tmp_path, capsys, epochs):
    out = tmp_path / 'run'
    assert run(out, *SMALL, '--epochs', '2') == 0
    before = snapshot(out)
    capsys.readouterr()
    assert run(out, '--resume', str(out / 'checkpoint.npz'), *epochs, quiet=False) == 0
    printed = capsys.readouterr().out
    assert 'nothing to do' in printed and 'already trained 2 epochs' in printed
    assert 'checkpoint:' not in printed and 'epoch 3' not in printed
    assert snapshot(out) == before


# ---- files ---------------------------------------------------------------------------------------------
def test_metrics_are_written_after_every_epoch(tmp_path, monkeypatch):
    out = tmp_path / 'run'
    interrupt_in_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        run(out, *SMALL, '--epochs', '3')
    metrics = json.loads((out / 'metrics.json').read_text())
    assert [e['epoch'] for e in metrics['epochs']] == [1, 2] and metrics['complete'] is False
    assert [n for n in os.listdir(out) if n.startswith('.tmp-')] == []


def test_nan_stop_keeps_the_history(tmp_path, monkeypatch, capsys):
    out = tmp_path / 'run'
    real_epoch, real_loss = train.train_epoch, minifft.functions.cross_entropy

    def nan_in_second_epoch(model, opt, loader, epoch, args):
        if epoch == 1:
            monkeypatch.setattr(minifft.functions, 'cross_entropy', lambda z, y: real_loss(z, y) * float('nan'))
        return real_epoch(model, opt, loader, epoch, args)
    monkeypatch.setattr(train, 'train_epoch', nan_in_second_epoch)
    assert run(out, *SMALL, '--epochs', '3') == 3
    assert 'loss became nan in epoch 2' in capsys.readouterr().err
    assert [e['epoch'] for e in history(out)] == [1]


def test_full_disk_during_a_save_keeps_checkpoint_and_metrics(tmp_path, monkeypatch, capsys):
    out = tmp_path / 'run'
    assert run(out, *SMALL, '--epochs', '1') == 0
    before = snapshot(out)
    capsys.readouterr()

    def disk_full(f, **arrays):
        f.write(b'PK\x03\x04' + b'\0' * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(numpy, 'savez', disk_full)
    assert run(out, '--resume', str(out / 'checkpoint.npz'), '--epochs', '2') == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'cannot save epoch 2' in err and os.strerror(errno.ENOSPC) in err
    assert 'previous checkpoint and metrics are kept' in err
    assert snapshot(out) == before


def test_full_disk_at_the_final_metrics_exits_1_with_one_line(tmp_path, monkeypatch, capsys):
    out = tmp_path / 'run'
    real = minifft.serialization.write_atomically

    def full_after_checkpoints(path, write):
        if str(path).endswith('eval.json'):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, write)
    assert run(out, *SMALL, '--epochs', '1') == 0
    capsys.readouterr()
    monkeypatch.setattr(minifft.serialization, 'write_atomically', full_after_checkpoints)
    assert run(out, '--eval-only', '--checkpoint', str(out / 'checkpoint.npz')) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and f"cannot write {out / 'eval.json'}: {os.strerror(errno.ENOSPC)}" in err


def test_eval_only_and_compare_write_their_own_files(tmp_path, capsys):
    out = tmp_path / 'run'
    assert run(out, *SMALL, '--epochs', '1') == 0
    metrics = (out / 'metrics.json').read_bytes()
    assert run(out, '--eval-only', '--checkpoint', str(out / 'checkpoint.npz')) == 0
    assert run(out, '--compare', '--compare-steps', '2', '--limit', '32', '--batch-size', '16') == 0
    assert (out / 'metrics.json').read_bytes() == metrics
    assert json.loads((out / 'eval.json').read_text())['mode'] == 'eval'
    assert json.loads((out / 'compare.json').read_text())['mode'] == 'compare'


def unwritable_dir(tmp_path):
    if os.geteuid() == 0:   # root writes through permission bits: use a place no one can create files in
        return '/proc/minifft-out'
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(0o500)
    return str(locked / 'out')


def test_output_paths_checked_before_training(tmp_path, capsys):
    a_file = tmp_path / 'a-file'
    a_file.write_text('keep me')
    cases = [(['--out', str(a_file)], r"--out .*a-file is a file, expected a directory"),
             (['--out', str(a_file / 'sub')], r"a-file is a file, not a directory"),
             (['--checkpoint', str(tmp_path)], r"--checkpoint .* is a directory, expected a file"),
             (['--out', unwritable_dir(tmp_path)], r"--out .*: cannot write in")]
    for flags, message in cases:
        code = train.main(['--quiet', '--device', 'cpu', *SMALL, *flags] +
                          ([] if '--out' in flags else ['--out', str(tmp_path / 'out')]))
        err = capsys.readouterr().err
        assert code == 2 and err.count('\n') == 1, (flags, err)
        assert __import__('re').search(message, err), (message, err)
    assert a_file.read_text() == 'keep me' and not (tmp_path / 'out').exists()


# ---- every bad input: one line, exit 2, nothing written --------------------------------------------------
def mnist_4x4(tmp_path):
    directory = tmp_path / 'tiny'
    directory.mkdir()
    for prefix, n in (('train', 20), ('t10k', 10)):
        (directory / f'{prefix}-images-idx3-ubyte').write_bytes(idx_bytes(numpy.zeros((n, 4, 4)), 2051))
        (directory / f'{prefix}-labels-idx1-ubyte').write_bytes(idx_bytes(numpy.arange(n) % 10, 2049))
    return ['--dataset', 'mnist', '--data-dir', str(directory)]


def mnist_corrupt_gzip(tmp_path):
    directory = write_mnist(tmp_path / 'gz', gz=True)
    path = os.path.join(directory, 'train-images-idx3-ubyte.gz')
    raw = bytearray(open(path, 'rb').read())
    for i in range(30, len(raw) - 30, 5):
        raw[i] ^= 0xFF
    open(path, 'wb').write(bytes(raw))
    return ['--dataset', 'mnist', '--data-dir', str(directory)]


def cifar_labels(value):
    def make(tmp_path):
        directory = write_cifar(tmp_path / 'cifar')
        with open(os.path.join(directory, 'cifar-10-batches-py', 'data_batch_1'), 'wb') as f:
            pickle.dump({b'data': numpy.zeros((8, 3072), numpy.uint8), b'labels': value}, f)
        return ['--dataset', 'cifar10', '--data-dir', str(directory)]
    return make


def checkpoint_file(content):
    def make(tmp_path):
        path = tmp_path / 'bad.npz'
        path.write_bytes(content)
        return ['--resume', str(path)]
    return make


def checkpoint_of(model_name, input_shape, meta=True):
    """A train.py-style checkpoint whose arrays are those of ``model_name`` (or with no 'meta' entry)."""
    def make(tmp_path):
        import models
        path = tmp_path / 'other.npz'
        if meta:
            minifft.save(path, models.build(model_name, input_shape, 10), epoch=1, history=[],
                         rng=minifft.random.get_state(), run={'model': 'small', 'dataset': 'shapes'})
        else:
            numpy.savez(path, **{'model/0.weight': numpy.zeros(3)})
        return ['--resume', str(path), '--epochs', '2']
    return make


BAD_INPUTS = {
    'checkpoint with wrong arrays': (checkpoint_of('small', (3, 16, 16)), r"other.npz does not fit this model"),
    'checkpoint without meta': (checkpoint_of('small', None, meta=False),
                                r"other.npz is not a minifft checkpoint \(no 'meta' entry\)"),
    'momentum nan': (['--momentum', 'nan'], r"--momentum: expected a number in \[0, 1\), got nan"),
    'momentum inf': (['--momentum', 'inf'], r"--momentum: expected a number in \[0, 1\), got inf"),
    'momentum 1.5': (['--momentum', '1.5'], r"--momentum: expected"),
    'momentum -0.1': (['--momentum', '-0.1'], r"--momentum: expected"),
    'lr nan': (['--lr', 'nan'], r"--lr: expected a finite number > 0, got nan"),
    'lr -inf': (['--lr=-inf'], r"--lr: expected a finite number > 0"),
    'lr 0': (['--lr', '0'], r"--lr: expected a finite number > 0"),
    'lr text': (['--lr', 'fast'], r"--lr: invalid float value: 'fast'"),
    'weight decay nan': (['--weight-decay', 'nan'], r"--weight-decay: expected a finite number >= 0"),
    'weight decay -1': (['--weight-decay', '-1'], r"--weight-decay: expected a finite number >= 0"),
    'limit -5': (['--limit', '-5'], r"--limit: expected at least 1, got -5"),
    'limit 0': (['--limit', '0'], r"--limit: expected at least 1, got 0"),
    'seed -1': (['--seed', '-1'], r"--seed: expected an integer in \[0, 2\*\*32\)"),
    'epochs 0': (['--epochs', '0'], r"--epochs: expected at least 1"),
    'batch size 0': (['--batch-size', '0'], r"--batch-size: expected at least 1"),
    'compare steps 0': (['--compare', '--compare-steps', '0'], r"--compare-steps: expected at least 1"),
    'conv name': (['--conv', 'im2win'], r"--conv: invalid choice: 'im2win'"),
    'data dir with shapes': (lambda t: ['--data-dir', str(t)],
                             r"--data-dir is read only by --dataset mnist and cifar10; shapes is built in"),
    'mnist without data dir': (['--dataset', 'mnist'], r"mnist: give the directory holding its files with --data-dir"),
    'images too small': (mnist_4x4, r"the mnist images in .*tiny are 4x4; --model lenet needs at least 12x12"),
    'corrupt gzip body': (mnist_corrupt_gzip, r"MNIST: cannot read .*train-images-idx3-ubyte.gz"),
    'cifar 2-D labels': (cifar_labels(numpy.zeros((8, 2), numpy.int64)), r"data_batch_1 labels have shape \(8, 2\)"),
    'cifar None labels': (cifar_labels(None), r"data_batch_1 labels have shape \(\)"),
    'cifar string labels': (cifar_labels(['cat'] * 8), r"data_batch_1 labels are <U3, expected integers 0-9"),
    'cifar float labels': (cifar_labels([0.5] * 8), r"data_batch_1 labels are float64, expected integers 0-9"),
    'checkpoint of random bytes': (checkpoint_file(numpy.random.default_rng(0).bytes(999)),
                                   r"bad.npz is not a minifft checkpoint"),
    'checkpoint truncated': (checkpoint_file(b'PK\x03\x04' + b'\0' * 50), r"bad.npz is damaged or truncated"),
    'compare with eval-only': (['--compare', '--eval-only', '--checkpoint', __file__],
                               r"--compare: .* takes no --eval-only"),
    'missing checkpoint': (lambda t: ['--resume', str(t / 'none.npz')], r"no checkpoint at .*none.npz"),
    'conv env': ({'MINIFFT_CONV_ALGO': 'im2win'}, r"MINIFFT_CONV_ALGO.*winograd"),
    'device env': ({'MINIFFT_DEVICE': 'gpu'}, r"MINIFFT_DEVICE.*'gpu'"),
}


@pytest.mark.parametrize('case', sorted(BAD_INPUTS))
def test_bad_input_gets_one_line_and_exit_2_and_writes_nothing(tmp_path, capsys, monkeypatch, case):
    flags, message = BAD_INPUTS[case]
    if isinstance(flags, dict):   # environment variables, read when no flag is given
        for name, value in flags.items():
            monkeypatch.setenv(name, value)
        config.reset('device', 'conv_algorithm')   # read the environment again
        flags = []
        device = []
    else:
        device = ['--device', 'cpu']
    if callable(flags):
        flags = flags(tmp_path)
    out = tmp_path / 'out'
    try:
        code = train.main(['--quiet', *device, '--out', str(out), '--epochs', '1', *flags])
    except SystemExit as exit:
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count('\n') == 1 and 'Traceback' not in err, err
    assert __import__('re').search(message, err), (message, err)
    assert not out.exists()


def test_environment_chooses_the_algorithm_when_no_flag_does(tmp_path, monkeypatch):
    monkeypatch.setenv('MINIFFT_CONV_ALGO', 'direct')
    config.reset('conv_algorithm')
    out = tmp_path / 'run'
    assert train.main(['--quiet', '--device', 'cpu', '--out', str(out), '--limit', '16', '--batch-size', '8',
                       '--epochs', '1', '--profile']) == 0
    profile = json.loads((out / 'metrics.json').read_text())['conv_profile']
    assert profile and all(r['algorithms'] == ['direct'] for r in profile.values())


# ---- small things ----------------------------------------------------------------------------------------
def test_progress_bars_only_on_a_terminal_stderr(tmp_path, capsys, monkeypatch):
    assert run(tmp_path / 'a', *SMALL, '--epochs', '1', quiet=False) == 0
    captured = capsys.readouterr()
    assert '\r' not in captured.out and '\r' not in captured.err and 'it/s' not in captured.err

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    terminal = Terminal()
    monkeypatch.setattr('sys.stderr', terminal)
    assert run(tmp_path / 'b', *SMALL, '--epochs', '1', quiet=False) == 0
    assert 'epoch 1/1' in terminal.getvalue() and '\r' not in capsys.readouterr().out


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(['--help'])
    text = ' '.join(capsys.readouterr().out.split())
    for expected in ('default: 0.05 for sgd', '(default: 64)', '(default: cosine)', '(default: runs)', '(default: 0.9)',
                     'MINIFFT_CONV_ALGO', 'MINIFFT_DEVICE'):
        assert expected in text, expected
    assert '(default: None)' not in text


def test_resume_with_a_momentum_override_trains_with_it(tmp_path, capsys, monkeypatch):
    out = tmp_path / 'run'
    assert run(out, *SMALL, '--epochs', '1') == 0
    seen = {}
    real_step = train.train_step

    def spy(model, opt, x, y):
        seen['momentum'], seen['weight_decay'] = opt.momentum, opt.weight_decay
        seen['nesterov'] = opt.nesterov
        return real_step(model, opt, x, y)
    monkeypatch.setattr(train, 'train_step', spy)
    assert run(out, '--resume', str(out / 'checkpoint.npz'), '--epochs', '2', '--momentum', '0',
               '--weight-decay', '0.01') == 0
    assert seen == {'momentum': 0.0, 'weight_decay': 0.01, 'nesterov': False}
    assert 'note: --momentum 0.0 overrides 0.9' in capsys.readouterr().out
