"""Array backend: the only module that imports CuPy.

Devices are ``'cpu'`` (NumPy + scipy.fft) and ``'cuda'`` (CuPy + cupyx.scipy.fft). Both FFT
modules expose the same API, so the rest of minifft takes the array module and the FFT module
as parameters instead of forking code per device.
"""
import os

import numpy
import scipy.fft

try:  # CuPy is optional; importing it must never break minifft.
    import cupy
    import cupyx.scipy.fft as cupy_fft
    _cupy_import_error = None
except Exception as error:  # ImportError, or a broken CUDA install raising at import
    cupy = None
    cupy_fft = None
    _cupy_import_error = error

from . import config

DEVICES = ('cpu', 'cuda')
_cuda_checked = None  # (usable: bool, reason: str) once probed


def default_dtype():
    """The floating dtype new tensors and parameters get (float32 unless changed; minifft.config)."""
    return config.get('dtype')


def set_default_dtype(dtype):
    config.set(dtype=dtype)


def cuda_status():
    """Return ``(usable, reason)``: whether a CUDA device can run CuPy arrays, and why not."""
    global _cuda_checked
    if _cuda_checked is None:
        if cupy is None:
            _cuda_checked = (False, f"CuPy is not installed ({_cupy_import_error}); install it with "
                                    "`pip install -e .[cuda12]` or `.[cuda13]` to match your CUDA driver")
        else:
            try:
                count = cupy.cuda.runtime.getDeviceCount()
                if count == 0:
                    raise RuntimeError("no CUDA device found")
                cupy.zeros(1)  # the first allocation is where a missing driver shows up
                _cuda_checked = (True, f"{count} CUDA device(s)")
            except Exception as error:
                _cuda_checked = (False, f"CuPy is installed but no CUDA device is usable ({error}); "
                                        "check the NVIDIA driver, or use device='cpu'")
    return _cuda_checked


def cuda_available():
    return cuda_status()[0]


def _check_device_name(device):
    if device not in DEVICES:
        raise ValueError(f"device: expected one of {DEVICES}, got {device!r}")


def default_device():
    """The device new tensors go to: minifft.config's ``device``; 'auto' is 'cuda' when a GPU is
    usable, else 'cpu'."""
    device = config.get('device')
    if device == 'auto':
        return 'cuda' if cuda_available() else 'cpu'
    require_device(device)
    return device


def set_default_device(device):
    """The device new tensors and parameters go to: 'cpu', 'cuda', or 'auto' (``MINIFFT_DEVICE``
    if set, else 'cuda' when a GPU is usable, else 'cpu'). Raises ValueError for an unknown name and
    RuntimeError for 'cuda' without a usable GPU, each in one line that names the setting."""
    if device == 'auto':
        config.reset('device')           # back to MINIFFT_DEVICE, read and checked by config
        env = config.get('device')
        if env != 'auto':
            try:
                require_device(env)
            except RuntimeError as error:
                raise RuntimeError(f"MINIFFT_DEVICE={env}: {error}") from None
        return
    require_device(device)
    config.set(device=device)


def require_device(device):
    """Raise a clear error unless ``device`` names a usable device."""
    _check_device_name(device)
    if device == 'cuda':
        usable, reason = cuda_status()
        if not usable:
            raise RuntimeError(f"device 'cuda' is not usable: {reason}")


def get_array_module(*arrays):
    """``cupy`` if any argument is a CuPy array (or a Tensor holding one), else ``numpy``."""
    if cupy is not None:
        for a in arrays:
            if isinstance(a, _tensor_type()):  # only a Tensor is unwrapped: cupy.ndarray.data is a pointer
                a = a.data
            if isinstance(a, cupy.ndarray):
                return cupy
    return numpy


def _tensor_type():
    global _Tensor
    if _Tensor is None:
        from .tensor import Tensor
        _Tensor = Tensor
    return _Tensor


_Tensor = None


def array_module_for(device):
    _check_device_name(device)
    return cupy if device == 'cuda' else numpy


def device_of(array):
    return 'cuda' if get_array_module(array) is not numpy else 'cpu'


def fft_module(array):
    """The FFT module for an array: scipy.fft on the CPU, cupyx.scipy.fft on the GPU."""
    return cupy_fft if get_array_module(array) is not numpy else scipy.fft


def special_module(array):
    """scipy.special on the CPU, cupyx.scipy.special on the GPU (same API: erf for GELU)."""
    if get_array_module(array) is numpy:
        import scipy.special
        return scipy.special
    import cupyx.scipy.special
    return cupyx.scipy.special


def fft_options(array):
    """Keyword arguments for the FFT calls on this array's device (CPU threads)."""
    return {} if get_array_module(array) is not numpy else {'workers': cpu_workers()}


def cpu_workers():
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def to_device(array, device):
    """Move an array to ``device``; a no-op when it is already there."""
    require_device(device)
    if device == 'cuda':
        return cupy.asarray(array)
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy.asnumpy(array)
    return numpy.asarray(array)


def to_numpy(array):
    return to_device(array, 'cpu')


def synchronize(device=None):
    """Wait for queued GPU work (a no-op on the CPU), so timings measure the work itself."""
    if (device or default_device()) == 'cuda' and cupy is not None:
        cupy.cuda.get_current_stream().synchronize()


MAX_RESERVED_FFT_PLANS = 64  # each cached plan pins a cuFFT work area in device memory


def nccl_module():
    """CuPy's NCCL bindings (``cupy.cuda.nccl``), or None where CuPy or its NCCL support is missing;
    imported lazily, here, so that CuPy stays this module's alone."""
    if cupy is None:
        return None
    try:
        from cupy.cuda import nccl
    except ImportError:
        return None
    return nccl if getattr(nccl, 'available', True) else None


def reserve_fft_plans(count):
    """Grow cuFFT's plan cache (CuPy's, per device) to hold ``count`` plans, at most
    ``MAX_RESERVED_FFT_PLANS``, so plans made in the first training step are reused in every later
    one. Never shrinks it, and leaves an unlimited cache (size -1) unlimited. A no-op without a
    usable GPU."""
    if cupy is None or not cuda_available():
        return
    cache = cupy.fft.config.get_plan_cache()
    size = cache.get_size()
    wanted = min(count, MAX_RESERVED_FFT_PLANS)
    if size != -1 and size < wanted:
        cache.set_size(wanted)
