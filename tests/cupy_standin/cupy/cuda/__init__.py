"""cupy.cuda as far as minifft uses it: runtime, driver errors, devices, streams, events, memory."""
import time

from . import compiler, driver, memory, runtime
from .memory import MemoryPointer, MemoryPool, OutOfMemoryError


def is_available():
    return True


def get_device_id():
    return 0


class Device:
    """The stand-in's single device (id 0)."""

    def __init__(self, device=None):
        device = 0 if device is None else int(device)
        if device != 0:
            raise runtime.CUDARuntimeError(101, 'cudaErrorInvalidDevice: invalid device ordinal')
        self.id = device

    compute_capability = property(lambda self: '90')
    mem_info = property(lambda self: runtime.memGetInfo())

    def use(self):
        pass

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __int__(self):
        return self.id

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    __hash__ = object.__hash__

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class Stream:
    """Streams exist so code can synchronise; the stand-in runs every operation at once, so there
    is never queued work (asynchrony is one of the things it cannot show)."""

    null = None

    def __init__(self, null=False, non_blocking=False, ptr=None):
        self.ptr = 0 if null else id(self)

    def synchronize(self):
        pass

    def use(self):
        global _current_stream
        _current_stream = self
        return self

    def __enter__(self):
        self._previous = get_current_stream()
        return self.use()

    def __exit__(self, *exc):
        self._previous.use()
        return False

    def record(self, event=None):
        event = event or Event()
        event.record(self)
        return event


Stream.null = Stream(null=True)
_current_stream = Stream.null


def get_current_stream(device_id=-1):
    return _current_stream


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self._time = None
        self.done = True

    def record(self, stream=None):
        self._time = time.perf_counter()

    def synchronize(self):
        pass


def get_elapsed_time(start_event, end_event):
    """Milliseconds between two recorded events."""
    if start_event._time is None or end_event._time is None:
        raise driver.CUDADriverError('CUDA_ERROR_INVALID_HANDLE: invalid resource handle')
    return 1000.0 * (end_event._time - start_event._time)
