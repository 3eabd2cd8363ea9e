/* im2col and col2im for direct convolution (minifft/conv/direct.py), float32 and float64.

   x is (S, C, H, W), C-contiguous. The columns of sample s are rows r = (c, a, b) of oh * ow
   values, element (s, r, i, j) at cols[s * ss + r * rs + i * ow + j]: ss and rs are the caller's
   strides in elements, so one kernel writes the per-sample layout (S, C, kh, kw, oh, ow) or any
   other that keeps each row's oh * ow values contiguous.

   Stride 1 (and strides whose taps miss a phase, below): padding is never materialised: for each
   tap (a, b) the output rows and columns whose input position (i * sh - ph + a * dh, j * sw - pw +
   b * dw) falls inside the image are computed once (clipped), and the rest of the row is zero
   (im2col) or contributes nothing (col2im).

   Larger strides where the taps meet every phase (3x3 at stride 2, say): one channel at a time is
   split into its sh * sw phases, phase (p, q) holding the zero-padded image's rows p, p + sh, ...
   and columns q, q + sw, ... (one de-interleaving pass over the image; vector shuffles at sw = 2).
   Every tap is then a stride-1 window of one phase: each column row is copied in vector chunks,
   and col2im adds rows into the phases and interleaves them back once. Against the clipped
   stride-2 gather (one scalar load per element, 2.25 per input element at 3x3) this measured
   (64, 16, 32, 32, 3, stride 2, pad 1) im2col 17 -> 8-10 us a sample and col2im 18 -> 6 us (one
   thread). Taps that miss a phase (1x1 at stride 2) keep the gather: splitting would copy the
   whole image to use a quarter of it. The strided forward skips the columns altogether: split
   (below) makes the phases, and gemm.c's gemm_windows reads the taps' windows from them. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* floor(a / b) for b > 0 and any a */
static inline ptrdiff_t floor_div(ptrdiff_t a, ptrdiff_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* [*lo, *hi): the outputs t in [0, n) whose input position t * s + off lies in [0, size) */
static inline void valid_range(ptrdiff_t n, ptrdiff_t s, ptrdiff_t off, ptrdiff_t size,
                               ptrdiff_t *lo, ptrdiff_t *hi) {
    ptrdiff_t l = off >= 0 ? 0 : floor_div(-off + s - 1, s);        /* ceil(-off / s) */
    ptrdiff_t h = floor_div(size - 1 - off, s) + 1;
    if (l < 0) l = 0;
    if (l > n) l = n;   /* no output sees the image: all of [0, n) is padding */
    if (h > n) h = n;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

/* whether the taps a * d (a < k) meet every residue modulo s */
static int covers(ptrdiff_t k, ptrdiff_t d, ptrdiff_t s) {
    for (ptrdiff_t r = 0; r < s; ++r) {
        ptrdiff_t a = 0;
        while (a < k && (a * d) % s != r) ++a;
        if (a == k) return 0;
    }
    return 1;
}

static int split_pays(ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t dh,
                      ptrdiff_t dw) {
    return (sh > 1 || sw > 1) && covers(kh, dh, sh) && covers(kw, dw, sw);
}

/* Each phase is up x vp, enough for every tap's window (rows a * dh / sh + i, i < oh) and every
   image position (row (r + ph) / sh, r < H), then `slack` elements that vector chunks running past
   a row's end may touch; phase (p, q) starts at (p * sw + q) * plane. */
typedef struct { ptrdiff_t up, vp, plane; } phases_t;

static phases_t phase_shape(ptrdiff_t H, ptrdiff_t W, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh,
                            ptrdiff_t sw, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t dh, ptrdiff_t dw,
                            ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t slack) {
    phases_t f;
    ptrdiff_t u = oh - 1 + (kh - 1) * dh / sh, v = ow - 1 + (kw - 1) * dw / sw;
    ptrdiff_t ui = (H - 1 + ph) / sh, vi = (W - 1 + pw) / sw;
    f.up = (u > ui ? u : ui) + 1;
    f.vp = (v > vi ? v : vi) + 1;
    f.plane = f.up * f.vp + slack;
    return f;
}

/* where tap (a, b)'s window starts in the phases */
static ptrdiff_t window(ptrdiff_t a, ptrdiff_t b, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t dh,
                        ptrdiff_t dw, phases_t f) {
    return (a * dh % sh * sw + b * dw % sw) * f.plane + a * dh / sh * f.vp + b * dw / sw;
}

/* each tap's window (kh * kw offsets, or NULL), computed once: divisions per tap and channel
   cost as much as the copies */
static ptrdiff_t *windows(ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t dh,
                          ptrdiff_t dw, phases_t f) {
    ptrdiff_t *win = malloc((size_t)(kh * kw) * sizeof *win);
    if (win)
        for (ptrdiff_t a = 0; a < kh; ++a)
            for (ptrdiff_t b = 0; b < kw; ++b) win[a * kw + b] = window(a, b, sh, sw, dh, dw, f);
    return win;
}

/* elements after each phase: reads and stores of vector chunks (64 bytes at most, gemm.c's
   gemm_windows included) that run past a row's end stay inside the buffer */
#define SLACK 16

/* The layout of the phases, for callers that split x themselves (split_f32, then gemm.c's
   gemm_windows): out[0] whether the split pays (the taps meet every phase, stride > 1), out[1:4]
   up, vp and the elements of a phase, out[4:4 + kh * kw] where each tap's window starts. */
void phase_layout(ptrdiff_t *out, ptrdiff_t H, ptrdiff_t W, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh,
                  ptrdiff_t sw, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t oh,
                  ptrdiff_t ow) {
    phases_t f = phase_shape(H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, SLACK);
    out[0] = split_pays(kh, kw, sh, sw, dh, dw);
    out[1] = f.up;
    out[2] = f.vp;
    out[3] = f.plane;
    for (ptrdiff_t a = 0; a < kh; ++a)
        for (ptrdiff_t b = 0; b < kw; ++b)
            out[4 + a * kw + b] = window(a, b, sh, sw, dh, dw, f);
}

typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
typedef double v4d __attribute__((vector_size(32)));
typedef long long v4l __attribute__((vector_size(32)));

#define DEFINE_KERNELS(T, V, M, SFX, LANES, EVEN, ODD, LOW, HIGH)                                   \
enum { VC_##SFX = sizeof(V) / sizeof(T) };                                                          \
static inline V vload_##SFX(const T *p) { V v; memcpy(&v, p, sizeof v); return v; }                 \
static inline void vstore_##SFX(T *p, V v) { memcpy(p, &v, sizeof v); }                             \
                                                                                                    \
/* dst (rows x n, contiguous) = rows n long, ls apart, from src, in vector chunks: a chunk running  \
   past a row's end is stored whole where it ends inside dst (the next row overwrites the excess),  \
   else element by element; src is read up to VC - 1 elements past a row's end */                   \
static inline void copy_rows_##SFX(T *restrict dst, const T *restrict src, ptrdiff_t rows,          \
                                 ptrdiff_t n, ptrdiff_t ls) {                                       \
    ptrdiff_t total = rows * n;                                                                     \
    if (n % VC_##SFX == 0) {   /* whole chunks (no test per chunk) */                               \
        for (ptrdiff_t i = 0; i < rows; ++i)                                                        \
            for (ptrdiff_t j = 0; j < n; j += VC_##SFX)                                             \
                vstore_##SFX(dst + i * n + j, vload_##SFX(src + i * ls + j));                       \
        return;                                                                                     \
    }                                                                                               \
    for (ptrdiff_t i = 0; i < rows; ++i) {                                                          \
        T *d = dst + i * n;                                                                         \
        const T *s = src + i * ls;                                                                  \
        ptrdiff_t j = 0;                                                                            \
        for (; j < n && i * n + j + VC_##SFX <= total; j += VC_##SFX)                               \
            vstore_##SFX(d + j, vload_##SFX(s + j));                                                \
        for (; j < n; ++j) d[j] = s[j];                                                             \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* dst rows (ls apart) += src (rows x n, contiguous) */                                             \
static inline void add_rows_##SFX(T *restrict dst, const T *restrict src, ptrdiff_t rows,           \
                                ptrdiff_t n, ptrdiff_t ls) {                                        \
    for (ptrdiff_t i = 0; i < rows; ++i) {                                                          \
        T *d = dst + i * ls;                                                                        \
        const T *s = src + i * n;                                                                   \
        ptrdiff_t j = 0;                                                                            \
        for (; j + VC_##SFX <= n; j += VC_##SFX)                                                    \
            vstore_##SFX(d + j, vload_##SFX(d + j) + vload_##SFX(s + j));                           \
        for (; j < n; ++j) d[j] += s[j];                                                            \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* the image positions of the phases from one channel (H, W) of x, which ends at `end` (the         \
   padding's positions are zero from phase_scratch and stay so: chunks running past a phase row     \
   store zeros there, or in the next rows' positions, written after them) */                        \
static void split_plane_##SFX(const T *restrict plane, const T *end, T *restrict phase,             \
                              ptrdiff_t H, ptrdiff_t W, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph,   \
                              ptrdiff_t pw, phases_t f) {                                           \
    ptrdiff_t p = ph % sh, u = ph / sh;   /* row r's phase and row there, stepped */                \
    for (ptrdiff_t r = 0; r < H; ++r) {                                                             \
        T *out = phase + p * sw * f.plane + u * f.vp;                                               \
        const T *in = plane + r * W;                                                                \
        if (sw == 2) {   /* even and odd columns from each pair of chunks, masked past the row */   \
            T *e = out + pw % 2 * f.plane + pw / 2;                                                 \
            T *o = out + (pw + 1) % 2 * f.plane + (pw + 1) / 2;                                     \
            ptrdiff_t ne = (W + 1) / 2, no = W / 2, v = 0;                                          \
            for (; v < ne && in + 2 * (v + VC_##SFX) <= end; v += VC_##SFX) {                       \
                V a = vload_##SFX(in + 2 * v), b = vload_##SFX(in + 2 * v + VC_##SFX);              \
                V ev = __builtin_shuffle(a, b, EVEN), od = __builtin_shuffle(a, b, ODD);            \
                if (v + VC_##SFX > no) {                                                            \
                    M lane = LANES + (__typeof__(LANES[0]))v;                                       \
                    ev = (V)((M)ev & (lane < (M){0} + (__typeof__(LANES[0]))ne));                   \
                    od = (V)((M)od & (lane < (M){0} + (__typeof__(LANES[0]))no));                   \
                }                                                                                   \
                vstore_##SFX(e + v, ev);                                                            \
                vstore_##SFX(o + v, od);                                                            \
            }                                                                                       \
            for (; v < ne; ++v) {                                                                   \
                e[v] = in[2 * v];                                                                   \
                if (v < no) o[v] = in[2 * v + 1];                                                   \
            }                                                                                       \
        } else if (sw == 1) {                                                                       \
            memcpy(out + pw, in, (size_t)W * sizeof(T));                                            \
        } else {                                                                                    \
            for (ptrdiff_t c0 = 0; c0 < sw && c0 < W; ++c0) {                                       \
                T *o = out + (c0 + pw) % sw * f.plane + (c0 + pw) / sw;                             \
                for (ptrdiff_t c = c0; c < W; c += sw) *o++ = in[c];                                \
            }                                                                                       \
        }                                                                                           \
        if (++p == sh) {                                                                            \
            p = 0;                                                                                  \
            ++u;                                                                                    \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* the inverse: a plane of gx (H, W) from the phases, the padding's positions dropped */            \
static void merge_##SFX(const T *restrict phase, T *restrict plane, ptrdiff_t H, ptrdiff_t W,       \
                        ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph, ptrdiff_t pw, phases_t f) {       \
    ptrdiff_t p = ph % sh, u = ph / sh;                                                             \
    for (ptrdiff_t r = 0; r < H; ++r) {                                                             \
        const T *in = phase + p * sw * f.plane + u * f.vp;                                          \
        T *out = plane + r * W;                                                                     \
        ptrdiff_t c = 0;                                                                            \
        if (sw == 2) {   /* columns c, c + 1 from phases (c + pw) % 2 and (c + 1 + pw) % 2 */       \
            const T *e = in + pw % 2 * f.plane + pw / 2;                                            \
            const T *o = in + (1 - pw % 2) * f.plane + (pw + 1) / 2;                                \
            for (; c + 2 * VC_##SFX <= W; c += 2 * VC_##SFX) {                                      \
                V a = vload_##SFX(e + c / 2), b = vload_##SFX(o + c / 2);                           \
                vstore_##SFX(out + c, __builtin_shuffle(a, b, LOW));                                \
                vstore_##SFX(out + c + VC_##SFX, __builtin_shuffle(a, b, HIGH));                    \
            }                                                                                       \
        }                                                                                           \
        for (; c < W; ++c) out[c] = in[(c + pw) % sw * f.plane + (c + pw) / sw];                    \
        if (++p == sh) {                                                                            \
            p = 0;                                                                                  \
            ++u;                                                                                    \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* zeroed phases, or NULL: then the clipped gather runs */                                          \
static T *phase_scratch_##SFX(ptrdiff_t sh, ptrdiff_t sw, phases_t f) {                             \
    return calloc((size_t)(sh * sw * f.plane), sizeof(T));                                          \
}                                                                                                   \
                                                                                                    \
/* planes[s, c] (each sh * sw * plane elements, from phase_layout) = the phases of x[s, c]; planes  \
   must be zeroed before the first call (the padding's positions are never written) */              \
void split_##SFX(const T *x, T *planes, ptrdiff_t S, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W,         \
                 ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t up,              \
                 ptrdiff_t vp, ptrdiff_t plane) {                                                   \
    phases_t f = {up, vp, plane};                                                                   \
    for (ptrdiff_t i = 0; i < S * C; ++i)                                                           \
        split_plane_##SFX(x + i * H * W, x + S * C * H * W, planes + i * sh * sw * plane, H, W,     \
                          sh, sw, ph, pw, f);                                                       \
}                                                                                                   \
                                                                                                    \
static int im2col_split_##SFX(const T *x, T *cols, ptrdiff_t S, ptrdiff_t C, ptrdiff_t H,           \
                            ptrdiff_t W, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw,    \
                            ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t oh,   \
                            ptrdiff_t ow, ptrdiff_t ss, ptrdiff_t rs) {                             \
    phases_t f = phase_shape(H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, SLACK);                  \
    T *phase = phase_scratch_##SFX(sh, sw, f);                                                      \
    ptrdiff_t *win = windows(kh, kw, sh, sw, dh, dw, f);                                            \
    if (!phase || !win) {                                                                           \
        free(phase);                                                                                \
        free(win);                                                                                  \
        return 0;                                                                                   \
    }                                                                                               \
    for (ptrdiff_t s = 0; s < S; ++s)                                                               \
    for (ptrdiff_t c = 0; c < C; ++c) {                                                             \
        split_plane_##SFX(x + (s * C + c) * H * W, x + S * C * H * W, phase, H, W, sh, sw, ph, pw,  \
                          f);                                                                       \
        for (ptrdiff_t a = 0; a < kh; ++a)                                                          \
        for (ptrdiff_t b = 0; b < kw; ++b)                                                          \
            copy_rows_##SFX(cols + s * ss + ((c * kh + a) * kw + b) * rs,                           \
                          phase + win[a * kw + b], oh, ow, f.vp);                                   \
    }                                                                                               \
    free(phase);                                                                                    \
    free(win);                                                                                      \
    return 1;                                                                                       \
}                                                                                                   \
                                                                                                    \
static int col2im_split_##SFX(const T *cols, T *gx, ptrdiff_t S, ptrdiff_t C, ptrdiff_t H,          \
                            ptrdiff_t W, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw,    \
                            ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t oh,   \
                            ptrdiff_t ow, ptrdiff_t ss, ptrdiff_t rs) {                             \
    phases_t f = phase_shape(H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, SLACK);                  \
    T *phase = phase_scratch_##SFX(sh, sw, f);                                                      \
    ptrdiff_t *win = windows(kh, kw, sh, sw, dh, dw, f);                                            \
    if (!phase || !win) {                                                                           \
        free(phase);                                                                                \
        free(win);                                                                                  \
        return 0;                                                                                   \
    }                                                                                               \
    for (ptrdiff_t s = 0; s < S; ++s)                                                               \
    for (ptrdiff_t c = 0; c < C; ++c) {                                                             \
        memset(phase, 0, (size_t)(sh * sw * f.plane) * sizeof(T));                                  \
        for (ptrdiff_t a = 0; a < kh; ++a)                                                          \
        for (ptrdiff_t b = 0; b < kw; ++b)                                                          \
            add_rows_##SFX(phase + win[a * kw + b],                                                 \
                         cols + s * ss + ((c * kh + a) * kw + b) * rs, oh, ow, f.vp);               \
        merge_##SFX(phase, gx + (s * C + c) * H * W, H, W, sh, sw, ph, pw, f);                      \
    }                                                                                               \
    free(phase);                                                                                    \
    free(win);                                                                                      \
    return 1;                                                                                       \
}                                                                                                   \
                                                                                                    \
void im2col_##SFX(const T *x, T *cols, ptrdiff_t S, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W,          \
                ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph,               \
                ptrdiff_t pw, ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t oh, ptrdiff_t ow,               \
                ptrdiff_t ss, ptrdiff_t rs) {                                                       \
    if (split_pays(kh, kw, sh, sw, dh, dw) &&                                                       \
        im2col_split_##SFX(x, cols, S, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, ss, rs))    \
        return;                                                                                     \
    for (ptrdiff_t s = 0; s < S; ++s)                                                               \
    for (ptrdiff_t c = 0; c < C; ++c) {                                                             \
        const T *plane = x + (s * C + c) * H * W;                                                   \
        for (ptrdiff_t a = 0; a < kh; ++a) {                                                        \
            ptrdiff_t i0, i1;                                                                       \
            valid_range(oh, sh, a * dh - ph, H, &i0, &i1);                                          \
            for (ptrdiff_t b = 0; b < kw; ++b) {                                                    \
                T *row = cols + s * ss + ((c * kh + a) * kw + b) * rs;                              \
                ptrdiff_t j0, j1, off = b * dw - pw;                                                \
                valid_range(ow, sw, off, W, &j0, &j1);                                              \
                memset(row, 0, (size_t)(i0 * ow) * sizeof(T));                                      \
                for (ptrdiff_t i = i0; i < i1; ++i) {                                               \
                    T *out = row + i * ow;                                                          \
                    const T *in = plane + (i * sh + a * dh - ph) * W;                               \
                    for (ptrdiff_t j = 0; j < j0; ++j) out[j] = 0;                                  \
                    if (sw == 1) {                                                                  \
                        memcpy(out + j0, in + j0 + off, (size_t)(j1 - j0) * sizeof(T));             \
                    } else {                                                                        \
                        for (ptrdiff_t j = j0; j < j1; ++j) out[j] = in[j * sw + off];              \
                    }                                                                               \
                    for (ptrdiff_t j = j1; j < ow; ++j) out[j] = 0;                                 \
                }                                                                                   \
                memset(row + i1 * ow, 0, (size_t)((oh - i1) * ow) * sizeof(T));                     \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* gx[s, c] = sum over taps (a, b) of the column rows scattered back to their input positions,      \
   summed in the order a, b (as the NumPy code adds them); gx is written, not accumulated. */       \
void col2im_##SFX(const T *cols, T *gx, ptrdiff_t S, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W,         \
                ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph,               \
                ptrdiff_t pw, ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t oh, ptrdiff_t ow,               \
                ptrdiff_t ss, ptrdiff_t rs) {                                                       \
    if (split_pays(kh, kw, sh, sw, dh, dw) &&                                                       \
        col2im_split_##SFX(cols, gx, S, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, ss, rs))   \
        return;                                                                                     \
    for (ptrdiff_t s = 0; s < S; ++s)                                                               \
    for (ptrdiff_t c = 0; c < C; ++c) {                                                             \
        T *plane = gx + (s * C + c) * H * W;                                                        \
        memset(plane, 0, (size_t)(H * W) * sizeof(T));                                              \
        for (ptrdiff_t a = 0; a < kh; ++a) {                                                        \
            ptrdiff_t i0, i1;                                                                       \
            valid_range(oh, sh, a * dh - ph, H, &i0, &i1);                                          \
            for (ptrdiff_t b = 0; b < kw; ++b) {                                                    \
                const T *row = cols + s * ss + ((c * kh + a) * kw + b) * rs;                        \
                ptrdiff_t j0, j1, off = b * dw - pw;                                                \
                valid_range(ow, sw, off, W, &j0, &j1);                                              \
                for (ptrdiff_t i = i0; i < i1; ++i) {                                               \
                    const T *in = row + i * ow;                                                     \
                    T *out = plane + (i * sh + a * dh - ph) * W;                                    \
                    if (sw == 1) {                                                                  \
                        _Pragma("omp simd")                                                         \
                        for (ptrdiff_t j = j0; j < j1; ++j) out[j + off] += in[j];                  \
                    } else {                                                                        \
                        for (ptrdiff_t j = j0; j < j1; ++j) out[j * sw + off] += in[j];             \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}

#define EVEN_f32 ((v8i){0, 2, 4, 6, 8, 10, 12, 14})
#define ODD_f32 ((v8i){1, 3, 5, 7, 9, 11, 13, 15})
#define LOW_f32 ((v8i){0, 8, 1, 9, 2, 10, 3, 11})
#define HIGH_f32 ((v8i){4, 12, 5, 13, 6, 14, 7, 15})
#define EVEN_f64 ((v4l){0, 2, 4, 6})
#define ODD_f64 ((v4l){1, 3, 5, 7})
#define LOW_f64 ((v4l){0, 4, 1, 5})
#define HIGH_f64 ((v4l){2, 6, 3, 7})
#define LANES_f32 ((v8i){0, 1, 2, 3, 4, 5, 6, 7})
#define LANES_f64 ((v4l){0, 1, 2, 3})
DEFINE_KERNELS(float, v8f, v8i, f32, LANES_f32, EVEN_f32, ODD_f32, LOW_f32, HIGH_f32)
DEFINE_KERNELS(double, v4d, v4l, f64, LANES_f64, EVEN_f64, ODD_f64, LOW_f64, HIGH_f64)
