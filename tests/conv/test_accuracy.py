"""float32 error of the FFT algorithm against a float64 reference on the paper's layer shapes.

Shapes are the paper's (k, n, f, f') with a smaller batch: per-element error of fprop and bprop
does not depend on S, and accGrad's sums over S only grow with it, so the bound still speaks for
the paper's S = 128. The paper saw about 1e-5 (fprop, bprop) and 1e-4 (accGrad).
"""
import numpy
import pytest

from minifft import Tensor
from minifft import functions as F

PAPER_LAYERS = [(11, 32, 3, 96), (7, 32, 96, 256), (5, 16, 256, 384), (5, 16, 384, 384), (3, 16, 384, 384)]
BOUNDS = {'fprop': 1e-5, 'bprop': 1e-5, 'accGrad': 1e-4}


def relative_error(got, want):
    return float(numpy.linalg.norm(got - want) / numpy.linalg.norm(want))


def run(x, w, gy, algo):
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, algo=algo)
    y.backward(gy)
    return {'fprop': y.data, 'bprop': xt.grad, 'accGrad': wt.grad}


@pytest.mark.parametrize('k,n,f,fo', PAPER_LAYERS)
def test_float32_error_on_paper_layers(k, n, f, fo, rng):
    S = 4
    x = rng.standard_normal((S, f, n, n))
    w = rng.standard_normal((fo, f, k, k)) / numpy.sqrt(f * k * k)
    gy = rng.standard_normal((S, fo, n - k + 1, n - k + 1))
    reference = run(x, w, gy, 'direct')   # float64, an independent algorithm
    single = run(x.astype(numpy.float32), w.astype(numpy.float32), gy.astype(numpy.float32), 'fft')
    errors = {p: relative_error(single[p].astype(numpy.float64), reference[p]) for p in BOUNDS}
    print(f"k={k} n={n} f={f} f'={fo}: " + '  '.join(f"{p} {e:.2e}" for p, e in errors.items()))
    for p, bound in BOUNDS.items():
        assert errors[p] <= bound, f"{p} error {errors[p]:.2e} above {bound:.0e}"
