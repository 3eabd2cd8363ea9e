/* Depthwise convolution on the CPU (minifft/conv/depthwise.py): one input channel per group,
 * m output channels per input channel, any stride, padding and dilation; float32 and float64.
 *
 * Layouts are dense NCHW: x (S, f, H, W), w (f*m, kh, kw), y (S, f*m, oh, ow). Images are
 * counted by u = s*f + c: the input image u is x + u*H*W and its m output images follow each
 * other from y + u*m*oh*ow, so a caller's chunk of work is a range of u.
 *
 * Forward and the input gradient are both "each output row is a weighted sum of source rows":
 *
 *   forward    y[i, j]          = sum_{a,b} w[a,b] x[i*sh - ph + a*dh, j*sw - pw + b*dw]
 *   gradient   gx[p, q0 + t*sw] = sum_{r,a,b} w[r,a,b] gy[r, i, jb + t]
 *              where i*sh = p + ph - a*dh and jb*sw = q0 + pw - b*dw (exact divisions only)
 *
 * The input gradient gathers, per input row p and column phase q0, from the output gradient:
 * no scatter, no zeroing, each gx element written once, and its sources are contiguous at any
 * stride. Source rows outside the image are left out of a row's tap list. Columns: each image a
 * kernel call reads is first copied, while in cache, between zero columns (forward and weight
 * gradient: split into its sw column phases, phase_layout; input gradient: the output gradient
 * images), so that every tap reads contiguous, in-range columns for every output column and no
 * loop clips; the copy costs one pass over an image that is read kh*kw times. Without the copy
 * (copies = 0, or when it cannot be allocated) taps clip to their valid columns [lo, hi): the
 * same sums, border columns and strided sources tap by tap.
 *
 * A row's columns are summed in blocks of 1-4 vectors whose sums stay in registers while the
 * taps are added one by one, written with GCC vector extensions: the loop vectoriser, left to
 * itself, vectorised across the taps with gathers (5x slower). A last block that would run past
 * the row is moved back to end at it (overlapping columns are computed twice, to the same
 * values), so no loop has a variable trip count; rows shorter than a vector take half vectors.
 *
 * The weight gradient is, per tap, the dot product of the output gradient with the tap's view of
 * the input over its valid rows: an output gradient row is loaded once for three column taps,
 * whose vector partial sums stay in registers over the rows (one horizontal sum, in double, per
 * tap and image), then summed in double over a block's samples in order, so the result does not
 * depend on how the caller spreads the blocks over threads.
 *
 * No fast-math, no FMA contraction (-std=c11): products and sums are IEEE, NaN and infinity
 * propagate as in NumPy; the lanes a moved-back dot block already counted are zeroed after the
 * product, so they add nothing even when the product is infinite or NaN. The weight gradient
 * forms no products with padding rows (it clips rows), so a NaN output gradient in a border row
 * reaches the taps that read the image there, not those that read padding (which the NumPy
 * sweeps, multiplying the padding's zeros, also turn NaN).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define VEC_BYTES 32   /* AVX2 vectors (two per AVX-512 op when the compiler prefers those) */

typedef float vec_f32 __attribute__((vector_size(VEC_BYTES)));
typedef double vec_f64 __attribute__((vector_size(VEC_BYTES)));
typedef int32_t mask_f32 __attribute__((vector_size(VEC_BYTES)));
typedef int64_t mask_f64 __attribute__((vector_size(VEC_BYTES)));
/* half vectors for rows shorter than a vector (small images) */
typedef float half_f32 __attribute__((vector_size(VEC_BYTES / 2)));
typedef double half_f64 __attribute__((vector_size(VEC_BYTES / 2)));
typedef int32_t hmask_f32 __attribute__((vector_size(VEC_BYTES / 2)));
typedef int64_t hmask_f64 __attribute__((vector_size(VEC_BYTES / 2)));
#define VLEN(VT, T) ((int)(sizeof(VT) / sizeof(T)))

static inline ptrdiff_t floor_div(ptrdiff_t a, ptrdiff_t b) {
    ptrdiff_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static inline ptrdiff_t max_p(ptrdiff_t a, ptrdiff_t b) { return a > b ? a : b; }
static inline ptrdiff_t min_p(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }

/* Columns t in [0, n) whose source column t*step + off lies in [0, width): [*lo, *hi). */
static inline void valid_columns(ptrdiff_t n, ptrdiff_t step, ptrdiff_t off, ptrdiff_t width,
                                 ptrdiff_t *lo, ptrdiff_t *hi) {
    ptrdiff_t a = max_p(0, floor_div(-off + step - 1, step));
    ptrdiff_t b = min_p(n, floor_div(width - 1 - off, step) + 1);
    *lo = a;
    *hi = b > a ? b : a;
}

/* The column phases of an input image that forward and the weight gradient read: phase q holds
 * the columns q, q + sw, ... of every row, between pl zero columns on the left and zeros on the
 * right, rows of wq elements, phases one after the other (sw*H rows). Column tap b reads, for
 * output column j, phase element (q_b*H + row)*wq + off[b] + j with every j in [0, ow) inside
 * (zeros standing for the padding), so all its loads are contiguous at any stride. Returns the
 * elements of the copy, 0 where the image itself serves (stride 1, no column padding: off[b] then
 * indexes the image's rows). */
static ptrdiff_t phase_layout(ptrdiff_t H, ptrdiff_t W, ptrdiff_t kw, ptrdiff_t ow, ptrdiff_t sw,
                              ptrdiff_t pw, ptrdiff_t dw, ptrdiff_t *pl, ptrdiff_t *wq,
                              ptrdiff_t *off) {
    ptrdiff_t columns = (W + sw - 1) / sw, left = 0, right = 0;
    for (ptrdiff_t b = 0; b < kw; b++) {
        ptrdiff_t shift = floor_div(b * dw - pw, sw);
        left = max_p(left, -shift);
        right = max_p(right, ow + shift - columns);
    }
    *pl = left;
    *wq = left + columns + right;
    for (ptrdiff_t b = 0; b < kw; b++) {
        ptrdiff_t shift = floor_div(b * dw - pw, sw), q = b * dw - pw - shift * sw;
        off[b] = q * H * *wq + shift + left;
    }
    return sw == 1 && left == 0 && right == 0 ? 0 : sw * H * *wq;
}

#define DEFINE_TAPS(T, SUF)                                                                         \
/* A row's taps: every source row (its data, its kernel row of weights) with every column tap       \
   (the weight's column, where it reads: src[t*ss + off], the columns [lo, hi) where it may). */    \
typedef struct {                                                                                    \
    ptrdiff_t nrows, ncols;                                                                         \
    const T *const *rows, *const *wrows;                                                            \
    const ptrdiff_t *col, *off, *lo, *hi;                                                           \
} taps_##SUF;

/* The vector code, once per vector width: VS names it, VT is its vector type, MT its mask type */
#define DEFINE_VECTOR(T, SUF, VS, VT, MT)                                                           \
                                                                                                    \
static inline VT load_##VS(const T *p) {                                                            \
    VT v;                                                                                           \
    memcpy(&v, p, sizeof v);                                                                        \
    return v;                                                                                       \
}                                                                                                   \
                                                                                                    \
static inline void store_##VS(T *p, ptrdiff_t os, VT v) {                                           \
    if (os == 1) memcpy(p, &v, sizeof v);                                                           \
    else for (int l = 0; l < VLEN(VT, T); l++) p[l * os] = v[l];                                    \
}                                                                                                   \
                                                                                                    \
/* out[t*os] for the NV*VL columns t from t0, every tap inside: sums kept in registers */           \
static inline __attribute__((always_inline)) void block_cols_##VS(                                  \
        T *restrict out, ptrdiff_t os, ptrdiff_t t0, const int NV, const ptrdiff_t ncols,           \
        const taps_##SUF *tp) {                                                                     \
    VT acc[4] = {{0}};                                                                              \
    for (ptrdiff_t ra = 0; ra < tp->nrows; ra++) {                                                  \
        const T *row = tp->rows[ra], *wr = tp->wrows[ra];                                           \
        for (ptrdiff_t e = 0; e < ncols; e++) {                                                     \
            const VT wv = (VT){0} + wr[tp->col[e]];                                                 \
            const T *sp = row + (tp->off[e] + t0);                                                  \
            for (int v = 0; v < NV; v++) acc[v] += wv * load_##VS(sp + v * VLEN(VT, T));            \
        }                                                                                           \
    }                                                                                               \
    for (int v = 0; v < NV; v++) store_##VS(out + (t0 + v * VLEN(VT, T)) * os, os, acc[v]);         \
}                                                                                                   \
                                                                                                    \
/* the same, unrolled over the columns of 3-wide kernels (the common case) */                       \
static inline __attribute__((always_inline)) void block_##VS(                                       \
        T *restrict out, ptrdiff_t os, ptrdiff_t t0, const int NV, const taps_##SUF *tp) {          \
    if (tp->ncols == 3) block_cols_##VS(out, os, t0, NV, 3, tp);                                    \
    else block_cols_##VS(out, os, t0, NV, tp->ncols, tp);                                           \
}                                                                                                   \
                                                                                                    \
/* sums[b] += sum_{i, j} g[i, j] * x[i*sh + a0, j + off[b]] over the rows i in [i0, i1), all the    \
   columns j in [0, n) (n >= VL; every tap inside: the image's phases between zero columns), for    \
   the NB column taps b: per output gradient row its vectors are loaded once for all the taps,      \
   the taps' partial sums stay in vector registers over the rows (one horizontal sum each at the    \
   end). A last vector block that would run past n is moved back to end at n, its lanes already     \
   counted zeroed after the product. */                                                             \
static inline __attribute__((always_inline)) void image_dots_##VS(                                  \
        double *sums, const T *g, const T *xi, ptrdiff_t rs, ptrdiff_t i0, ptrdiff_t i1,            \
        ptrdiff_t sh, ptrdiff_t a0, const ptrdiff_t *off, const ptrdiff_t NB, ptrdiff_t n) {        \
    const ptrdiff_t VL = VLEN(VT, T);                                                               \
    MT lanes;   /* 0, 1, ..., VL - 1 (a constant once compiled) */                                  \
    for (int l = 0; l < VL; l++) lanes[l] = l;                                                      \
    VT acc[3][2];   /* NB <= 3: a fixed size, so that the sums can live in registers */             \
    for (ptrdiff_t b = 0; b < NB; b++) acc[b][0] = acc[b][1] = (VT){0};                             \
    const ptrdiff_t tail = n % VL ? n - VL : n;                                                     \
    const MT keep = lanes >= (__typeof__(lanes[0]))(n - n % VL - tail);                             \
    for (ptrdiff_t i = i0; i < i1; i++) {                                                           \
        const T *gi = g + i * n, *xr = xi + (i * sh + a0) * rs;                                     \
        ptrdiff_t j = 0;                                                                            \
        for (; j + 2 * VL <= n; j += 2 * VL) {                                                      \
            const VT g0 = load_##VS(gi + j), g1 = load_##VS(gi + j + VL);                           \
            for (ptrdiff_t b = 0; b < NB; b++) {                                                    \
                acc[b][0] += g0 * load_##VS(xr + off[b] + j);                                       \
                acc[b][1] += g1 * load_##VS(xr + off[b] + j + VL);                                  \
            }                                                                                       \
        }                                                                                           \
        if (j + VL <= n) {                                                                          \
            const VT g0 = load_##VS(gi + j);                                                        \
            for (ptrdiff_t b = 0; b < NB; b++) acc[b][0] += g0 * load_##VS(xr + off[b] + j);        \
        }                                                                                           \
        if (tail < n) {                                                                             \
            const VT g0 = load_##VS(gi + tail);                                                     \
            for (ptrdiff_t b = 0; b < NB; b++)                                                      \
                acc[b][1] += (VT)((MT)(g0 * load_##VS(xr + off[b] + tail)) & keep);                 \
        }                                                                                           \
    }                                                                                               \
    for (ptrdiff_t b = 0; b < NB; b++) {                                                            \
        double t = 0;                                                                               \
        for (int l = 0; l < VLEN(VT, T); l++) t += (double)acc[b][0][l] + acc[b][1][l];             \
        sums[b] += t;                                                                               \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* image_dots for nb (1-3) column taps, nb a constant in each call */                               \
static void dots_group_##VS(double *sums, const T *g, const T *xi, ptrdiff_t rs, ptrdiff_t i0,      \
                            ptrdiff_t i1, ptrdiff_t sh, ptrdiff_t a0, const ptrdiff_t *off,         \
                            ptrdiff_t nb, ptrdiff_t n) {                                            \
    if (nb == 3) image_dots_##VS(sums, g, xi, rs, i0, i1, sh, a0, off, 3, n);                       \
    else if (nb == 2) image_dots_##VS(sums, g, xi, rs, i0, i1, sh, a0, off, 2, n);                  \
    else image_dots_##VS(sums, g, xi, rs, i0, i1, sh, a0, off, 1, n);                               \
}                                                                                                   \
                                                                                                    \
                                                                                                    \
/* image_dots for the nine taps of a 3x3 kernel at once, over rows [i0, i1) where all three         \
   kernel rows are inside (kernel row a reads input row i*sh + a0 + a*dh): an output gradient       \
   vector is loaded once for all nine, each tap's partial sums stay in one register. */             \
static inline __attribute__((always_inline)) void image_dots33_##VS(                                \
        double *sums, const T *g, const T *xi, ptrdiff_t rs, ptrdiff_t i0, ptrdiff_t i1,            \
        ptrdiff_t sh, ptrdiff_t a0, ptrdiff_t dh, const ptrdiff_t *off, ptrdiff_t n) {              \
    const ptrdiff_t VL = VLEN(VT, T);                                                               \
    MT lanes;   /* 0, 1, ..., VL - 1 (a constant once compiled) */                                  \
    for (int l = 0; l < VL; l++) lanes[l] = l;                                                      \
    VT acc[9];                                                                                      \
    for (int e = 0; e < 9; e++) acc[e] = (VT){0};                                                   \
    const ptrdiff_t tail = n % VL ? n - VL : n;                                                     \
    const MT keep = lanes >= (__typeof__(lanes[0]))(n - n % VL - tail);                             \
    const ptrdiff_t o0 = off[0], o1 = off[1], o2 = off[2];                                          \
    for (ptrdiff_t i = i0; i < i1; i++) {                                                           \
        const T *gi = g + i * n, *x0 = xi + (i * sh + a0) * rs;                                     \
        const T *x1 = x0 + dh * rs, *x2 = x1 + dh * rs;                                             \
        for (ptrdiff_t j = 0; j + VL <= n; j += VL) {                                               \
            const VT gv = load_##VS(gi + j);                                                        \
            acc[0] += gv * load_##VS(x0 + o0 + j);                                                  \
            acc[1] += gv * load_##VS(x0 + o1 + j);                                                  \
            acc[2] += gv * load_##VS(x0 + o2 + j);                                                  \
            acc[3] += gv * load_##VS(x1 + o0 + j);                                                  \
            acc[4] += gv * load_##VS(x1 + o1 + j);                                                  \
            acc[5] += gv * load_##VS(x1 + o2 + j);                                                  \
            acc[6] += gv * load_##VS(x2 + o0 + j);                                                  \
            acc[7] += gv * load_##VS(x2 + o1 + j);                                                  \
            acc[8] += gv * load_##VS(x2 + o2 + j);                                                  \
        }                                                                                           \
        if (tail < n) {                                                                             \
            const VT gv = load_##VS(gi + tail);                                                     \
            const T *xa[3] = {x0, x1, x2};                                                          \
            for (int e = 0; e < 9; e++)                                                             \
                acc[e] += (VT)((MT)(gv * load_##VS(xa[e / 3] + off[e % 3] + tail)) & keep);         \
        }                                                                                           \
    }                                                                                               \
    for (int e = 0; e < 9; e++) {                                                                   \
        double t = 0;                                                                               \
        for (int l = 0; l < VLEN(VT, T); l++) t += acc[e][l];                                       \
        sums[e] += t;                                                                               \
    }                                                                                               \
}

#define DEFINE_DEPTHWISE(T, SUF)                                                                    \
                                                                                                    \
enum { VL_##SUF = VEC_BYTES / sizeof(T) };                                                          \
                                                                                                    \
/* out[t*os] = sum over the taps of weight * src[t*ss + off] for t in [0, n); a tap counts where    \
   lo <= t < hi, and every tap counts in [L, R). */                                                 \
static inline __attribute__((always_inline)) void row_##SUF(                                        \
        T *restrict out, ptrdiff_t os, ptrdiff_t n, const taps_##SUF *tp,                           \
                      ptrdiff_t ss, ptrdiff_t L, ptrdiff_t R) {                                     \
    const ptrdiff_t VL = VL_##SUF, HL = VL / 2;                                                     \
    if (ss != 1 || R - L < HL) { L = R = n; }  /* strided sources: all tap by tap */                \
    /* the border columns [0, L) and [R, n), tap by tap over each tap's valid columns */            \
    for (ptrdiff_t t = 0; t < L; t++) out[t * os] = 0;                                              \
    for (ptrdiff_t t = R; t < n; t++) out[t * os] = 0;                                              \
    for (ptrdiff_t ra = 0; ra < tp->nrows && (L > 0 || R < n); ra++) {                              \
        const T *row = tp->rows[ra], *wr = tp->wrows[ra];                                           \
        for (ptrdiff_t e = 0; e < tp->ncols; e++) {                                                 \
            const T wk = wr[tp->col[e]];                                                            \
            const ptrdiff_t o = tp->off[e], lo = tp->lo[e], hi = tp->hi[e];                         \
            for (ptrdiff_t t = lo; t < min_p(hi, L); t++) out[t * os] += wk * row[t * ss + o];      \
            for (ptrdiff_t t = max_p(lo, R); t < hi; t++) out[t * os] += wk * row[t * ss + o];      \
        }                                                                                           \
    }                                                                                               \
    /* the interior in blocks of 4, 2 or 1 vectors; a last block that would run past R is moved     \
       back to end at R (its first columns are computed twice, to the same values) */               \
    ptrdiff_t len = R - L;                                                                          \
    if (len >= 4 * VL) {                                                                            \
        for (ptrdiff_t t = L; t < R; t += 4 * VL)                                                   \
            block_##SUF(out, os, min_p(t, R - 4 * VL), 4, tp);                                      \
    } else if (len >= 2 * VL) {                                                                     \
        block_##SUF(out, os, L, 2, tp);                                                             \
        if (len > 2 * VL) block_##SUF(out, os, R - 2 * VL, 2, tp);                                  \
    } else if (len >= VL) {                                                                         \
        block_##SUF(out, os, L, 1, tp);                                                             \
        if (len > VL) block_##SUF(out, os, R - VL, 1, tp);                                          \
    } else if (len >= HL) {                                                                         \
        block_##SUF##_half(out, os, L, 1, tp);                                                      \
        if (len > HL) block_##SUF##_half(out, os, R - HL, 1, tp);                                   \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* rows of width elements (one after the other from src) into buf, whose rows of                    \
   pl + width + pr elements were zeroed once: the padding columns stay zero */                      \
static void pad_rows_##SUF(T *restrict buf, const T *restrict src, ptrdiff_t nrows,                 \
                           ptrdiff_t width, ptrdiff_t pl, ptrdiff_t pr) {                           \
    for (ptrdiff_t i = 0; i < nrows; i++)                                                           \
        memcpy(buf + i * (pl + width + pr) + pl, src + i * width, width * sizeof(T));               \
}                                                                                                   \
                                                                                                    \
/* the image (H, W) into buf as phase_layout says (buf zeroed once: its padding stays zero) */      \
static void split_phases_##SUF(T *restrict buf, const T *restrict xi, ptrdiff_t H, ptrdiff_t W,     \
                               ptrdiff_t sw, ptrdiff_t pl, ptrdiff_t wq) {                          \
    if (sw == 1) { pad_rows_##SUF(buf, xi, H, W, pl, wq - pl - W); return; }                        \
    const ptrdiff_t n0 = (W + 1) / 2, n1 = W / 2;   /* columns of phases 0 and 1 */                 \
    if (sw == 2) {                                                                                  \
        for (ptrdiff_t i = 0; i < H; i++) {                                                         \
            T *to = buf + i * wq + pl, *to1 = buf + (H + i) * wq + pl;                              \
            const T *from = xi + i * W;                                                             \
            for (ptrdiff_t j = 0; j < n0; j++) to[j] = from[2 * j];                                 \
            for (ptrdiff_t j = 0; j < n1; j++) to1[j] = from[2 * j + 1];                            \
        }                                                                                           \
        return;                                                                                     \
    }                                                                                               \
    for (ptrdiff_t q = 0; q < sw && q < W; q++) {                                                   \
        const ptrdiff_t count = (W - q + sw - 1) / sw;                                              \
        for (ptrdiff_t i = 0; i < H; i++) {                                                         \
            T *to = buf + (q * H + i) * wq + pl;                                                    \
            const T *from = xi + i * W + q;                                                         \
            for (ptrdiff_t j = 0; j < count; j++) to[j] = from[j * sw];                             \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* y for images u in [u0, u1). */                                                                   \
void depthwise_forward_##SUF(const T *restrict x, const T *restrict w, T *restrict y,               \
        ptrdiff_t f, ptrdiff_t m, ptrdiff_t H, ptrdiff_t W, ptrdiff_t kh, ptrdiff_t kw,             \
        ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph, ptrdiff_t pw,         \
        ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t copies, ptrdiff_t u0, ptrdiff_t u1) {                 \
    ptrdiff_t blo[kw], bhi[kw], boff[kw], col[kw];                                                  \
    ptrdiff_t L = 0, R = ow;                                                                        \
    for (ptrdiff_t b = 0; b < kw; b++) {                                                            \
        col[b] = b;                                                                                 \
        boff[b] = b * dw - pw;                                                                      \
        valid_columns(ow, sw, boff[b], W, &blo[b], &bhi[b]);                                        \
        L = max_p(L, blo[b]);                                                                       \
        R = min_p(R, bhi[b]);                                                                       \
    }                                                                                               \
    R = max_p(L, R);                                                                                \
    /* each image split into its column phases between zero columns (in cache, once), so that       \
       every column of every row is interior and read contiguously (else: clipped, tap by tap) */   \
    ptrdiff_t pl, wq, poff[kw];                                                                     \
    ptrdiff_t copy = phase_layout(H, W, kw, ow, sw, pw, dw, &pl, &wq, poff);                        \
    T *buf = copies && copy ? calloc(copy, sizeof(T)) : NULL;                                       \
    ptrdiff_t ss = sw;                                                                              \
    if (buf || !copy) {                                                                             \
        for (ptrdiff_t b = 0; b < kw; b++) { boff[b] = poff[b]; blo[b] = 0; bhi[b] = ow; }          \
        L = 0; R = ow; ss = 1;                                                                      \
    }                                                                                               \
    const T *rows[kh], *wrows[kh];                                                                  \
    taps_##SUF tp = {0, kw, rows, wrows, col, boff, blo, bhi};                                      \
    for (ptrdiff_t u = u0; u < u1; u++) {                                                           \
        const T *xi = x + u * H * W;                                                                \
        ptrdiff_t rs = W;                                                                           \
        if (buf) { split_phases_##SUF(buf, xi, H, W, sw, pl, wq); xi = buf; rs = wq; }              \
        ptrdiff_t c = u % f;                                                                        \
        for (ptrdiff_t r = 0; r < m; r++) {                                                         \
            const T *wr = w + (c * m + r) * kh * kw;                                                \
            T *yo = y + (u * m + r) * oh * ow;                                                      \
            for (ptrdiff_t i = 0; i < oh; i++) {                                                    \
                tp.nrows = 0;                                                                       \
                for (ptrdiff_t a = 0; a < kh; a++) {                                                \
                    ptrdiff_t ih = i * sh - ph + a * dh;                                            \
                    if (ih < 0 || ih >= H) continue;                                                \
                    rows[tp.nrows] = xi + ih * rs;                                                  \
                    wrows[tp.nrows++] = wr + a * kw;                                                \
                }                                                                                   \
                if (ss == 1) row_##SUF(yo + i * ow, 1, ow, &tp, 1, L, R);                           \
                else row_##SUF(yo + i * ow, 1, ow, &tp, ss, L, R);                                  \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
    free(buf);                                                                                      \
}                                                                                                   \
                                                                                                    \
/* gx for images u in [u0, u1), from gy. */                                                         \
void depthwise_input_grad_##SUF(const T *restrict gy, const T *restrict w, T *restrict gx,          \
        ptrdiff_t f, ptrdiff_t m, ptrdiff_t H, ptrdiff_t W, ptrdiff_t kh, ptrdiff_t kw,             \
        ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph, ptrdiff_t pw,         \
        ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t copies, ptrdiff_t u0, ptrdiff_t u1) {                 \
    /* per column phase q0: the taps b that reach it, where they read (jb), their columns */        \
    ptrdiff_t nb[sw], pL[sw], pR[sw], pn[sw];                                                       \
    ptrdiff_t bb[sw * kw], bjb[sw * kw], blo[sw * kw], bhi[sw * kw];                                \
    for (ptrdiff_t q0 = 0; q0 < sw; q0++) {                                                         \
        pn[q0] = q0 < W ? (W - q0 + sw - 1) / sw : 0;                                               \
        nb[q0] = 0; pL[q0] = 0; pR[q0] = pn[q0];                                                    \
        for (ptrdiff_t b = 0; b < kw; b++) {                                                        \
            ptrdiff_t v = q0 + pw - b * dw;                                                         \
            if (v - floor_div(v, sw) * sw != 0) continue;                                           \
            ptrdiff_t e = q0 * kw + nb[q0]++;                                                       \
            bb[e] = b;                                                                              \
            bjb[e] = floor_div(v, sw);                                                              \
            valid_columns(pn[q0], 1, bjb[e], ow, &blo[e], &bhi[e]);                                 \
            pL[q0] = max_p(pL[q0], blo[e]);                                                         \
            pR[q0] = min_p(pR[q0], bhi[e]);                                                         \
        }                                                                                           \
        pR[q0] = max_p(pL[q0], pR[q0]);                                                             \
    }                                                                                               \
    /* the output gradient images copied between zero columns (in cache, once per image), so        \
       that every column of every row is interior */                                                \
    ptrdiff_t pl = 0, pr = 0;                                                                       \
    for (ptrdiff_t q0 = 0; q0 < sw && q0 < W; q0++)                                                 \
        for (ptrdiff_t e = q0 * kw; e < q0 * kw + nb[q0]; e++) {                                    \
            pl = max_p(pl, -bjb[e]);                                                                \
            pr = max_p(pr, pn[q0] + bjb[e] - ow);                                                   \
        }                                                                                           \
    ptrdiff_t wp = pl + ow + pr;                                                                    \
    T *buf = copies && (pl > 0 || pr > 0) ? calloc(m * oh * wp, sizeof(T)) : NULL;                  \
    if (buf) {                                                                                      \
        for (ptrdiff_t q0 = 0; q0 < sw; q0++) {                                                     \
            for (ptrdiff_t e = q0 * kw; e < q0 * kw + nb[q0]; e++) {                                \
                bjb[e] += pl; blo[e] = 0; bhi[e] = pn[q0];                                          \
            }                                                                                       \
            pL[q0] = 0; pR[q0] = pn[q0];                                                            \
        }                                                                                           \
    }                                                                                               \
    const T *rows[m * kh], *wrows[m * kh];                                                          \
    for (ptrdiff_t u = u0; u < u1; u++) {                                                           \
        T *gxi = gx + u * H * W;                                                                    \
        const T *gyu = gy + u * m * oh * ow;                                                        \
        ptrdiff_t rs = ow;                                                                          \
        if (buf) { pad_rows_##SUF(buf, gyu, m * oh, ow, pl, pr); gyu = buf; rs = wp; }              \
        const T *wc = w + (u % f) * m * kh * kw;                                                    \
        for (ptrdiff_t p = 0; p < H; p++) {                                                         \
            ptrdiff_t nrows = 0;                                                                    \
            for (ptrdiff_t a = 0; a < kh; a++) {                                                    \
                ptrdiff_t i = p + ph - a * dh;                                                      \
                if (sh > 1) {   /* (divisions cost more than the rest of the row's set-up) */       \
                    if (i < 0 || i % sh != 0) continue;                                             \
                    i /= sh;                                                                        \
                }                                                                                   \
                if (i < 0 || i >= oh) continue;                                                     \
                for (ptrdiff_t r = 0; r < m; r++) {                                                 \
                    rows[nrows] = gyu + (r * oh + i) * rs;                                          \
                    wrows[nrows++] = wc + (r * kh + a) * kw;                                        \
                }                                                                                   \
            }                                                                                       \
            for (ptrdiff_t q0 = 0; q0 < sw && q0 < W; q0++) {                                       \
                ptrdiff_t e = q0 * kw;                                                              \
                taps_##SUF tp = {nrows, nb[q0], rows, wrows, bb + e, bjb + e, blo + e, bhi + e};    \
                if (sw == 1) row_##SUF(gxi + p * W, 1, pn[0], &tp, 1, pL[0], pR[0]);                \
                else row_##SUF(gxi + p * W + q0, sw, pn[q0], &tp, 1, pL[q0], pR[q0]);               \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
    free(buf);                                                                                      \
}                                                                                                   \
                                                                                                    \
/* image_dots for the kw column taps, three at a time, in vectors or half vectors */                \
static void tap_dots_##SUF(double *sums, const T *g, const T *xi, ptrdiff_t rs, ptrdiff_t i0,       \
                           ptrdiff_t i1, ptrdiff_t sh, ptrdiff_t a0, const ptrdiff_t *off,          \
                           ptrdiff_t kw, ptrdiff_t n) {                                             \
    for (ptrdiff_t b = 0; b < kw; b += 3) {                                                         \
        if (n >= VL_##SUF) dots_group_##SUF(sums + b, g, xi, rs, i0, i1, sh, a0, off + b,           \
                                            min_p(3, kw - b), n);                                   \
        else dots_group_##SUF##_half(sums + b, g, xi, rs, i0, i1, sh, a0, off + b,                  \
                                     min_p(3, kw - b), n);                                          \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* partial[v, c*m + r, a*kw + b] for v in [v0, v1), v = block*f + c: the weight gradient summed     \
   over the samples [block*sb, min(S, (block+1)*sb)) of channel c. */                               \
void depthwise_weight_grad_##SUF(const T *restrict x, const T *restrict gy, T *restrict partial,    \
        ptrdiff_t S, ptrdiff_t f, ptrdiff_t m, ptrdiff_t H, ptrdiff_t W, ptrdiff_t kh,              \
        ptrdiff_t kw, ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t ph,         \
        ptrdiff_t pw, ptrdiff_t dh, ptrdiff_t dw, ptrdiff_t copies, ptrdiff_t sb, ptrdiff_t v0,     \
        ptrdiff_t v1) {                                                                             \
    ptrdiff_t K = kh * kw;                                                                          \
    ptrdiff_t blo[kw], bhi[kw], boff[kw];                                                           \
    for (ptrdiff_t b = 0; b < kw; b++) {                                                            \
        boff[b] = b * dw - pw;                                                                      \
        valid_columns(ow, sw, boff[b], W, &blo[b], &bhi[b]);                                        \
    }                                                                                               \
    /* rows of a vector or more: vector dots over each image split into its column phases between   \
       zero columns (phase_layout); else scalar dots over each tap's valid columns */               \
    ptrdiff_t pl, wq, poff[kw];                                                                     \
    ptrdiff_t copy = phase_layout(H, W, kw, ow, sw, pw, dw, &pl, &wq, poff);                        \
    T *buf = copies && 2 * ow >= VL_##SUF && copy ? calloc(copy, sizeof(T)) : NULL;                 \
    int vector = 2 * ow >= VL_##SUF && (buf || !copy);                                              \
    /* 3x3 kernels: the output rows [I0, I1) whose three kernel rows are all inside the image */    \
    ptrdiff_t I0 = 0, I1 = oh;                                                                      \
    for (ptrdiff_t a = 0; a < kh; a++) {                                                            \
        ptrdiff_t i0, i1;                                                                           \
        valid_columns(oh, sh, a * dh - ph, H, &i0, &i1);                                            \
        I0 = max_p(I0, i0);                                                                         \
        I1 = min_p(I1, i1);                                                                         \
    }                                                                                               \
    const int fused = vector && kh == 3 && kw == 3 && I0 < I1;                                      \
    /* runs of channels of one block, sample by sample, so that consecutive images are adjacent in  \
       memory (the hardware prefetcher follows them; one channel's samples lie f images apart) */   \
    const ptrdiff_t per = max_p(1, 4096 / (m * K));                                                 \
    double all[per * m * K];                                                                        \
    for (ptrdiff_t v = v0; v < v1;) {                                                               \
        const ptrdiff_t block = v / f, c0 = v % f, cn = min_p(per, min_p(f - c0, v1 - v));          \
        for (ptrdiff_t e = 0; e < cn * m * K; e++) all[e] = 0;                                      \
        for (ptrdiff_t s = block * sb; s < S && s < (block + 1) * sb; s++)                          \
        for (ptrdiff_t c = c0; c < c0 + cn; c++) {                                                  \
            double *sums = all + (c - c0) * m * K;                                                  \
            const T *xi = x + (s * f + c) * H * W;                                                  \
            ptrdiff_t rs = W;                                                                       \
            if (buf) { split_phases_##SUF(buf, xi, H, W, sw, pl, wq); xi = buf; rs = wq; }          \
            for (ptrdiff_t r = 0; r < m; r++) {                                                     \
                const T *g = gy + ((s * f + c) * m + r) * oh * ow;                                  \
                if (fused) {  /* 3x3: the rows where all kernel rows are inside, all nine taps */ \
                    double *out = sums + r * K;                                                     \
                    if (ow >= VL_##SUF)                                                             \
                        image_dots33_##SUF(out, g, xi, rs, I0, I1, sh, -ph, dh, poff, ow);          \
                    else                                                                            \
                        image_dots33_##SUF##_half(out, g, xi, rs, I0, I1, sh, -ph, dh, poff, ow);   \
                }                                                                                   \
                for (ptrdiff_t a = 0; a < kh; a++) {                                                \
                    /* output rows i whose input row i*sh - ph + a*dh is inside the image */        \
                    ptrdiff_t i0, i1, a0 = a * dh - ph;                                             \
                    valid_columns(oh, sh, a0, H, &i0, &i1);                                         \
                    double *out = sums + r * K + a * kw;                                            \
                    if (fused) {  /* the rows left: [i0, I0) and [I1, i1) */                        \
                        if (i0 < I0)                                                                \
                            tap_dots_##SUF(out, g, xi, rs, i0, I0, sh, a0, poff, kw, ow);           \
                        if (I1 < i1)                                                                \
                            tap_dots_##SUF(out, g, xi, rs, I1, i1, sh, a0, poff, kw, ow);           \
                    } else if (vector)                                                              \
                        tap_dots_##SUF(out, g, xi, rs, i0, i1, sh, a0, poff, kw, ow);               \
                    else for (ptrdiff_t b = 0; b < kw; b++) {                                       \
                        T t = 0;                                                                    \
                        for (ptrdiff_t i = i0; i < i1; i++) {                                       \
                            const T *gi = g + i * ow, *xr = xi + (i * sh + a0) * rs;                \
                            for (ptrdiff_t j = blo[b]; j < bhi[b]; j++)                             \
                                t += gi[j] * xr[j * sw + boff[b]];                                  \
                        }                                                                           \
                        out[b] += t;                                                                \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
        T *out = partial + (block * f + c0) * m * K;                                                \
        for (ptrdiff_t e = 0; e < cn * m * K; e++) out[e] = (T)all[e];                              \
        v += cn;                                                                                    \
    }                                                                                               \
    free(buf);                                                                                      \
}

DEFINE_TAPS(float, f32)
DEFINE_VECTOR(float, f32, f32, vec_f32, mask_f32)
DEFINE_VECTOR(float, f32, f32_half, half_f32, hmask_f32)
DEFINE_DEPTHWISE(float, f32)

DEFINE_TAPS(double, f64)
DEFINE_VECTOR(double, f64, f64, vec_f64, mask_f64)
DEFINE_VECTOR(double, f64, f64_half, half_f64, hmask_f64)
DEFINE_DEPTHWISE(double, f64)
