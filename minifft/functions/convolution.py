"""2-D convolution (cross-correlation, as in every deep-learning framework) over NCHW."""
import numbers

from .. import conv
from ..conv import profiler
from ..conv.geometry import ceil_div
from ..tensor import Function, as_tensor
from ._validation import check_ndim, pair


class Convolution2D(Function):
    """Forward and both gradients through the algorithm ``conv.select`` picks for this shape.

    Every algorithm gives results in the input's dtype: an FFT computes float16 in float32 (the
    transforms have no half precision) and the result is rounded back here, so under 'auto' the
    dtype never depends on which algorithm won the timing.
    """

    def forward(self, x, w, b=None):
        g = self.geometry
        self.algorithm = conv.select(self.algo, g, x, w)
        with profiler.timed(self.label, 'fprop', self.algorithm.name, x):
            y, self.saved = self.algorithm.forward(x, w, g)
            y = y.astype(x.dtype, copy=False)
            if b is not None:
                y += b.reshape(1, -1, 1, 1)
        return y

    def backward(self, gy):
        g, algorithm = self.geometry, self.algorithm
        need_x, need_w = self.inputs[0].requires_grad, self.inputs[1].requires_grad
        gx = gw = gb = None
        # the shared gy transform is charged to the first pass that uses it
        with profiler.timed(self.label, 'bprop' if need_x else 'accGrad', algorithm.name, gy):
            ctx = algorithm.backward_setup(self.saved, gy, g)
        if need_x:
            with profiler.timed(self.label, 'bprop', algorithm.name, gy):
                gx = algorithm.backward_input(ctx, g).astype(gy.dtype, copy=False)
        if need_w:
            with profiler.timed(self.label, 'accGrad', algorithm.name, gy):
                gw = algorithm.backward_weight(ctx, g).astype(gy.dtype, copy=False)
        if len(self.inputs) == 3:
            gb = gy.sum(axis=(0, 2, 3))
        return gx, gw, gb


PADDING_MODES = ('same', 'valid')


def check_conv_arguments(op, in_channels, out_channels, kernel_size, stride=1, padding=0, groups=1, algo=None,
                         dilation=1):
    """The checks F.conv2d and nn.Conv2d share: ValueError/TypeError naming ``op``, what was expected
    and what came. Returns (kernel_size, stride, padding) as pairs; padding 'same' or 'valid' stays
    that string (``same_padding`` turns it into numbers), dilation is checked by ``check_dilation``."""
    for name, count in (('in_channels', in_channels), ('out_channels', out_channels)):
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
            raise ValueError(f"{op}: expected {name} as a positive int, got {count!r}")
    if isinstance(padding, str) and padding not in PADDING_MODES:
        raise ValueError(f"{op}: expected padding as an int, a pair of ints, 'same' or 'valid', got {padding!r}")
    padding = (0, 0) if padding == 'valid' else padding
    kernel_size, stride = pair(op, 'kernel_size', kernel_size), pair(op, 'stride', stride)
    dilation = check_dilation(op, dilation)
    if padding == 'same':
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
    else:
        padding = pair(op, 'padding', padding)
    if min(kernel_size) < 1:
        raise ValueError(f"{op}: expected kernel_size >= 1, got {kernel_size}")
    if min(stride) < 1:
        raise ValueError(f"{op}: expected stride >= 1, got {stride}")
    if padding != 'same' and min(padding) < 0:
        raise ValueError(f"{op}: expected padding >= 0, got {padding}")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"{op}: expected groups as a positive int, got {groups!r}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{op}: groups={groups} must divide the {in_channels} input and {out_channels} "
                         f"output channels")
    if algo is not None:
        conv.check_name(op, algo)
    return kernel_size, stride, padding


def check_dilation(op, dilation):
    dilation = pair(op, 'dilation', dilation)
    if min(dilation) < 1:
        raise ValueError(f"{op}: expected dilation >= 1, got {dilation}")
    return dilation


def same_padding(kernel_size, dilation):
    """padding='same' as (padding, crop) per axis: the span - 1 zeros split evenly, and where they
    are odd one more on each side with the first output row (column) cropped, so that as in
    PyTorch the extra zero lies after the input."""
    total = [(k - 1) * d for k, d in zip(kernel_size, dilation)]
    return tuple(ceil_div(t, 2) for t in total), tuple(t % 2 for t in total)


def conv2d(x, w, b=None, stride=1, padding=0, algo=None, label=None, groups=1, dilation=1):
    """Cross-correlate x with w: (N, C, H, W) * (F, C/groups, kh, kw) (+ (F,) bias) -> (N, F, H', W').

    H' = (H + 2*padding - dilation*(kh-1) - 1) // stride + 1, likewise W'. ``stride``, ``padding``
    and ``dilation`` (kernel taps that far apart) are an int or an (h, w) pair; padding 'valid' is
    0 and 'same' keeps H' = H, W' = W (stride 1 only). With ``groups`` G, channels split into G
    blocks that do not mix (G == C: depthwise). ``algo`` names a registered algorithm
    (``minifft.conv.names()``: 'fft', 'direct', ...) or 'auto' (per layer shape, the fastest that
    supports it, timed once); None uses ``minifft.conv.default_algorithm()``, 'auto' unless changed.
    ``label`` names the layer in ``minifft.conv.profiler`` reports; by default the layer that
    ``minifft.diagnostics.label_conv_layers`` hooks report as running, else the shape.
    """
    op = 'conv2d'
    x, w = as_tensor(x), as_tensor(w)
    check_ndim(op, 'input x (N, C, H, W)', x, 4)
    check_ndim(op, 'weight w (F, C, kh, kw)', w, 4)
    if min(w.shape) < 1 or min(x.shape) < 1:
        raise ValueError(f"{op}: got an empty x or w (shapes {x.shape}, {w.shape})")
    kernel, stride, padding = check_conv_arguments(op, x.shape[1], w.shape[0], w.shape[2:], stride, padding, groups,
                                                   algo, dilation)
    dilation = check_dilation(op, dilation)
    crop = (0, 0)
    if padding == 'same':
        padding, crop = same_padding(kernel, dilation)
    if x.dtype.kind != 'f' or x.dtype != w.dtype:
        raise TypeError(f"{op}: expected x and w of the same floating dtype, got {x.dtype} and {w.dtype}")
    if x.device != w.device:
        raise ValueError(f"{op}: x is on '{x.device}' but w is on '{w.device}'")
    if x.shape[1] != w.shape[1] * groups:
        raise ValueError(f"{op}: x has {x.shape[1]} channels but w expects {w.shape[1] * groups} "
                         f"(x shape {x.shape}, w shape {w.shape}, groups={groups})")
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    span = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
    if span[0] > padded[0] or span[1] > padded[1]:
        spanning = f" (spanning {span} with dilation {dilation})" if dilation != (1, 1) else ''
        raise ValueError(f"{op}: kernel {w.shape[2:]}{spanning} is larger than the padded input {padded}")
    g = conv.ConvGeometry(x.shape[0], x.shape[1], w.shape[0], x.shape[2], x.shape[3], w.shape[2],
                          w.shape[3], stride[0], stride[1], padding[0], padding[1], groups, dilation[0], dilation[1])
    inputs = (x, w)
    if b is not None:
        b = as_tensor(b)
        if b.shape != (w.shape[0],):
            raise ValueError(f"{op}: expected bias of shape ({w.shape[0]},), got {b.shape}")
        inputs += (b,)
    y = Convolution2D.apply(*inputs, geometry=g, algo=algo, label=label or profiler.current_layer() or g.describe())
    return y[:, :, crop[0]:, crop[1]:] if crop != (0, 0) else y
