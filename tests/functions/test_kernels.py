"""minifft/functions/_kernels.py: run_rows covers every row once, on the calling thread alone
below PARALLEL_MIN_WORK and on the pool (the caller taking the first chunk) above it, and passes
on an error from any chunk."""
import threading

import pytest

from minifft.conv.spectral import cpu_thread_pool
from minifft.functions import _kernels


def _record(rows, work):
    seen, lock = [], threading.Lock()

    def run(lo, hi):
        with lock:
            seen.append((lo, hi, threading.get_ident()))
    _kernels.run_rows(run, rows, work)
    return seen


@pytest.mark.parametrize('rows', [1, 2, 3, 17])
def test_rows_covered_once(rows, monkeypatch):
    monkeypatch.setattr(_kernels, 'PARALLEL_MIN_WORK', 10)
    for work in (9, 10):
        seen = _record(rows, work)
        covered = sorted(r for lo, hi, _ in seen for r in range(lo, hi))
        assert covered == list(range(rows))
        caller = [t for lo, hi, t in seen if lo == 0]
        assert caller == [threading.get_ident()]   # the first chunk runs on the calling thread
        if work < 10 or rows < 2 or cpu_thread_pool() is None:
            assert len(seen) == 1
        else:
            assert len(seen) == min(rows, cpu_thread_pool()[2])


@pytest.mark.parametrize('failing', ['first', 'last'])
def test_an_error_in_any_chunk_is_raised(failing, monkeypatch):
    if cpu_thread_pool() is None:
        pytest.skip("no CPU thread pool here (one core or no threadpoolctl)")
    monkeypatch.setattr(_kernels, 'PARALLEL_MIN_WORK', 0)
    done = []

    def run(lo, hi):
        if (lo == 0) if failing == 'first' else (hi == 4):
            raise ValueError(f"chunk at {lo}")
        done.append(lo)
    with pytest.raises(ValueError, match="chunk at"):
        _kernels.run_rows(run, 4, 4)
    assert len(done) == min(4, cpu_thread_pool()[2]) - 1   # the other chunks ran to their ends first
