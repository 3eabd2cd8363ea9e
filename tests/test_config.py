"""minifft.config: one place for the settings, each environment variable read and checked once."""
import numpy
import pytest

from minifft import backend, config, conv


def test_environment_is_read_once(monkeypatch):
    monkeypatch.setenv('MINIFFT_CONV_ALGO', 'direct')
    config.reset()
    assert config.get('conv_algorithm') == 'direct'
    monkeypatch.setenv('MINIFFT_CONV_ALGO', 'fft')       # changed after the first read: not seen
    assert config.get('conv_algorithm') == 'direct'
    config.reset('conv_algorithm')
    assert config.get('conv_algorithm') == 'fft'


@pytest.mark.parametrize('variable,value,message', [
    ('MINIFFT_CONV_ALGO', 'im2win', r"MINIFFT_CONV_ALGO: unknown algo 'im2win'; expected one of"),
    ('MINIFFT_CONV_WORKSPACE', '-3M', r"MINIFFT_CONV_WORKSPACE: expected a byte count"),
    ('MINIFFT_CONV_AUTOTUNE', '2', r"MINIFFT_CONV_AUTOTUNE: expected one of 1, true"),
    ('MINIFFT_DEVICE', 'gpu', r"MINIFFT_DEVICE: expected one of \('auto', 'cpu', 'cuda'\)"),
    ('MINIFFT_CPU_KERNELS', 'fast', r"MINIFFT_CPU_KERNELS: expected one of \('auto', 'on', 'off'\), got 'fast'"),
])
def test_bad_environment_values_name_the_variable(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    config.reset()
    name = {v[0]: k for k, v in config.SETTINGS.items()}[variable]
    with pytest.raises(ValueError, match=message):
        config.get(name)


def test_using_restores_every_setting_even_on_error():
    before = {name: config.get(name) for name in config.SETTINGS}
    with pytest.raises(RuntimeError):
        with config.using(conv_algorithm='direct', workspace_limit='1M', autotune=False, dtype='float64'):
            assert conv.default_algorithm() == 'direct' and conv.workspace_limit() == 2 ** 20
            assert backend.default_dtype() == numpy.float64 and not conv.auto.autotune_enabled()
            raise RuntimeError
    assert {name: config.get(name) for name in config.SETTINGS} == before


def test_set_checks_every_value_before_storing_any():
    config.set(conv_algorithm='fft')
    with pytest.raises(ValueError, match="config workspace_limit: expected a positive byte count, got 0"):
        config.set(conv_algorithm='direct', workspace_limit=0)
    assert config.get('conv_algorithm') == 'fft'
    with pytest.raises(ValueError, match="config.set: unknown setting 'colour'"):
        config.set(colour='red')
    with pytest.raises(TypeError, match="config dtype: expected a floating dtype, got int64"):
        backend.set_default_dtype('int64')


def test_backend_defaults_read_and_write_config():
    backend.set_default_dtype('float64')
    assert config.get('dtype') == numpy.float64 == backend.default_dtype()
    backend.set_default_device('cpu')
    assert config.get('device') == 'cpu' == backend.default_device()
