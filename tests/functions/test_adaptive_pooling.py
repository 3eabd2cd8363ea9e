import numpy
import pytest

from minifft import Tensor, backend
from minifft import functions as F
from minifft.testing import check_backward


def naive_adaptive_avg(x, oh, ow):
    """PyTorch's windows: rows floor(i*H/oh) to ceil((i+1)*H/oh), written out per output cell."""
    n, c, h, w = x.shape
    y = numpy.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, r1 = int(numpy.floor(i * h / oh)), int(numpy.ceil((i + 1) * h / oh))
            c0, c1 = int(numpy.floor(j * w / ow)), int(numpy.ceil((j + 1) * w / ow))
            y[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return y


@pytest.mark.parametrize('in_hw,out', [((6, 4), 1), ((6, 4), (3, 2)), ((6, 4), (6, 4)), ((5, 7), (3, 2)),
                                       ((5, 7), (None, 3)), ((4, 4), (4, 1))])
def test_adaptive_avg_pool(in_hw, out, rng, device):
    x = rng.standard_normal((2, 3) + in_hw)
    size = (out, out) if isinstance(out, int) else tuple(in_hw[i] if s is None else s for i, s in enumerate(out))
    y = F.adaptive_avg_pool2d(Tensor(backend.to_device(x, device)), out)
    assert y.shape == (2, 3) + size and y.device == device
    numpy.testing.assert_allclose(y.numpy(), naive_adaptive_avg(x, *size), rtol=1e-12)
    check_backward(lambda t: F.adaptive_avg_pool2d(t, out), [backend.to_device(x, device)])


def test_global_pooling_is_the_spatial_mean(rng):
    x = rng.standard_normal((2, 3, 5, 5)).astype(numpy.float32)
    y = F.adaptive_avg_pool2d(Tensor(x), 1)
    assert y.dtype == numpy.float32
    numpy.testing.assert_allclose(y.numpy()[:, :, 0, 0], x.mean(axis=(2, 3)), rtol=1e-6)


def test_errors():
    x = Tensor(numpy.ones((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"output_size \(5, 5\) is larger than the input \(4, 4\)"):
        F.adaptive_avg_pool2d(x, 5)
    with pytest.raises(ValueError, match="expected output sizes >= 1"):
        F.adaptive_avg_pool2d(x, (0, 1))
    with pytest.raises(ValueError, match=r"expected input \(N, C, H, W\) with 4 dimensions"):
        F.adaptive_avg_pool2d(Tensor(numpy.ones((4, 4))), 1)
