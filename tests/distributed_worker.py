"""Training runs for tests/test_distributed.py, in one process or under ``mpiexec -n N``.

    mpiexec -n 2 python -m tests.distributed_worker equivalence OUT_DIR
    mpiexec -n 2 python -m tests.distributed_worker fail
    mpiexec -n GPUS python -m tests.distributed_worker nccl OUT_DIR
    mpiexec -n 3 python -m tests.distributed_worker auto OUT_DIR

``equivalence`` trains a small conv model (float64 and float32, fft and direct) for STEPS SGD
steps with momentum and weight decay, each rank on its shard of batch BATCH, and writes every
rank's final parameters to OUT_DIR/rank{R}.npz. ``reference`` (called in-process by the test) is
the same run in one process with batch size * BATCH.
"""
import json
import sys

import numpy

import minifft
from datasets import DataLoader
from minifft import conv, distributed, nn, optim
from minifft import functions as F

BATCH, EXAMPLES, EPOCHS = 4, 26, 2   # 26 = 3 batches of 8 per epoch, 2 left over
CONFIGS = [(dtype, algo) for dtype in ('float64', 'float32') for algo in ('fft', 'direct')]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 3, stride=2))
        self.head = nn.Linear(3 * 3 * 3, 3)
        self.unused = nn.Linear(2, 2)  # no gradient on any rank: must stay as initialised

    def forward(self, x):
        return self.head(F.flatten(self.features(x)))


def data():
    rng = numpy.random.default_rng(7)
    return rng.standard_normal((EXAMPLES, 2, 8, 8)).astype(numpy.float32), rng.integers(0, 3, EXAMPLES)


def train(dtype, algo, batch, shard=None, scramble_rank=None, device='cpu'):
    """Final parameters after EPOCHS epochs; ``scramble_rank`` loses its state midway and gets it back."""
    minifft.set_default_dtype(dtype)
    rank = 0 if shard is None else distributed.world().rank
    minifft.manual_seed(0 if rank == 0 else 100 + rank)  # rank 0's start is the one-process start
    model = Net().to(device)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    if shard is not None:
        distributed.broadcast_parameters(model, opt)  # ranks began from different weights and random states
    loader = DataLoader(*data(), batch_size=batch, shuffle=True, seed=3, drop_last=True, prefetch=False, shard=shard,
                        device=device)
    with conv.using(algo):
        for epoch in range(EPOCHS):
            loader.set_epoch(epoch)
            for step, (x, y) in enumerate(loader):
                opt.zero_grad()
                F.cross_entropy(model(x.astype(dtype)), y).backward()
                if shard is not None:
                    distributed.all_reduce_gradients(model)
                opt.step()
            if shard is not None and epoch == 0 and rank == scramble_rank:
                # momentum, weights and random state lost: broadcast_parameters must bring all back
                opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.5, weight_decay=0.0)
                for p in model.parameters():
                    p.data[...] = 0
                minifft.manual_seed(12345)
            if shard is not None and epoch == 0:
                distributed.broadcast_parameters(model, opt)
    minifft.set_default_dtype('float32')
    return {name: value for name, value in model.state_dict().items()}, minifft.random.get_state()


def reference(dtype, algo, processes):
    return train(dtype, algo, processes * BATCH)


def equivalence(out_dir, configs=CONFIGS, device='cpu'):
    world = distributed.init()
    results = {}
    for dtype, algo in configs:
        params, rng_state = train(dtype, algo, BATCH, distributed.Shard(), scramble_rank=world.size - 1,
                                  device=device)
        for name, value in params.items():
            results[f"{dtype}/{algo}/{name}"] = value
        results[f"{dtype}/{algo}/rng"] = numpy.frombuffer(repr(rng_state).encode(), numpy.uint8)
    numpy.savez(f"{out_dir}/rank{world.rank}.npz", **results)
    distributed.barrier()


def auto(out_dir):
    """conv 'auto' decided on rank 0 for every shape any rank's loaders yield; each rank writes its table."""
    world = distributed.init()
    minifft.manual_seed(0)
    model = Net()
    images, labels = data()  # 26 examples over 3 ranks: training parts of 8, evaluation parts of 9, 9 and 8
    train = DataLoader(images, labels, batch_size=4, shuffle=True, drop_last=True, shard=distributed.Shard())
    test = DataLoader(images, labels, batch_size=3, shard=distributed.Shard(drop_remainder=False))
    before = len(conv.auto.report())
    state = minifft.random.get_state()
    distributed.agree_conv_algorithms(model, distributed.loader_shapes(train) + distributed.loader_shapes(test))
    assert minifft.random.get_state() == state and model.training
    with conv.using('auto'):  # what every rank then runs: no new decisions
        for loader in (train, test):
            for x, y in loader:
                model(x)
    with open(f"{out_dir}/rank{world.rank}.json", 'w') as f:
        json.dump({'before': before, 'decisions': conv.auto.report()}, f)


def fail():
    """Rank 1 raises while rank 0 waits in a reduction that would never end without the abort."""
    def job():
        if distributed.world().rank == 1:
            raise ValueError("rank one broke on purpose")
        distributed.all_sum([1.0])
        return 0
    distributed.init()
    return distributed.run(job)


if __name__ == '__main__':
    mode = sys.argv[1]
    if mode == 'equivalence':
        equivalence(sys.argv[2])
    elif mode == 'auto':
        auto(sys.argv[2])
    elif mode == 'nccl':  # CUDA parameters: the NCCL communicator
        equivalence(sys.argv[2], [('float32', 'fft')], device='cuda')
    else:
        sys.exit(fail())
