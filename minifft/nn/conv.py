"""Conv2d layer."""
from .. import functions as F
from ..functions.convolution import check_conv_arguments
from . import init
from .module import Module, Parameter


class Conv2d(Module):
    """(N, in_channels, H, W) -> (N, out_channels, H', W') by cross-correlation.

    ``algo`` a registered algorithm name (``minifft.conv.names()``) or 'auto'; None (the default) follows
    ``minifft.conv.set_default_algorithm`` so one setting switches a whole model. ``groups``
    splits the channels into blocks that do not mix (groups == in_channels: depthwise).
    ``padding`` may be 'same' (output size = input size, stride 1) or 'valid' (0); ``dilation``
    puts the kernel taps that far apart.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, algo=None,
                 groups=1, dilation=1):
        super().__init__()
        self.kernel_size, _, _ = check_conv_arguments('Conv2d', in_channels, out_channels, kernel_size, stride,
                                                      padding, groups, algo, dilation)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.stride, self.padding, self.algo, self.dilation = stride, padding, algo, dilation
        self.label = None  # a fixed profiler name; None: the one minifft.diagnostics.label_conv_layers reports
        shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(init.kaiming_uniform(shape))
        self.bias = Parameter(init.bias_uniform(shape)) if bias else None

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.algo, self.label, self.groups,
                        self.dilation)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
                f"algo={self.algo or 'default'}")
