"""The stand-in's device memory: a caching pool like CuPy's MemoryPool.

Every stand-in array owns (through its root NumPy buffer) one pool block, rounded up to 512 bytes as
CuPy rounds. A freed block stays in the pool (``free_bytes``) and is reused for the next allocation
of the same rounded size; the simulated driver counts every block the pool holds, used or free, as
used (``runtime.memGetInfo``), as the real driver does.
"""
import weakref

import numpy

DEVICE_BYTES = 16 * 1024 ** 3  # the simulated device's memory
_ROUND = 512


class OutOfMemoryError(MemoryError):
    def __init__(self, size, total, limit=0):
        super().__init__(f"Out of memory allocating {size:,} bytes (allocated so far: {total:,} bytes"
                         + (f", limit set to: {limit:,} bytes" if limit else "") + ").")


class _Memory:
    """What a MemoryPointer points into: one pool block."""

    def __init__(self, ptr, size):
        self.ptr, self.size, self.device_id = ptr, size, 0


class MemoryPointer:
    """Pointer into device memory (``ndarray.data``): ``ptr`` is the address, ``mem`` the block."""

    def __init__(self, mem, offset):
        self.mem, self.device_id = mem, 0
        self.ptr = mem.ptr + offset

    def __int__(self):
        return self.ptr

    def __repr__(self):
        return f"<MemoryPointer 0x{self.ptr:x} device=0 mem={self.mem.size}>"


def _rounded(nbytes):
    return -(-nbytes // _ROUND) * _ROUND


class MemoryPool:
    """CuPy's ``MemoryPool`` surface: used/free/total bytes, ``free_all_blocks``, limits."""

    def __init__(self):
        self._used = 0
        self._free = {}  # rounded size -> number of free blocks held
        self._limit = 0
        self._blocks = {}  # id(root buffer) -> rounded size, while the buffer is alive

    def used_bytes(self):
        return self._used

    def free_bytes(self):
        return sum(size * n for size, n in self._free.items())

    def total_bytes(self):
        return self._used + self.free_bytes()

    def n_free_blocks(self):
        return sum(self._free.values())

    def free_all_blocks(self, stream=None):
        self._free.clear()

    def free_all_free(self):
        self.free_all_blocks()

    def set_limit(self, size=None, fraction=None):
        if size is not None and fraction is not None:
            raise ValueError('size and fraction cannot be specified at one time')
        self._limit = int(fraction * DEVICE_BYTES) if fraction is not None else int(size or 0)

    def get_limit(self):
        return self._limit

    def malloc(self, size):
        buffer = numpy.empty(max(int(size), 1), numpy.uint8)
        self.adopt(buffer)
        return MemoryPointer(_Memory(buffer.ctypes.data, int(size)), 0)

    # ---- stand-in internals ------------------------------------------------------------------
    def adopt(self, root):
        """Account for a new device buffer (a NumPy array owning its data); freed when it dies."""
        key = id(root)
        if key in self._blocks:
            return
        size = _rounded(root.nbytes)
        if self._free.get(size):
            self._free[size] -= 1
        else:
            limit = self._limit or DEVICE_BYTES
            if self.total_bytes() + size > limit:
                self.free_all_blocks()  # CuPy frees cached blocks and retries before failing
                if self._used + size > limit:
                    raise OutOfMemoryError(size, self._used, self._limit)
        self._used += size
        self._blocks[key] = size
        weakref.finalize(root, self._release, key)

    def owns(self, root):
        return id(root) in self._blocks

    def _release(self, key):
        size = self._blocks.pop(key)
        self._used -= size
        self._free[size] = self._free.get(size, 0) + 1


_default_pool = MemoryPool()


def get_default_memory_pool():
    return _default_pool
