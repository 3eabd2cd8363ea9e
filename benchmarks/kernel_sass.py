"""Machine code of the spectral-product RawKernel: compile for sm_90, disassemble, read the inner loop.

    python benchmarks/kernel_sass.py [--old-commit REV] [--arch sm_90]

Compiles minifft/kernels/spectral_product.cu (and the version-1 kernel from git, for comparison)
with `nvcc -cubin`, disassembles it with `cuobjdump -sass` and reports, per entry point, the inner
loop's instruction mix: the loop is the backward branch whose body holds the most FFMA (DFMA for
complex128). Needs no GPU. cuobjdump comes from the CUDA toolkit or from the PyPI wheels
`nvidia-cuda-cuobjdump` + `nvidia-cuda-nvdisasm` (the test extra installs them).

Instruction classes: loads are LDG (global), LDS (shared), LDC/ULDC (constant), LDL (local:
spills); stores and control (branches, barriers, NOP, EXIT) are left out; everything else is
arithmetic, moves included. FFMA share = FFMA / (arithmetic + loads).
"""
import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNEL = ROOT / 'minifft' / 'kernels' / 'spectral_product.cu'
# main before version 2: the per-thread kernel without shared memory
OLD_COMMIT = 'f1122f4745daad1f0948f808b8cfa1dead05e9ce'
# The version-1 figures, measured by this script from OLD_COMMIT (nvcc 13.0, sm_90), for checks
# where the git history is not at hand (a shallow CI clone).
OLD_GLOBAL_LOADS_PER_FMA = {'complex64': 0.25, 'complex128': 0.25}

LOADS = ('LDG', 'LDS', 'LDC', 'ULDC', 'LDL', 'LD', 'LDSM')
STORES = ('STG', 'STS', 'STL', 'ST')
CONTROL = ('BRA', 'BAR', 'EXIT', 'NOP', 'BSSY', 'BSYNC', 'WARPSYNC', 'DEPBAR', 'RET', 'CALL', 'JMP')
LINE = re.compile(r'/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P[0-9T]\s+)?([A-Z0-9_]+)((?:\.[A-Z0-9_]+)*)\s*([^;]*);')


def find_tool(name):
    """A CUDA tool on PATH, in /usr/local/cuda/bin, or inside an installed nvidia-* wheel."""
    found = shutil.which(name) or shutil.which(name, path='/usr/local/cuda/bin')
    if found:
        return found
    try:
        import nvidia
    except ImportError:
        return None
    for base in nvidia.__path__:
        for candidate in sorted(Path(base).glob(f'**/bin/{name}')):
            return str(candidate)
    return None


def compile_cubin(source, out_dir, arch='sm_90'):
    """(cubin path, ptxas report) of a .cu source text."""
    nvcc = find_tool('nvcc')
    if nvcc is None:
        raise FileNotFoundError("kernel_sass: nvcc not found on PATH or in /usr/local/cuda/bin")
    cu = Path(out_dir) / 'kernel.cu'
    cu.write_text(source)
    cubin = Path(out_dir) / 'kernel.cubin'
    done = subprocess.run([nvcc, '-cubin', f'-arch={arch}', '--std=c++14', '-Xptxas', '-v', '-o', str(cubin),
                           str(cu)], check=True, capture_output=True, text=True)
    return cubin, done.stderr


def disassemble(cubin):
    """{function name: [(address, opcode, modifiers, operands)]} from cuobjdump -sass."""
    cuobjdump, nvdisasm = find_tool('cuobjdump'), find_tool('nvdisasm')
    if cuobjdump is None or nvdisasm is None:
        raise FileNotFoundError("kernel_sass: cuobjdump/nvdisasm not found; pip install nvidia-cuda-cuobjdump "
                                "nvidia-cuda-nvdisasm")
    env = {'PATH': str(Path(nvdisasm).parent) + ':' + '/usr/bin:/bin'}
    text = subprocess.run([cuobjdump, '-sass', str(cubin)], check=True, capture_output=True, text=True,
                          env=env).stdout
    functions, current = {}, None
    for line in text.splitlines():
        header = re.search(r'Function : (\S+)', line)
        if header:
            current = functions.setdefault(header.group(1), [])
            continue
        match = LINE.search(line)
        if match and current is not None:
            address, opcode, modifiers, operands = match.groups()
            current.append((int(address, 16), opcode, modifiers, operands.strip()))
    return functions


def resource_usage(cubin):
    """{function name: {'REG': registers, 'STACK': bytes, 'LOCAL': bytes, 'SHARED': bytes}}."""
    text = subprocess.run([find_tool('cuobjdump'), '-res-usage', str(cubin)], check=True, capture_output=True,
                          text=True).stdout
    usage, name = {}, None
    for line in text.splitlines():
        header = re.search(r'Function (\S+):', line)
        if header:
            name = header.group(1)
        elif name and 'REG:' in line:
            usage[name] = {key: int(value) for key, value in re.findall(r'(REG|STACK|LOCAL|SHARED):(\d+)', line)}
    return usage


def inner_loop(instructions, fma='FFMA'):
    """The instructions of the loop (backward branch) whose body holds the most `fma`."""
    best, best_count = None, -1
    for address, opcode, _, operands in instructions:
        if opcode != 'BRA':
            continue
        target = int(re.search(r'0x([0-9a-f]+)', operands).group(1), 16)
        if target >= address:
            continue
        body = [ins for ins in instructions if target <= ins[0] <= address]
        count = sum(ins[1] == fma for ins in body)
        if count > best_count:
            best, best_count = body, count
    if best is None:
        raise ValueError("kernel_sass: no loop (backward branch) in the function")
    return best


def loop_mix(body, fma='FFMA'):
    """Instruction mix of a loop body: counts and the ratios the issue asks for."""
    counts = {}
    for _, opcode, _, _ in body:
        counts[opcode] = counts.get(opcode, 0) + 1
    loads = sum(n for op, n in counts.items() if op in LOADS)
    arithmetic = sum(n for op, n in counts.items() if op not in LOADS + STORES + CONTROL)
    fmas = counts.get(fma, 0)
    return {
        'instructions': len(body), 'fma': fmas, 'arithmetic': arithmetic, 'loads': loads,
        'fma_share': fmas / (arithmetic + loads),
        'global_loads_per_fma': counts.get('LDG', 0) / fmas,
        'shared_loads_per_fma': counts.get('LDS', 0) / fmas,
        'spill_instructions': counts.get('LDL', 0) + counts.get('STL', 0),
        'counts': dict(sorted(counts.items(), key=lambda item: -item[1])),
    }


def analyse(source, arch='sm_90'):
    """{function: loop_mix(...) plus registers and stack/local bytes} for every entry point."""
    with tempfile.TemporaryDirectory() as tmp:
        cubin, _ = compile_cubin(source, tmp, arch)
        functions = disassemble(cubin)
        usage = resource_usage(cubin)
    report = {}
    for name, instructions in functions.items():
        fma = 'DFMA' if 'complex128' in name else 'FFMA'
        mix = loop_mix(inner_loop(instructions, fma), fma)
        mix.update(registers=usage[name]['REG'], stack_bytes=usage[name]['STACK'],
                   local_bytes=usage[name]['LOCAL'], shared_bytes=usage[name].get('SHARED', 0))
        report[name] = mix
    return report


def old_source(commit=OLD_COMMIT):
    """The version-1 kernel from the git history, or None without it (shallow clone, no git)."""
    try:
        return subprocess.run(['git', 'show', f'{commit}:minifft/kernels/spectral_product.cu'], cwd=ROOT,
                              check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def markdown(reports):
    rows = ['| kernel | entry point | regs | stack+local B | smem B | loop instr | FMA | FMA share '
            '| LDG / FMA | LDS / FMA |', '|' + '---|' * 10]
    for label, report in reports:
        for name, r in sorted(report.items()):
            rows.append(f"| {label} | {name} | {r['registers']} | {r['stack_bytes'] + r['local_bytes']} "
                        f"| {r['shared_bytes']} | {r['instructions']} | {r['fma']} | {r['fma_share']:.1%} "
                        f"| {r['global_loads_per_fma']:.4f} | {r['shared_loads_per_fma']:.4f} |")
    return '\n'.join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--old-commit', default=OLD_COMMIT, help="git revision of the version-1 kernel")
    parser.add_argument('--arch', default='sm_90')
    parser.add_argument('--mix', action='store_true', help="also print each loop's opcode counts")
    args = parser.parse_args(argv)
    reports = []
    old = old_source(args.old_commit)
    if old is None:
        print(f"(version-1 kernel not found at git {args.old_commit}; showing version 2 only)", file=sys.stderr)
    else:
        reports.append(('v1 ' + args.old_commit[:7], analyse(old, args.arch)))
    reports.append(('v2 (working tree)', analyse(KERNEL.read_text(), args.arch)))
    print(markdown(reports))
    if args.mix:
        for label, report in reports:
            for name, r in sorted(report.items()):
                print(f"\n{label} {name}: " + ', '.join(f'{op} {n}' for op, n in r['counts'].items()))
    if len(reports) == 2:
        print()
        for dtype in ('complex64', 'complex128'):
            before = reports[0][1][f'spectral_product_{dtype}']['global_loads_per_fma']
            after = min(r['global_loads_per_fma'] for n, r in reports[1][1].items() if dtype + '_' in n)
            print(f"{dtype}: global loads per FMA {before:.4f} -> {after:.4f} ({before / after:.0f}x fewer)")


if __name__ == '__main__':
    main()
