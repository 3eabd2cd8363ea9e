"""Bounded memory: run a layer in pieces whose workspace fits the limit (Chunked wraps any
algorithm that estimates its workspace; the registered fft is Chunked(Polyphase(FFTConvolution()))).

A layer splits along the batch, and when one sample is still too much, along output channels
(one group of channels: the input gradient then sums over the pieces) or along channel groups.
Every piece is the same convolution on a slice, so the result equals the unsplit one up to
floating-point summation order. A split layer keeps only x and w for backward and recomputes
the spectra piece by piece: recomputing costs one more forward, failing would cost the run.
"""
import dataclasses
import warnings

from .. import backend, config
from .base import Wrapper
from .geometry import ceil_div
from .workspace import workspace_limit


@dataclasses.dataclass(frozen=True)
class Piece:
    batch: slice
    inputs: slice
    outputs: slice
    geometry: object


def plan(g, fits):
    """Pieces covering layer ``g`` such that ``fits(geometry)`` holds for each, fewest first;
    None when the whole layer fits. When nothing fits, the smallest pieces possible."""
    if fits(g):
        return None
    grouped = g.groups > 1
    units = g.groups if grouped else g.out_channels    # what the channel split is made of
    parts = 1
    while True:
        per_part = ceil_div(units, parts)
        channel_g = (dataclasses.replace(g, groups=per_part, in_channels=per_part * g.group_in,
                                         out_channels=per_part * g.group_out) if grouped
                     else dataclasses.replace(g, out_channels=per_part))
        batch = g.batch
        while batch > 1 and not fits(dataclasses.replace(channel_g, batch=batch)):
            batch = ceil_div(batch, 2)
        if fits(dataclasses.replace(channel_g, batch=batch)) or per_part == 1:
            return list(_pieces(g, batch, per_part, grouped))
        parts *= 2


def _pieces(g, batch, per_part, grouped):
    for b0 in range(0, g.batch, batch):
        bs = slice(b0, min(b0 + batch, g.batch))
        units = g.groups if grouped else g.out_channels
        for u0 in range(0, units, per_part):
            u1 = min(u0 + per_part, units)
            if grouped:
                sub = dataclasses.replace(g, batch=bs.stop - bs.start, groups=u1 - u0,
                                          in_channels=(u1 - u0) * g.group_in, out_channels=(u1 - u0) * g.group_out)
                yield Piece(bs, slice(u0 * g.group_in, u1 * g.group_in), slice(u0 * g.group_out, u1 * g.group_out), sub)
            else:
                sub = dataclasses.replace(g, batch=bs.stop - bs.start, out_channels=u1 - u0)
                yield Piece(bs, slice(0, g.in_channels), slice(u0, u1), sub)


@dataclasses.dataclass
class ChunkedSaved:
    pieces: list        # None: the layer ran whole
    inner: object       # the inner algorithm's saved state when whole
    x: object = None    # kept instead when split: backward recomputes piece by piece
    w: object = None


@dataclasses.dataclass
class ChunkedContext:
    inner: object       # the inner context when whole
    gx: object = None   # both gradients, when split
    gw: object = None


class Chunked(Wrapper):
    """Runs ``inner`` in pieces whose ``inner.workspace(...).peak`` fits the workspace limit.

    A layer's pieces are decided once per (layer, device, dtype, limit setting) and kept: the
    default limit follows free device memory, which changes as the run allocates, and a layer's
    plan must not change between steps (``plans()`` lists them, ``reset()`` forgets them).
    """

    def __init__(self, inner, name=None):
        super().__init__(inner, name)
        self._plans = {}

    def supports(self, g, device):
        return self.inner.supports(g, device)

    def cost(self, g, device='cpu'):
        return self.inner.cost(g, device)

    def workspace(self, g, itemsize, device='cpu'):
        return self.inner.workspace(g, itemsize, device)

    def pieces(self, g, x):
        """The pieces layer ``g`` runs in for input ``x`` (None: whole), decided once."""
        device = backend.device_of(x)
        # the C kernels (cpu_kernels) change what a pass allocates, so a plan is per setting too
        key = (g, device, x.dtype.str, config.get('workspace_limit'), config.get('cpu_kernels'))
        if key not in self._plans:
            limit = workspace_limit(device)
            itemsize = x.dtype.itemsize
            fits = self._under(limit, device, itemsize)
            pieces = self._plans[key] = plan(g, fits)
            if pieces is not None and not fits(pieces[0].geometry):
                need = self.inner.workspace(pieces[0].geometry, itemsize, device).peak
                warnings.warn(f"{self.name}: the layer {g.describe()} needs {need} bytes of workspace in its "
                              f"smallest piece, above the {limit}-byte limit; running it in {len(pieces)} "
                              f"pieces of that size", ResourceWarning, stacklevel=2)
        return self._plans[key]

    def _under(self, limit, device, itemsize):
        def fits(sub):  # an algorithm that models no workspace runs whole
            space = self.inner.workspace(sub, itemsize, device)
            return space is None or space.peak <= limit
        return fits

    def fits(self, g, device, itemsize):
        """Whether the smallest pieces of layer ``g`` fit the limit (no plan is kept, nothing warned)."""
        fits = self._under(workspace_limit(device), device, itemsize)
        pieces = plan(g, fits)
        return pieces is None or fits(pieces[0].geometry)

    def plans(self):
        """{(geometry, device, dtype, limit setting, cpu_kernels setting): pieces or None} for every
        layer planned."""
        return dict(self._plans)

    def reset(self):
        self._plans.clear()

    def forward(self, x, w, g):
        pieces = self.pieces(g, x)
        if pieces is None:
            y, saved = self.inner.forward(x, w, g)
            return y, ChunkedSaved(None, saved)
        y = backend.get_array_module(x).empty(g.output_shape, x.dtype)
        for p in pieces:
            y[p.batch, p.outputs] = self.inner.forward(x[p.batch, p.inputs], w[p.outputs], p.geometry)[0]
        return y, ChunkedSaved(pieces, None, x, w)

    def backward_setup(self, saved, gy, g):
        if saved.pieces is None:
            return ChunkedContext(self.inner.backward_setup(saved.inner, gy, g))
        x, w = saved.x, saved.w
        xp = backend.get_array_module(x)
        gx, gw = xp.zeros_like(x), xp.zeros_like(w)
        for p in saved.pieces:  # both gradients here: recomputed spectra are used once and dropped
            _, piece_saved = self.inner.forward(x[p.batch, p.inputs], w[p.outputs], p.geometry)
            ctx = self.inner.backward_setup(piece_saved, gy[p.batch, p.outputs], p.geometry)
            gx[p.batch, p.inputs] += self.inner.backward_input(ctx, p.geometry)
            gw[p.outputs] += self.inner.backward_weight(ctx, p.geometry)
        return ChunkedContext(None, gx, gw)

    def backward_input(self, ctx, g):
        return ctx.gx if ctx.inner is None else self.inner.backward_input(ctx.inner, g)

    def backward_weight(self, ctx, g):
        return ctx.gw if ctx.inner is None else self.inner.backward_weight(ctx.inner, g)
