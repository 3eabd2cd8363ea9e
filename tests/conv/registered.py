"""The algorithms the reference tests run: every registered one, read at collection time, so an
algorithm registered before collection (see test_registry.py) is tested everywhere."""
import pytest

from minifft import backend, conv


def algorithms():
    return list(conv.names())


def require(algo, device):
    """Skip unless ``algo`` runs on ``device`` (e.g. the cuBLAS product is GPU-only)."""
    if algo not in conv.names(device):
        pytest.skip(f"{algo} does not run on {device}")


def arrays_on(device, *arrays):
    return [backend.to_device(a, device) for a in arrays]
