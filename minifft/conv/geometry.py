"""The shape of one convolution: what every algorithm, the auto-tuner and the profiler key on."""
from dataclasses import dataclass


def ceil_div(a, b):
    return -(-a // b)


@dataclass(frozen=True)
class ConvGeometry:
    """x (batch, in_channels, height, width) * w (out_channels, in_channels // groups, kernel_h, kernel_w).

    With groups G, input and output channels split into G equal blocks and block i of the output
    sees only block i of the input (G == in_channels: depthwise).
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

    @property
    def out_h(self):
        return (self.height + 2 * self.pad_h - self.kernel_h) // self.stride_h + 1

    @property
    def out_w(self):
        return (self.width + 2 * self.pad_w - self.kernel_w) // self.stride_w + 1

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
        return text
