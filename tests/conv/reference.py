"""Naive loop convolution in float64: the reference every algorithm is checked against."""
import numpy


def conv2d_reference(x, w, gy=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """Return y, and (gx, gw) when gy is given, by explicit loops over output positions.
    With dilation (dh, dw) the window of an output takes every dh-th row and dw-th column."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    S, f, H, W = x.shape
    fo, _, kh, kw = w.shape
    xpad = numpy.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    oh, ow = (H + 2 * ph - span_h) // sh + 1, (W + 2 * pw - span_w) // sw + 1

    def window(i, j):
        return (slice(None), slice(None), slice(i * sh, i * sh + span_h, dh), slice(j * sw, j * sw + span_w, dw))
    y = numpy.zeros((S, fo, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = numpy.einsum('scab,ocab->so', xpad[window(i, j)], w)
    if gy is None:
        return y
    gxpad = numpy.zeros_like(xpad)
    gw = numpy.zeros_like(w)
    for i in range(oh):
        for j in range(ow):
            gxpad[window(i, j)] += numpy.einsum('so,ocab->scab', gy[:, :, i, j], w)
            gw += numpy.einsum('so,scab->ocab', gy[:, :, i, j], xpad[window(i, j)])
    return y, gxpad[:, :, ph:ph + H, pw:pw + W], gw
