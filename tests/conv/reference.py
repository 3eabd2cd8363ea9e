"""Naive loop convolution in float64: the reference every algorithm is checked against."""
import numpy


def conv2d_reference(x, w, gy=None, stride=(1, 1), padding=(0, 0)):
    """Return y, and (gx, gw) when gy is given, by explicit loops over output positions."""
    (sh, sw), (ph, pw) = stride, padding
    S, f, H, W = x.shape
    fo, _, kh, kw = w.shape
    xpad = numpy.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y = numpy.zeros((S, fo, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xpad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            y[:, :, i, j] = numpy.einsum('scab,ocab->so', window, w)
    if gy is None:
        return y
    gxpad = numpy.zeros_like(xpad)
    gw = numpy.zeros_like(w)
    for i in range(oh):
        for j in range(ow):
            window = xpad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            gxpad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += numpy.einsum('so,ocab->scab', gy[:, :, i, j], w)
            gw += numpy.einsum('so,scab->ocab', gy[:, :, i, j], window)
    return y, gxpad[:, :, ph:ph + H, pw:pw + W], gw
