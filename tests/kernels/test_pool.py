"""minifft/kernels/pool.h, the C thread pool of direct.c's passes: every task runs exactly once, on
the caller and the workers, from several calling threads at once and after fork()."""
import ctypes
import multiprocessing
import threading

import numpy
import pytest

from minifft.backend import cpu_workers
from minifft.kernels import host
from minifft.conv import direct

pytestmark = pytest.mark.skipif(host.compiler() is None, reason="no C compiler here")


@pytest.fixture
def pool_count():
    """pool_count(tasks, busy_ns) -> (count per task, slot per task) through the pool that
    direct.c's passes use (started as conv/direct.py starts it)."""
    lib = host.library('direct')
    if lib is None:
        pytest.skip("cpu_kernels is 'off'")
    direct._compiled(lib, 'f64')   # starts the pool with cpu_workers() threads
    run = host.function(lib, 'pool_count', ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_long)

    def count(tasks, busy_ns=0):
        out = numpy.zeros((max(tasks, 1), 2), numpy.dtype(ctypes.c_long))
        run(tasks, host.pointer(out), busy_ns)
        return out[:tasks, 0], out[:tasks, 1]
    return count


@pytest.mark.parametrize('tasks', [0, 1, 2, 3, 7, 64, 1000])
def test_every_task_runs_once(pool_count, tasks):
    counts, slots = pool_count(tasks)
    numpy.testing.assert_array_equal(counts, numpy.ones(tasks))
    assert ((slots >= 0) & (slots < cpu_workers())).all()


def test_back_to_back_runs(pool_count):
    """Runs that follow each other closely (workers still spinning, or still inside the last run
    when the next opens) each run every task once."""
    for tasks in [2, 3, 5] * 2000:
        counts, _ = pool_count(tasks)
        assert (counts == 1).all(), tasks


@pytest.mark.skipif(cpu_workers() < 2, reason="one core: no workers")
def test_workers_take_tasks(pool_count):
    """With 40 ms of work in 200 tasks the caller does not run them all alone."""
    _, slots = pool_count(200, busy_ns=200_000)
    assert set(slots.tolist()) - {0}, "no worker took a task"


def test_callers_on_several_threads(pool_count):
    """A second caller while a run is under way runs its tasks alone: every caller's tasks once."""
    results, errors = [], []

    def call():
        try:
            for _ in range(20):
                results.append(pool_count(50, busy_ns=2_000)[0])
        except Exception as error:   # noqa: BLE001 -- surfaced below
            errors.append(error)
    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(results) == 80
    assert all((counts == 1).all() for counts in results)


def _count_in_child(queue):
    lib = host.library('direct')
    run = host.function(lib, 'pool_count', ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_long)
    out = numpy.zeros((200, 2), numpy.dtype(ctypes.c_long))
    run(200, host.pointer(out), 200_000)
    queue.put((out[:, 0].tolist(), set(out[:, 1].tolist())))


@pytest.mark.skipif('fork' not in multiprocessing.get_all_start_methods(), reason="no fork here")
def test_a_forked_child_starts_its_own_workers(pool_count):
    """The parent's workers do not exist in a child: it starts its own (and never waits for the
    parent's)."""
    pool_count(10, busy_ns=10_000)   # the parent's workers started and used
    context = multiprocessing.get_context('fork')
    queue = context.Queue()
    child = context.Process(target=_count_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung in the pool")
    counts, slots = queue.get(timeout=5)
    assert child.exitcode == 0 and counts == [1] * 200
    if cpu_workers() >= 2:
        assert slots - {0}, "the child ran every task on its calling thread: no workers of its own"
