"""The benchmarks time through minifft's own timing loop (minifft/conv/timing.py)."""
from minifft.conv.timing import median_seconds  # noqa: F401
