import numpy
import pytest

from minifft import Tensor
from minifft import functions as F
from minifft import random
from minifft.testing import check_backward


def test_dropout_scales_kept_units_and_is_identity_in_eval():
    x = Tensor(numpy.ones((200, 50)))
    y = F.dropout(x, 0.3).numpy()
    assert set(numpy.unique(y)) <= {0.0, 1 / 0.7}
    assert abs((y == 0).mean() - 0.3) < 0.02
    assert F.dropout(x, 0.3, training=False) is x


def test_dropout_gradient_uses_the_same_mask(rng):
    state = random.get_state()

    def fn(t):
        random.set_state(state)  # the same mask for every evaluation of the finite differences
        return F.dropout(t, 0.5)
    check_backward(fn, [rng.standard_normal((4, 6))])


def test_dropout_bad_p():
    with pytest.raises(ValueError, match=r"dropout: expected probability p in \[0, 1\)"):
        F.dropout(Tensor(numpy.ones(2)), 1.0)
