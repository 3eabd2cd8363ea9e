"""SGD (PyTorch's update rule) and learning-rate schedules."""
import math

from . import backend


class SGD:
    """Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay.

    Per parameter p with gradient g, as torch.optim.SGD:
        g = g + weight_decay * p
        buf = g (first step), else buf = momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        self.params = list(params)
        if not self.params:
            raise ValueError("SGD: got an empty parameter list")
        if lr <= 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: expected lr > 0, momentum >= 0, weight_decay >= 0, "
                             f"got lr={lr}, momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening == 0")
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        self.buffers = [None] * len(self.params)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if self.momentum:
                buf = self.buffers[i]
                if buf is not None and type(buf) is not type(p.data):  # the model moved (model.to)
                    buf = self.buffers[i] = backend.to_device(buf, p.device)
                if buf is None:
                    buf = self.buffers[i] = g.copy()
                else:  # in place: no new array per step
                    buf *= self.momentum
                    buf += (1 - self.dampening) * g
                g = g + self.momentum * buf if self.nesterov else buf
            p.data -= p.data.dtype.type(self.lr) * g

    def state_dict(self):
        """Hyper-parameters and momentum buffers (NumPy copies)."""
        state = {'lr': self.lr, 'momentum': self.momentum, 'dampening': self.dampening,
                 'weight_decay': self.weight_decay, 'nesterov': self.nesterov}
        state['buffers'] = [None if b is None else backend.to_numpy(b).copy() for b in self.buffers]
        return state

    def load_state_dict(self, state):
        if len(state['buffers']) != len(self.params):
            raise ValueError(f"SGD.load_state_dict: state has {len(state['buffers'])} buffers for "
                             f"{len(self.params)} parameters")
        for key in ('lr', 'momentum', 'dampening', 'weight_decay', 'nesterov'):
            setattr(self, key, state[key])
        self.buffers = []
        for p, b in zip(self.params, state['buffers']):
            if b is not None and tuple(b.shape) != p.shape:
                raise ValueError(f"SGD.load_state_dict: buffer shape {tuple(b.shape)} does not match "
                                 f"parameter shape {p.shape}")
            self.buffers.append(None if b is None else backend.to_device(b, p.device).astype(p.dtype))


class _Schedule:
    """Sets ``optimizer.lr`` from the epoch count; call ``step()`` once per epoch."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.epoch = 0

    def step(self):
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)

    def state_dict(self):
        return {'epoch': self.epoch, 'base_lr': self.base_lr}

    def load_state_dict(self, state):
        self.epoch, self.base_lr = int(state['epoch']), float(state['base_lr'])
        self.optimizer.lr = self.lr_at(self.epoch)


class StepLR(_Schedule):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        if step_size < 1:
            raise ValueError(f"StepLR: expected step_size >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(_Schedule):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer)
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: expected T_max >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min

    def lr_at(self, epoch):
        t = min(epoch, self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
