"""The benchmark scripts run (tiny layers, one repeat): they must not rot between measurements."""
import argparse
import json
import re
import sys
from pathlib import Path

import numpy
import pytest

from minifft import conv

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))

import conv_layers  # noqa: E402
import train_step  # noqa: E402


def test_conv_layers_measures_and_reports():
    peaks = {'gemm_gflops': 10.0, 'fft_gflops': 2.0}
    result = conv_layers.bench_layer((2, 3, 4, 12, 5), numpy, 'cpu', 'float32', repeats=1, with_torch=False)
    # every registered algorithm that runs this 5x5 layer here (winograd takes 3x3 and 5x5)
    g = conv_layers.geometry((2, 3, 4, 12, 5))
    assert result['algorithms'] == [n for n in conv.names('cpu') if conv.get(n).supports(g, 'cpu')]
    assert {'direct', 'fft', 'winograd'} <= set(result['algorithms'])
    for algo in result['algorithms'] + ['auto']:
        assert all(result[algo][p] > 0 for p in conv_layers.PASSES + ('total',))
    assert result['fft_split']['transforms'] > 0 and result['fft_split']['products'] > 0
    assert abs(sum(result['fft_split'].values()) - 1) < 0.05
    assert result['freq_bytes_peak'] > result['freq_bytes_kept'] > 0 and result['fft_pieces'] == 1
    assert result['ops']['direct']['fprop']['gemm'] == 2 * 2 * 3 * 4 * 8 * 8 * 5 * 5
    table = conv_layers.markdown([result], peaks, 'cpu')
    assert '| 2 | 3 | 4 | 12 | 5 |' in table and 'fprop' in table and 'fft/direct' in table
    rows = [line for line in table.splitlines() if line.startswith('|')]
    assert len({line.count('|') for line in rows[:2 + 4]}) == 1   # header, separator, rows: one width


def test_suites_scale():
    assert conv_layers.suite_layers('paper', 1.0)[0] == (128, 3, 96, 32, 11)
    assert conv_layers.suite_layers('cpu', 1.0)[1] == (16, 24, 64, 32, 7)
    assert len(conv_layers.suite_layers('cpu', 0.5)) == 11


def test_train_step_runs(tmp_path):
    train_step.main(['--models', 'lenet', '--batch-size', '2', '--repeats', '1', '--out', str(tmp_path)])
    [row] = json.loads((tmp_path / 'train_step_cpu.json').read_text())['rows']
    assert row['model'] == 'lenet' and set(row['seconds']) == set(conv.names('cpu')) | {'auto'}
    assert all(v > 0 for v in row['seconds'].values()) and row['auto_choices']


@pytest.mark.parametrize('text, layer', [('32,32,64,32,3,2,1', (32, 32, 64, 32, 3, 2, 1)),
                                         ('2,4,4,9,3,1,1,4', (2, 4, 4, 9, 3, 1, 1, 4)), ('1,3,8,5,5', (1, 3, 8, 5, 5))])
def test_layer_argument_accepts_suite_entries(text, layer):
    assert conv_layers.layer_argument(text) == layer


@pytest.mark.parametrize('text, message', [('1,2,3', '5 to 8'), ('1,2,x,4,3', "not an integer: 'x'"),
                                           ('1,2,3,4,9', 'n + 2 pad >= k'), ('1,2,3,4,3,1,0,2', 'groups=2'),
                                           ('1,2,3,4,3,0', 'stride >= 1'), ('0,2,3,4,3', 'S >= 1'),
                                           ('1,2,3,4,3,1,-1', 'padding >= 0')])
def test_layer_argument_rejects_bad_layers_in_one_line(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
        conv_layers.layer_argument(text)


def test_layer_option_runs_only_that_layer(tmp_path, capsys):
    conv_layers.main(['--suite', 'cpu-vs-torch', '--layer', '2,4,4,9,3,2,1', '--repeats', '1', '--no-torch',
                      '--out', str(tmp_path)])
    report = json.loads((tmp_path / 'conv_layers_cpu_cpu-vs-torch_layers.json').read_text())
    assert not (tmp_path / 'conv_layers_cpu_cpu-vs-torch.json').exists()   # the suite's own record stays
    assert [r['shape'] for r in report['layers']] == [[2, 4, 4, 9, 3, 2, 1]]
    with pytest.raises(SystemExit):
        conv_layers.main(['--layer', '1,2,3'])
    assert "argument --layer: expected 5 to 8" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        conv_layers.main(['--suite', 'stride', '--layer', '2,4,4,9,3'])
    assert "the stride suite has its own layer" in capsys.readouterr().err
