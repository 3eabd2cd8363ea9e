"""train.py on device 'cuda' (a real GPU or the CuPy stand-in): a one-epoch run in a subprocess,
--device auto and MINIFFT_DEVICE, and a training step that never reads the device back."""
import json
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

import minifft
import train
from minifft import backend, conv, nn, optim
from tests.conftest import standin_environment

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def restore_globals(monkeypatch):
    yield
    conv.profiler.enable(False)


@pytest.fixture
def cuda():
    if not backend.cuda_available():
        pytest.skip("needs 'cuda' (a GPU or the CuPy stand-in)")


def test_one_epoch_on_cuda_in_a_subprocess(tmp_path, cuda):
    out = tmp_path / 'run'
    done = subprocess.run([sys.executable, 'train.py', '--device', 'cuda', '--epochs', '1', '--limit', '96',
                           '--batch-size', '16', '--quiet', '--lr', '0.05', '--out', str(out)],
                          cwd=ROOT, env=standin_environment(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((out / 'metrics.json').read_text())
    [epoch] = metrics['epochs']
    assert metrics['device'] == 'cuda'
    assert numpy.isfinite(epoch['train_loss']) and 0 < epoch['train_loss'] < 5
    assert 0 <= epoch['test_acc'] <= 1 and (out / 'checkpoint.npz').exists()


@pytest.mark.parametrize('env', ['cpu', 'cuda'])
def test_device_auto_honours_minifft_device(tmp_path, monkeypatch, env, cuda):
    monkeypatch.setenv('MINIFFT_DEVICE', env)
    code = train.main(['--quiet', '--device', 'auto', '--epochs', '1', '--limit', '16', '--batch-size', '8',
                       '--model', 'linear', '--out', str(tmp_path)])
    assert code == 0
    assert json.loads((tmp_path / 'metrics.json').read_text())['device'] == env


def test_bad_minifft_device_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('MINIFFT_DEVICE', 'tpu')
    code = train.main(['--quiet', '--device', 'auto', '--out', str(tmp_path / 'out')])
    err = capsys.readouterr().err
    assert code == 2 and err.count('\n') == 1 and 'MINIFFT_DEVICE' in err and "'tpu'" in err
    assert not (tmp_path / 'out').exists()


def test_cuda_without_a_gpu_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(backend, '_cuda_checked', (False, "no CUDA device found"))
    monkeypatch.setenv('MINIFFT_DEVICE', 'cuda')
    for argv in (['--device', 'cuda'], ['--device', 'auto']):
        code = train.main(['--quiet', *argv, '--out', str(tmp_path / 'out')])
        err = capsys.readouterr().err
        assert code == 2 and err.count('\n') == 1 and "no CUDA device found" in err
    assert not (tmp_path / 'out').exists()


def test_profiler_is_opt_in(tmp_path, capsys):
    args = ['--quiet', '--device', 'cpu', '--epochs', '1', '--limit', '16', '--batch-size', '8', '--conv', 'fft']
    assert train.main([*args, '--out', str(tmp_path / 'a')]) == 0
    assert 'convolution time per layer' not in capsys.readouterr().out
    assert json.loads((tmp_path / 'a' / 'metrics.json').read_text())['conv_profile'] == {}
    assert train.main([*args, '--profile', '--out', str(tmp_path / 'b')]) == 0
    assert 'convolution time per layer' in capsys.readouterr().out


def test_training_steps_make_no_host_reads(host_reads, rng):
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, algo='direct'), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).to('cuda')
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = minifft.tensor(rng.standard_normal((6, 1, 8, 8)).astype(numpy.float32), device='cuda')
    y = minifft.tensor(numpy.array([0, 1, 2, 0, 1, 2]), device='cuda')
    totals = train.Totals()
    reads = host_reads()
    for _ in range(3):
        loss, correct = train.train_step(model, opt, x, y)
        totals.add(loss, correct, len(y))
    assert host_reads() == reads  # loss, accuracy and label checks stay on the device
    mean_loss, acc = totals.read()
    assert numpy.isfinite(mean_loss) and 0 <= acc <= 1
