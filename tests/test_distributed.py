"""Data-parallel training: shards and errors in this process; equivalence with one process, resume
and a failing rank under `mpiexec -n 2` (the MPI wheel's launcher, from the `mpi` extra)."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

import minifft
from datasets import DataLoader
from minifft import distributed
from tests import distributed_worker as worker

ROOT = Path(__file__).resolve().parents[1]
HAVE_MPI = importlib.util.find_spec('mpi4py') is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="mpi4py is not installed: pip install -e '.[test,mpi]' runs "
                                                    "the 2-process tests")
TIMEOUT = 120  # seconds for one mpiexec job; a hang fails the test instead of blocking CI


# ---- shards (no MPI needed) -------------------------------------------------------------------------
@pytest.mark.parametrize('n,size', [(26, 2), (27, 3), (5, 4), (8, 1)])
def test_training_shards_are_disjoint_and_equal_and_drop_only_the_remainder(n, size):
    order = numpy.random.default_rng(0).permutation(n)
    parts = [distributed.Shard(rank, size)(order) for rank in range(size)]
    assert {len(p) for p in parts} == {n // size}
    assert all(len(p) == distributed.Shard(rank, size).length(n) for rank, p in enumerate(parts))
    joined = numpy.concatenate(parts)
    assert len(set(joined)) == len(joined)
    assert set(joined) == set(order[:n - n % size])  # the left-out remainder is the end of this epoch's order


@pytest.mark.parametrize('n,size', [(26, 4), (3, 4), (9, 3)])
def test_evaluation_shards_keep_every_example_once(n, size):
    parts = [distributed.Shard(rank, size, drop_remainder=False)(numpy.arange(n)) for rank in range(size)]
    assert sorted(numpy.concatenate(parts)) == list(range(n))
    assert [len(p) for p in parts] == [distributed.Shard(r, size, drop_remainder=False).length(n)
                                       for r in range(size)]


def test_shard_checks_rank():
    with pytest.raises(ValueError, match='rank=2, size=2'):
        distributed.Shard(2, 2)


def test_sharded_loaders_together_give_the_large_batches():
    images, labels = worker.data()
    batch, size = 4, 2
    whole = DataLoader(images, labels, batch_size=size * batch, shuffle=True, seed=5, drop_last=True, prefetch=False)
    parts = [DataLoader(images, labels, batch_size=batch, shuffle=True, seed=5, drop_last=True, prefetch=False,
                        shard=distributed.Shard(rank, size)) for rank in range(size)]
    for epoch in (0, 1):
        for loader in [whole] + parts:
            loader.set_epoch(epoch)
        big = [y.numpy() for _, y in whole]
        small = [[y.numpy() for _, y in loader] for loader in parts]
        assert len(big) == len(parts[0]) == len(parts[1]) == 3
        ids = [numpy.sort(numpy.concatenate([s[b] for s in small])) for b in range(3)]
        assert all(numpy.array_equal(i, numpy.sort(b)) for i, b in zip(ids, big))
        # the images as well: the big batch is the union of the shards' batches
        bx = [x.numpy() for x, _ in whole][0]
        sx = numpy.concatenate([[x.numpy() for x, _ in loader][0] for loader in parts])
        assert numpy.array_equal(numpy.sort(bx.reshape(len(bx), -1), 0), numpy.sort(sx.reshape(len(sx), -1), 0))


def test_loader_shapes_cover_every_rank():
    images, labels = worker.data()  # 26 images: ranks of 3 get 9, 9, 8 for evaluation
    loader = DataLoader(images, labels, batch_size=4, shard=distributed.Shard(0, 3, drop_remainder=False))
    assert distributed.loader_shapes(loader) == [(1, 2, 8, 8), (4, 2, 8, 8)]
    loader = DataLoader(images, labels, batch_size=4, drop_last=True, shard=distributed.Shard(1, 3))
    assert distributed.loader_shapes(loader) == [(4, 2, 8, 8)]


# ---- without init, without mpi4py -------------------------------------------------------------------
def test_collectives_need_init():
    model = minifft.nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match=r'distributed.all_reduce_gradients: call minifft.distributed.init'):
        distributed.all_reduce_gradients(model)
    with pytest.raises(RuntimeError, match='init'):
        distributed.Shard()
    assert distributed.is_main() and not distributed.initialized()


def test_minifft_and_train_py_do_not_import_mpi4py():
    code = "import sys, minifft, train; sys.exit('mpi4py' in sys.modules)"
    assert subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          timeout=TIMEOUT).returncode == 0


def test_missing_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, 'mpi4py', None)  # what an environment without it looks like
    with pytest.raises(ImportError, match=r"pip install -e '\.\[mpi\]'"):
        distributed.init()
    assert not distributed.initialized()


# ---- under mpiexec -------------------------------------------------------------------------------------
def mpiexec(n, *args, check=True, device='cpu'):
    launcher = shutil.which('mpiexec', path=os.path.dirname(sys.executable)) or shutil.which('mpiexec')
    assert launcher, "mpi4py is installed but no mpiexec was found: pip install -e '.[mpi]' brings one"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1', MINIFFT_DEVICE=device,
               # OpenMPI's launcher refuses root and more processes than cores without these; MPICH ignores them
               OMPI_ALLOW_RUN_AS_ROOT='1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM='1', OMPI_MCA_rmaps_base_oversubscribe='1')
    result = subprocess.run([launcher, '-n', str(n), sys.executable, *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=TIMEOUT)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@needs_mpi
def test_two_processes_match_one_process_with_twice_the_batch(tmp_path):
    """Momentum, weight decay, an unused parameter, ranks starting from different weights and
    one rank losing its state after the first epoch: the broadcast and the mean put it right."""
    mpiexec(2, '-m', 'tests.distributed_worker', 'equivalence', str(tmp_path))
    ranks = [numpy.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    for key in ranks[0].files:
        assert numpy.array_equal(ranks[0][key], ranks[1][key]), key  # the ranks agree bit for bit
    for dtype, algo in worker.CONFIGS:
        params, rng_state = worker.reference(dtype, algo, processes=2)
        tolerance = 1e-13 if dtype == 'float64' else 2e-6  # summation order only
        for name, expected in params.items():
            got = ranks[0][f"{dtype}/{algo}/{name}"]
            assert got.dtype == expected.dtype
            scale = numpy.abs(expected).max()
            assert numpy.abs(got - expected).max() <= tolerance * scale, (dtype, algo, name)
        assert bytes(ranks[0][f"{dtype}/{algo}/rng"]).decode() == repr(rng_state)


@needs_mpi
def test_conv_auto_is_decided_on_rank_0_for_every_rank(tmp_path):
    mpiexec(3, '-m', 'tests.distributed_worker', 'auto', str(tmp_path))
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(3)]
    assert all(r['before'] == 0 for r in ranks)
    # the same table everywhere, timings included: measured once, on rank 0, and sent
    assert ranks[1]['decisions'] == ranks[0]['decisions'] == ranks[2]['decisions']
    batches = {d['layer'].split()[0] for d in ranks[0]['decisions']}
    # training batches of 4, evaluation of 3, and rank 2's last evaluation batch of 2, seen by no other rank
    assert batches == {'S=4', 'S=3', 'S=2'}
    assert all(d['method'] == 'timed' for d in ranks[0]['decisions'])


def train_args(out, *extra):
    return ['--quiet', '--device', 'cpu', '--dataset', 'shapes', '--model', 'small', '--conv', 'fft',
            '--limit', '64', '--schedule', 'step', '--seed', '2', '--out', str(out), *extra]


def checkpoint(out):
    with numpy.load(out / 'checkpoint.npz') as f:
        return {k: f[k] for k in f.files if k.startswith(('model/', 'optimizer/'))}


def epochs(out):
    return json.loads((out / 'metrics.json').read_text())['epochs']


@needs_mpi
def test_train_py_distributed_matches_one_process_and_resumes_exactly(tmp_path):
    import train
    full, part, single = tmp_path / 'full', tmp_path / 'part', tmp_path / 'single'
    result = mpiexec(2, 'train.py', '--distributed', *train_args(full, '--batch-size', '8', '--epochs', '2'))
    assert result.stdout.count('epoch 2/2') == 1  # rank 0 alone prints
    assert sorted(p.name for p in full.iterdir()) == ['checkpoint.npz', 'metrics.json']

    # one process, twice the batch, the same examples per step
    assert train.main(train_args(single, '--batch-size', '16', '--epochs', '2')) == 0
    got, expected = checkpoint(full), checkpoint(single)
    assert got.keys() == expected.keys()
    for key in expected:
        numpy.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-6 * numpy.abs(expected[key]).max())
    for a, b in zip(epochs(full), epochs(single)):  # evaluation sharded, counts summed over the ranks
        assert a['test_acc'] == b['test_acc'] and a['train_acc'] == b['train_acc']
        assert a['test_loss'] == pytest.approx(b['test_loss'], rel=1e-5)

    # stopped after the first epoch, resumed under mpiexec -n 2: the uninterrupted run exactly
    mpiexec(2, 'train.py', '--distributed', *train_args(part, '--batch-size', '8', '--epochs', '1'))
    mpiexec(2, 'train.py', '--distributed', *train_args(part, '--batch-size', '8', '--epochs', '2', '--resume',
                                                        str(part / 'checkpoint.npz')))
    resumed = checkpoint(part)
    for key, value in got.items():
        assert numpy.array_equal(resumed[key], value), key
    for a, b in zip(epochs(part), epochs(full)):
        for key in ('train_loss', 'train_acc', 'test_loss', 'test_acc', 'lr'):
            assert a[key] == b[key], key


@needs_mpi
def test_a_failing_rank_ends_the_job_with_its_message():
    result = mpiexec(2, '-m', 'tests.distributed_worker', 'fail', check=False)
    assert result.returncode != 0
    assert 'rank 1 of 2 failed with ValueError: rank one broke on purpose' in result.stderr


@needs_mpi
def test_bad_input_under_mpiexec_exits_with_its_status(tmp_path):
    result = mpiexec(2, 'train.py', '--distributed', *train_args(tmp_path, '--resume', str(tmp_path / 'none.npz')),
                     check=False)
    assert result.returncode == 2, result.stderr
    assert 'no checkpoint at' in result.stderr and 'stopped with exit status 2' in result.stderr
    assert not any(tmp_path.iterdir())


@needs_mpi
def test_scaling_benchmark_runs(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    import scaling
    assert scaling.main(['--model', 'lenet', '--batch-size', '2', '--steps', '2', '--warmup', '0', '--repeats', '1',
                         '--out', str(tmp_path)]) == 0
    runs = json.loads((tmp_path / 'scaling_cpu_lenet.json').read_text())['runs']
    assert [(r['processes'], r['batch_per_process']) for r in runs] == [(1, 2), (1, 2), (2, 2), (2, 1)]
    assert all(r['images_per_second'] > 0 and 0 < r['all_reduce'] < r['step'] for r in runs)
    assert '| 2 (one core each) | 2 | 4 |' in capsys.readouterr().out


@pytest.mark.gpu
@needs_mpi
def test_nccl_path_on_the_gpus(tmp_path):
    """Real NCCL (no stand-in: a fake communicator would only test itself): one process per GPU,
    up to two, the same equivalence as on the CPU."""
    n = min(2, minifft.backend.cupy.cuda.runtime.getDeviceCount())
    mpiexec(n, '-m', 'tests.distributed_worker', 'nccl', str(tmp_path), device='cuda')
    ranks = numpy.load(tmp_path / 'rank0.npz')
    params, _ = worker.train('float32', 'fft', n * worker.BATCH, device='cuda')
    for name, expected in params.items():
        numpy.testing.assert_allclose(ranks[f"float32/fft/{name}"], expected, rtol=1e-4, atol=1e-6)


def test_without_nccl_gpu_parameters_get_a_clear_error(monkeypatch):
    """Where CuPy has no NCCL (the stand-in has none), the GPU communicator is refused with the
    extra to install, and nothing outside backend.py imports CuPy to find that out."""
    from minifft import backend, distributed
    monkeypatch.setattr(backend, 'nccl_module', lambda: None)
    with pytest.raises(ImportError, match=r"cupy\.cuda\.nccl.*\.\[cuda12\]"):
        distributed._nccl()
