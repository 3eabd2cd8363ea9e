"""Elementwise comparisons: boolean tensors that carry no gradient."""
import operator

from ..tensor import Tensor
from ._validation import binary_operands


def _compare(op):
    def compare(x, y):
        x, y = binary_operands(x, y)
        return Tensor.of(op(x.data, y.data))
    compare.__name__ = op.__name__
    compare.__doc__ = f"Elementwise ``{op.__name__}`` with broadcasting; no gradient."
    return compare


equal = _compare(operator.eq)
not_equal = _compare(operator.ne)
less = _compare(operator.lt)
less_equal = _compare(operator.le)
greater = _compare(operator.gt)
greater_equal = _compare(operator.ge)
