import numpy
import pytest

import minifft
from minifft import nn, optim


class WithBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 3)
        self.register_buffer('count', numpy.zeros((), numpy.int64))
        self.register_buffer('scale', numpy.ones(3, numpy.float32))
        self.register_buffer('scratch', numpy.zeros(5), persistent=False)
        self.register_buffer('absent', None)

    def forward(self, x):
        return self.lin(x) * minifft.tensor(self.scale)


def test_buffers_are_listed_and_saved_in_state_dict():
    m = nn.Sequential(WithBuffers())
    assert [n for n, _ in m.named_buffers()] == ['0.count', '0.scale', '0.scratch']
    assert len(list(m.buffers())) == 3
    # a module's own parameters and persistent buffers, then its children's (as PyTorch);
    # non-persistent and None buffers are not saved
    assert list(m.state_dict()) == ['0.count', '0.scale', '0.lin.weight', '0.lin.bias']
    assert m.state_dict()['0.count'].dtype == numpy.int64


def test_buffer_assignment_replaces_the_array():
    m = WithBuffers()
    m.scale = numpy.full(3, 2.0, numpy.float32)
    numpy.testing.assert_array_equal(m.state_dict()['scale'], [2, 2, 2])
    m.absent = numpy.ones(2)
    assert 'absent' in m.state_dict()


def test_load_state_dict_restores_buffers_and_keeps_dtype():
    a, b = WithBuffers(), WithBuffers()
    a.count += 7
    a.scale[:] = [1, 2, 3]
    b.load_state_dict(a.state_dict())
    assert int(b.count) == 7 and b.count.dtype == numpy.int64
    numpy.testing.assert_array_equal(b.scale, [1, 2, 3])
    assert b.count is not a.count  # copied, not shared


def test_load_state_dict_errors_leave_the_model_untouched():
    a, b = WithBuffers(), WithBuffers()
    a.scale[:] = 5
    before = b.state_dict()
    state = a.state_dict()
    state['scale'] = numpy.ones(4, numpy.float32)  # wrong shape, checked after other keys are valid
    with pytest.raises(ValueError, match=r"'scale' has shape \(4,\) in the state but \(3,\) in the model"):
        b.load_state_dict(state)
    for key, value in b.state_dict().items():
        numpy.testing.assert_array_equal(value, before[key])
    state = a.state_dict()
    del state['count']
    with pytest.raises(KeyError, match=r"missing keys \['count'\]"):
        b.load_state_dict(state)
    state = a.state_dict()
    state['extra'] = numpy.ones(1)
    with pytest.raises(KeyError, match=r"unexpected keys \['extra'\]"):
        b.load_state_dict(state)
    b.load_state_dict({'scale': numpy.full(3, 9, numpy.float32)}, strict=False)
    numpy.testing.assert_array_equal(b.scale, [9, 9, 9])


def test_register_buffer_errors():
    m = nn.Module()
    with pytest.raises(ValueError, match="without '.'"):
        m.register_buffer('a.b', numpy.ones(1))
    with pytest.raises(TypeError, match="buffer 'x' must be a NumPy/CuPy array"):
        m.register_buffer('x', [1, 2])
    m.training_data = 3
    with pytest.raises(KeyError, match="attribute 'training_data' already exists"):
        m.register_buffer('training_data', numpy.ones(1))


def test_to_moves_buffers(device):
    m = WithBuffers().to(device)
    assert all(minifft.backend.device_of(b) == device for b in m.buffers())


def test_checkpoint_round_trip_with_buffers(tmp_path):
    a = WithBuffers()
    a.count += 3
    a.scale[:] = [4, 5, 6]
    minifft.save(tmp_path / 'c.npz', a, optim.SGD(a.parameters(), lr=0.1))
    b = WithBuffers()
    minifft.load(tmp_path / 'c.npz', b)
    assert int(b.count) == 3
    numpy.testing.assert_array_equal(b.scale, [4, 5, 6])
