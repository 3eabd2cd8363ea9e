"""Host memory policy: with 'keep' a freed large array's pages are reused without new page faults."""
import subprocess
import sys
import textwrap

import pytest

import minifft
from minifft import config, host_memory

# Allocate, touch and free a 256 MiB array twice; print the minor page faults of each round.
PROBE = textwrap.dedent("""
    import resource, sys
    import numpy
    import minifft
    faults = []
    for _ in range(2):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        a = numpy.ones(64 * 2 ** 20, numpy.float32)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        del a
    print(minifft.host_memory.applied(), *faults)
""")


def _probe(policy):
    out = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True, check=True,
                         env={'MINIFFT_HOST_MEMORY': policy, 'PATH': ''}).stdout.split()
    return out[0], int(out[1]), int(out[2])


needs_glibc = pytest.mark.skipif(host_memory._mallopt() is None, reason="no glibc mallopt here")


@needs_glibc
def test_keep_reuses_freed_pages():
    applied, first, second = _probe('keep')
    assert applied == 'keep'
    assert first > 0 and second < first / 4, (first, second)


@needs_glibc
def test_system_leaves_malloc_alone():
    applied, first, second = _probe('system')
    assert applied == 'None'          # nothing was changed, nothing to undo
    assert second > first / 4, (first, second)   # the freed mapping went back: touched again


@needs_glibc
def test_setting_applies_on_change_and_restores():
    assert host_memory.applied() == config.get('host_memory') == 'keep'
    with config.using(host_memory='system'):
        assert host_memory.applied() == 'system'
    assert host_memory.applied() == 'keep'


def test_bad_policy_names_the_setting(monkeypatch):
    with pytest.raises(ValueError, match="config host_memory: expected 'keep' or 'system'"):
        config.set(host_memory='forever')
    with pytest.raises(ValueError, match="configure: expected one of"):
        host_memory.configure('forever')
    monkeypatch.setenv('MINIFFT_HOST_MEMORY', 'sometimes')
    with pytest.raises(ValueError, match="MINIFFT_HOST_MEMORY: expected 'keep' or 'system'"):
        config.reset('host_memory')   # a setting that acts on the process is read when it changes
    monkeypatch.delenv('MINIFFT_HOST_MEMORY')
    config.reset('host_memory')
    assert minifft.host_memory.applied() == 'keep'
