"""Module and Parameter: the containers layers are built from (PyTorch's nn.Module surface).

A Module tracks three kinds of state: Parameters (trained), buffers (arrays that are state but not
trained, e.g. BatchNorm's running statistics; ``register_buffer``) and sub-Modules.

Hooks (PyTorch's signatures) observe or change a call without patching ``forward``:
``register_forward_pre_hook(hook(module, args))``, ``register_forward_hook(hook(module, args,
output))`` and ``register_full_backward_hook(hook(module, grad_input, grad_output))``; each returns
a handle whose ``remove()`` takes the hook off (also usable as a context manager).
"""
import itertools
from collections import OrderedDict

from .. import backend
from ..tensor import Function, Tensor, is_grad_enabled


class Parameter(Tensor):
    """A Tensor a Module trains: requires_grad is on, and assignment to a Module registers it."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)


class Module:
    """Base class: assign Parameters and sub-Modules as attributes and they are tracked."""

    def __init__(self):
        object.__setattr__(self, '_parameters', OrderedDict())
        object.__setattr__(self, '_modules', OrderedDict())
        object.__setattr__(self, '_buffers', OrderedDict())
        object.__setattr__(self, '_non_persistent', set())
        for hooks in ('_forward_pre_hooks', '_forward_hooks', '_backward_hooks'):
            object.__setattr__(self, hooks, OrderedDict())
        object.__setattr__(self, 'training', True)

    def __setattr__(self, name, value):
        if '_parameters' not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            # assigning to a buffer's name replaces the buffer's array (None clears it)
            value = self._buffers[name] = _buffer_array(name, value)
            object.__setattr__(self, name, value)
            return
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        self._non_persistent.discard(name)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        self._non_persistent.discard(name)
        object.__delattr__(self, name)

    def register_buffer(self, name, array, persistent=True):
        """Track ``array`` (NumPy/CuPy array, Tensor data, or None) as state that is not trained.

        A buffer moves with ``to(device)`` and, when ``persistent``, is saved in ``state_dict``
        (and so in checkpoints) beside the parameters. Read and replace it as ``self.<name>``.
        """
        if '_buffers' not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before register_buffer")
        if not isinstance(name, str) or not name or '.' in name:
            raise ValueError(f"register_buffer: expected a non-empty name without '.', got {name!r}")
        if name not in self._buffers and hasattr(self, name):
            raise KeyError(f"register_buffer: attribute '{name}' already exists on {type(self).__name__}")
        array = _buffer_array(name, array)
        for registry in (self._parameters, self._modules):
            registry.pop(name, None)
        self._buffers[name] = array
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, array)

    def forward(self, *args):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:  # a pre-hook may replace the positional arguments
                args = result if isinstance(result, tuple) else (result,)
        tap = _BackwardHookCall(self, args) if self._backward_hooks and is_grad_enabled() else None
        if tap is not None:
            args = tap.wrap_inputs(args)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:  # a forward hook may replace the output
                output = result
        return output if tap is None else tap.wrap_output(output)

    # ---- hooks ------------------------------------------------------------------------------------
    def register_forward_pre_hook(self, hook):
        """Call ``hook(module, args)`` before every ``forward``; a non-None result replaces args."""
        return _RemovableHandle(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook):
        """Call ``hook(module, args, output)`` after every ``forward``; a non-None result replaces output."""
        return _RemovableHandle(self._forward_hooks, hook)

    def register_full_backward_hook(self, hook):
        """Call ``hook(module, grad_input, grad_output)`` once the gradients of this call's Tensor
        inputs are known (tuples of arrays; None for an input that needs no gradient). A non-None
        result (a tuple, one entry per input) replaces grad_input. minifft's version: the module's
        output must be one Tensor; calls made under no_grad are not hooked; with several inputs a
        replacement reaches only the input whose gradient arrives last (the others have been passed
        on), so it is meant for one-input modules, as most layers are.
        """
        return _RemovableHandle(self._backward_hooks, hook)

    # ---- traversal ----------------------------------------------------------------------------
    def named_modules(self, prefix=''):
        yield prefix, self
        for name, module in self._modules.items():
            yield from module.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def children(self):
        return iter(self._modules.values())

    def named_parameters(self):
        for prefix, module in self.named_modules():
            for name, p in module._parameters.items():
                yield (f"{prefix}.{name}" if prefix else name), p

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def named_buffers(self):
        """(dotted name, array) for every buffer that is not None, persistent or not."""
        for prefix, module in self.named_modules():
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{prefix}.{name}" if prefix else name), b

    def buffers(self):
        return (b for _, b in self.named_buffers())

    # ---- modes and devices ----------------------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, 'training', mode)
        return self

    def eval(self):
        return self.train(False)

    def to(self, device):
        """Move every parameter and buffer to ``device`` in place (the Parameter objects stay the same)."""
        backend.require_device(device)
        for p in self.parameters():
            p.data = backend.to_device(p.data, device)
            if p.grad is not None:
                p.grad = backend.to_device(p.grad, device)
        for module in self.modules():
            for name, b in list(module._buffers.items()):
                if b is not None:
                    setattr(module, name, backend.to_device(b, device))
        return self

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    # ---- state ------------------------------------------------------------------------------------
    def _state_items(self):
        """(dotted name, owner module, attribute name, array) of everything state_dict saves, in order:
        per module its parameters, then its persistent buffers."""
        for prefix, module in self.named_modules():
            dot = f"{prefix}." if prefix else ''
            for name, p in module._parameters.items():
                yield dot + name, module, name, p.data
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    yield dot + name, module, name, b

    def state_dict(self):
        """Name -> NumPy array copy of every parameter and persistent buffer."""
        return OrderedDict((key, backend.to_numpy(a).copy()) for key, _, _, a in self._state_items())

    def load_state_dict(self, state, strict=True):
        """Copy arrays into the parameters and buffers; missing, unexpected or mis-shaped keys raise
        KeyError/ValueError. Everything is checked before anything is assigned, so a state that
        raises leaves the model as it was."""
        items = {key: (module, name, a) for key, module, name, a in self._state_items()}
        missing = [k for k in items if k not in state]
        unexpected = [k for k in state if k not in items]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        updates = []
        for key, value in state.items():
            if key not in items:
                continue
            module, name, current = items[key]
            shape = getattr(value, 'shape', None)
            if shape is None:
                raise TypeError(f"load_state_dict: '{key}' is a {type(value).__name__}, expected an array")
            if tuple(shape) != tuple(current.shape):
                raise ValueError(f"load_state_dict: '{key}' has shape {tuple(shape)} in the state "
                                 f"but {tuple(current.shape)} in the model")
            updates.append((module, name, value, current))
        for module, name, value, current in updates:
            array = backend.to_device(value, backend.device_of(current)).astype(current.dtype, copy=True)
            if name in module._parameters:
                module._parameters[name].data = array
            else:
                setattr(module, name, array)

    def extra_repr(self):
        return ''

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, module in self._modules.items():
            lines.append(f"  ({name}): " + repr(module).replace('\n', '\n  '))
        return lines[0] + ')' if len(lines) == 1 else '\n'.join(lines) + '\n)'


class _RemovableHandle:
    """Returned by the register_*_hook methods: ``remove()`` takes the hook off."""

    _ids = itertools.count()

    def __init__(self, hooks, hook):
        if not callable(hook):
            raise TypeError(f"register hook: expected a callable, got {type(hook).__name__}")
        self._hooks, self.id = hooks, next(self._ids)
        hooks[self.id] = hook

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class _GradTap(Function):
    """Identity in forward; in backward hands the gradient to ``call.record(slot, gy)``, which may
    replace it."""

    def forward(self, x):
        return x

    def backward(self, gy):
        return self.call.record(self.slot, gy)


class _BackwardHookCall:
    """One hooked call of a module: taps its inputs and output with identity ops so the backward
    hooks see grad_output, then grad_input once every tapped input's gradient has arrived."""

    def __init__(self, module, args):
        self.module = module
        self.grad_output = None
        self.grad_input = [None] * len(args)
        self.pending = set()

    def wrap_inputs(self, args):
        wrapped = []
        for i, a in enumerate(args):
            if isinstance(a, Tensor) and a.requires_grad:
                self.pending.add(i)
                a = _GradTap.apply(a, call=self, slot=i)
            wrapped.append(a)
        return tuple(wrapped)

    def wrap_output(self, output):
        if not isinstance(output, Tensor):
            raise TypeError(f"register_full_backward_hook: {type(self.module).__name__} returned a "
                            f"{type(output).__name__}; backward hooks need a single Tensor output")
        return _GradTap.apply(output, call=self, slot='output') if output.requires_grad else output

    def record(self, slot, g):
        if slot == 'output':
            self.grad_output = (g,)
            if not self.pending:  # no input needs a gradient: the hook runs now, grad_input all None
                self._run()
            return g
        self.grad_input[slot] = g
        self.pending.discard(slot)
        if not self.pending:
            self._run()
        return self.grad_input[slot]

    def _run(self):
        for hook in list(self.module._backward_hooks.values()):
            result = hook(self.module, tuple(self.grad_input), self.grad_output)
            if result is not None:
                if len(result) != len(self.grad_input):
                    raise ValueError(f"backward hook of {type(self.module).__name__}: returned "
                                     f"{len(result)} gradients for {len(self.grad_input)} inputs")
                self.grad_input = list(result)


def _buffer_array(name, value):
    """A buffer's value as an array (or None): Tensors give their data, anything else must be an array."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        return value.data
    if not hasattr(value, 'shape') or not hasattr(value, 'dtype'):
        raise TypeError(f"register_buffer: buffer '{name}' must be a NumPy/CuPy array, a Tensor or None, "
                        f"got {type(value).__name__}")
    return value


class Sequential(Module):
    """Modules applied in order."""

    def __init__(self, *modules):
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: expected Module instances, got {type(module).__name__} at {i}")
            setattr(self, str(i), module)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class Identity(Module):
    """Returns its input unchanged (the same Tensor, so gradients pass straight through)."""

    def __init__(self, *args, **kwargs):  # arguments accepted and ignored, as torch.nn.Identity
        super().__init__()

    def forward(self, x):
        return x
