"""Data-parallel scaling: images/s with 1 and 2 processes, and the all-reduce time against the step time.

    python benchmarks/scaling.py [--processes 1 2] [--model small] [--batch-size 32] [--steps 20]
                                 [--repeats 3] [--conv fft] [--device cpu] [--no-bind]

Launches itself under `mpiexec -n P` (pip install -e '.[mpi]') for every P, and for P > 1 twice:
with the per-process batch kept (weak scaling, what `train.py --distributed` does with the same
--batch-size) and with the global batch kept (strong scaling, per-process batch / P). Each process
trains --model on fixed random inputs; per step it times forward + backward (compute), a barrier
(the wait for the slower rank: on a shared machine the ranks rarely finish together),
`all_reduce_gradients` (packing, the reduction, unpacking) and the optimizer update, each bracketed
by a device synchronisation. Rank 0 reports the medians, averaged over the
ranks. Every setting runs --repeats times, interleaved with the others so that a burst of load
from elsewhere does not fall on one setting only; the table shows the run with the median images/s. The ranks are bound to one core each (MPICH's `-bind-to core`), so that each process's FFT
and BLAS threads stay on its own core; the baseline, one process free to use every core with
threads (what `python train.py` gets), runs unbound, and so does everything with --no-bind.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import minifft  # noqa: E402
import models  # noqa: E402
from minifft import backend, conv, distributed, optim  # noqa: E402
from minifft import functions as F  # noqa: E402

INPUTS = {'lenet': (1, 28, 28), 'small': (3, 32, 32), 'cifar': (3, 32, 32)}


def worker(args):
    """One rank: time --steps training steps; rank 0 writes the medians (averaged over ranks) to --result."""
    world = distributed.init()
    device = args.device
    minifft.manual_seed(0)
    model = models.build(args.model, INPUTS[args.model], 10).to(device)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    distributed.broadcast_parameters(model, opt)
    rng = numpy.random.default_rng(world.rank)
    x = minifft.tensor(rng.standard_normal((args.batch_size,) + INPUTS[args.model]).astype(numpy.float32),
                       device=device)
    y = minifft.tensor(rng.integers(0, 10, args.batch_size), device=device)
    times = {'compute': [], 'wait': [], 'all_reduce': [], 'update': [], 'step': []}
    with conv.using(args.conv):
        for i in range(args.warmup + args.steps):
            t0 = time.perf_counter()
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            backend.synchronize(device)
            t1 = time.perf_counter()
            distributed.barrier()
            t1b = time.perf_counter()
            distributed.all_reduce_gradients(model)
            backend.synchronize(device)
            t2 = time.perf_counter()
            opt.step()
            backend.synchronize(device)
            t3 = time.perf_counter()
            if i >= args.warmup:
                for key, seconds in zip(times, (t1 - t0, t1b - t1, t2 - t1b, t3 - t2, t3 - t0)):
                    times[key].append(seconds)
    medians = [statistics.median(times[key]) for key in times]
    mean = [s / world.size for s in distributed.all_sum(medians)]
    if world.rank == 0:
        result = dict(zip(times, mean), processes=world.size, batch_per_process=args.batch_size,
                      gradient_bytes=sum(p.size * p.dtype.itemsize for p in model.parameters()))
        result['images_per_second'] = world.size * args.batch_size / result['step']
        with open(args.result, 'w') as f:
            json.dump(result, f)
    distributed.barrier()


def launch(args, processes, batch, bind):
    launcher = shutil.which('mpiexec', path=os.path.dirname(sys.executable)) or shutil.which('mpiexec')
    if not launcher:
        raise SystemExit("scaling: no mpiexec found; install the mpi extra: pip install -e '.[mpi]'")
    with tempfile.TemporaryDirectory() as tmp:
        result = os.path.join(tmp, 'result.json')
        command = [launcher, *(['-bind-to', 'core'] if bind else []), '-n', str(processes), sys.executable, os.path.abspath(__file__), '--worker',
                   '--result', result, '--model', args.model, '--batch-size', str(batch), '--steps',
                   str(args.steps), '--warmup', str(args.warmup), '--conv', args.conv, '--device', args.device]
        env = dict(os.environ, PYTHONPATH=ROOT, OMPI_ALLOW_RUN_AS_ROOT='1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM='1')
        subprocess.run(command, check=True, env=env, timeout=args.timeout)
        with open(result) as f:
            return json.load(f)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--processes', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--model', choices=sorted(INPUTS), default='small')
    parser.add_argument('--batch-size', type=int, default=32, help="per process (weak scaling)")
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--repeats', type=int, default=3, help="runs per setting (the median is shown)")
    parser.add_argument('--warmup', type=int, default=3, help="untimed steps first (auto's timing, plans)")
    parser.add_argument('--conv', choices=conv.choices(), default='fft')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--no-bind', dest='bind', action='store_false', help="do not bind ranks to cores")
    parser.add_argument('--timeout', type=int, default=600, help="seconds for one mpiexec run")
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--result', help=argparse.SUPPRESS)
    parser.add_argument('--out', default=os.path.join(ROOT, 'benchmarks', 'results'))
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    plan = [(1, args.batch_size, False, 'all cores, threads')]
    for p in args.processes:
        if p == 1 and not args.bind:
            continue  # the baseline already is that run
        plan.append((p, args.batch_size, args.bind, 'one core each' if p > 1 else 'one core'))
        if p > 1:
            plan.append((p, max(1, args.batch_size // p), args.bind, 'one core each, same global batch'))
    tries = [[] for _ in plan]
    for _ in range(args.repeats):
        for i, (p, batch, bind, label) in enumerate(plan):
            r = launch(args, p, batch, bind)
            r.update(bound=bind, setting=label if bind else label.replace('one core each', 'unbound'))
            tries[i].append(r)
    runs = [sorted(t, key=lambda r: r['images_per_second'])[len(t) // 2] for t in tries]
    for r, t in zip(runs, tries):
        r['images_per_second_all_repeats'] = [x['images_per_second'] for x in t]
    # one process on one core is the fair unit for per-core scaling; threads on a shared machine are not
    base = next((r for r in runs if r['processes'] == 1 and r['bound']), runs[0])
    print(f"{args.model}, conv {args.conv}, {args.device}, {os.cpu_count()} cores; medians of {args.steps} steps; "
          f"speed-up against 1 ({base['setting']})\n")
    print("| processes | batch per process | global batch | images/s | speed-up | step ms | compute ms | wait ms | "
          "all-reduce ms | update ms | all-reduce / step |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['processes']} ({r['setting']}) | {r['batch_per_process']} | "
              f"{r['processes'] * r['batch_per_process']} | {r['images_per_second']:.0f} | "
              f"{r['images_per_second'] / base['images_per_second']:.2f} | {1e3 * r['step']:.1f} | "
              f"{1e3 * r['compute']:.1f} | {1e3 * r['wait']:.2f} | {1e3 * r['all_reduce']:.2f} | "
              f"{1e3 * r['update']:.2f} | {r['all_reduce'] / r['step']:.1%} |")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"scaling_{args.device}_{args.model}.json")
    with open(path, 'w') as f:
        json.dump({'model': args.model, 'conv': args.conv, 'device': args.device, 'steps': args.steps,
                   'repeats': args.repeats, 'cores': os.cpu_count(), 'runs': runs}, f, indent=1)
    print(f"\nresults: {path}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
