#!/usr/bin/env python3
"""Train a convolutional network with minifft.

    python train.py                                   # small CNN on the built-in shapes data
    python train.py --dataset mnist --data-dir DIR    # LeNet-5 on MNIST's IDX files
    python train.py --conv direct                     # the same, with direct convolution
    python train.py --compare                         # fft vs direct from the same weights
    python train.py --resume runs/checkpoint.npz      # continue exactly where a run stopped
    mpiexec -n 2 python train.py --distributed        # data-parallel over 2 processes (pip install -e '.[mpi]')

Prints a progress bar per epoch, a line per epoch with train/test loss and accuracy, and at the end
the convolution time per layer and pass (fprop / bprop / accGrad) and what --conv auto chose.
Writes metrics.json and checkpoint.npz (after every epoch, atomically) to --out.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy
from tqdm import tqdm

import datasets
import minifft
import models
from minifft import backend, conv, distributed, optim
from minifft import functions as F


class NonFiniteLoss(RuntimeError):
    pass


# --optimizer: class and default learning rate
OPTIMIZERS = {'sgd': (optim.SGD, 0.05), 'adam': (optim.Adam, 1e-3), 'adamw': (optim.AdamW, 1e-3)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Train a CNN with minifft (FFT convolution after Mathieu et al. 2014).")
    p.add_argument('--model', choices=sorted(models.MODELS), help="default: the dataset's usual model")
    p.add_argument('--dataset', choices=datasets.NAMES, default='shapes')
    p.add_argument('--data-dir', help="directory with the MNIST IDX files or cifar-10-batches-py")
    p.add_argument('--epochs', type=int, default=6)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--optimizer', choices=sorted(OPTIMIZERS), default='sgd',
                   help="sgd (Nesterov momentum), adam or adamw (PyTorch's rules; --momentum is for sgd only)")
    p.add_argument('--lr', type=float, help="default: 0.05 for sgd, 0.001 for adam and adamw")
    p.add_argument('--momentum', type=float, default=0.9)
    p.add_argument('--weight-decay', type=float, default=5e-4)
    p.add_argument('--schedule', choices=['none', 'step', 'cosine'], default='cosine')
    p.add_argument('--conv', choices=conv.choices(), default='auto', help="convolution algorithm")
    p.add_argument('--conv-plan', help="JSON file with auto's per-layer choices to reuse (a metrics.json or a "
                                       "list of conv.auto.plan() entries): a --conv auto run repeats them exactly")
    p.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto')
    p.add_argument('--distributed', action='store_true',
                   help="data-parallel over the processes of `mpiexec -n N python train.py --distributed`: "
                        "--batch-size is per process, rank 0 prints and writes")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--checkpoint', help="where to save after every epoch (default: OUT/checkpoint.npz)")
    p.add_argument('--resume', help="checkpoint to continue from")
    p.add_argument('--eval-only', action='store_true', help="evaluate the --resume/--checkpoint model and stop")
    p.add_argument('--out', default='runs', help="directory for metrics.json and the checkpoint")
    p.add_argument('--quiet', action='store_true', help="no progress bars")
    p.add_argument('--compare', action='store_true', help="train with every registered conv algorithm from the "
                                                          "same weights and compare losses and time per step")
    p.add_argument('--compare-steps', type=int, default=20)
    p.add_argument('--limit', type=int, help="use only the first LIMIT train and test images")
    p.add_argument('--check-accuracy', action='store_true',
                   help="at the end, report per conv layer the float32 error of fft vs a float64 reference "
                        "on the first test batch")
    p.add_argument('--graph', metavar='PATH',
                   help="write the graph of one training batch's loss (.png/.svg/.pdf through Graphviz's dot "
                        "when installed, else DOT text beside it; .dot: the text) and exit without training")
    p.add_argument('--profile', action='store_true',
                   help="time every conv pass per layer (synchronises the GPU several times per layer and step)")
    p.add_argument('--progress-every', type=int, default=20,
                   help="steps between progress-bar updates (each reads the running loss back from the device)")
    args = p.parse_args(argv)
    for name in ('epochs', 'batch_size', 'compare_steps', 'progress_every'):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    args.lr = OPTIMIZERS[args.optimizer][1] if args.lr is None else args.lr
    if args.lr <= 0:
        p.error("--lr must be positive")
    if args.distributed and args.compare:
        p.error("--compare runs in one process; leave out --distributed")
    args.model = args.model or models.default_model(args.dataset)
    args.checkpoint = args.checkpoint or os.path.join(args.out, 'checkpoint.npz')
    return args


# ---- pieces ---------------------------------------------------------------------------------------
def make_loaders(data, args, device):
    mean, std = datasets.channel_stats(data.train[0])
    common = dict(batch_size=args.batch_size, seed=args.seed, mean=mean, std=std, device=device)
    shard = distributed.Shard() if args.distributed else None  # training: equal parts, remainder left out
    n_train = shard.length(len(data.train[0])) if shard else len(data.train[0])
    train = datasets.DataLoader(*data.train, shuffle=True, drop_last=n_train >= args.batch_size,
                                augment=data.augment, shard=shard, **common)
    test = datasets.DataLoader(*data.test, shard=distributed.Shard(drop_remainder=False) if shard else None,
                               **common)
    return train, test


def build_model(args, data, device):
    minifft.manual_seed(args.seed)
    model = models.build(args.model, data.input_shape, data.num_classes).to(device)
    minifft.diagnostics.label_conv_layers(model)  # profiler rows carry the layer's name
    return model


def build_optimizer(model, args):
    if args.optimizer == 'sgd':
        opt = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                        nesterov=args.momentum > 0)
    else:
        opt = OPTIMIZERS[args.optimizer][0](model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    schedule = {'none': None,
                'step': lambda: optim.StepLR(opt, step_size=max(1, args.epochs // 3), gamma=0.1),
                'cosine': lambda: optim.CosineAnnealingLR(opt, T_max=args.epochs)}[args.schedule]
    return opt, schedule() if schedule else None


def correct_count(logits, labels):
    """Correctly classified rows, as a 0-d array on the logits' device (no host read)."""
    return (logits.data.argmax(1) == labels.data).sum()


class Totals:
    """Running sum of loss * batch size and of correct predictions, kept on the device and read back
    only when asked (one synchronisation per read instead of two per step)."""

    def __init__(self):
        self.loss = self.correct = None
        self.seen = 0

    def add(self, loss, correct, n):
        loss = loss.data * n
        self.loss = loss if self.loss is None else self.loss + loss
        self.correct = correct if self.correct is None else self.correct + correct
        self.seen += n

    def read(self, all_ranks=False):
        """(mean loss, accuracy); NonFiniteLoss if the loss went non-finite since the last read.
        ``all_ranks``: over every process of a --distributed job (a collective: all ranks call it)."""
        loss, correct, seen = float(self.loss), int(self.correct), self.seen
        if not math.isfinite(loss):
            raise NonFiniteLoss(f"loss became {loss}")
        if all_ranks and distributed.initialized():
            loss, correct, seen = distributed.all_sum([loss, correct, seen])
        self.seen_read = seen  # images behind the last read (every rank's, with all_ranks)
        return loss / seen, correct / seen


def train_step(model, opt, x, y):
    """One SGD step; returns the loss Tensor and the correct count, both still on the device."""
    opt.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    if distributed.initialized():
        distributed.all_reduce_gradients(model)
    opt.step()
    return loss, correct_count(logits, y)


def evaluate(model, loader):
    model.eval()
    totals = Totals()
    with minifft.no_grad():
        for x, y in loader:
            logits = model(x)
            totals.add(F.cross_entropy(logits, y), correct_count(logits, y), len(y))
    model.train()
    return totals.read(all_ranks=True)  # each rank saw its shard of the test set


def train_epoch(model, opt, loader, epoch, args):
    model.train()
    totals = Totals()
    start = time.perf_counter()
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", disable=args.quiet, leave=False,
               dynamic_ncols=True, file=sys.stdout)
    for step, (x, y) in enumerate(bar, 1):
        loss, correct = train_step(model, opt, x, y)
        totals.add(loss, correct, len(y))
        if not args.quiet and step % args.progress_every == 0:  # a NaN loss stops the run here at the latest
            mean_loss, acc = totals.read()
            bar.set_postfix(loss=f"{mean_loss:.4f}", acc=f"{100 * acc:.1f}%",
                            img_s=f"{totals.seen / (time.perf_counter() - start):.0f}", refresh=False)
    mean_loss, acc = totals.read(all_ranks=True)
    seconds = time.perf_counter() - start
    return {'train_loss': mean_loss, 'train_acc': acc, 'seconds': seconds,
            'images_per_second': totals.seen_read / seconds}


def save_checkpoint(path, model, opt, schedule, epoch, history, args):
    if not distributed.is_main():  # one writer per job
        return
    minifft.save(path, model, opt, epoch=epoch, history=history, rng=minifft.random.get_state(),
                 schedule=schedule.state_dict() if schedule else None,
                 run={'model': args.model, 'dataset': args.dataset, 'seed': args.seed, 'optimizer': args.optimizer},
                 conv_plan=conv.auto.plan())


def load_checkpoint(path, model, opt, schedule, args):
    run = minifft.serialization.metadata(path).get('run', {})
    if run.get('model') != args.model or run.get('dataset') != args.dataset:
        raise SystemExit(f"error: {path} was trained as --model {run.get('model')} --dataset "
                         f"{run.get('dataset')}, not --model {args.model} --dataset {args.dataset}")
    if run.get('optimizer', 'sgd') != args.optimizer:
        raise SystemExit(f"error: {path} was trained with --optimizer {run.get('optimizer', 'sgd')}, "
                         f"not --optimizer {args.optimizer}")
    meta = minifft.load(path, model, opt)
    minifft.random.set_state(meta['rng'])
    conv.auto.set_plan(meta.get('conv_plan') or [])  # the resumed run makes the same conv choices
    if schedule and meta.get('schedule'):
        schedule.load_state_dict(meta['schedule'])
    return meta['epoch'], meta['history']


def check_accuracy(model, loader):
    """Per conv layer, the float32 fft error against float64 on the first test batch (printed)."""
    x, _ = next(iter(loader))
    model.eval()
    rows = minifft.diagnostics.fft_accuracy(model, x)
    model.train()
    print("\nfloat32 fft vs float64 reference, relative error per layer (first test batch):")
    print(minifft.diagnostics.format_accuracy(rows))
    return rows


def write_graph(model, loader, path):
    """Draw the loss of the first training batch (forward only: no step, nothing else written)."""
    x, y = next(iter(loader))
    loss = F.cross_entropy(model(x), y)
    written = minifft.viz.render(minifft.viz.to_dot(loss, model, name='loss'), path)
    print(f"graph of one batch: {written}")


def write_metrics(args, payload):
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, 'metrics.json')
    if not distributed.is_main():
        return path
    with open(path, 'w') as f:
        json.dump(payload, f, indent=1)
    return path


# ---- modes ----------------------------------------------------------------------------------------
def compare(args, data, device):
    """Same initial weights, same batches: every registered algorithm that runs on ``device``, side
    by side; losses are compared with the first one's (direct when registered)."""
    runs = {}
    algorithms = conv.names(device)
    for algo in algorithms:
        model = build_model(args, data, device)
        opt, _ = build_optimizer(model, args)
        train_loader, _ = make_loaders(data, args, device)
        losses, times = [], []
        minifft.manual_seed(args.seed)
        with conv.using(algo):
            while len(losses) < args.compare_steps:
                for x, y in train_loader:
                    with conv.timing.stopwatch(device) as t:
                        losses.append(train_step(model, opt, x, y)[0].item())
                    times.append(t.seconds)
                    if len(losses) == args.compare_steps:
                        break
                train_loader.set_epoch(train_loader.epoch + 1)
        runs[algo] = {'losses': losses, 'step_seconds': times}
    ref = 'direct' if 'direct' in runs else algorithms[0]
    others = [a for a in algorithms if a != ref]
    print(f"{'step':>5} " + ' '.join(f"{'loss ' + a:>14}" for a in algorithms) + f" {'rel diff':>10}")
    worst = 0.0
    for i in range(args.compare_steps):
        b = runs[ref]['losses'][i]
        rel = max([abs(runs[a]['losses'][i] - b) / max(abs(b), 1e-12) for a in others] or [0.0])
        worst = max(worst, rel)
        print(f"{i + 1:>5} " + ' '.join(f"{runs[a]['losses'][i]:>14.6f}" for a in algorithms) + f" {rel:>10.2e}")
    # first steps include plan creation and allocation warm-up: report the median of the rest
    step = {k: float(numpy.median(v['step_seconds'][1:] or v['step_seconds'])) for k, v in runs.items()}
    print("time per step: " + ', '.join(f"{a} {1e3 * step[a]:.1f} ms" for a in algorithms) + '; ' +
          ', '.join(f"{a}/{ref} {step[a] / step[ref]:.2f}" for a in others))
    tolerance = 1e-3  # float32 rounding differs between the algorithms and grows over SGD steps
    agree = worst <= tolerance
    print(f"losses {'agree' if agree else 'DISAGREE'}: largest relative difference {worst:.2e} "
          f"(tolerance {tolerance:.0e})")
    write_metrics(args, {'mode': 'compare', 'args': vars(args), 'runs': runs, 'median_step_seconds': step,
                         'reference': ref, 'max_relative_difference': worst, 'agree': agree})
    return 0 if agree else 1


def start_distributed(args):
    """--distributed: join the MPI job; ranks other than 0 print nothing but errors."""
    world = distributed.init()
    if world.rank:
        args.quiet = True
        sys.stdout = open(os.devnull, 'w')
    return world


def load_conv_plan(path):
    """auto's choices from a --conv-plan file (a metrics.json with 'conv_plan', or the list itself)."""
    try:
        with open(path) as f:
            entries = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"--conv-plan {path}: cannot read a JSON plan ({error})") from None
    if isinstance(entries, dict):
        entries = entries.get('conv_plan')
    try:
        conv.auto.set_plan(entries)
    except ValueError as error:
        raise ValueError(f"--conv-plan {path}: {error}") from None


def main(argv=None):
    args = parse_args(argv)
    if args.distributed:  # an error on any rank aborts every rank, with the rank and the message
        start_distributed(args)
        return distributed.run(run_job, args)
    return run_job(args)


def run_job(args):
    try:
        backend.set_default_device(args.device)  # 'auto' honours MINIFFT_DEVICE
    except (RuntimeError, ValueError) as error:  # no usable 'cuda', or a bad MINIFFT_DEVICE: reason and fix
        print(f"error: {error}", file=sys.stderr)
        return 2
    device = backend.default_device()
    conv.set_default_algorithm(args.conv)
    if args.conv_plan:
        try:
            load_conv_plan(args.conv_plan)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    try:
        data = datasets.load(args.dataset, args.data_dir, seed=args.seed, limit=args.limit)
    except datasets.DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    say = (lambda *a: None) if args.quiet else print
    print(f"minifft {minifft.__version__}: {args.model} on {args.dataset} ({len(data.train[0])} train / "
          f"{len(data.test[0])} test images {data.input_shape}), device {device}, conv {args.conv}")
    if args.compare:
        return compare(args, data, device)

    model = build_model(args, data, device)
    opt, schedule = build_optimizer(model, args)
    train_loader, test_loader = make_loaders(data, args, device)
    if args.graph:
        directory = os.path.dirname(os.path.abspath(args.graph))
        if not os.path.isdir(directory):
            print(f"error: --graph {args.graph}: directory {directory} does not exist", file=sys.stderr)
            return 2
        try:
            write_graph(model, train_loader, args.graph)
        except ValueError as error:  # an extension render does not know
            print(f"error: --graph {args.graph}: {error}", file=sys.stderr)
            return 2
        return 0
    start_epoch, history = 0, []
    source = args.resume or (args.checkpoint if args.eval_only else None)
    if source:
        if not os.path.isfile(source):
            print(f"error: no checkpoint at {source}", file=sys.stderr)
            return 2
        start_epoch, history = load_checkpoint(source, model, opt, schedule, args)
        say(f"resumed from {source} after epoch {start_epoch}")
    if args.distributed:
        distributed.broadcast_parameters(model, opt)
        if args.conv == 'auto':
            distributed.agree_conv_algorithms(model, distributed.loader_shapes(train_loader) +
                                              distributed.loader_shapes(test_loader))
        say(f"data-parallel over {distributed.world().size} processes, batch {args.batch_size} per process")
    if args.eval_only:
        test_loss, test_acc = evaluate(model, test_loader)
        print(f"test loss {test_loss:.4f} acc {100 * test_acc:.2f}%")
        accuracy_rows = check_accuracy(model, test_loader) if args.check_accuracy else None
        write_metrics(args, {'mode': 'eval', 'args': vars(args), 'test_loss': test_loss, 'test_acc': test_acc,
                             'fft_accuracy': accuracy_rows})
        return 0

    conv.profiler.reset()
    conv.profiler.enable(args.profile)  # off by default: its timers synchronise the GPU
    say(f"{sum(p.size for p in model.parameters())} parameters")
    for epoch in range(start_epoch, args.epochs):
        train_loader.set_epoch(epoch)
        try:
            stats = train_epoch(model, opt, train_loader, epoch, args)
        except NonFiniteLoss as error:
            print(f"error: {error} in epoch {epoch + 1}; training stopped. The last good checkpoint "
                  f"({'epoch ' + str(epoch) if epoch else 'none yet'}) is kept at {args.checkpoint}; "
                  f"try a smaller --lr.", file=sys.stderr)
            return 3
        stats['test_loss'], stats['test_acc'] = evaluate(model, test_loader)
        stats.update(epoch=epoch + 1, lr=opt.lr)
        history.append(stats)
        print(f"epoch {epoch + 1}/{args.epochs}  train loss {stats['train_loss']:.4f} acc "
              f"{100 * stats['train_acc']:.1f}%  test loss {stats['test_loss']:.4f} acc "
              f"{100 * stats['test_acc']:.1f}%  lr {opt.lr:.4g}  {stats['seconds']:.1f}s "
              f"({stats['images_per_second']:.0f} img/s)", flush=True)
        if schedule:
            schedule.step()
        save_checkpoint(args.checkpoint, model, opt, schedule, epoch + 1, history, args)

    if args.profile:
        print("\nconvolution time per layer (ms per call):")
        print(conv.profiler.format_report())
    print("\nconv algorithm choices (auto):")
    print(conv.auto_report())
    accuracy_rows = check_accuracy(model, test_loader) if args.check_accuracy else None
    path = write_metrics(args, {'mode': 'train', 'args': vars(args), 'device': device, 'epochs': history,
                                'conv_profile': conv.profiler.report(), 'auto_decisions': conv.auto.report(),
                                'conv_plan': conv.auto.plan(),
                                'fft_accuracy': accuracy_rows})
    say(f"\nmetrics: {path}\ncheckpoint: {args.checkpoint}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
