import numpy
import pytest

import minifft
from minifft import backend, nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(8, 2, bias=False)

    def forward(self, x):
        return self.head(self.body(x))


def test_parameters_registered_in_order():
    names = [n for n, _ in Net().named_parameters()]
    assert names == ['body.0.weight', 'body.0.bias', 'head.weight']


def test_train_eval_propagates():
    net = Net().eval()
    assert not any(m.training for m in net.modules())
    assert all(m.training for m in net.train().modules())


def test_state_dict_round_trip_and_errors(device):
    a, b = Net().to(device), Net().to(device)
    b.load_state_dict(a.state_dict())
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert q.device == device
        numpy.testing.assert_array_equal(p.numpy(), q.numpy())
    state = a.state_dict()
    del state['head.weight']
    with pytest.raises(KeyError, match=r"missing keys \['head.weight'\]"):
        b.load_state_dict(state)
    state = a.state_dict()
    state['head.weight'] = numpy.zeros((3, 3), numpy.float32)
    with pytest.raises(ValueError, match=r"'head.weight' has shape \(3, 3\) in the state but \(2, 8\)"):
        b.load_state_dict(state)


def test_initialisation_is_kaiming_uniform_and_seeded():
    minifft.manual_seed(3)
    first = nn.Linear(100, 50)
    minifft.manual_seed(3)
    second = nn.Linear(100, 50)
    numpy.testing.assert_array_equal(first.weight.data, second.weight.data)
    bound = 1 / numpy.sqrt(100)  # kaiming_uniform(a=sqrt(5)) reduces to 1/sqrt(fan_in)
    assert numpy.abs(first.weight.data).max() <= bound
    assert numpy.abs(first.weight.data).max() > 0.95 * bound
    assert first.weight.dtype == numpy.float32


def test_zero_grad_and_to(device):
    net = Net().to(device)
    net(minifft.tensor(numpy.ones((3, 4), numpy.float32), device=device)).sum().backward()
    assert all(p.grad is not None and backend.device_of(p.grad) == device for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert net.to(device) is net and all(p.device == device for p in net.parameters())
    assert 'Linear(4, 8, bias=True)' in repr(net)
