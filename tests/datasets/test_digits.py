import builtins

import numpy
import pytest

from datasets import DatasetError, digits


def test_digits_with_scikit_learn():
    pytest.importorskip('sklearn')
    (x, y), (xt, yt) = digits.load()
    assert x.shape[1:] == (1, 32, 32) and len(x) + len(xt) == 1797 and x.dtype == numpy.float32


def test_clear_message_without_scikit_learn(monkeypatch):
    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith('sklearn'):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, '__import__', no_sklearn)
    with pytest.raises(DatasetError, match=r"digits: needs scikit-learn.*pip install scikit-learn"):
        digits.load()
