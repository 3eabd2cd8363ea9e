"""The register-tiled GEMMs of ``gemm.c`` on NumPy arrays (float32, float64): batched, strided,
single-threaded calls (ctypes releases the GIL, so callers run chunks of the batch on the CPU
thread pool, and no BLAS thread setting is involved).

    nn(a, b, out, add=False)   out[g] (+)= a[g] @ b[g]              a (G, M, K) any strides,
                                                                    b (G, K, N), out (G, M, N)
                                                                    with their rows contiguous
    nt(a, b, out, add=False)   out[g] (+)= sum_r a[g, r] @ b[g, r].T   a (G, R, M, K), b (G, R, N, K)
                                                                    rows contiguous, out (G, M, N)
    windows(a, x, win, vp, out)   out[s, g] = a[g] @ B(s, g), B's rows the windows x[s, g * Cg + c]
                                  [win[t] + i * vp + j] (i, j < out's oh, ow) for each (c, t): a
                                  convolution whose columns are never made (conv/direct.py)
    nt_windows(x, win, vp, b, out, add=False)   out[g] (+)= sum_s A(s, g) @ b[s, g].T, A's rows the
                                  same windows: that convolution's weight gradient

A batch stride may be 0 (one operand for every g, e.g. the weights). ``library(*arrays)`` says
whether the kernels serve these arrays (host.library_for: NumPy arrays of one supported dtype,
cpu_kernels not 'off', a compiler).
"""
import ctypes

import numpy

from . import host

_I = ctypes.c_ssize_t
_P = ctypes.c_void_p
_NN = (_I,) * 4 + (_P, _I, _I, _I, _P, _I, _I, _P, _I, _I, _I)
_NT = (_I,) * 5 + (_P, _I, _I, _I, _P, _I, _I, _I, _P, _I, _I, _I)
_WINDOWS = (_I,) * 5 + (_P, _P, _P, _I, _I, _I, _I, _I, _P)
_NT_WINDOWS = (_I,) * 4 + (_P, _I, _P, _I, _I, _I, _I, _I, _P, _P, _I)


def library(*arrays):
    """The compiled gemm.c with its suffix for these arrays, or (None, None)."""
    return host.library_for('gemm', *arrays)


def _strides(op, a, names, unit=None):
    """a's strides in elements (ValueError naming ``op`` when one is not a whole number of
    elements, or when axis ``unit`` is not contiguous and has more than one element)."""
    s = []
    for axis, (stride, name) in enumerate(zip(a.strides, names)):
        if stride % a.itemsize:
            raise ValueError(f"gemm.{op}: expected strides in whole elements, got {a.strides} for {name}")
        s.append(stride // a.itemsize)
    if unit is not None and a.shape[unit] > 1 and s[unit] != 1:
        raise ValueError(f"gemm.{op}: expected the last axis of {names[-1]} contiguous, got strides {a.strides}")
    return s


def _check(op, a, b, out):
    lib, suffix = library(a, b, out)
    if lib is None:
        raise ValueError(f"gemm.{op}: expected NumPy arrays of one dtype (float32 or float64) with the "
                         f"C kernels available, got {a.dtype}, {b.dtype}, {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"gemm.{op}: expected a writeable out")
    return lib, suffix


def nn(a, b, out, add=False):
    """out[g] = a[g] @ b[g] (out[g] += with ``add``); shapes (G, M, K), (G, K, N), (G, M, N)."""
    lib, suffix = _check('nn', a, b, out)
    G, M, K = a.shape
    N = b.shape[2]
    if b.shape[:2] not in ((G, K), (1, K)) or out.shape != (G, M, N):
        raise ValueError(f"gemm.nn: expected a (G, M, K), b (G, K, N), out (G, M, N), got "
                         f"{a.shape}, {b.shape}, {out.shape}")
    sa = _strides('nn', a, ('batch', 'rows', 'a'))
    sb = _strides('nn', b, ('batch', 'rows', 'b'), unit=2)
    so = _strides('nn', out, ('batch', 'rows', 'out'), unit=2)
    if b.shape[0] == 1:
        sb[0] = 0
    host.function(lib, f'gemm_nn_{suffix}', *_NN)(
        G, M, N, K, host.address(a), *sa, host.address(b), sb[0], sb[1], host.address(out), so[0], so[1], int(add))
    return out


def nt(a, b, out, add=False):
    """out[g] = sum_r a[g, r] @ b[g, r].T (+= with ``add``); shapes (G, R, M, K), (G, R, N, K),
    (G, M, N)."""
    lib, suffix = _check('nt', a, b, out)
    G, R, M, K = a.shape
    N = b.shape[2]
    if b.shape != (G, R, N, K) or out.shape != (G, M, N):
        raise ValueError(f"gemm.nt: expected a (G, R, M, K), b (G, R, N, K), out (G, M, N), got "
                         f"{a.shape}, {b.shape}, {out.shape}")
    sa = _strides('nt', a, ('batch', 'sum', 'rows', 'a'), unit=3)
    sb = _strides('nt', b, ('batch', 'sum', 'rows', 'b'), unit=3)
    so = _strides('nt', out, ('batch', 'rows', 'out'), unit=2)
    host.function(lib, f'gemm_nt_{suffix}', *_NT)(
        G, R, M, N, K, host.address(a), sa[0], sa[1], sa[2], host.address(b), sb[0], sb[1], sb[2],
        host.address(out), so[0], so[1], int(add))
    return out


def _check_windows(op, x, win, vp, oh, ow, *operands):
    """ValueError naming ``op`` unless x (S, C, L), win (T,) intp and the other ``operands`` are
    C-contiguous and each window (oh x ow, rows vp apart) lies inside a channel of x with a vector
    (64 bytes) to spare after it, which the kernels may read."""
    if win.ndim != 1 or win.dtype != numpy.intp or not all(a.flags.c_contiguous for a in (x, win) + operands):
        raise ValueError(f"gemm.{op}: expected C-contiguous arrays and intp window offsets")
    reach = (oh - 1) * vp + ow - 1 + 64 // x.itemsize - 1   # the last window element and a vector after it
    if oh * ow and len(win) and (win.min() < 0 or ow > vp or win.max() + reach >= x.shape[2]):
        raise ValueError(f"gemm.{op}: expected windows (rows {vp} apart, {oh} x {ow}) inside x's {x.shape[2]} "
                         f"elements per channel with a vector to spare, got offsets {win.min()}..{win.max()}")


def windows(a, x, win, vp, out):
    """out[s, g] (M, oh, ow) = a[g] (M, Cg * T) @ B, B[(c, t), (i, j)] = x[s, g * Cg + c][win[t] + i * vp
    + j]; shapes a (G, M, Cg * T), x (S, G * Cg, L), win (T,) (intp), out (S, G, M, oh, ow), all
    C-contiguous. The kernel reads up to one vector (64 bytes) past each window, which must stay
    inside x's channel (ValueError otherwise)."""
    lib, suffix = _check('windows', a, x, out)
    G, M, K = a.shape
    S, C, L = x.shape
    T = win.shape[0] if win.ndim == 1 else 0
    oh, ow = out.shape[3:] if out.ndim == 5 else (0, 0)
    if T == 0 or K % T or C != G * (K // T) or out.shape != (S, G, M, oh, ow):
        raise ValueError(f"gemm.windows: expected a (G, M, Cg * T), x (S, G * Cg, L), win (T,), out (S, G, M, "
                         f"oh, ow), got {a.shape}, {x.shape}, {win.shape}, {out.shape}")
    _check_windows('windows', x, win, vp, oh, ow, a, out)
    host.function(lib, f'gemm_windows_{suffix}', *_WINDOWS)(
        S, G, M, K // T, T, host.address(win), host.address(a), host.address(x), C * L, L, vp, oh, ow,
        host.address(out))
    return out


def nt_windows(x, win, vp, b, out, add=False):
    """out[g] (M, N) (+)= sum_s A(s, g) @ b[s, g].T, A[(c, t), (i, j)] = x[s, g * Cg + c][win[t] + i * vp
    + j]: the weight gradient of the convolution in ``windows``; shapes x (S, G * Cg, L), win (T,),
    b (S, G, N, oh, ow), out (G, Cg * T, N), all C-contiguous (ValueError otherwise)."""
    lib, suffix = _check('nt_windows', x, b, out)
    S, C, L = x.shape
    G, M, N = out.shape
    T = win.shape[0] if win.ndim == 1 else 0
    oh, ow = b.shape[3:] if b.ndim == 5 else (0, 0)
    if T == 0 or M % T or C != G * (M // T) or b.shape != (S, G, N, oh, ow):
        raise ValueError(f"gemm.nt_windows: expected x (S, G * Cg, L), win (T,), b (S, G, N, oh, ow), out (G, "
                         f"Cg * T, N), got {x.shape}, {win.shape}, {b.shape}, {out.shape}")
    _check_windows('nt_windows', x, win, vp, oh, ow, b, out)
    if not host.function(lib, f'gemm_nt_windows_{suffix}', *_NT_WINDOWS, returns=ctypes.c_int)(
            S, G, M // T, T, host.address(win), N, host.address(x), C * L, L, vp, oh, ow, host.address(b),
            host.address(out), int(add)):
        raise MemoryError("gemm.nt_windows: could not allocate its offset tables")
    return out
