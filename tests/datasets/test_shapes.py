import numpy

import minifft
from datasets import shapes
from minifft import nn, optim
from minifft import functions as F


def test_deterministic_balanced_and_in_range():
    x, y = shapes.generate(200, seed=3)
    x2, y2 = shapes.generate(200, seed=3)
    numpy.testing.assert_array_equal(x, x2)
    numpy.testing.assert_array_equal(y, y2)
    assert not numpy.array_equal(shapes.generate(200, seed=4)[0], x)
    assert x.shape == (200, 3, 32, 32) and x.dtype == numpy.float32 and 0 <= x.min() and x.max() <= 1
    assert numpy.bincount(y).tolist() == [20] * 10


def test_colour_carries_no_class_information():
    x, y = shapes.generate(2000, seed=0)
    mean_colour = numpy.array([x[y == c].mean(axis=(0, 2, 3)) for c in range(10)])
    assert numpy.ptp(mean_colour, axis=0).max() < 0.08


def test_a_linear_model_does_poorly():
    """The built-in data needs convolution: pixels-to-logits stays far from the CNN's 90%+."""
    (x, y), (xt, yt) = shapes.load(train_size=3000, test_size=1000)
    minifft.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    mean, std = x.mean(), x.std()
    x, xt = (x - mean) / std, (xt - mean) / std
    for _ in range(5):
        for i in range(0, len(x), 100):
            opt.zero_grad()
            F.cross_entropy(model(minifft.tensor(x[i:i + 100])), y[i:i + 100]).backward()
            opt.step()
    accuracy = (model(minifft.tensor(xt)).numpy().argmax(1) == yt).mean()
    assert accuracy < 0.4
