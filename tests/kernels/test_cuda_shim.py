"""The CPU shim itself: __shared__ and __syncthreads() keep their CUDA meaning, and a barrier that
not every thread of a block reaches stops the run with a message instead of hanging."""
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def build(directory, *defines):
    gxx = shutil.which('g++')
    if gxx is None:
        pytest.skip("g++ is not installed")
    program = directory / ('run' + ''.join(defines).replace('-D', '_'))
    subprocess.run([gxx, '-O1', '-std=c++14', *defines, '-I', str(HERE), str(HERE / 'run_barrier_kernels.cpp'),
                    '-o', str(program)], check=True)
    return program


def run(program, kernel):
    return subprocess.run([str(program), kernel], capture_output=True, text=True, timeout=60)


def test_shared_memory_and_barrier_order_the_threads_of_a_block(tmp_path):
    done = run(build(tmp_path), 'reverse_in_block')
    assert done.returncode == 0 and done.stdout.split() == ['wrong', '0']


def test_a_kernel_that_needs_its_barrier_is_wrong_without_it(tmp_path):
    # the same kernel with __syncthreads() compiled away: threads read slots not yet written
    done = run(build(tmp_path, '-DMINIFFT_SHIM_NO_BARRIER'), 'reverse_in_block')
    assert done.returncode == 0 and int(done.stdout.split()[1]) > 0


@pytest.mark.parametrize('kernel,message', [
    ('early_return', 'barrier not reached by every thread (some returned): 63 of 64 threads wait'),
    ('split_barrier', 'threads wait at different barriers'),
])
def test_a_barrier_not_reached_by_every_thread_aborts(tmp_path, kernel, message):
    done = run(build(tmp_path), kernel)
    assert done.returncode != 0 and message in done.stderr
