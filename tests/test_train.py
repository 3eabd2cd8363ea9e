"""Short end-to-end runs of train.py: every model and data format, fft and direct, resume,
--compare, --eval-only, and the error paths."""
import json

import numpy
import pytest

import minifft
import train
from minifft import backend, conv, nn
from tests.datasets.files import write_cifar, write_mnist


@pytest.fixture(autouse=True)
def restore_globals():
    yield
    conv.profiler.enable(False)
    conv.auto.reset()


def run(tmp_path, *args, name='run'):
    out = tmp_path / name
    code = train.main(['--quiet', '--device', 'cpu', '--out', str(out), *args])
    return code, out


def history(out):
    return json.loads((out / 'metrics.json').read_text())['epochs']


@pytest.mark.parametrize('algo', conv.names('cpu'))
@pytest.mark.parametrize('dataset,model,files', [('shapes', 'small', None), ('shapes', 'linear', None),
                                                 ('mnist', 'lenet', write_mnist), ('cifar10', 'cifar', write_cifar),
                                                 ('digits', 'lenet', None)])
def test_short_runs(tmp_path, capsys, algo, dataset, model, files):
    if dataset == 'digits':
        pytest.importorskip('sklearn')
    args = ['--dataset', dataset, '--model', model, '--conv', algo, '--epochs', '1', '--batch-size', '8',
            '--limit', '16', '--profile']
    if files:
        args += ['--data-dir', str(files(tmp_path / 'data'))]
    code, out = run(tmp_path, *args)
    assert code == 0
    printed = capsys.readouterr().out
    assert 'epoch 1/1' in printed and 'convolution time per layer' in printed
    [epoch] = history(out)
    assert epoch['train_loss'] > 0
    assert (out / 'checkpoint.npz').exists()
    if model != 'linear':
        profile = json.loads((out / 'metrics.json').read_text())['conv_profile']
        used = [r['algorithms'] for r in profile.values()]
        if algo == 'winograd':   # 3x3 and 5x5 stride-1 only: cifar's 9x9 and 7x7 fall back to auto's choice
            assert all(len(u) == 1 for u in used) and ['winograd'] in used
            assert all(u == ['winograd'] for u in used) == (model != 'cifar')
        else:
            assert all(u == [algo] for u in used)


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


def test_correct_count_counts_argmax_hits():
    logits = minifft.tensor(numpy.array([[0.0, 1.0, 0.5], [2.0, 1.0, 0.0], [0.0, 0.2, 0.1], [0.3, 0.2, 0.9]]))
    labels = minifft.tensor(numpy.array([1, 0, 2, 2]))
    assert int(train.correct_count(logits, labels)) == 3


def test_evaluate_runs_the_model_in_eval_mode(rng):
    """With dropout, evaluation is deterministic and equals the dropout-free network."""
    x = rng.standard_normal((64, 6)).astype(numpy.float32)
    y = rng.integers(0, 3, 64)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    plain = nn.Sequential(model[0], model[1], model[3])
    loader = [(minifft.tensor(x[i:i + 16]), minifft.tensor(y[i:i + 16])) for i in range(0, 64, 16)]
    first, second = train.evaluate(model, loader), train.evaluate(model, loader)
    assert first == second == train.evaluate(plain, loader)
    assert model.training  # evaluate() puts the model back in training mode


def test_compare_reports_agreement(tmp_path, capsys):
    code, out = run(tmp_path, '--compare', '--compare-steps', '4', '--limit', '64', '--batch-size', '16')
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert 'losses agree' in printed and 'fft/direct' in printed
    result = json.loads((out / 'compare.json').read_text())
    assert result['agree'] and len(result['runs']['fft']['losses']) == 4
    assert sorted(result['runs']) == sorted(conv.names('cpu'))   # every registered algorithm that runs here


def test_recorded_conv_plan_makes_auto_runs_identical(tmp_path):
    """Two --conv auto runs given the same recorded plan train identically; the plan is really used:
    a plan of all-direct choices reproduces a --conv direct run exactly."""
    common = ['--limit', '48', '--batch-size', '16', '--epochs', '1', '--seed', '5']
    code, first = run(tmp_path, *common, '--conv', 'auto', name='first')
    assert code == 0
    metrics = json.loads((first / 'metrics.json').read_text())
    plan = metrics['conv_plan']
    assert len(plan) == len(metrics['auto_decisions']) > 0
    assert minifft.serialization.metadata(str(first / 'checkpoint.npz'))['conv_plan'] == plan
    losses = []
    for name in ('again1', 'again2'):
        conv.auto.reset()
        code, out = run(tmp_path, *common, '--conv', 'auto', '--conv-plan', str(first / 'metrics.json'), name=name)
        assert code == 0
        assert [d['method'] for d in json.loads((out / 'metrics.json').read_text())['auto_decisions']] == \
            ['given'] * len(plan)
        losses.append([e['train_loss'] for e in history(out)] + [e['test_loss'] for e in history(out)])
    assert losses[0] == losses[1]
    direct_plan = tmp_path / 'direct_plan.json'
    direct_plan.write_text(json.dumps([dict(e, choice='direct') for e in plan]))
    conv.auto.reset()
    code, given = run(tmp_path, *common, '--conv', 'auto', '--conv-plan', str(direct_plan), name='given')
    code, direct = run(tmp_path, *common, '--conv', 'direct', name='direct')
    assert history(given) == [dict(e, seconds=d['seconds'], images_per_second=d['images_per_second'])
                              for e, d in zip(history(direct), history(given))]


def test_resume_uses_the_checkpoints_conv_plan(tmp_path):
    common = ['--conv', 'auto', '--limit', '32', '--batch-size', '16', '--seed', '2']
    code, out = run(tmp_path, *common, '--epochs', '1')
    assert code == 0
    plan = json.loads((out / 'metrics.json').read_text())['conv_plan']
    conv.auto.reset()
    code, out = run(tmp_path, *common, '--epochs', '2', '--resume', str(out / 'checkpoint.npz'))
    assert code == 0
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['conv_plan'] == plan and {d['method'] for d in metrics['auto_decisions']} == {'given'}


def test_bad_conv_plan_exits_2(tmp_path, capsys):
    bad = tmp_path / 'plan.json'
    bad.write_text('[{"batch": 1}]')
    code, out = run(tmp_path, '--limit', '16', '--conv-plan', str(bad))
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: --conv-plan {bad}: set_plan: entry 0: missing in_channels")
    assert not out.exists()


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
        train.parse_args(['--conv', 'im2win'])


@pytest.mark.parametrize('optimizer', ['adam', 'adamw'])
def test_adam_runs_resume_and_refuse_another_optimizer(tmp_path, capsys, optimizer):
    common = ['--limit', '32', '--batch-size', '8', '--conv', 'direct', '--optimizer', optimizer]
    code, out = run(tmp_path, *common, '--epochs', '1')
    assert code == 0
    assert history(out)[0]['lr'] == 0.001  # the adam/adamw default
    code, _ = run(tmp_path, *common, '--epochs', '2', '--resume', str(out / 'checkpoint.npz'), name='resumed')
    assert code == 0
    capsys.readouterr()
    code, _ = run(tmp_path, '--optimizer', 'sgd', '--epochs', '2', '--resume', str(out / 'checkpoint.npz'),
                  name='sgd')   # without --optimizer the checkpoint's is used
    assert code == 2
    assert f"was trained with --optimizer {optimizer}, not --optimizer sgd" in capsys.readouterr().err


def test_graph_writes_the_models_graph_and_exits(tmp_path, capsys, monkeypatch):
    import shutil
    monkeypatch.setattr(shutil, 'which', lambda name: None)  # as on a machine without Graphviz
    with pytest.warns(RuntimeWarning, match="not installed"):
        code, out = run(tmp_path, '--limit', '16', '--batch-size', '8', '--graph', str(tmp_path / 'g.png'))
    assert code == 0 and 'graph of one batch' in capsys.readouterr().out
    dot = (tmp_path / 'g.dot').read_text()
    assert 'features.0.weight' in dot and 'Convolution2D' in dot and 'CrossEntropy' in dot
    assert not out.exists()  # no training, no checkpoint
    code, _ = run(tmp_path, '--limit', '16', '--graph', str(tmp_path / 'g.jpg'))
    assert code == 2 and 'expected a path ending in .dot' in capsys.readouterr().err
    code, _ = run(tmp_path, '--limit', '16', '--graph', str(tmp_path / 'none' / 'g.dot'))
    assert code == 2 and 'does not exist' in capsys.readouterr().err


def test_resnet_with_adamw_trains_saves_buffers_and_resumes(tmp_path):
    common = ['--model', 'resnet', '--optimizer', 'adamw', '--limit', '16', '--batch-size', '8', '--conv', 'direct']
    code, out = run(tmp_path, *common, '--epochs', '1')
    assert code == 0
    ckpt = out / 'checkpoint.npz'
    assert 'model/stem.1.running_mean' in numpy.load(ckpt).files
    assert 'optimizer/state/0/exp_avg' in numpy.load(ckpt).files
    code, _ = run(tmp_path, *common, '--epochs', '2', '--resume', str(ckpt), name='more')
    assert code == 0
