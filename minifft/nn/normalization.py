"""Batch normalisation layers with PyTorch's semantics (running statistics as buffers)."""
import numpy

from .. import backend
from .. import functions as F
from .module import Module, Parameter


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d; subclasses set ``_ndims`` (accepted input ranks)."""

    _ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"{name}: expected num_features as a positive int, got {num_features!r}")
        if eps <= 0:
            raise ValueError(f"{name}: expected eps > 0, got {eps}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{name}: expected momentum in [0, 1] or None (cumulative average), got {momentum}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = backend.default_dtype()
        if affine:
            self.weight = Parameter(numpy.ones(num_features, dtype))
            self.bias = Parameter(numpy.zeros(num_features, dtype))
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer('running_mean', numpy.zeros(num_features, dtype))
            self.register_buffer('running_var', numpy.ones(num_features, dtype))
            self.register_buffer('num_batches_tracked', numpy.zeros((), numpy.int64))
        else:
            for buffer in ('running_mean', 'running_var', 'num_batches_tracked'):
                self.register_buffer(buffer, None)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def forward(self, x):
        if x.ndim not in self._ndims:
            raise ValueError(f"{type(self).__name__}: expected input with {' or '.join(map(str, self._ndims))} "
                             f"dimensions, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected {self.num_features} channels, got input shape {x.shape}")
        factor = 0.0
        update = self.training and self.track_running_stats
        if update:
            self.num_batches_tracked += 1  # in place, on the buffer's device
            # momentum None: the cumulative average, factor 1 / batches seen (a 0-d array: no host sync)
            factor = self.momentum if self.momentum is not None else 1.0 / self.num_batches_tracked
        # eval without running statistics normalises with the batch's own, as PyTorch
        use_batch = self.training or not self.track_running_stats
        return F.batch_norm(x, self.running_mean if update or not use_batch else None,
                            self.running_var if update or not use_batch else None,
                            self.weight, self.bias, training=use_batch, momentum=factor, eps=self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Per-feature normalisation of (N, C) or (N, C, L) input."""
    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Per-channel normalisation of (N, C, H, W) input, over the batch and both spatial axes."""
    _ndims = (4,)
