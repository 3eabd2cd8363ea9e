"""cupy.cuda.runtime: one simulated device whose memory the stand-in's pool uses."""
from . import memory

is_hip = False


class CUDARuntimeError(RuntimeError):
    def __init__(self, status, message=''):
        self.status = status
        super().__init__(message or f"CUDA runtime error {status}")


def getDeviceCount():
    return 1


def getDevice():
    return 0


def setDevice(device):
    if device != 0:
        raise CUDARuntimeError(101, 'cudaErrorInvalidDevice: invalid device ordinal')


def deviceSynchronize():
    pass


def runtimeGetVersion():
    return 12080


def driverGetVersion():
    return 12080


def memGetInfo():
    """(free, total) bytes as the driver sees them: blocks the pool holds, used or cached, are
    not free."""
    total = memory.DEVICE_BYTES
    return total - memory.get_default_memory_pool().total_bytes(), total


def getDeviceProperties(device):
    return {'name': b'minifft CuPy stand-in', 'totalGlobalMem': memory.DEVICE_BYTES,
            'multiProcessorCount': 132, 'major': 9, 'minor': 0, 'maxThreadsPerBlock': 1024,
            'sharedMemPerBlock': 49152, 'maxGridSize': (2 ** 31 - 1, 65535, 65535),
            'maxThreadsDim': (1024, 1024, 64)}
