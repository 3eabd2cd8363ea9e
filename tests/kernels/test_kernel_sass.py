"""The kernel's sm_90 machine code (no GPU needed): nvcc compiles it, cuobjdump disassembles it,
and the inner loop must be the FFMA-bound GEMM loop the design promises."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'benchmarks'))

import kernel_sass  # noqa: E402

pytestmark = pytest.mark.skipif(kernel_sass.find_tool('nvcc') is None,
                                reason="nvcc is not installed")


@pytest.fixture(scope='module')
def report():
    return kernel_sass.analyse(kernel_sass.KERNEL.read_text())


@pytest.fixture(scope='module')
def old_loads_per_fma():
    """Version 1's global loads per FMA, measured from git where the history is at hand."""
    source = kernel_sass.old_source()
    if source is None:
        return kernel_sass.OLD_GLOBAL_LOADS_PER_FMA
    old = kernel_sass.analyse(source)
    measured = {dtype: old[f'spectral_product_{dtype}']['global_loads_per_fma']
                for dtype in ('complex64', 'complex128')}
    assert measured == kernel_sass.OLD_GLOBAL_LOADS_PER_FMA  # the recorded figures are the measured ones
    return measured


def test_every_entry_point_is_an_fma_bound_loop_without_spills(report, old_loads_per_fma):
    assert len(report) == 12
    for name, r in report.items():
        dtype = 'complex128' if 'complex128' in name else 'complex64'
        assert r['fma_share'] >= 0.75, (name, r['counts'])
        assert r['spill_instructions'] == 0 and r['stack_bytes'] == 0 and r['local_bytes'] == 0, name
        assert r['global_loads_per_fma'] * 4 <= old_loads_per_fma[dtype], name
        # the loop found is the shared-memory GEMM loop: staged through shared memory between barriers
        assert r['counts'].get('BAR', 0) == 2 and r['counts'].get('STS', 0) > 0, name
        # only FMAs in the arithmetic: no FMUL/FADD left from a complex multiply split apart
        assert not {'FMUL', 'FADD', 'DMUL', 'DADD'} & set(r['counts']), (name, r['counts'])


def test_instruction_classes_are_counted_as_documented():
    body = [(0, 'FFMA', '', ''), (1, 'FFMA', '', ''), (2, 'LDS', '.64', ''), (3, 'LDG', '.E', ''),
            (4, 'IADD3', '', ''), (5, 'STS', '', ''), (6, 'BAR', '.SYNC', ''), (7, 'BRA', '', '0x0')]
    mix = kernel_sass.loop_mix(body)
    assert mix['fma_share'] == 2 / 5 and mix['global_loads_per_fma'] == 0.5 and mix['shared_loads_per_fma'] == 0.5
