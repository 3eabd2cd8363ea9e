"""Tiled FFT convolution (overlap-save forward, overlap-add bprop): the transform size follows the
kernel, not the image.

A stride-1 layer with input n, padding p, kernel k has m = n + 2p - k + 1 outputs per axis. Cut
the outputs into t = ceil(m / L) tiles of L = T - k + 1; output tile i reads padded-input rows
[i*L, i*L + T), one input tile of T rows (tiles overlap by k - 1). At transform size T a tile's
circular correlation with the kernel is exact at its first L positions (overlap-save), so the
layer is a batch of small layers:

    x tiles (S*t_h*t_w, f, T_h, T_w) * w  ->  y tiles (S*t_h*t_w, f', L_h, L_w)

with the tiles as extra batch entries. Both gradients follow by linearity, as the tiles partition
the output: the input gradient is the overlap-add of the tiles' input gradients (each a full
convolution of a gy tile with w, T rows), put back at [i*L, i*L + T) of the padded input and
cropped to it; the weight gradient is the tile layer's, whose batch sum already runs over tiles.
So each pass is FFTConvolution's (same transforms, spectral product, gathers: nothing copied)
on the tile layer, whose transform size is T (T is fast, and N >= max(T, L, k) = T).

The per-frequency products get t_h*t_w times more rows over (N/T)^2 times fewer bins: fewer,
larger matrix products, which BLAS and the GPU kernel run better, and each transform is small.
The price is the overlap: a tile spends T(T/2+1) bins on L^2 outputs, so the products do more
flops than the whole-image transform's (1.4x at n = 128, k = 3, T = 16) and the spectra are larger.

Tile rule (per axis): the smallest power of two T >= ``min_tile`` (16) with L = T - k + 1 at least
``share`` (0.8) of T: k <= 4 -> 16, k <= 7 -> 32, k <= 13 -> 64, so the overlap costs at most
(1/0.8)^2 = 1.56x the bins per output. When the padded axis n + 2p is shorter than ``min_tiles`` (4)
such tiles, one tile of next_fast_len(n + 2p) covers it (plain FFT, no overlap): measured on our
2-core CPU, fewer, larger tiles lose to the whole-image transform (e.g. T = 8 on 32 x 32 images took
1.4-2.6x the fft's time, T = 8 at k = 5 up to 4x), while 16 x 16 tiles on 64-128 px images with
k = 3 came out level with it or faster (0.76-0.93x at 128 px, 0.85-1.5x at 64 px: the machine's
noise; benchmarks/README.md). Strides and dilation come from
the wrappers (registered as Chunked(Dilated(Polyphase(TiledFFT())))), groups and padding natively.
"""
import dataclasses

from .. import backend
from .base import ConvAlgorithm, Workspace
from .fft import FFTConvolution, fft_module_for, spectral_bytes
from .geometry import ConvGeometry, ceil_div


MIN_TILE = 16     # T never below this
SHARE = 0.8       # L = T - k + 1 at least this share of T
MIN_TILES = 4     # one whole-axis tile when the padded axis is shorter than this many tiles


@dataclasses.dataclass(frozen=True)
class TileAxis:
    """One axis's tiling: transform size T, outputs per tile L, tile count t, blocks per tile q."""

    size: int       # T
    step: int       # L = T - k + 1
    count: int      # t = ceil(m / L)

    @property
    def blocks(self):
        """Blocks of L rows a tile spans (the last one partly): tiles are assembled from them."""
        return ceil_div(self.size, self.step)

    @property
    def extent(self):
        """Rows of the block buffer: every tile's blocks, t + q - 1 of them."""
        return (self.count + self.blocks - 1) * self.step


def tile_size(n, k, p, fft_module, min_tile=MIN_TILE, share=SHARE, min_tiles=MIN_TILES):
    """The tile transform size for one axis (see the module text)."""
    T = min_tile
    while T - k + 1 < share * T:
        T *= 2
    if n + 2 * p < min_tiles * T:
        return fft_module.next_fast_len(n + 2 * p, real=True)
    return T


def tile_axis(n, k, p, T):
    m = n + 2 * p - k + 1
    return TileAxis(T, T - k + 1, ceil_div(m, T - k + 1))


@dataclasses.dataclass
class TiledSaved:
    rows: TileAxis
    cols: TileAxis
    tile_geometry: ConvGeometry
    inner: object       # FFTConvolution's saved state of the tile layer


@dataclasses.dataclass
class TiledContext:
    rows: TileAxis
    cols: TileAxis
    tile_geometry: ConvGeometry
    inner: object


def _block_views(rows, cols):
    """For each (block row qh, block col qw) of a tile: (tile slices, block slices)."""
    for qh in range(rows.blocks):
        r0, r1 = qh * rows.step, min(rows.size, (qh + 1) * rows.step)
        for qw in range(cols.blocks):
            c0, c1 = qw * cols.step, min(cols.size, (qw + 1) * cols.step)
            yield ((slice(r0, r1), slice(c0, c1)),
                   (slice(qh, qh + rows.count), slice(0, r1 - r0), slice(qw, qw + cols.count), slice(0, c1 - c0)))


class TiledFFT(ConvAlgorithm):
    """algo='fft-tiled': FFTConvolution on tiles of a small transform size (see the module text).
    Runs stride-1, undilated layers (the wrappers reduce the others to those)."""

    name = 'fft-tiled'

    def __init__(self, min_tile=MIN_TILE, share=SHARE, min_tiles=MIN_TILES, name=None):
        self.min_tile, self.share, self.min_tiles = min_tile, share, min_tiles
        self.name = name or self.name
        self.fft = FFTConvolution()
        self.devices = self.fft.devices

    def supports(self, g, device):
        return device in self.devices and not g.strided and not g.dilated

    def same_work_as(self, g, device):
        """'fft' where both axes are one whole tile: the same transforms and products."""
        rows, cols = self.tiling(g, fft_module_for(device))
        return 'fft' if rows.count == cols.count == 1 else None

    def tiling(self, g, fft_module):
        """(rows, cols) TileAxis of layer ``g``."""
        T0 = tile_size(g.height, g.kernel_h, g.pad_h, fft_module, self.min_tile, self.share, self.min_tiles)
        T1 = tile_size(g.width, g.kernel_w, g.pad_w, fft_module, self.min_tile, self.share, self.min_tiles)
        return tile_axis(g.height, g.kernel_h, g.pad_h, T0), tile_axis(g.width, g.kernel_w, g.pad_w, T1)

    @staticmethod
    def tile_geometry(g, rows, cols):
        """The unpadded layer over tiles that computes ``g``: the tiles are batch entries."""
        return ConvGeometry(g.batch * rows.count * cols.count, g.in_channels, g.out_channels, rows.size, cols.size,
                            g.kernel_h, g.kernel_w, groups=g.groups)

    def _tile_layer(self, g, device):
        rows, cols = self.tiling(g, fft_module_for(device))
        return self.tile_geometry(g, rows, cols)

    def cost(self, g, device='cpu'):
        """The tile layer's count: overlap included (its batch holds every tile, T x T each)."""
        return self.fft.cost(self._tile_layer(g, device), device)

    def workspace(self, g, itemsize, device='cpu'):
        """The tile layer's spectra (spectral_bytes) plus the real tile buffers besides them: in
        forward the block buffer and the x tiles, in backward the gx tiles and their overlap-add."""
        rows, cols = self.tiling(g, fft_module_for(device))
        gt = self.tile_geometry(g, rows, cols)
        inner = spectral_bytes(gt, itemsize, device)
        blocks = g.batch * g.in_channels * rows.extent * cols.extent * itemsize
        tiles = gt.batch * g.in_channels * rows.size * cols.size * itemsize
        out_tiles = gt.batch * g.out_channels * rows.step * cols.step * itemsize   # y tiles, gy tiles
        terms = dict(inner.terms, **{'x tiles and block buffer (forward)': blocks + tiles,
                                     'gy tiles': out_tiles, 'gx tiles and overlap-add buffer': tiles + blocks})
        forward = inner.peak + blocks + tiles + out_tiles
        backward = inner.peak + out_tiles + tiles + blocks
        return Workspace(inner.kept, max(forward, backward), terms)

    def _tiles(self, x, g, rows, cols):
        """x (S, f, H, W) -> its padded input tiles (S*t_h*t_w, f, T_h, T_w)."""
        xp = backend.get_array_module(x)
        S, f = x.shape[:2]
        buf = xp.zeros((S, f, rows.extent, cols.extent), x.dtype)
        buf[:, :, g.pad_h:g.pad_h + g.height, g.pad_w:g.pad_w + g.width] = x
        blocks = buf.reshape(S, f, rows.extent // rows.step, rows.step, cols.extent // cols.step, cols.step)
        tiles = xp.empty((S, rows.count, cols.count, f, rows.size, cols.size), x.dtype)
        for (tr, tc), (bh, bl, bw, bc) in _block_views(rows, cols):
            tiles[..., tr, tc] = blocks[:, :, bh, bl, bw, bc].transpose(0, 2, 4, 1, 3, 5)
        return tiles.reshape(S * rows.count * cols.count, f, rows.size, cols.size)

    @staticmethod
    def _output_tiles(gy, rows, cols):
        """gy (S, f', m_h, m_w) -> its tiles (S*t_h*t_w, f', L_h, L_w), zero past m."""
        xp = backend.get_array_module(gy)
        S, fo, mh, mw = gy.shape
        buf = xp.zeros((S, fo, rows.count * rows.step, cols.count * cols.step), gy.dtype)
        buf[:, :, :mh, :mw] = gy
        buf = buf.reshape(S, fo, rows.count, rows.step, cols.count, cols.step).transpose(0, 2, 4, 1, 3, 5)
        return xp.ascontiguousarray(buf).reshape(-1, fo, rows.step, cols.step)

    def forward(self, x, w, g):
        rows, cols = self.tiling(g, backend.fft_module(x))
        gt = self.tile_geometry(g, rows, cols)
        yt, inner = self.fft.forward(self._tiles(x, g, rows, cols), w, gt)      # (S*t_h*t_w, f', L_h, L_w)
        S, fo = g.batch, g.out_channels
        y = yt.reshape(S, rows.count, cols.count, fo, rows.step, cols.step).transpose(0, 3, 1, 4, 2, 5)
        y = y.reshape(S, fo, rows.count * rows.step, cols.count * cols.step)[:, :, :g.out_h, :g.out_w]
        return backend.get_array_module(y).ascontiguousarray(y), TiledSaved(rows, cols, gt, inner)

    def backward_setup(self, saved, gy, g):
        gyt = self._output_tiles(gy, saved.rows, saved.cols)
        inner = self.fft.backward_setup(saved.inner, gyt, saved.tile_geometry)
        return TiledContext(saved.rows, saved.cols, saved.tile_geometry, inner)

    def backward_input(self, ctx, g):
        rows, cols = ctx.rows, ctx.cols
        gxt = self.fft.backward_input(ctx.inner, ctx.tile_geometry)            # (S*t_h*t_w, f, T_h, T_w)
        S, f = g.batch, g.in_channels
        gxt = gxt.reshape(S, rows.count, cols.count, f, rows.size, cols.size).transpose(0, 3, 1, 4, 2, 5)
        xp = backend.get_array_module(gxt)
        buf = xp.zeros((S, f, rows.extent // rows.step, rows.step, cols.extent // cols.step, cols.step), gxt.dtype)
        for (tr, tc), (bh, bl, bw, bc) in _block_views(rows, cols):
            # within one statement tile i lands on block i + q: distinct blocks, no aliasing
            buf[:, :, bh, bl, bw, bc] += gxt[:, :, :, tr, :, tc]
        gx = buf.reshape(S, f, rows.extent, cols.extent)[:, :, g.pad_h:g.pad_h + g.height, g.pad_w:g.pad_w + g.width]
        return xp.ascontiguousarray(gx)

    def backward_weight(self, ctx, g):
        return self.fft.backward_weight(ctx.inner, ctx.tile_geometry)   # the batch sum runs over tiles


__all__ = ['TiledFFT', 'TileAxis', 'tile_size', 'tile_axis']
