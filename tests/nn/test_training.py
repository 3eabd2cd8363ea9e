import numpy

import minifft
from minifft import nn, optim
from minifft import functions as F


def test_mlp_learns_xor_like_task(device):
    rng = numpy.random.default_rng(0)
    x = rng.uniform(-1, 1, (256, 2)).astype(numpy.float32)
    labels = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(numpy.int64)  # not linearly separable
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2)).to(device)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    xs, ys = minifft.tensor(x, device=device), minifft.tensor(labels, device=device)
    for _ in range(300):
        opt.zero_grad()
        loss = F.cross_entropy(model(xs), ys)
        loss.backward()
        opt.step()
    accuracy = (model(xs).numpy().argmax(1) == labels).mean()
    assert loss.item() < 0.2 and accuracy > 0.95
