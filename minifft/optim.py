"""Optimizers (PyTorch's update rules) on one base class, and learning-rate schedules.

An ``Optimizer`` holds ``param_groups`` (dicts with 'params' and that group's hyper-parameters)
and ``state`` (per parameter, a dict of arrays and scalars, e.g. SGD's momentum buffer or Adam's
moments and step count). ``state_dict()`` / ``load_state_dict()`` use PyTorch's layout: parameters
are numbered in group order, {'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]},
so ``minifft.save`` can store any optimizer without knowing it. State arrays live on their
parameter's device, also after ``model.to(...)`` moved the parameter.
"""
import math

from . import backend
from .tensor import Tensor


class Optimizer:
    """Base class: subclasses give ``defaults`` and implement ``_update(p, g, state, group)``."""

    def __init__(self, params, defaults):
        name = type(self).__name__
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: expected an iterable of parameters or of group dicts, got a single Tensor")
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list")
        for group in (params if isinstance(params[0], dict) else [{'params': params}]):
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict with 'params' and any hyper-parameters that differ from the defaults."""
        name = type(self).__name__
        if not isinstance(group, dict) or 'params' not in group:
            raise TypeError(f"{name}: expected a param group as a dict with a 'params' entry, got {group!r}")
        group = dict(group)
        params = group['params']
        group['params'] = [params] if isinstance(params, Tensor) else list(params)
        if not group['params']:
            raise ValueError(f"{name}: got an empty parameter list")
        seen = {id(p) for g in self.param_groups for p in g['params']}
        for p in group['params']:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: expected Parameters (Tensors), got {type(p).__name__}")
            if id(p) in seen:
                raise ValueError(f"{name}: a parameter appears in more than one param group")
            seen.add(id(p))
        unknown = set(group) - set(self.defaults) - {'params'}
        if unknown:
            raise ValueError(f"{name}: unknown hyper-parameters {sorted(unknown)}; expected {sorted(self.defaults)}")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group):
        """Raise ValueError naming the optimizer and the bad hyper-parameter."""

    # ---- conveniences kept from the SGD-only API ------------------------------------------------
    @property
    def params(self):
        """Every parameter, in group order."""
        return [p for g in self.param_groups for p in g['params']]

    @property
    def lr(self):
        """The first group's learning rate; setting it sets every group's."""
        return self.param_groups[0]['lr']

    @lr.setter
    def lr(self, value):
        for group in self.param_groups:
            group['lr'] = value

    def __getattr__(self, name):  # opt.momentum etc.: the first group's hyper-parameter
        defaults = self.__dict__.get('defaults', {})
        if name in defaults and self.__dict__.get('param_groups'):
            return self.param_groups[0][name]
        raise AttributeError(f"{type(self).__name__} has no attribute '{name}'")

    # ---- stepping ---------------------------------------------------------------------------------
    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def _state_of(self, p):
        """p's state dict, with its arrays moved to p's device if the parameter moved since."""
        state = self.state.setdefault(p, {})
        device = p.device
        for key, value in state.items():
            if hasattr(value, 'shape') and backend.device_of(value) != device:
                state[key] = backend.to_device(value, device)
        return state

    def step(self):
        for group in self.param_groups:
            for p in group['params']:
                if p.grad is not None:
                    self._update(p, p.grad, self._state_of(p), group)

    def _update(self, p, g, state, group):
        raise NotImplementedError

    # ---- state --------------------------------------------------------------------------------------
    def state_dict(self):
        """{'state': {index: {name: NumPy copy or scalar}}, 'param_groups': [{..., 'params': [index]}]}."""
        index = {id(p): i for i, p in enumerate(self.params)}
        groups = [dict(g, params=[index[id(p)] for p in g['params']]) for g in self.param_groups]
        state = {}
        for p, s in self.state.items():
            state[index[id(p)]] = {k: backend.to_numpy(v).copy() if hasattr(v, 'shape') else v for k, v in s.items()}
        return {'state': state, 'param_groups': groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state; checks everything first, so an error changes nothing."""
        name = type(self).__name__
        groups, state = state_dict['param_groups'], state_dict['state']
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state has {len(groups)} param groups, the optimizer "
                             f"{len(self.param_groups)}")
        for i, (saved, own) in enumerate(zip(groups, self.param_groups)):
            if len(saved['params']) != len(own['params']):
                raise ValueError(f"{name}.load_state_dict: param group {i} has {len(saved['params'])} parameters "
                                 f"in the state but {len(own['params'])} in the optimizer")
            if set(saved) != set(own):
                raise ValueError(f"{name}.load_state_dict: param group {i} has hyper-parameters "
                                 f"{sorted(set(saved) - {'params'})}, expected {sorted(set(own) - {'params'})} "
                                 f"(state of another optimizer?)")
        by_index = {}
        for saved, own in zip(groups, self.param_groups):
            by_index.update(zip(saved['params'], own['params']))
        new_state = {}
        for i, s in state.items():
            p = by_index.get(int(i))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, which no param group lists")
            entry = {}
            for key, value in s.items():
                if hasattr(value, 'shape'):
                    if value.ndim and tuple(value.shape) != p.shape:
                        raise ValueError(f"{name}.load_state_dict: state '{key}' of parameter {i} has shape "
                                         f"{tuple(value.shape)}, the parameter {p.shape}")
                    value = backend.to_device(value, p.device)
                    value = value.astype(p.dtype) if value.dtype.kind == 'f' else value.copy()
                entry[key] = value
            new_state[p] = entry
        for saved, own in zip(groups, self.param_groups):
            own.update({k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items() if k != 'params'})
        self.state = new_state


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay.

    Per parameter p with gradient g, as torch.optim.SGD:
        g = g + weight_decay * p
        buf = g (first step), else buf = momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _check_group(self, group):
        if group['lr'] <= 0 or group['momentum'] < 0 or group['weight_decay'] < 0:
            raise ValueError(f"SGD: expected lr > 0, momentum >= 0, weight_decay >= 0, got lr={group['lr']}, "
                             f"momentum={group['momentum']}, weight_decay={group['weight_decay']}")
        if group['nesterov'] and (group['momentum'] <= 0 or group['dampening'] != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening == 0")

    def _update(self, p, g, state, group):
        if group['weight_decay']:
            g = g + group['weight_decay'] * p.data
        momentum = group['momentum']
        if momentum:
            buf = state.get('momentum_buffer')
            if buf is None:
                buf = state['momentum_buffer'] = g.copy()
            else:  # in place: no new array per step
                buf *= momentum
                # (1 - 0) * g is g to the bit: one temporary fewer in the usual case
                buf += (1 - group['dampening']) * g if group['dampening'] else g
            g = g + momentum * buf if group['nesterov'] else buf
        p.data -= p.data.dtype.type(group['lr']) * g

    @property
    def buffers(self):
        """The momentum buffer of every parameter (None before its first step), in group order."""
        return [self.state.get(p, {}).get('momentum_buffer') for p in self.params]


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with PyTorch's update; ``weight_decay`` is L2 added to the gradient.

    Per parameter, step t = 1, 2, ...:
        g = g + weight_decay * p                                   (Adam only)
        p = p * (1 - lr * weight_decay)                            (AdamW only: decoupled)
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
        v_hat = max(v_hat, v) if amsgrad else v
        p = p - lr / (1 - beta1^t) * m / (sqrt(v_hat) / sqrt(1 - beta2^t) + eps)
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    def _check_group(self, group):
        name = type(self).__name__
        betas = group['betas']
        if group['lr'] <= 0 or group['eps'] < 0 or group['weight_decay'] < 0:
            raise ValueError(f"{name}: expected lr > 0, eps >= 0, weight_decay >= 0, got lr={group['lr']}, "
                             f"eps={group['eps']}, weight_decay={group['weight_decay']}")
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"{name}: expected betas as two numbers in [0, 1), got {betas}")

    def _update(self, p, g, state, group):
        xp = backend.get_array_module(p.data)
        lr, (b1, b2), eps, wd = group['lr'], group['betas'], group['eps'], group['weight_decay']
        if not state:
            state['step'] = 0
            state['exp_avg'] = xp.zeros_like(p.data)
            state['exp_avg_sq'] = xp.zeros_like(p.data)
            if group['amsgrad']:
                state['max_exp_avg_sq'] = xp.zeros_like(p.data)
        state['step'] += 1
        t = state['step']
        scalar = p.data.dtype.type
        if wd and self._decoupled:
            p.data *= scalar(1 - lr * wd)
        elif wd:
            g = g + scalar(wd) * p.data
        m, v = state['exp_avg'], state['exp_avg_sq']
        m *= scalar(b1)
        m += scalar(1 - b1) * g
        v *= scalar(b2)
        v += scalar(1 - b2) * (g * g)
        if group['amsgrad']:
            if 'max_exp_avg_sq' not in state:  # amsgrad switched on after the first step
                state['max_exp_avg_sq'] = v.copy()
            v = xp.maximum(state['max_exp_avg_sq'], v, out=state['max_exp_avg_sq'])
        denom = xp.sqrt(v) / scalar(math.sqrt(1 - b2 ** t)) + scalar(eps)
        p.data -= scalar(lr / (1 - b1 ** t)) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), PyTorch's default weight_decay=0.01."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class _Schedule:
    """Sets every param group's lr from the epoch count (each from its own base lr); call ``step()``
    once per epoch. Works with any Optimizer."""

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an optim.Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [group['lr'] for group in optimizer.param_groups]
        self.epoch = 0

    @property
    def base_lr(self):
        return self.base_lrs[0]

    def _set(self):
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group['lr'] = self.lr_at(self.epoch, base)

    def step(self):
        self.epoch += 1
        self._set()

    def state_dict(self):
        return {'epoch': self.epoch, 'base_lrs': list(self.base_lrs)}

    def load_state_dict(self, state):
        base = state['base_lrs'] if 'base_lrs' in state else [state['base_lr']] * len(self.base_lrs)  # old files
        if len(base) != len(self.optimizer.param_groups):
            raise ValueError(f"{type(self).__name__}.load_state_dict: {len(base)} base lrs for "
                             f"{len(self.optimizer.param_groups)} param groups")
        self.epoch, self.base_lrs = int(state['epoch']), [float(b) for b in base]
        self._set()


class StepLR(_Schedule):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        if step_size < 1:
            raise ValueError(f"StepLR: expected step_size >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma

    def lr_at(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(_Schedule):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer)
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: expected T_max >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min

    def lr_at(self, epoch, base_lr):
        t = min(epoch, self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
