"""cupy.fft.config: the per-device cuFFT plan cache, with CuPy's PlanCache API and LRU eviction."""
from collections import OrderedDict

enable_nd_planning = True
use_multi_gpus = False
devices = None


class PlanCache:
    """Plans keyed by transform; ``size`` plans and ``memsize`` bytes of work areas at most
    (-1: unlimited, 0: caching disabled). The least recently used plan is evicted first."""

    def __init__(self, size=16, memsize=-1, dev=-1):
        self._validate(size, memsize)
        self._size, self._memsize = size, memsize
        self._plans = OrderedDict()  # key -> plan
        self.hits = self.misses = 0

    @staticmethod
    def _validate(size, memsize):
        if not isinstance(size, int) or not isinstance(memsize, int):
            raise TypeError(f"an integer is required, got {size!r}, {memsize!r}")
        if size < -1 or memsize < -1:
            raise ValueError('invalid input')

    def _enabled(self):
        return self._size != 0 and self._memsize != 0

    def _eject_until_fit(self, size, memsize):
        while self._plans and not ((size == -1 or len(self._plans) <= size) and
                                   (memsize == -1 or self.get_curr_memsize() <= memsize)):
            self._plans.popitem(last=False)

    def set_size(self, size):
        self._validate(size, self._memsize)
        self._eject_until_fit(size, self._memsize)
        self._size = size

    def get_size(self):
        return self._size

    def get_curr_size(self):
        return len(self._plans)

    def set_memsize(self, memsize):
        self._validate(self._size, memsize)
        self._eject_until_fit(self._size, memsize)
        self._memsize = memsize

    def get_memsize(self):
        return self._memsize

    def get_curr_memsize(self):
        return sum(p.work_area_bytes for p in self._plans.values())

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            raise TypeError(f"Argument 'key' has incorrect type (expected tuple, got {type(key).__name__})")
        if key not in self._plans:
            self.misses += 1
            raise KeyError(f'plan not found for key: {key}')
        self.hits += 1
        self._plans.move_to_end(key)
        return self._plans[key]

    def __setitem__(self, key, plan):
        if not isinstance(key, tuple):
            raise TypeError(f"Argument 'key' has incorrect type (expected tuple, got {type(key).__name__})")
        if not self._enabled():
            return
        if 0 < self._memsize < plan.work_area_bytes:
            raise RuntimeError('the plan memsize is too large')
        self._plans.pop(key, None)
        self._eject_until_fit(self._size - 1 if self._size != -1 else -1,
                              self._memsize - plan.work_area_bytes if self._memsize != -1 else -1)
        self._plans[key] = plan

    def __delitem__(self, key):
        del self._plans[key]

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __len__(self):
        return len(self._plans)

    def __iter__(self):
        return iter(list(self._plans.items()))

    def clear(self):
        self._plans.clear()
        self.hits = self.misses = 0

    def show_info(self):
        print(repr(self))

    def __repr__(self):
        size = '(unlimited)' if self._size == -1 else self._size
        memsize = '(unlimited)' if self._memsize == -1 else self._memsize
        return (f"------------------- cuFFT plan cache (device 0) -------------------\n"
                f"cache enabled? {self._enabled()}\ncurrent / max size   : {len(self._plans)} / {size} (counts)\n"
                f"current / max memsize: {self.get_curr_memsize()} / {memsize} (bytes)\n"
                f"hits / misses: {self.hits} / {self.misses}")


_cache = PlanCache()


def get_plan_cache():
    return _cache


def set_plan_cache_size(size):
    _cache.set_size(size)


def get_plan_cache_size():
    return _cache.get_size()


def set_plan_cache_max_memsize(size):
    _cache.set_memsize(size)


def get_plan_cache_max_memsize():
    return _cache.get_memsize()


def clear_plan_cache():
    _cache.clear()


def show_plan_cache_info():
    _cache.show_info()


def get_current_callback_manager():
    return None
