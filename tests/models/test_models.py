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
