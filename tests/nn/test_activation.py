import numpy

import minifft
from minifft import backend, nn
from minifft.testing import check_backward


def test_layers_wrap_their_functions_and_check_gradients(rng, device):
    x = backend.to_device(rng.standard_normal((2, 3, 4, 4)) + 0.01, device)
    for layer in (nn.Identity(), nn.LeakyReLU(0.3), nn.GELU(), nn.GELU('tanh'), nn.AdaptiveAvgPool2d(1),
                  nn.AdaptiveAvgPool2d((2, 3))):
        check_backward(layer, [x])
    assert nn.AdaptiveAvgPool2d(1)(minifft.tensor(x)).shape == (2, 3, 1, 1)
    t = minifft.tensor(x)
    assert nn.Identity(54, unused=1)(t) is t
    assert 'negative_slope=0.3' in repr(nn.LeakyReLU(0.3)) and "approximate='tanh'" in repr(nn.GELU('tanh'))


def test_leaky_relu_layer_values():
    y = nn.LeakyReLU(0.5)(minifft.tensor(numpy.array([-2.0, 4.0]))).numpy()
    numpy.testing.assert_array_equal(y, [-1.0, 4.0])
