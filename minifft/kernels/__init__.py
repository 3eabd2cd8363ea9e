"""CUDA C sources for RawKernels and their launch code; C sources for the CPU (``.c``), which
host.py builds with the host compiler and loads with ctypes.

Each kernel is one ``.cu`` file beside this module with thin ``extern "C"`` entry points per
template instantiation (dtype, and e.g. conjugation flags); the launch code validates in Python,
picks the entry point, builds the module once and memoises it.
"""
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent


def source(name):
    """The text of ``<name>.cu``."""
    return (SOURCE_DIR / f"{name}.cu").read_text()
