"""Data-parallel training across processes: MPI (mpi4py) on the CPU, NCCL on the GPU.

Every process holds the whole model, trains on its own shard of each batch, and averages the
gradients with the others before the optimizer step, as ChainerMN and PyTorch's DDP do:

    mpiexec -n 2 python train.py --distributed            # or, in a script:

    world = distributed.init()                            # rank, size, local rank; picks the GPU
    broadcast_parameters(model, opt)                      # every rank starts from rank 0's state
    for x, y in loader:                                   # DataLoader(..., shard=distributed.Shard())
        loss = F.cross_entropy(model(x), y); loss.backward()
        distributed.all_reduce_gradients(model)           # mean over ranks
        opt.step()

Transport is never home-made: MPI collectives through mpi4py for host arrays (and to bootstrap),
NCCL through ``cupy.cuda.nccl`` for GPU arrays, its unique id shared through MPI. Which one is
used follows the device of the model's parameters. mpi4py is imported only when a function here
is called, so minifft runs without it; install it with the ``mpi`` extra.
"""
import sys
import traceback
from collections import OrderedDict, namedtuple

import numpy

from . import backend
from . import random as _random

World = namedtuple('World', 'rank size local_rank')
World.__doc__ = """This process's place in the job: ``rank`` of ``size``, ``local_rank`` on its machine."""

_world = None           # World once init() ran
_comm = None            # mpi4py's COMM_WORLD (duplicated, so user traffic cannot collide with ours)
_nccl_comms = {}        # CUDA device id -> NCCL communicator over all ranks

INSTALL_HINT = "pip install -e '.[mpi]' (the 'mpi' extra: mpi4py and an MPI library)"


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(f"minifft.distributed needs mpi4py ({error}); install it with {INSTALL_HINT}") from error
    return MPI


def _nccl():
    nccl = backend.nccl_module()
    if nccl is None:
        raise ImportError("minifft.distributed: GPU parameters need NCCL through CuPy (cupy.cuda.nccl), which "
                          "is not available; install the cuda extra, pip install -e '.[cuda12]' or '.[cuda13]', "
                          "which brings nvidia-nccl")
    return nccl


# ---- the world ------------------------------------------------------------------------------------
def init():
    """Join the MPI job (a world of one without mpiexec) and return this process's ``World``.

    On a machine with GPUs each process makes device ``local_rank % device count`` current, so
    the ranks on one machine spread over its GPUs. Calling it again returns the same World.
    """
    global _world, _comm
    if _world is not None:
        return _world
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    local_rank = local.Get_rank()
    local.Free()
    _select_gpu(local_rank)
    _comm, _world = comm, World(comm.Get_rank(), comm.Get_size(), local_rank)
    return _world


def _select_gpu(local_rank):
    cupy = backend.cupy
    if cupy is None:
        return
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # no driver or no device: the job runs on the CPU
        return
    if count:
        cupy.cuda.Device(local_rank % count).use()


def initialized():
    return _world is not None


def world():
    """This process's World; raises if ``init()`` has not run."""
    return _require('world')


def is_main():
    """True on rank 0, and in a process that never called ``init()`` (it is its own main)."""
    return _world is None or _world.rank == 0


def _require(op):
    if _world is None:
        raise RuntimeError(f"distributed.{op}: call minifft.distributed.init() first")
    return _world


def barrier():
    """Wait until every rank reaches this point."""
    _require('barrier')
    _comm.Barrier()


def broadcast_object(obj, root=0):
    """``obj`` of rank ``root`` on every rank (pickled through MPI: for small host-side state)."""
    _require('broadcast_object')
    return _comm.bcast(obj, root=root)


def all_sum(values):
    """Element-wise sum over ranks of a list of numbers (float64), e.g. evaluation counts."""
    _require('all_sum')
    out = numpy.array(values, numpy.float64)
    _comm.Allreduce(_mpi().IN_PLACE, out)
    return [float(v) for v in out]


def abort(code=1):
    """End every process of the job now (MPI_Abort), with exit status ``code``."""
    sys.stdout.flush()
    sys.stderr.flush()
    comm = _comm if _comm is not None else _mpi().COMM_WORLD
    comm.Abort(code)


def run(fn, *args, **kwargs):
    """Call ``fn`` on this rank; if it raises or returns a non-zero status, abort the whole job.

    Without this, one failing rank leaves the others waiting in a collective forever. The failing
    rank prints its rank, the error and its traceback to stderr before the job ends. On success
    every rank waits for the others, so they end together.
    """
    w = _require('run')
    try:
        status = fn(*args, **kwargs)
    except SystemExit as error:
        status = error.code
        if status is not None and not isinstance(status, int):
            print(status, file=sys.stderr)
            status = 1
    except BaseException as error:
        traceback.print_exc()
        print(f"minifft.distributed: rank {w.rank} of {w.size} failed with {type(error).__name__}: {error}; "
              f"aborting the job", file=sys.stderr)
        abort(1)
        raise  # only reached where Abort returned (it does not)
    if status:
        print(f"minifft.distributed: rank {w.rank} of {w.size} stopped with exit status {status}; aborting the "
              f"job", file=sys.stderr)
        abort(status)
    barrier()
    return status or 0


# ---- communicators ----------------------------------------------------------------------------------
class _MPICommunicator:
    """Host arrays: MPI collectives on the buffers in place."""

    def all_reduce_sum(self, buf):
        _comm.Allreduce(_mpi().IN_PLACE, buf)

    def broadcast(self, buf, root):
        _comm.Bcast(buf, root=root)


class _NCCLCommunicator:
    """CuPy arrays: NCCL collectives on the current stream; rank 0 makes the unique id, MPI sends it."""

    def __init__(self, nccl):
        self.nccl = nccl
        uid = nccl.get_unique_id() if _world.rank == 0 else None
        uid = _comm.bcast(uid, root=0)
        self.comm = nccl.NcclCommunicator(_world.size, uid, _world.rank)

    def _dtype(self, dtype):
        types = {numpy.dtype(numpy.float16): self.nccl.NCCL_FLOAT16,
                 numpy.dtype(numpy.float32): self.nccl.NCCL_FLOAT32,
                 numpy.dtype(numpy.float64): self.nccl.NCCL_FLOAT64}
        if dtype not in types:
            raise TypeError(f"distributed: NCCL path supports float16/32/64 buffers, got {dtype}")
        return types[dtype]

    def all_reduce_sum(self, buf):
        stream = backend.cupy.cuda.get_current_stream().ptr
        self.comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, self._dtype(buf.dtype), self.nccl.NCCL_SUM,
                            stream)

    def broadcast(self, buf, root):
        stream = backend.cupy.cuda.get_current_stream().ptr
        self.comm.bcast(buf.data.ptr, buf.size, self._dtype(buf.dtype), root, stream)


def _communicator(op, params):
    """MPI for CPU parameters, NCCL (made once per GPU) for CUDA ones."""
    _require(op)
    devices = {p.device for p in params}
    if len(devices) > 1:
        raise ValueError(f"distributed.{op}: the model's parameters are on several devices {sorted(devices)}")
    if devices != {'cuda'}:
        return _MPICommunicator()
    device_id = backend.cupy.cuda.Device().id
    if device_id not in _nccl_comms:
        _nccl_comms[device_id] = _NCCLCommunicator(_nccl())
    return _nccl_comms[device_id]


def _groups_by_dtype(params):
    """Parameters grouped by dtype, each group in model order: the same packing on every rank."""
    groups = OrderedDict()
    for p in params:
        groups.setdefault(numpy.dtype(p.dtype), []).append(p)
    return groups


def _offsets(group):
    offsets, total = [], 0
    for p in group:
        offsets.append(total)
        total += p.size
    return offsets, total


# ---- gradients and parameters ------------------------------------------------------------------------
def all_reduce_gradients(model):
    """Replace every parameter's gradient by its mean over all ranks, in one reduction per dtype.

    The gradients of one dtype are packed, in ``model.parameters()`` order, into one flat buffer
    followed by one has-a-gradient flag per parameter; a parameter without a gradient contributes
    zeros. After the sum, a parameter gets the mean (a view into the buffer) if any rank had a
    gradient for it, and keeps ``grad = None`` if none did, so the optimizer skips it as it would
    in one process. Reading the flags costs one small device-to-host copy per dtype.
    """
    params = list(model.parameters())
    comm = _communicator('all_reduce_gradients', params)
    size = _world.size
    for dtype, group in _groups_by_dtype(params).items():
        xp = backend.get_array_module(group[0].data)
        offsets, total = _offsets(group)
        buf = xp.zeros(total + len(group), dtype)
        for p, start in zip(group, offsets):
            if p.grad is not None:
                if p.grad.shape != p.shape or p.grad.dtype != dtype:
                    raise ValueError(f"distributed.all_reduce_gradients: gradient of shape {p.grad.shape} "
                                     f"dtype {p.grad.dtype} for a parameter of shape {p.shape} dtype {dtype}")
                buf[start:start + p.size] = p.grad.reshape(-1)
        flags = numpy.array([p.grad is not None for p in group], dtype)
        buf[total:] = flags if xp is numpy else backend.to_device(flags, 'cuda')
        comm.all_reduce_sum(buf)
        grads = buf[:total]
        grads /= dtype.type(size)
        had_grad = backend.to_numpy(buf[total:]) > 0
        for p, start, has in zip(group, offsets, had_grad):
            p.grad = grads[start:start + p.size].reshape(p.shape) if has else None


def broadcast_parameters(model, optimizer=None, root=0):
    """Make every rank's model, optimizer and random state those of rank ``root``.

    Parameters go through the model's communicator (one packed buffer per dtype, written in
    place); any other model state (buffers) and the optimizer's state go as host objects through
    ``state_dict()`` / ``load_state_dict()``, so any optimizer that has those works (momentum
    buffers, step counts). The random state of ``minifft.random`` follows, so dropout and
    anything else drawn later match rank ``root``'s.
    """
    params = list(model.parameters())
    comm = _communicator('broadcast_parameters', params)
    is_root = _world.rank == root
    for dtype, group in _groups_by_dtype(params).items():
        xp = backend.get_array_module(group[0].data)
        offsets, total = _offsets(group)
        buf = xp.empty(total, dtype)
        if is_root:
            for p, start in zip(group, offsets):
                buf[start:start + p.size] = p.data.reshape(-1)
        comm.broadcast(buf, root)
        if not is_root:
            for p, start in zip(group, offsets):
                p.data[...] = buf[start:start + p.size].reshape(p.shape)

    names = {name for name, _ in model.named_parameters()}
    extra = None
    if is_root:
        extra = {k: v for k, v in model.state_dict().items() if k not in names}
    extra = _comm.bcast(extra, root=root)
    if extra and not is_root:
        model.load_state_dict(extra, strict=False)
    if optimizer is not None:
        state = _comm.bcast(optimizer.state_dict() if is_root else None, root=root)
        if not is_root:
            optimizer.load_state_dict(state)
    state = _comm.bcast(_random.get_state() if is_root else None, root=root)
    _random.set_state(state)


# ---- data ------------------------------------------------------------------------------------------------
class Shard:
    """This rank's part of every epoch's order, like PyTorch's DistributedSampler.

    Called on an epoch's order (the permutation every rank draws from the same seed and epoch),
    it returns positions ``rank, rank + size, rank + 2 size, ...``: the ranks' parts are disjoint,
    and batch b of every rank together is batch b of one process whose batch is ``size`` times as
    large. With ``drop_remainder`` (training) the last ``len(order) % size`` entries of the order
    are left out so that every rank has the same number of batches and steps; they change every
    epoch, so no example is left out for good. Without it (evaluation) every example is kept and
    the parts differ in length by at most one: sum the counts with ``all_sum``.
    """

    def __init__(self, rank=None, size=None, drop_remainder=True):
        if rank is None or size is None:
            w = _require('Shard')
            rank, size = w.rank, w.size
        if not 0 <= rank < size:
            raise ValueError(f"Shard: expected 0 <= rank < size, got rank={rank}, size={size}")
        self.rank, self.size, self.drop_remainder = rank, size, drop_remainder

    def __call__(self, order):
        if self.drop_remainder:
            order = order[:len(order) - len(order) % self.size]
        return order[self.rank::self.size]

    def length(self, n, rank=None):
        """How many of ``n`` examples ``rank`` (default: this shard's) gets."""
        rank = self.rank if rank is None else rank
        if self.drop_remainder:
            return n // self.size
        return (n - rank + self.size - 1) // self.size

    def __repr__(self):
        return f"Shard(rank={self.rank}, size={self.size}, drop_remainder={self.drop_remainder})"


def loader_shapes(loader):
    """Every (N, C, H, W) batch shape ``loader`` (with a ``shard``) yields on any rank of the job.

    The parts of one order differ in length by up to one between ranks, and so may their last
    batches: ``agree_conv_algorithms`` must decide those shapes too.
    """
    shard, n, batch = loader.shard, len(loader.images), loader.batch_size
    sizes = set()
    for rank in range(shard.size):
        full, rest = divmod(shard.length(n, rank), batch)
        if full:
            sizes.add(batch)
        if rest and not loader.drop_last:
            sizes.add(rest)
    return [(s, *loader.images.shape[1:]) for s in sorted(sizes)]


# ---- convolution algorithm choices ------------------------------------------------------------------------
def broadcast_conv_decisions(root=0):
    """Replace every rank's ``conv.auto`` decisions by rank ``root``'s.

    Today this reads and seeds ``minifft.conv.auto``'s decision table; once auto offers
    ``plan()`` / ``set_plan()`` these two lines become ``auto.set_plan(broadcast(auto.plan()))``.
    """
    from .conv import auto
    decisions = _comm.bcast(dict(auto._decisions) if _world.rank == root else None, root=root)
    if _world.rank != root:
        auto._decisions.clear()
        auto._decisions.update(decisions)


def agree_conv_algorithms(model, input_shapes, dtype=None, root=0):
    """``--conv auto`` across ranks: rank ``root`` decides for each input shape, every rank uses its choice.

    Rank ``root`` runs the model once (evaluation mode, no graph, zeros: auto's timings do not
    depend on values) on each (N, C, H, W) shape in ``input_shapes``, which should list every
    batch shape any rank will see; then its decisions are broadcast. The random state and the
    model's mode are left as they were.
    """
    from .tensor import Tensor, no_grad
    w = _require('agree_conv_algorithms')
    if w.rank == root:
        params = list(model.parameters())
        device = params[0].device if params else backend.default_device()
        dtype = dtype or (params[0].dtype if params else backend.default_dtype())
        xp = backend.array_module_for(device)
        state, training = _random.get_state(), model.training
        model.eval()
        try:
            with no_grad():
                for shape in input_shapes:
                    model(Tensor(xp.zeros(shape, dtype)))
        finally:
            model.train(training)
            _random.set_state(state)
    broadcast_conv_decisions(root)


__all__ = ['World', 'init', 'initialized', 'world', 'is_main', 'barrier', 'broadcast_object', 'all_sum', 'abort',
           'run', 'all_reduce_gradients', 'broadcast_parameters', 'Shard', 'loader_shapes', 'broadcast_conv_decisions',
           'agree_conv_algorithms']
