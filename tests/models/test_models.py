import numpy
import pytest

import minifft
import models


@pytest.mark.parametrize('name,shape', [('lenet', (1, 28, 28)), ('lenet', (1, 32, 32)), ('cifar', (3, 32, 32)),
                                        ('small', (3, 32, 32)), ('linear', (3, 32, 32))])
def test_models_build_and_run(name, shape):
    model = models.build(name, shape, 10)
    y = model(minifft.tensor(numpy.zeros((2,) + shape, numpy.float32)))
    assert y.shape == (2, 10)


def test_every_convolution_follows_the_one_setting():
    model = models.build('cifar', (3, 32, 32), 10)
    convs = [m for m in model.modules() if isinstance(m, minifft.nn.Conv2d)]
    assert len(convs) == 3 and all(m.algo is None for m in convs)


def test_unknown_model():
    with pytest.raises(ValueError, match=r"unknown model 'vgg'; expected one of \['cifar'"):
        models.build('vgg', (3, 32, 32), 10)


@pytest.mark.parametrize('name,side', [('small', 8), ('lenet', 12), ('cifar', 8), ('linear', 1)])
def test_min_input_size(name, side):
    assert models.min_input_size(name, 1, 10) == side
    models.build(name, (1, side, side), 10)
    if side > 1:
        with pytest.raises(ValueError):
            models.build(name, (1, side - 1, side - 1), 10)


@pytest.mark.parametrize('name,blocks', [('resnet', 3), ('resnet20', 9)])
def test_resnet_shapes_depth_and_buffers(name, blocks, rng):
    model = models.build(name, (3, 32, 32), 10)
    assert len(model.stages) == blocks
    convs = [m for m in model.modules() if isinstance(m, minifft.nn.Conv2d)]
    assert len(convs) == 2 * blocks + 1 + 2  # blocks, stem, two 1x1 projection shortcuts
    assert sum(isinstance(m, minifft.nn.BatchNorm2d) for m in model.modules()) == len(convs)
    assert all(m.kernel_size in ((3, 3), (1, 1)) and m.bias is None for m in convs)
    assert any(k.endswith('running_var') for k in model.state_dict())
    x = minifft.tensor(rng.standard_normal((2, 3, 32, 32)).astype(numpy.float32))
    y = model(x)
    assert y.shape == (2, 10)
    y.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    numpy.testing.assert_allclose(model(x).numpy(), model(x).numpy())  # eval: no batch statistics


def test_resnet_learns_a_small_batch(rng):
    """A few Adam steps on one batch must drive its loss down (BN, shortcuts and pooling all train)."""
    model = models.build('resnet', (3, 16, 16), 4)
    opt = minifft.optim.Adam(model.parameters(), lr=0.01)
    x = minifft.tensor(rng.standard_normal((8, 3, 16, 16)).astype(numpy.float32))
    y = numpy.arange(8) % 4
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = minifft.F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses
