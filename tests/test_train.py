"""Short end-to-end runs of train.py: every model and data format, fft and direct, resume,
--compare, --eval-only, and the error paths."""
import json

import pytest

import minifft
import train
from minifft import backend, conv
from tests.datasets.files import write_cifar, write_mnist


@pytest.fixture(autouse=True)
def restore_globals(monkeypatch):
    monkeypatch.setattr(backend, '_default_device', backend._default_device)
    monkeypatch.setattr(conv, '_default_algorithm', conv._default_algorithm)
    yield
    conv.profiler.enable(False)


def run(tmp_path, *args, name='run'):
    out = tmp_path / name
    code = train.main(['--quiet', '--device', 'cpu', '--out', str(out), *args])
    return code, out


def history(out):
    return json.loads((out / 'metrics.json').read_text())['epochs']


@pytest.mark.parametrize('algo', ['fft', 'direct'])
@pytest.mark.parametrize('dataset,model,files', [('shapes', 'small', None), ('shapes', 'linear', None),
                                                 ('mnist', 'lenet', write_mnist), ('cifar10', 'cifar', write_cifar),
                                                 ('digits', 'lenet', None)])
def test_short_runs(tmp_path, capsys, algo, dataset, model, files):
    if dataset == 'digits':
        pytest.importorskip('sklearn')
    args = ['--dataset', dataset, '--model', model, '--conv', algo, '--epochs', '1', '--batch-size', '8',
            '--limit', '16']
    if files:
        args += ['--data-dir', str(files(tmp_path / 'data'))]
    code, out = run(tmp_path, *args)
    assert code == 0
    printed = capsys.readouterr().out
    assert 'epoch 1/1' in printed and 'convolution time per layer' in printed
    [epoch] = history(out)
    assert epoch['test_acc'] >= 0 and epoch['train_loss'] > 0
    assert (out / 'checkpoint.npz').exists()
    if model != 'linear':
        profile = json.loads((out / 'metrics.json').read_text())['conv_profile']
        assert all(r['algorithms'] == [algo] for r in profile.values())


def test_mnist_gzipped_with_auto(tmp_path):
    data = write_mnist(tmp_path / 'data', gz=True)
    code, out = run(tmp_path, '--dataset', 'mnist', '--data-dir', str(data), '--epochs', '1', '--limit', '16',
                    '--batch-size', '8', '--conv', 'auto')
    assert code == 0
    assert json.loads((out / 'metrics.json').read_text())['auto_decisions']


def test_resume_reproduces_the_uninterrupted_run(tmp_path, monkeypatch):
    common = ['--conv', 'fft', '--limit', '96', '--batch-size', '16', '--epochs', '3', '--seed', '3']
    code, full = run(tmp_path, *common, name='full')
    assert code == 0

    real_epoch = train.train_epoch

    def interrupted(model, opt, loader, epoch, args):
        if epoch == 1:
            raise KeyboardInterrupt  # Ctrl-C during the second epoch
        return real_epoch(model, opt, loader, epoch, args)
    monkeypatch.setattr(train, 'train_epoch', interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, *common, name='part')
    monkeypatch.setattr(train, 'train_epoch', real_epoch)
    code, part = run(tmp_path, *common, '--resume', str(tmp_path / 'part' / 'checkpoint.npz'), name='part')
    assert code == 0
    for key in ('train_loss', 'train_acc', 'test_loss', 'test_acc', 'lr'):
        assert [e[key] for e in history(part)] == [e[key] for e in history(full)], key


def test_compare_reports_agreement(tmp_path, capsys):
    code, out = run(tmp_path, '--compare', '--compare-steps', '4', '--limit', '64', '--batch-size', '16')
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert 'losses agree' in printed and 'fft/direct' in printed
    result = json.loads((out / 'compare.json').read_text())
    assert result['agree'] and len(result['runs']['fft']['losses']) == 4


def test_check_accuracy(tmp_path, capsys):
    code, out = run(tmp_path, '--limit', '32', '--epochs', '1', '--batch-size', '16', '--check-accuracy')
    assert code == 0
    assert 'float32 fft vs float64 reference' in capsys.readouterr().out
    rows = json.loads((out / 'metrics.json').read_text())['fft_accuracy']
    assert [r['layer'] for r in rows] == ['features.0', 'features.3', 'features.6']
    assert all(r['fprop'] < 1e-5 for r in rows)


def test_eval_only(tmp_path, capsys):
    code, out = run(tmp_path, '--limit', '32', '--epochs', '1', '--batch-size', '16', '--conv', 'direct')
    assert code == 0
    capsys.readouterr()
    code, _ = run(tmp_path, '--limit', '32', '--eval-only', '--checkpoint', str(out / 'checkpoint.npz'), name='eval')
    assert code == 0 and 'test loss' in capsys.readouterr().out


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    common = ['--limit', '32', '--batch-size', '16', '--conv', 'direct']
    code, out = run(tmp_path, *common, '--epochs', '1')
    assert code == 0
    ckpt = out / 'checkpoint.npz'
    before = ckpt.read_bytes()
    real = minifft.functions.cross_entropy
    monkeypatch.setattr(minifft.functions, 'cross_entropy', lambda logits, y: real(logits, y) * float('nan'))
    code, _ = run(tmp_path, *common, '--epochs', '2', '--resume', str(ckpt))
    assert code == 3
    assert 'loss became nan in epoch 2' in capsys.readouterr().err
    assert ckpt.read_bytes() == before


def test_missing_data_and_bad_resume(tmp_path, capsys):
    code, _ = run(tmp_path, '--dataset', 'mnist', '--data-dir', str(tmp_path / 'none'))
    assert code == 2 and 'does not exist' in capsys.readouterr().err
    code, _ = run(tmp_path, '--resume', str(tmp_path / 'none.npz'))
    assert code == 2 and 'no checkpoint at' in capsys.readouterr().err


def test_cuda_without_a_gpu_says_why(tmp_path, capsys):
    if backend.cuda_available():
        pytest.skip("a GPU is usable here")
    code = train.main(['--device', 'cuda', '--out', str(tmp_path)])
    assert code == 2 and "device 'cuda' is not usable" in capsys.readouterr().err


def test_resume_with_another_model_is_refused(tmp_path, capsys):
    code, out = run(tmp_path, '--limit', '16', '--epochs', '1', '--batch-size', '8', '--conv', 'direct')
    capsys.readouterr()
    code, _ = run(tmp_path, '--limit', '16', '--model', 'linear', '--resume', str(out / 'checkpoint.npz'))
    assert code == 2 and "was trained with --model small, not --model linear" in capsys.readouterr().err


def test_bad_arguments():
    with pytest.raises(SystemExit):
        train.parse_args(['--epochs', '0'])
    with pytest.raises(SystemExit):
        train.parse_args(['--conv', 'winograd'])
