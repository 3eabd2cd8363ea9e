"""The built-in default: procedurally generated 32x32 colour images of 10 shape classes.

No files, no download, deterministic from a seed. Each image is one figure drawn at a random
position, size and rotation, in a random foreground colour on a random background colour (at least
0.35 apart on average, so the figure is visible), with a random amount of Gaussian pixel noise.
Colour carries no class information, and the position varies over most of the image, so a linear
model on pixels does clearly worse than a small CNN (see tests/datasets/test_shapes.py).

Classes:
    0 disc            1 square           2 triangle         3 ring             4 square outline
    5 plus            6 diagonal cross   7 horizontal stripes (in a disc)      8 vertical stripes (in a disc)
    9 checkerboard (in a disc)
"""
import numpy

CLASSES = ('disc', 'square', 'triangle', 'ring', 'square outline', 'plus', 'diagonal cross',
           'horizontal stripes', 'vertical stripes', 'checkerboard')
SIZE = 32


def _masks(label, u, v, r, rng):
    """Boolean masks (n, SIZE, SIZE) of one class; u, v are coordinates relative to the centre in
    units of the radius r, already rotated."""
    n = len(r)
    d = numpy.sqrt(u * u + v * v)
    width = (1.2 / r)[:, None, None]            # outline and bar width: about 1.2 pixels
    if label == 0:
        return d <= 1
    if label == 1:
        return numpy.maximum(abs(u), abs(v)) <= 0.8
    if label == 2:                               # triangle, apex down (image rows grow downward)
        return (v >= -0.5) & (v <= 1 - numpy.sqrt(3) * abs(u) * 0.9)
    if label == 3:
        return abs(d - 0.8) <= width
    if label == 4:
        return abs(numpy.maximum(abs(u), abs(v)) - 0.75) <= width
    if label == 5:
        return ((abs(u) <= width) | (abs(v) <= width)) & (numpy.maximum(abs(u), abs(v)) <= 1)
    if label == 6:
        return ((abs(u - v) <= 1.4 * width) | (abs(u + v) <= 1.4 * width)) & (numpy.maximum(abs(u), abs(v)) <= 0.8)
    period = (rng.uniform(3.0, 5.0, n) / r)[:, None, None]   # stripes 3-5 pixels apart
    if label == 7:
        return (d <= 1) & (numpy.mod(v, period) < period / 2)
    if label == 8:
        return (d <= 1) & (numpy.mod(u, period) < period / 2)
    return (d <= 1) & ((numpy.mod(u, period) < period / 2) ^ (numpy.mod(v, period) < period / 2))


def generate(count, seed=0):
    """``count`` images (count, 3, 32, 32) float32 in [0, 1] and labels (count,) int64, balanced."""
    rng = numpy.random.default_rng(seed)
    labels = rng.permutation(numpy.arange(count) % len(CLASSES))
    images = numpy.empty((count, 3, SIZE, SIZE), numpy.float32)
    grid = numpy.arange(SIZE, dtype=numpy.float64) + 0.5
    for label in range(len(CLASSES)):
        idx = numpy.flatnonzero(labels == label)
        n = len(idx)
        if n == 0:
            continue
        r = rng.uniform(6.0, 12.0, n)                              # radius in pixels
        cx, cy = (rng.uniform(r, SIZE - r) for _ in range(2))      # the whole figure stays inside
        angle = rng.uniform(-0.35, 0.35, n)[:, None, None]         # up to about 20 degrees
        x = (grid[None, None, :] - cx[:, None, None]) / r[:, None, None]
        y = (grid[None, :, None] - cy[:, None, None]) / r[:, None, None]
        u = numpy.cos(angle) * x + numpy.sin(angle) * y
        v = -numpy.sin(angle) * x + numpy.cos(angle) * y
        mask = _masks(label, u, v, r, rng)
        background = rng.uniform(0, 1, (n, 3))
        foreground = rng.uniform(0, 1, (n, 3))
        close = numpy.abs(foreground - background).mean(1) < 0.35  # too little contrast: invert it
        foreground[close] = 1 - background[close]
        picture = numpy.where(mask[:, None], foreground[:, :, None, None], background[:, :, None, None])
        noise = rng.uniform(0.02, 0.12, n)[:, None, None, None] * rng.standard_normal(picture.shape)
        images[idx] = numpy.clip(picture + noise, 0, 1)
    return images, labels.astype(numpy.int64)


def load(train_size=10000, test_size=2000, seed=0):
    """Train and test splits drawn from independent streams of the same generator."""
    return generate(train_size, seed), generate(test_size, seed + 1_000_003)
