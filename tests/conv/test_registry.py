"""Registering an algorithm is all it takes: the reference suite, auto, train.py --conv/--compare and
the benchmarks pick it up, and unregistering restores everything."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

import train
from minifft import Tensor, config, conv, nn
from minifft import functions as F
from minifft.conv import auto
from tests.conv.throwaway import DirectCopy

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_SUITE = ['tests/conv/test_algorithms.py', 'tests/conv/test_groups.py', 'tests/conv/test_conv_layer.py']


@pytest.fixture
def registered():
    saved = config.snapshot()
    auto.reset()
    conv.register(DirectCopy)
    yield 'direct-copy'
    conv.unregister('direct-copy')
    auto.reset()
    config.restore(saved)


def run_reference_suite(variant, name):
    env = dict(os.environ, MINIFFT_TEST_THROWAWAY=variant)
    return subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-p', 'tests.conv.throwaway',
                           '-k', name, *REFERENCE_SUITE], cwd=ROOT, env=env, capture_output=True, text=True)


def test_the_reference_suite_runs_a_registered_algorithm():
    result = run_reference_suite('good', 'direct-copy')
    assert result.returncode == 0, result.stdout[-3000:]
    passed = int(result.stdout.strip().splitlines()[-1].split()[0])
    assert passed >= 60, result.stdout[-500:]   # every reference case, not a handful


def test_the_reference_suite_catches_a_wrong_registered_algorithm():
    result = run_reference_suite('wrong', 'direct-wrong')
    assert result.returncode == 1 and 'failed' in result.stdout.splitlines()[-1], result.stdout[-3000:]


def test_register_validates():
    with pytest.raises(ValueError, match="register: an algorithm named 'direct' is already registered"):
        conv.register(conv.DirectConvolution())
    with pytest.raises(ValueError, match="other than 'auto'"):
        conv.register(type('Auto', (conv.DirectConvolution,), {'name': 'auto'}))
    with pytest.raises(TypeError, match="expected a ConvAlgorithm subclass or instance"):
        conv.register(object())
    with pytest.raises(ValueError, match="unregister: unknown algo 'nope'"):
        conv.unregister('nope')


def test_names_everywhere_follow_the_registry(registered, rng):
    assert registered in conv.names() and registered in conv.choices()
    assert train.parse_args(['--conv', registered]).conv == registered
    layer = nn.Conv2d(2, 3, 3, algo=registered)
    w = layer.weight
    y = layer(Tensor(rng.standard_normal((1, 2, 6, 6)).astype(numpy.float32)))
    assert y.creator.algorithm.name == registered and w.shape == (3, 2, 3, 3)
    with config.using(conv_algorithm=registered):
        assert conv.default_algorithm() == registered
    conv.unregister(registered)
    try:
        assert registered not in conv.choices()
        with pytest.raises(SystemExit):
            train.parse_args(['--conv', registered])
        with pytest.raises(ValueError, match=f"conv2d: unknown algo '{registered}'"):
            F.conv2d(Tensor(numpy.zeros((1, 1, 4, 4))), Tensor(numpy.zeros((1, 1, 3, 3))), algo=registered)
    finally:
        conv.register(DirectCopy)


def test_auto_times_and_can_choose_a_registered_algorithm(registered, rng, monkeypatch):
    timed = []
    real = auto._timed_steps
    monkeypatch.setattr(auto, '_timed_steps', lambda algo, *a, **k: timed.append(algo.name) or real(algo, *a, **k))
    x = Tensor(rng.standard_normal((2, 2, 8, 8)).astype(numpy.float32))
    w = Tensor(rng.standard_normal((3, 2, 3, 3)).astype(numpy.float32), requires_grad=True)
    F.conv2d(x, w, algo='auto')
    # every registered algorithm but fft-tiled, which is one whole tile here (the fft's work)
    assert registered in timed and set(timed) == set(conv.names('cpu')) - {'fft-tiled'}
    [entry] = auto.plan()
    auto.reset()
    auto.set_plan([dict(entry, choice=registered)])
    assert F.conv2d(x, w, algo='auto').creator.algorithm.name == registered
    conv.unregister(registered)
    try:
        auto.reset()
        timed.clear()
        F.conv2d(x, w, algo='auto')
        assert registered not in timed and set(timed) == set(conv.names('cpu')) - {'fft-tiled'}
    finally:
        conv.register(DirectCopy)


def test_compare_runs_a_registered_algorithm(registered, tmp_path, capsys):
    out = tmp_path / 'compare'
    args = ['--quiet', '--device', 'cpu', '--compare', '--compare-steps', '2', '--limit', '32', '--batch-size', '16']
    assert train.main([*args, '--out', str(out)]) == 0
    runs = json.loads((out / 'compare.json').read_text())['runs']
    assert registered in runs and sorted(runs) == sorted(conv.names('cpu'))
    assert runs[registered]['losses'] == runs['direct']['losses']   # a copy of direct: the same numbers
    assert f"{registered}/direct" in capsys.readouterr().out
    conv.unregister(registered)
    try:
        assert train.main([*args, '--out', str(tmp_path / 'again')]) == 0
        assert registered not in json.loads((tmp_path / 'again' / 'compare.json').read_text())['runs']
    finally:
        conv.register(DirectCopy)


def test_the_benchmarks_time_a_registered_algorithm(registered):
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    import conv_layers
    result = conv_layers.bench_layer((2, 2, 3, 8, 3), numpy, 'cpu', 'float32', repeats=1, with_torch=False)
    assert registered in result['algorithms'] and result[registered]['total'] > 0
    assert result['ops'][registered] == result['ops']['direct']
