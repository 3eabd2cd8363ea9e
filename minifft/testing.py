"""Test helpers: central finite-difference gradient checks in float64 (Chainer's check_backward)."""
import numpy

from . import backend
from .tensor import Tensor


def check_backward(fn, inputs, grad_output=None, eps=1e-6, atol=1e-7, rtol=1e-6, seed=0):
    """Compare the analytic gradients of ``fn`` with central differences.

    ``inputs``: arrays on either device (cast to float64 if floating; the check runs on their
    device); integer arrays pass through untouched and get no gradient. ``fn`` takes Tensors and returns one Tensor. The scalar checked is
    sum(fn(*inputs) * grad_output), with a random grad_output unless given.
    Raises AssertionError naming the input and the worst element on mismatch, or the input that
    got no gradient at all.
    """
    rng = numpy.random.default_rng(seed)
    arrays = [a.astype(numpy.float64) if a.dtype.kind == 'f' else a for a in inputs]
    xp = backend.get_array_module(*arrays)
    tensors = [Tensor.of(a, requires_grad=a.dtype.kind == 'f') for a in arrays]
    y = fn(*tensors)
    if grad_output is None:
        grad_output = xp.asarray(rng.standard_normal(y.shape))
    grad_output = backend.to_device(grad_output, backend.device_of(y.data))
    y.backward(grad_output)

    def objective():
        out = fn(*(Tensor.of(a) for a in arrays))
        return float((out.data * grad_output).sum())

    for index, (a, t) in enumerate(zip(arrays, tensors)):
        if a.dtype.kind != 'f':
            continue
        if t.grad is None:  # a gradient the graph never delivered is a bug, not a zero
            raise AssertionError(f"check_backward: input {index} (shape {a.shape}) got no gradient")
        analytic = backend.to_numpy(t.grad)
        numeric = numpy.zeros(a.shape)
        flat = a.reshape(-1)  # a view: writes go into the array fn reads
        for i in range(flat.size):
            original = float(flat[i])
            flat[i] = original + eps
            plus = objective()
            flat[i] = original - eps
            minus = objective()
            flat[i] = original
            numeric.reshape(-1)[i] = (plus - minus) / (2 * eps)
        error = numpy.abs(analytic - numeric) - (atol + rtol * numpy.abs(numeric))
        if (error > 0).any():
            worst = numpy.unravel_index(numpy.argmax(error), a.shape)
            raise AssertionError(f"check_backward: input {index} (shape {a.shape}) gradient mismatch at "
                                 f"{worst}: analytic {analytic[worst]}, numeric {numeric[worst]}; "
                                 f"max abs difference {numpy.abs(analytic - numeric).max():.3g}")
