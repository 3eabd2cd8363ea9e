/* im2col and col2im for direct convolution (minifft/conv/direct.py), float32 and float64.

   x is (S, C, H, W), C-contiguous. The columns of sample s are rows r = (c, a, b) of oh * ow
   values, element (s, r, i, j) at cols[s * ss + r * rs + i * ow + j]: ss and rs are the caller's
   strides in elements, so one kernel writes the per-sample layout (S, C, kh, kw, oh, ow) or any
   other that keeps each row's oh * ow values contiguous.

   Padding is never materialised: for each tap (a, b) the output rows and columns whose input
   position (i * sh - ph + a * dh, j * sw - pw + b * dw) falls inside the image are computed once
   (clipped), and the rest of the row is zero (im2col) or contributes nothing (col2im). */
#include <stddef.h>
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

#define DEFINE_KERNELS(T, SUFFIX)                                                                   \
void im2col_##SUFFIX(const T *x, T *cols, ptrdiff_t S, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W,      \
                     ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph,          \
                     ptrdiff_t pw, ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t oh, ptrdiff_t ow,          \
                     ptrdiff_t ss, ptrdiff_t rs) {                                                  \
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
                memset(row, 0, (size_t)(i0 * ow) * sizeof(T));                                     \
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
                memset(row + i1 * ow, 0, (size_t)((oh - i1) * ow) * sizeof(T));                    \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* gx[s, c] = sum over taps (a, b) of the column rows scattered back to their input positions,     \
   summed in the order a, b (as the NumPy code adds them); gx is written, not accumulated. */       \
void col2im_##SUFFIX(const T *cols, T *gx, ptrdiff_t S, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W,     \
                     ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph,          \
                     ptrdiff_t pw, ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t oh, ptrdiff_t ow,          \
                     ptrdiff_t ss, ptrdiff_t rs) {                                                  \
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

DEFINE_KERNELS(float, f32)
DEFINE_KERNELS(double, f64)
