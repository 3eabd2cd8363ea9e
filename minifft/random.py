"""One seeded random source for initialisation, dropout and data order.

Host draws (initialisation) come from a NumPy generator. Dropout masks are drawn where the data
lives, from a counter-based generator: element i of a draw is a hash (SplitMix64's finaliser) of
(seed, counter + i) computed with unsigned integer ops over ``xp.arange``, so the GPU draws with
no host round trip, both devices draw identical masks, and the whole state is two integers.
Its state can be saved and restored, so a resumed run draws the same numbers as an
uninterrupted one.
"""
import numpy

from . import backend

_rng = numpy.random.default_rng(0)
_stream = {'seed': 0, 'counter': 0}  # the counter-based generator (device draws)

_M1, _M2 = numpy.uint64(0xBF58476D1CE4E5B9), numpy.uint64(0x94D049BB133111EB)
_GOLDEN = numpy.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = (numpy.uint64(s) for s in (30, 27, 31, 11))


def manual_seed(seed):
    """Reseed everything minifft draws (weights, dropout masks)."""
    global _rng
    _rng = numpy.random.default_rng(seed)
    _stream.update(seed=int(seed), counter=0)
    if backend.cupy is not None and backend.cuda_available():
        backend.cupy.random.seed(seed)


def generator():
    return _rng


def get_state():
    """Both generators' state, JSON-able (saved in checkpoints)."""
    return {'host': _rng.bit_generator.state, 'stream': dict(_stream)}


def set_state(state):
    if 'host' not in state:  # a checkpoint from before the device generator: host state only
        state = {'host': state, 'stream': {'seed': 0, 'counter': 0}}
    _rng.bit_generator.state = state['host']
    _stream.update(seed=int(state['stream']['seed']), counter=int(state['stream']['counter']))


def uniform(shape, low=0.0, high=1.0, dtype=None):
    """Uniform samples from the host generator (initialisation; Tensor and Parameter then place
    them on the default device). Device-side draws go through ``random_bits``."""
    return _rng.uniform(low, high, size=shape).astype(dtype or backend.default_dtype())


def _mix(z):
    """SplitMix64's finaliser: a bijection of uint64 with full avalanche (wrapping arithmetic)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def random_bits(shape, like):
    """53 random bits per element, uint64 of ``shape`` on the device of ``like``; advances the
    counter by the number of elements."""
    xp = backend.get_array_module(like)
    n = 1
    for d in shape:
        n *= d
    start = numpy.uint64(_stream['counter'] % 2 ** 64)
    _stream['counter'] += n
    with numpy.errstate(over='ignore'):  # the hash wraps around by design
        key = _mix(numpy.uint64(_stream['seed'] % 2 ** 64) * _GOLDEN + numpy.uint64(1))
        index = xp.arange(n, dtype=numpy.uint64) + start
        return (_mix(index ^ key) >> _S11).reshape(shape)


def bernoulli_keep(shape, p, like):
    """Boolean mask of ``shape`` on the device of ``like``: True with probability 1 - p."""
    return random_bits(shape, like) >= numpy.uint64(round(p * 2.0 ** 53))
