"""cupy.random: CuPy's signatures (with ``dtype=``), drawn by NumPy's generator on the host."""
import numpy

from . import _wrap


class RandomState:
    def __init__(self, seed=None):
        self.seed(seed)

    def seed(self, seed=None):
        self._rng = numpy.random.default_rng(seed)

    def _size(self, size):
        return () if size is None else size

    def rand(self, *size, dtype=float):
        return _wrap(self._rng.random(size).astype(dtype))

    def randn(self, *size, dtype=float):
        return _wrap(self._rng.standard_normal(size).astype(dtype))

    def random_sample(self, size=None, dtype=float):
        return _wrap(self._rng.random(self._size(size)).astype(dtype))

    random = random_sample

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        return _wrap(self._rng.uniform(low, high, self._size(size)).astype(dtype))

    def standard_normal(self, size=None, dtype=float):
        return _wrap(self._rng.standard_normal(self._size(size)).astype(dtype))

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        return _wrap(self._rng.normal(loc, scale, self._size(size)).astype(dtype))

    def randint(self, low, high=None, size=None, dtype=int):
        return _wrap(numpy.asarray(self._rng.integers(low, high, self._size(size))).astype(dtype))

    def permutation(self, num):
        if not isinstance(num, int):
            raise TypeError("the stand-in permutes only a range: pass an int")
        return _wrap(self._rng.permutation(num))


_state = RandomState(None)


def get_random_state():
    return _state


def seed(seed=None):
    _state.seed(seed)


def reset_states():
    _state.seed(None)


rand, randn, random_sample, random = _state.rand, _state.randn, _state.random_sample, _state.random_sample
uniform, standard_normal, normal = _state.uniform, _state.standard_normal, _state.normal
randint, permutation = _state.randint, _state.permutation
