"""Dilation for algorithms that have none (the FFT): the kernel written dilated.

A kernel with taps d apart is the kernel of span (k - 1) * d + 1 that holds the taps at multiples
of d and zeros between them. In the FFT algorithm that is the kernel written dilated into the
transform buffer: its spectrum costs the same as any kernel's of that span, which the transform
size covers anyway, so dilation is free there. The weight gradient of the dilated kernel holds
the taps' gradients at the same multiples of d; the positions between them are dropped.
"""
from ..backend import get_array_module
from .base import Wrapper


def dilate_weight(w, g):
    """w (f', f/G, kh, kw) written into (f', f/G, span_h, span_w) with taps dilation apart."""
    xp = get_array_module(w)
    wd = xp.zeros(w.shape[:2] + (g.span_h, g.span_w), w.dtype)
    wd[:, :, ::g.dilation_h, ::g.dilation_w] = w
    return wd


class Dilated(Wrapper):
    """Runs a dilated layer through ``inner`` as the undilated layer with the dilated kernel."""

    def supports(self, g, device):
        return self.inner.supports(g.undilated(), device)

    def cost(self, g, device='cpu'):
        return self.inner.cost(g.undilated(), device)

    def workspace(self, g, itemsize, device='cpu'):
        return self.inner.workspace(g.undilated(), itemsize, device)

    def forward(self, x, w, g):
        if g.dilated:
            w = dilate_weight(w, g)
        return self.inner.forward(x, w, g.undilated())

    def backward_setup(self, saved, gy, g):
        return self.inner.backward_setup(saved, gy, g.undilated())

    def backward_input(self, ctx, g):
        return self.inner.backward_input(ctx, g.undilated())

    def backward_weight(self, ctx, g):
        gw = self.inner.backward_weight(ctx, g.undilated())
        if not g.dilated:
            return gw
        return get_array_module(gw).ascontiguousarray(gw[:, :, ::g.dilation_h, ::g.dilation_w])
