import json

import numpy
import pytest

from minifft import Tensor
from minifft import functions as F
from minifft import random
from minifft.backend import to_device
from minifft.testing import check_backward


def test_dropout_scales_kept_units_and_is_identity_in_eval(device):
    x = Tensor(numpy.ones((200, 50)), device=device)
    y = F.dropout(x, 0.3).numpy()
    assert set(numpy.unique(y)) <= {0.0, 1 / 0.7}
    assert abs((y == 0).mean() - 0.3) < 0.02
    assert F.dropout(x, 0.3, training=False) is x


def test_dropout_gradient_uses_the_same_mask(rng, device):
    state = random.get_state()

    def fn(t):
        random.set_state(state)  # the same mask for every evaluation of the finite differences
        return F.dropout(t, 0.5)
    check_backward(fn, [to_device(rng.standard_normal((4, 6)), device)])


def test_dropout_bad_p():
    with pytest.raises(ValueError, match=r"dropout: expected probability p in \[0, 1\)"):
        F.dropout(Tensor(numpy.ones(2)), 1.0)


def test_dropout_masks_are_drawn_on_the_device_and_match_the_cpu(device):
    masks = {}
    for d in ('cpu', device):
        random.manual_seed(5)
        x = Tensor(numpy.ones((64, 33)), device=d)
        masks[d] = (F.dropout(x, 0.4) * F.dropout(x, 0.4)).numpy()
    numpy.testing.assert_array_equal(masks['cpu'], masks[device])
    assert 0.3 < (masks['cpu'] == 0).mean() < 0.9


def test_dropout_state_restores_exactly(device):
    x = Tensor(numpy.ones((16, 8)), device=device)
    F.dropout(x, 0.5)
    state = random.get_state()
    first = F.dropout(x, 0.5).numpy()
    F.dropout(x, 0.5)
    random.set_state(state)
    numpy.testing.assert_array_equal(F.dropout(x, 0.5).numpy(), first)
    assert json.loads(json.dumps(state)) == state  # checkpoints store it as JSON


def test_dropout_forward_makes_no_host_reads(host_reads):
    x = Tensor(numpy.ones((8, 8), numpy.float32), device='cuda', requires_grad=True)
    F.dropout(x, 0.5).sum().backward()
    assert host_reads() == 0
