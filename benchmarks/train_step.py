"""Whole-network training step time for every model in models/, with every registered conv algorithm
that runs on the device, and auto.

    python benchmarks/train_step.py [--device cpu|cuda] [--batch-size 64] [--repeats 5] [--models ...]

One step = forward, cross-entropy, backward and an SGD update, on random inputs of the model's
usual shape. Prints a Markdown table with the median step time per algorithm and the ratios to
direct measured in this run, and what auto chose per layer. With PyTorch importable (never a
dependency) and on the CPU, the same network built in PyTorch (models with a twin below: 'small',
'resnet') is timed in the same process and every algorithm's ratio to it is printed too.

Every candidate of a model (each algorithm, auto, the PyTorch twin) is built and warmed up first
(two steps: plans, caches, auto's own timing), then timed in ``--repeats`` interleaved rounds of one
step each, in balanced orders (minifft.conv.timing.interleaved_medians), so load that drifts on a
shared machine hits all of them alike. Timed one after the other, ResNet-8's auto/PyTorch ratio
moved between 0.80 and 1.27 over ten runs on the 2-core CPU.
"""
import argparse
import json
import os
import sys

import numpy

os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # PyTorch's spinning workers would slow OpenBLAS
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import minifft  # noqa: E402
import models  # noqa: E402
from minifft import backend, conv, optim  # noqa: E402
from minifft import functions as F  # noqa: E402
from minifft.conv.timing import interleaved_medians  # noqa: E402

INPUTS = {'lenet': (1, 28, 28), 'small': (3, 32, 32), 'cifar': (3, 32, 32), 'resnet': (3, 32, 32)}


def minifft_step(name, algo, batch, device):
    """A callable running one training step of models/<name>.py with every convolution through
    ``algo`` (a registered name or 'auto')."""
    minifft.manual_seed(0)
    model = models.build(name, INPUTS[name], 10).to(device)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = numpy.random.default_rng(0)
    x = minifft.tensor(rng.standard_normal((batch,) + INPUTS[name]).astype(numpy.float32), device=device)
    y = minifft.tensor(rng.integers(0, 10, batch), device=device)

    def step():
        with conv.using(algo):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return step


def torch_twin(name, input_shape, classes):
    """The PyTorch network with the same layers as models/<name>.py, or None (no twin, no PyTorch)."""
    try:
        import torch.nn as tnn
    except ImportError:
        return None
    if name == 'resnet':
        return torch_resnet(tnn, input_shape[0], classes, blocks_per_stage=1)
    if name != 'small':
        return None
    c = input_shape[0]
    features = tnn.Sequential(
        tnn.Conv2d(c, 16, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(16, 32, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(32, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten())
    flat = 32 * (input_shape[1] // 8) * (input_shape[2] // 8)
    return tnn.Sequential(features, tnn.Linear(flat, 64), tnn.ReLU(), tnn.Linear(64, classes))


def torch_resnet(tnn, channels, classes, blocks_per_stage, widths=(16, 32, 64)):
    """models/resnet.py in PyTorch: the same blocks, BatchNorm, option-B shortcuts, no conv biases."""
    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = tnn.Sequential(
                tnn.Conv2d(cin, cout, 3, stride, 1, bias=False), tnn.BatchNorm2d(cout), tnn.ReLU(),
                tnn.Conv2d(cout, cout, 3, 1, 1, bias=False), tnn.BatchNorm2d(cout))
            self.shortcut = (tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))
                             if stride != 1 or cin != cout else tnn.Identity())

        def forward(self, x):
            return (self.body(x) + self.shortcut(x)).relu()
    layers, c = [tnn.Conv2d(channels, widths[0], 3, 1, 1, bias=False), tnn.BatchNorm2d(widths[0]), tnn.ReLU()], widths[0]
    for stage, width in enumerate(widths):
        for block in range(blocks_per_stage):
            layers.append(Block(c, width, 2 if stage > 0 and block == 0 else 1))
            c = width
    return tnn.Sequential(*layers, tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(c, classes))


def torch_step(name, batch):
    """A callable running one training step (forward, cross-entropy, backward, SGD with momentum)
    of the PyTorch twin, or None (no twin, no PyTorch)."""
    model = torch_twin(name, INPUTS[name], 10)
    if model is None:
        return None
    import torch
    torch.set_num_threads(backend.cpu_workers())
    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = numpy.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((batch,) + INPUTS[name]).astype(numpy.float32))
    y = torch.from_numpy(rng.integers(0, 10, batch))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--models', nargs='+', default=sorted(INPUTS), choices=sorted(INPUTS))
    parser.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results'))
    args = parser.parse_args(argv)
    backend.require_device(args.device)
    rows = []
    algos = conv.names(args.device) + ('auto',)
    ref = 'direct' if 'direct' in algos else algos[0]
    print('| model | batch | ' + ' | '.join(f"{a} ms" for a in algos) + ' | ' +
          ' | '.join(f"{a}/{ref}" for a in algos if a != ref) + ' | torch ms | ' +
          ' | '.join(f"{a}/torch" for a in algos) + ' |\n|' + '---|' * (3 + 3 * len(algos) - 1))
    for name in args.models:
        conv.auto.reset()
        steps = {algo: minifft_step(name, algo, args.batch_size, args.device) for algo in algos}
        peer_step = torch_step(name, args.batch_size) if args.device == 'cpu' else None
        if peer_step is not None:
            steps['torch'] = peer_step
        t = interleaved_medians(steps, args.device, args.repeats, warmup=2)   # warm-up: plans, auto's timing
        peer = t.pop('torch', None)
        choices = [f"{r['layer']} -> {r['choice']}" for r in conv.auto.report()]
        rows.append({'model': name, 'batch': args.batch_size, 'seconds': t, 'auto_choices': choices,
                     'torch_seconds': peer})
        print(f"| {name} | {args.batch_size} | " + ' | '.join(f"{1e3 * t[a]:.1f}" for a in algos) + ' | ' +
              ' | '.join(f"{t[a] / t[ref]:.2f}" for a in algos if a != ref) + ' | ' +
              (f"{1e3 * peer:.1f} | " + ' | '.join(f"{t[a] / peer:.2f}" for a in algos) if peer else
               '- | ' + ' | '.join('-' for _ in algos)) + ' |', flush=True)
    print()
    for row in rows:
        print(f"auto on {row['model']}: " + '; '.join(row['auto_choices']))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f'train_step_{args.device}.json'), 'w') as f:
        json.dump({'device': args.device, 'cpus': backend.cpu_workers(), 'rows': rows}, f, indent=1)


if __name__ == '__main__':
    main()
