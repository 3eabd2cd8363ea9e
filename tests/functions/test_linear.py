import numpy
import pytest

from minifft import Tensor
from minifft import functions as F
from minifft.backend import to_device, to_numpy
from minifft.testing import check_backward


def test_linear(rng, device):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
    dx, dw, db = (to_device(a, device) for a in (x, w, b))
    check_backward(F.linear, [dx, dw, db])
    check_backward(F.linear, [dx, dw])
    numpy.testing.assert_allclose(F.linear(Tensor(dx), Tensor(dw), Tensor(db)).numpy(), x @ w.T + b)


def test_linear_errors():
    with pytest.raises(ValueError, match="linear: input has 3 features but weight expects 4"):
        F.linear(Tensor(numpy.ones((2, 3))), Tensor(numpy.ones((5, 4))))
    with pytest.raises(ValueError, match=r"expected bias of shape \(5,\)"):
        F.linear(Tensor(numpy.ones((2, 4))), Tensor(numpy.ones((5, 4))), Tensor(numpy.ones(4)))


@pytest.mark.parametrize('n,fin,fout', [(64, 512, 64), (96, 384, 320), (7, 1500, 900)])
def test_linear_small_and_chunked_products(n, fin, fout, rng, device):
    """Sizes on both sides of the CPU's threaded-GEMM threshold (row and column chunks), float32
    kept, every gradient against NumPy's products."""
    x, w, b = (rng.standard_normal(s).astype(numpy.float32) for s in ((n, fin), (fout, fin), (fout,)))
    gy = rng.standard_normal((n, fout)).astype(numpy.float32)
    xt, wt, bt = (Tensor(to_device(a, device), requires_grad=True) for a in (x, w, b))
    y = F.linear(xt, wt, bt)
    y.backward(to_device(gy, device))
    for got, want in ((y.data, x @ w.T + b), (xt.grad, gy @ w), (wt.grad, gy.T @ x), (bt.grad, gy.sum(0))):
        got = to_numpy(got)
        assert got.dtype == numpy.float32
        numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
