"""The shape of one convolution: what every algorithm, the auto-tuner and the profiler key on."""
import dataclasses
import functools
from dataclasses import dataclass


def ceil_div(a, b):
    return -(-a // b)


@dataclass(frozen=True)
class ConvGeometry:
    """x (batch, in_channels, height, width) * w (out_channels, in_channels // groups, kernel_h, kernel_w).

    With groups G, input and output channels split into G equal blocks and block i of the output
    sees only block i of the input (G == in_channels: depthwise). With dilation d, kernel taps are
    d apart: the kernel covers (k - 1) * d + 1 input positions (``span_h``, ``span_w``).
    """

    batch: int
    in_channels: int
    out_channels: int
    height: int
    width: int
    kernel_h: int
    kernel_w: int
    stride_h: int = 1
    stride_w: int = 1
    pad_h: int = 0
    pad_w: int = 0
    groups: int = 1
    dilation_h: int = 1
    dilation_w: int = 1

    @property
    def span_h(self):
        return (self.kernel_h - 1) * self.dilation_h + 1

    @property
    def span_w(self):
        return (self.kernel_w - 1) * self.dilation_w + 1

    @property
    def dilated(self):
        return self.dilation_h > 1 or self.dilation_w > 1

    def undilated(self):
        """The same layer with the kernel written dilated (zeros between taps) and dilation 1; the
        same object for equal geometries (wrappers such as Polyphase compare geometries by identity)."""
        return _undilated(self) if self.dilated else self

    @property
    def out_h(self):
        return (self.height + 2 * self.pad_h - self.span_h) // self.stride_h + 1

    @property
    def out_w(self):
        return (self.width + 2 * self.pad_w - self.span_w) // self.stride_w + 1

    @property
    def strided(self):
        return self.stride_h > 1 or self.stride_w > 1

    @property
    def group_in(self):
        return self.in_channels // self.groups

    @property
    def group_out(self):
        return self.out_channels // self.groups

    @property
    def output_shape(self):
        return (self.batch, self.out_channels, self.out_h, self.out_w)

    def describe(self):
        """Short label in the paper's terms: S, f, f', n, k (+ stride and padding when used)."""
        n = f"{self.height}" if self.height == self.width else f"{self.height}x{self.width}"
        k = f"{self.kernel_h}" if self.kernel_h == self.kernel_w else f"{self.kernel_h}x{self.kernel_w}"
        text = f"S={self.batch} f={self.in_channels} f'={self.out_channels} n={n} k={k}"
        if self.strided:
            text += f" s={self.stride_h}" if self.stride_h == self.stride_w else f" s={self.stride_h}x{self.stride_w}"
        if (self.pad_h, self.pad_w) != (0, 0):
            text += f" p={self.pad_h}" if self.pad_h == self.pad_w else f" p={self.pad_h}x{self.pad_w}"
        if self.groups != 1:
            text += f" g={self.groups}"
        if self.dilated:
            same = self.dilation_h == self.dilation_w
            text += f" d={self.dilation_h}" if same else f" d={self.dilation_h}x{self.dilation_w}"
        return text


@functools.lru_cache(maxsize=1024)
def _undilated(g):
    return dataclasses.replace(g, kernel_h=g.span_h, kernel_w=g.span_w, dilation_h=1, dilation_w=1)
