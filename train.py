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
Writes metrics.json and checkpoint.npz (after every epoch, atomically) to --out; --eval-only writes
eval.json and --compare compare.json there instead. A bad flag, file or environment variable gets
one line on stderr and exit code 2, before anything is written.
"""
import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
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


class UsageError(Exception):
    """A bad flag, file or setting: main prints it as one line and exits 2."""


class SaveError(OSError):
    """An output file could not be written (e.g. a full disk); the previous one is intact. Exit 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):   # one line, no usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action):   # no "(default: None)" where the help says what happens
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


# the run's settings, stored in the checkpoint; --resume takes them from there
RUN_SETTINGS = ('model', 'dataset', 'data_dir', 'limit', 'seed', 'batch_size', 'optimizer', 'lr', 'momentum',
                'weight_decay', 'schedule', 'epochs', 'conv')
FIXED_ON_RESUME = ('model', 'dataset', 'limit', 'seed', 'batch_size', 'optimizer')   # and the data (fingerprint)
# every numeric flag: (dest, valid, what is expected)
RANGES = (('epochs', lambda v: v >= 1, "at least 1"), ('batch_size', lambda v: v >= 1, "at least 1"),
          ('compare_steps', lambda v: v >= 1, "at least 1"), ('progress_every', lambda v: v >= 1, "at least 1"),
          ('limit', lambda v: v is None or v >= 1, "at least 1"),
          ('seed', lambda v: 0 <= v < 2 ** 32, "an integer in [0, 2**32)"),
          ('lr', lambda v: v is None or math.isfinite(v) and v > 0, "a finite number > 0"),
          ('momentum', lambda v: math.isfinite(v) and 0 <= v < 1, "a number in [0, 1)"),
          ('weight_decay', lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0"))


def flag(dest):
    return '--' + dest.replace('_', '-')


def given_flags(parser, argv):
    """The dests set on the command line (a second parse with every default suppressed)."""
    defaults = [(action, action.default) for action in parser._actions]
    try:
        for action, _ in defaults:
            action.default = argparse.SUPPRESS
        return sorted(vars(parser.parse_args(argv)))
    finally:
        for action, default in defaults:
            action.default = default


# --optimizer: class and default learning rate
OPTIMIZERS = {'sgd': (optim.SGD, 0.05), 'adam': (optim.Adam, 1e-3), 'adamw': (optim.AdamW, 1e-3)}


def parse_args(argv=None):
    p = _Parser(description="Train a CNN with minifft (FFT convolution after Mathieu et al. 2014).",
                formatter_class=_HelpFormatter)
    p.add_argument('--model', choices=sorted(models.MODELS), help="default: the dataset's usual model")
    p.add_argument('--dataset', choices=datasets.NAMES, default='shapes', help="training data")
    p.add_argument('--data-dir', help="directory with the MNIST IDX files or cifar-10-batches-py")
    p.add_argument('--epochs', type=int, default=6, help="passes over the training data")
    p.add_argument('--batch-size', type=int, default=64, help="images per step")
    p.add_argument('--optimizer', choices=sorted(OPTIMIZERS), default='sgd',
                   help="sgd (Nesterov momentum), adam or adamw (PyTorch's rules; --momentum is for sgd only)")
    p.add_argument('--lr', type=float, help="learning rate (> 0; the schedule starts here); default: 0.05 for sgd, "
                                            "0.001 for adam and adamw")
    p.add_argument('--momentum', type=float, default=0.9, help="SGD momentum in [0, 1) (Nesterov when > 0)")
    p.add_argument('--weight-decay', type=float, default=5e-4, help="L2 weight decay (>= 0)")
    p.add_argument('--schedule', choices=['none', 'step', 'cosine'], default='cosine',
                   help="learning-rate schedule over --epochs")
    p.add_argument('--conv', choices=conv.choices(),
                   help="convolution algorithm (default: MINIFFT_CONV_ALGO if set, else auto)")
    p.add_argument('--conv-plan', help="JSON file with auto's per-layer choices to reuse (a metrics.json or a "
                                       "list of conv.auto.plan() entries): a --conv auto run repeats them exactly")
    p.add_argument('--device', choices=['auto', 'cpu', 'cuda'],
                   help="default: MINIFFT_DEVICE if set, else cuda where usable, else cpu")
    p.add_argument('--distributed', action='store_true',
                   help="data-parallel over the processes of `mpiexec -n N python train.py --distributed`: "
                        "--batch-size is per process, rank 0 prints and writes")
    p.add_argument('--seed', type=int, default=0, help="seeds the weights, data order and augmentation")
    p.add_argument('--checkpoint', help="where to save after every epoch (default: OUT/checkpoint.npz)")
    p.add_argument('--resume', help="checkpoint to continue from, with the run's settings stored in it; "
                                    "--lr, --momentum, --weight-decay, --schedule, --epochs and --conv may "
                                    "override them, --model, --dataset, --data-dir (other data), --limit, "
                                    "--seed and --batch-size may not")
    p.add_argument('--eval-only', action='store_true', help="evaluate the --resume/--checkpoint model and stop")
    p.add_argument('--out', default='runs', help="directory for metrics.json and the checkpoint "
                                                 "(eval.json with --eval-only, compare.json with --compare)")
    p.add_argument('--quiet', action='store_true', help="no progress bars (shown only when stderr is a terminal)")
    p.add_argument('--compare', action='store_true', help="train with every registered conv algorithm from the "
                                                          "same weights and compare losses and time per step")
    p.add_argument('--compare-steps', type=int, default=20, help="steps per algorithm with --compare")
    p.add_argument('--limit', type=int, help="use only the first LIMIT (>= 1) train and test images")
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
    for name, valid, expected in RANGES:
        if not valid(getattr(args, name)):
            p.error(f"argument {flag(name)}: expected {expected}, got {getattr(args, name)}")
    if args.compare and (args.resume or args.eval_only or args.distributed):
        p.error(f"argument --compare: trains every algorithm from fresh weights in one process; it takes no "
                f"{'--resume' if args.resume else '--eval-only' if args.eval_only else '--distributed'}")
    args.explicit = given_flags(p, argv)
    args.lr = OPTIMIZERS[args.optimizer][1] if args.lr is None else args.lr
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
    try:
        model = models.build(args.model, data.input_shape, data.num_classes)
    except ValueError:
        check_input_size(args, data)
        raise
    model = model.to(device)
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
    # the bar goes to a terminal only: a redirected log gets the per-epoch lines, not bar updates
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", disable=args.quiet or not sys.stderr.isatty(),
               leave=False, dynamic_ncols=True, file=sys.stderr)
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


def run_settings(args):
    """What the checkpoint records of the run: RUN_SETTINGS and the data's fingerprint."""
    settings = {name: getattr(args, name) for name in RUN_SETTINGS}
    settings['data_dir'] = os.path.abspath(args.data_dir) if args.data_dir else None
    settings['data_fingerprint'] = args.data_fingerprint
    return settings


def save_checkpoint(path, model, opt, schedule, epoch, history, args):
    if not distributed.is_main():  # one writer per job
        return
    minifft.save(path, model, opt, epoch=epoch, history=history, rng=minifft.random.get_state(),
                 schedule=schedule.state_dict() if schedule else None, run=run_settings(args),
                 conv_plan=conv.auto.plan())


def checkpoint_metadata(path):
    """The metadata of the checkpoint at ``path``, or a UsageError saying why it is not usable."""
    if not os.path.isfile(path):
        raise UsageError(f"no checkpoint at {path}" + (" (it is a directory)" if os.path.isdir(path) else ""))
    try:
        meta = minifft.serialization.metadata(path)
    except ValueError as error:   # CheckpointError: damaged, truncated, not a checkpoint
        raise UsageError(str(error)) from error
    missing = [key for key in ('epoch', 'history', 'rng') if key not in meta]
    if missing:
        raise UsageError(f"{path} is a minifft checkpoint but not one train.py wrote (no {', '.join(missing)})")
    return meta


def resume_settings(args, path, meta):
    """Take the run's settings from the checkpoint: a flag that contradicts one of FIXED_ON_RESUME is
    a UsageError, one that changes the others is printed as an override; the rest are filled in.
    Returns the fingerprint the data must have (None: any data)."""
    saved = meta.get('run', {})
    fixed = ('model', 'dataset') if args.eval_only else FIXED_ON_RESUME   # evaluating on other data is fine
    conflicts = [name for name in fixed if name in saved and saved[name] != getattr(args, name)
                 and name in args.explicit]
    if conflicts:
        raise UsageError(f"{path} was trained with {' '.join(f'{flag(n)} {saved[n]}' for n in conflicts)}, not "
                         f"{' '.join(f'{flag(n)} {getattr(args, n)}' for n in conflicts)}; these cannot change "
                         f"on --resume (start a new run with another --out instead)")
    for name in RUN_SETTINGS:
        if name not in saved:   # a checkpoint from before settings were stored: the flags stand
            continue
        if name not in args.explicit:
            setattr(args, name, saved[name])
        elif getattr(args, name) != saved[name] and not args.eval_only:
            print(f"note: {flag(name)} {getattr(args, name)} overrides {saved[name]} from {path}")
    return None if args.eval_only else saved.get('data_fingerprint')


def data_fingerprint(data):
    """A hash of the images and labels, so --resume notices other data behind the same flags."""
    h = hashlib.blake2b(digest_size=16)
    for a in (*data.train, *data.test):
        a = numpy.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


def check_data(args, data, expected_fingerprint):
    """On --resume, a UsageError unless the data is the data the run was trained on."""
    args.data_fingerprint = data_fingerprint(data)
    if expected_fingerprint and args.data_fingerprint != expected_fingerprint:
        raise UsageError(f"the {args.dataset} data{' in ' + args.data_dir if args.data_dir else ''} differs from "
                         f"the data the checkpoint was trained on; give the same --data-dir contents")


def check_input_size(args, data):
    """A UsageError naming the data and the model when the images are smaller than it accepts."""
    channels, height, width = data.input_shape
    need = models.min_input_size(args.model, channels, data.num_classes)
    if need is None or min(height, width) < need:
        where = f" in {args.data_dir}" if args.data_dir else ""
        raise UsageError(f"the {args.dataset} images{where} are {height}x{width}; --model {args.model} needs "
                         f"at least {need}x{need}" if need else f"--model {args.model} accepts no input size")


def load_checkpoint(path, model, opt, schedule, args):
    try:
        meta = minifft.load(path, model, opt)
    except ValueError as error:   # CheckpointError: arrays that do not fit the model or optimiser
        raise UsageError(str(error)) from error
    minifft.random.set_state(meta['rng'])
    conv.auto.set_plan(meta.get('conv_plan') or [])  # the resumed run makes the same conv choices
    start = meta['epoch']
    # From here the run's settings decide the hyper-parameters, not the optimiser state saved with
    # them: they are the same values unless a flag overrides one (bit-exact otherwise).
    set_hyperparameters(opt, momentum=args.momentum, weight_decay=args.weight_decay, nesterov=args.momentum > 0)
    if schedule:
        schedule.load_state_dict({'epoch': start, 'base_lr': args.lr})
    else:
        opt.lr = args.lr
    return start, meta['history']


def set_hyperparameters(opt, **values):
    """Set hyper-parameters in every parameter group that has them (an optimiser without groups:
    as attributes)."""
    groups = getattr(opt, 'param_groups', None)
    for key, value in values.items():
        if groups is None:
            setattr(opt, key, value)
        for group in groups or ():
            if key in group:
                group[key] = value


def check_outputs(args):
    """A UsageError unless --out (and --checkpoint, when training) can be written; creates nothing."""
    targets = [('--out', args.out, True)]
    if not (args.eval_only or args.compare):
        targets.append(('--checkpoint', args.checkpoint, False))
    for name, path, is_directory in targets:
        if is_directory and os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"{name} {path} is a file, expected a directory")
        if not is_directory and os.path.isdir(path):
            raise UsageError(f"{name} {path} is a directory, expected a file such as "
                             f"{os.path.join(path, 'checkpoint.npz')}")
        existing = os.path.abspath(path if is_directory else os.path.dirname(os.path.abspath(path)))
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise UsageError(f"{name} {path}: {existing} is a file, not a directory")
        try:
            tempfile.TemporaryFile(dir=existing).close()   # unnamed where the OS allows: nothing left behind
        except OSError as error:
            raise UsageError(f"{name} {path}: cannot write in {existing} ({error.strerror or error})") from error


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


def write_metrics(args, payload, name='metrics.json'):
    """Write ``payload`` to OUT/name atomically (a kill or a full disk leaves the previous file)."""
    path = os.path.join(args.out, name)
    if not distributed.is_main():  # one writer per job
        return path
    text = json.dumps(payload, indent=1).encode()
    try:
        minifft.serialization.write_atomically(path, lambda f: f.write(text))
    except OSError as error:
        raise SaveError(error.errno, f"cannot write {path}: {error.strerror or error}; the previous "
                                     f"{name}, if any, is kept") from error
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
                         'reference': ref, 'max_relative_difference': worst, 'agree': agree}, name='compare.json')
    return 0 if agree else 1


def check_settings(args):
    """Exit-2 checks of the settings in force (after --resume filled them in)."""
    if args.data_dir and args.dataset not in datasets.FILE_BASED:
        raise UsageError(f"--data-dir is read only by --dataset {' and '.join(datasets.FILE_BASED)}; "
                         f"{args.dataset} is built in, so --data-dir {args.data_dir} would be ignored")


def select_device_and_conv(args):
    """--device and --conv, else MINIFFT_DEVICE and MINIFFT_CONV_ALGO (checked even when a flag is
    given): a bad value is a UsageError."""
    def name_the_variable(variable, error):
        message = str(error)
        from_environment = os.environ.get(variable, '').strip()
        return message if variable in message or not from_environment else f"{variable}={from_environment!r}: {message}"
    try:
        if args.device:
            backend.set_default_device(args.device)
        device = backend.default_device()
    except (ValueError, RuntimeError) as error:  # e.g. 'cuda' where none is usable: the reason and the fix
        raise UsageError(str(error) if args.device else name_the_variable('MINIFFT_DEVICE', error)) from error
    try:
        args.conv = args.conv or conv.default_algorithm()
        conv.set_default_algorithm(args.conv)
    except (ValueError, RuntimeError) as error:
        raise UsageError(name_the_variable('MINIFFT_CONV_ALGO', error)) from error
    return device


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
    """One process's run: a bad input is one line and exit 2, a failed save one line and exit 1."""
    try:
        return _run_job(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except SaveError as error:
        print(f"error: {error.strerror}", file=sys.stderr)
        return 1


def _run_job(args):
    source = args.resume or (args.checkpoint if args.eval_only else None)
    meta = checkpoint_metadata(source) if source else None
    fingerprint = resume_settings(args, source, meta) if meta is not None else None
    check_settings(args)
    check_outputs(args)
    device = select_device_and_conv(args)
    if args.conv_plan:
        try:
            load_conv_plan(args.conv_plan)
        except ValueError as error:
            raise UsageError(str(error)) from error
    if meta is not None and not args.eval_only and meta['epoch'] >= args.epochs:
        done = meta['epoch']
        print(f"nothing to do: {source} has already trained {done} epoch{'s' * (done != 1)} and --epochs is "
              f"{args.epochs}; give a larger --epochs to train on (nothing was written)")
        return 0
    try:
        data = datasets.load(args.dataset, args.data_dir, seed=args.seed, limit=args.limit)
    except datasets.DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    check_data(args, data, fingerprint)
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
    if source:
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
                             'fft_accuracy': accuracy_rows}, name='eval.json')
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
        try:
            save_checkpoint(args.checkpoint, model, opt, schedule, epoch + 1, history, args)
        except OSError as error:   # e.g. a full disk: the previous files are intact
            print(f"error: cannot save epoch {epoch + 1} to {args.checkpoint}: {error.strerror or error}; the "
                  f"previous checkpoint and metrics are kept", file=sys.stderr)
            return 1
        # after the checkpoint, so the metrics never claim an epoch the checkpoint lacks
        write_metrics(args, {'mode': 'train', 'args': vars(args), 'device': device, 'epochs': history,
                             'complete': False})

    if args.profile:
        print("\nconvolution time per layer (ms per call):")
        print(conv.profiler.format_report())
    print("\nconv algorithm choices (auto):")
    print(conv.auto_report())
    accuracy_rows = check_accuracy(model, test_loader) if args.check_accuracy else None
    path = write_metrics(args, {'mode': 'train', 'args': vars(args), 'device': device, 'epochs': history,
                                'conv_profile': conv.profiler.report(), 'auto_decisions': conv.auto.report(),
                                'conv_plan': conv.auto.plan(),
                                'fft_accuracy': accuracy_rows, 'complete': True})
    say(f"\nmetrics: {path}\ncheckpoint: {args.checkpoint}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
