"""Tensor and the reverse-mode graph.

A Tensor holds an array (NumPy or CuPy), its gradient, and the Function node that made it.
``backward`` orders the graph topologically and walks it once in reverse, summing gradients
where a tensor feeds several ops (micrograd's idea, with Chainer's Function nodes).
"""
import contextlib
import numbers

import numpy

from . import backend

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Within this block, ops record no graph (inference, optimiser updates)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    return _grad_enabled


class Function:
    """One op: ``forward`` on arrays, ``backward`` from the output gradient to input gradients.

    Subclasses keep what backward needs as attributes set in forward; ``release`` drops them
    after backward so a graph does not pin its activations. Use ``SomeOp.apply(*inputs, **attrs)``.
    """

    def __init__(self, **attrs):
        self.__dict__.update(attrs)
        self.inputs = ()
        self.released = False

    @classmethod
    def apply(cls, *inputs, **attrs):
        fn = cls(**attrs)
        tensors = tuple(as_tensor(t) for t in inputs)
        y = fn.forward(*(t.data for t in tensors))
        needs_grad = _grad_enabled and any(t.requires_grad for t in tensors)
        out = Tensor.of(y, requires_grad=needs_grad)
        if needs_grad:
            fn.inputs = tensors
            out.creator = fn
        return out

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, gy):
        """Return one gradient per input (``None`` where an input needs none)."""
        raise NotImplementedError

    def backward_sum(self, gys):
        """``backward`` of the sum of ``gys``, the gradients from the output's several consumers in
        the order they arrived, added left to right. An op that can add them inside its own pass
        overrides this, with the same result."""
        gy = gys[0]
        for g in gys[1:]:
            gy = gy + g
        return self.backward(gy)

    def release(self):
        keep = {'inputs', 'released'}
        for name in list(self.__dict__):
            if name not in keep:
                del self.__dict__[name]
        self.released = True


def unbroadcast(g, shape):
    """Sum ``g`` down to ``shape``, undoing NumPy broadcasting."""
    if g.shape == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape)
                                       if n == 1 and g.shape[i + extra] != 1)
    g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _as_array(data, dtype=None, device=None):
    """``data`` as an array of ``dtype`` on ``device``. Without a device, host data (Python values,
    NumPy arrays) goes to ``backend.default_device()``, as torch.set_default_device makes it;
    device arrays and Tensors stay where they are."""
    if isinstance(data, Tensor):
        data = data.data
    elif device is None and backend.get_array_module(data) is numpy:
        device = backend.default_device()
    xp = backend.get_array_module(data)
    if xp is numpy and not isinstance(data, numpy.ndarray):
        from_python = not isinstance(data, numpy.generic)  # NumPy scalars keep their dtype
        data = numpy.asarray(data)
        if dtype is None and from_python and data.dtype.kind == 'f':
            dtype = backend.default_dtype()  # Python floats become the default dtype
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    if device is not None:
        data = backend.to_device(data, device)
    return data


class Tensor:
    """An n-dimensional array with an optional gradient and the graph node that made it."""

    __array_priority__ = 1000  # so numpy_array + tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        self.data = _as_array(data, dtype, device)
        if requires_grad and self.data.dtype.kind != 'f':
            raise TypeError(f"Tensor: requires_grad needs floating-point data, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.creator = None

    @classmethod
    def of(cls, array, requires_grad=False):
        """A Tensor over ``array`` as it is: no copy, no move to the default device (op results)."""
        t = cls.__new__(cls)
        t.data, t.requires_grad, t.grad, t.creator = array, requires_grad, None, None
        return t

    # ---- array-like surface -------------------------------------------------------------
    shape = property(lambda self: tuple(self.data.shape))
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: int(self.data.size))
    device = property(lambda self: backend.device_of(self.data))
    T = property(lambda self: self.transpose())
    is_leaf = property(lambda self: self.creator is None)

    def __len__(self):
        return self.data.shape[0]

    def __bool__(self):
        if self.size != 1:  # as NumPy and PyTorch: `if t:` on many elements is a bug, not True
            raise ValueError(f"the truth value of a tensor with {self.size} elements is ambiguous; "
                             f"use .any() or .all() on .numpy()")
        return bool(self.item())

    def __repr__(self):
        grad = ', requires_grad=True' if self.requires_grad else ''
        return f"Tensor({backend.to_numpy(self.data)!r}, device='{self.device}'{grad})"

    def numpy(self):
        return backend.to_numpy(self.data)

    def item(self):
        if self.size != 1:
            raise ValueError(f"item: expected a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def to(self, device):
        """This tensor on ``device`` (itself if already there); gradients flow across the move."""
        if device == self.device:
            return self
        from .functions.shape import to_device
        return to_device(self, device)

    def detach(self):
        return Tensor.of(self.data)

    def astype(self, dtype):
        from .functions.shape import astype
        return astype(self, dtype)

    # ---- graph ----------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` defaults to 1 for a one-element tensor; other shapes need it given.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad (no leaf it depends on "
                               "has requires_grad=True, or it was made under no_grad)")
        xp = backend.get_array_module(self.data)
        if grad is None:
            if self.size != 1:
                raise RuntimeError(f"backward: gradient can be implied only for a one-element tensor, "
                                   f"got shape {self.shape}; pass grad= of that shape")
            grad = xp.ones_like(self.data)
        else:  # on this tensor's device, whatever device the given gradient is on
            grad = backend.to_device(_as_array(grad, self.dtype, self.device), self.device)
            if grad.shape != self.data.shape:
                raise ValueError(f"backward: grad shape {grad.shape} does not match tensor shape {self.shape}")
        if self.creator is None:
            self._accumulate(grad)
            return

        order = self._topological_order()
        # the gradients reaching each tensor, in the order they arrive, the last two added only
        # when its op's backward runs, so an op can add them in its own pass (backward_sum)
        grads = {id(self): [grad]}
        for node in reversed(order):
            fn = node.creator
            gys = grads.pop(id(node), None)
            if gys is None:
                continue
            if fn.released:
                raise RuntimeError("backward: this graph was already used by a backward call and its "
                                   "saved arrays were freed; pass retain_graph=True to the first call "
                                   "to go through it twice")
            gxs = fn.backward(gys[0]) if len(gys) == 1 else fn.backward_sum(gys)
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            for t, gx in zip(fn.inputs, gxs):
                if gx is None or not t.requires_grad:
                    continue
                if t.creator is None:
                    t._accumulate(gx)
                elif id(t) in grads:
                    pending = grads[id(t)]
                    if len(pending) == 2:  # a wide fan-in keeps one running sum and the newest
                        pending[:] = [pending[0] + pending[1]]
                    pending.append(gx)
                else:
                    grads[id(t)] = [gx]
            if not retain_graph:
                fn.release()

    def _accumulate(self, g):
        g = g.astype(self.dtype, copy=False)
        self.grad = g.copy() if self.grad is None else self.grad + g

    def _topological_order(self):
        """Non-leaf tensors reachable from self, each after every tensor it was computed from."""
        order, seen = [], {id(self)}
        stack = [(self, False)]
        while stack:  # iterative DFS: deep graphs must not hit the recursion limit
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            stack.append((node, True))
            for t in node.creator.inputs:
                if t.creator is not None and id(t) not in seen:
                    seen.add(id(t))
                    stack.append((t, False))
        return order

    def zero_grad(self):
        self.grad = None

    # ---- operators (defined in minifft.functions) ------------------------------------------
    def __add__(self, other): return F.add(self, other)
    def __radd__(self, other): return F.add(other, self)
    def __sub__(self, other): return F.sub(self, other)
    def __rsub__(self, other): return F.sub(other, self)
    def __mul__(self, other): return F.mul(self, other)
    def __rmul__(self, other): return F.mul(other, self)
    def __truediv__(self, other): return F.div(self, other)
    def __rtruediv__(self, other): return F.div(other, self)
    def __pow__(self, other): return F.pow(self, other)
    def __rpow__(self, other): return F.pow(other, self)
    def __neg__(self): return F.neg(self)
    def __matmul__(self, other): return F.matmul(self, other)
    def __rmatmul__(self, other): return F.matmul(other, self)
    def __getitem__(self, index): return F.getitem(self, index)
    def __eq__(self, other): return F.equal(self, other)
    def __ne__(self, other): return F.not_equal(self, other)
    def __lt__(self, other): return F.less(self, other)
    def __le__(self, other): return F.less_equal(self, other)
    def __gt__(self, other): return F.greater(self, other)
    def __ge__(self, other): return F.greater_equal(self, other)
    __hash__ = object.__hash__  # __eq__ is elementwise, identity stays hashable

    def reshape(self, *shape): return F.reshape(self, *shape)
    def transpose(self, *axes): return F.transpose(self, *axes)
    def flatten(self, start_dim=1): return F.flatten(self, start_dim)
    def sum(self, axis=None, keepdims=False): return F.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return F.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return F.max(self, axis, keepdims)
    def argmax(self, axis=None): return Tensor.of(self.data.argmax(axis=axis))
    def exp(self): return F.exp(self)
    def log(self): return F.log(self)
    def tanh(self): return F.tanh(self)
    def sigmoid(self): return F.sigmoid(self)
    def relu(self): return F.relu(self)
    def sqrt(self): return F.sqrt(self)


def as_tensor(x, like=None):
    """``x`` as a Tensor; Python and NumPy scalars take the dtype and device of ``like``."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (numbers.Number, numpy.number)):
        xp = backend.get_array_module(like.data)
        dtype = like.dtype if like.dtype.kind == 'f' else None
        return Tensor.of(xp.asarray(x, dtype=dtype))
    return Tensor(x)


def tensor(data, requires_grad=False, dtype=None, device=None):
    """Make a Tensor (float32 for Python floats unless ``dtype`` says otherwise) on ``device``,
    ``backend.default_device()`` when none is given and ``data`` is host data."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


from . import functions as F  # noqa: E402  (functions build on Function and Tensor above)
