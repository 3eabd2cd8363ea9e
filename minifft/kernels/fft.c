/* Batched 2-D real FFTs at sizes n = 2^a 3^b 5^c >= 2 (scipy's next_fast_len for real
   transforms gives only such sizes) for conv/fft.py, float32 and float64, vectorised
   across the batch: every "element" of a transform is a vector of V signals (V = 16 floats or 8
   doubles, one 64-byte vector), so every butterfly is SIMD whatever the transform size, and the
   copies around the transforms (zero padding, reversal and dilation of a kernel or gradient,
   the bins-first layout, the strided crop of an inverse) are the loads and stores of the kernel.

       fft_rfft2    real signals a[l] (h x w, any strides; l a lead item at element offset off[l]),
                    placed at rows (r0 + i*rstep) mod n0, columns (c0 + j*cstep) mod n1 of an
                    n0 x n1 zero signal -> spectrum (n0, n1/2+1, L) complex, bins first
       fft_irfft2   spectrum (n0, n1/2+1, L) complex, bins first -> irfft2 (as scipy's: imaginary
                    parts of the real stage's DC and Nyquist bins ignored) read at rows
                    (r0 + i*rstep) mod n0, i < nr, and columns (c0 + j*cstep) mod n1, j < nc,
                    written to out[off[l] + i*nc + j]

   Each call covers the lead items [l0, l1), so callers split the work across threads; each
   call allocates its own scratch (NaN results if it cannot, never garbage).

   Rows go into the lanes and come back out through an in-register V x V transpose (whole-row
   vector loads and stores; scalar scatter and gather took half the time of the transforms).

   Forward: the real stage along W runs on pairs of data rows as one complex FFT of
   row_a + i row_b (split after by Hermitian symmetry), only on the rows that hold data (the other
   rows of the spectrum are zero), into a scratch of the kept columns; the complex stage along H
   then runs on each of the n1/2+1 kept columns and stores straight into the bins-first spectrum,
   re/im interleaved at the store. Inverse: the complex stage over H on every kept column, keeping
   only the rows that are read; the real stage on pairs of those rows as one complex inverse of
   A + i B (A, B the rows' Hermitian-completed half spectra), written cropped.

   The complex FFT is a Stockham autosort of radix-4 passes, then radix 2, 3 and 5, with its
   twiddles exp(-2 pi i t / n), t < n, computed in double by the caller (tw = [cos | -sin], 2n
   values in the kernel's type). The inverse is the forward transform with the real and imaginary
   arrays swapped. IEEE arithmetic: NaN and infinities propagate (no fast-math). */
#ifndef FFT_T
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define R restrict
#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)

typedef float vec_f32 __attribute__((vector_size(64), may_alias));
typedef int mask_f32 __attribute__((vector_size(64)));
typedef double vec_f64 __attribute__((vector_size(64), may_alias));
typedef long long mask_f64 __attribute__((vector_size(64)));
/* unaligned vector access to the caller's (interleaved complex) arrays */
typedef float uvec_f32 __attribute__((vector_size(64), may_alias, aligned(4)));
typedef double uvec_f64 __attribute__((vector_size(64), may_alias, aligned(8)));

#define LO_f32 {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23}
#define HI_f32 {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31}
#define EVEN_f32 {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30}
#define ODD_f32 {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31}
#define LO_f64 {0, 8, 1, 9, 2, 10, 3, 11}
#define HI_f64 {4, 12, 5, 13, 6, 14, 7, 15}
#define EVEN_f64 {0, 2, 4, 6, 8, 10, 12, 14}
#define ODD_f64 {1, 3, 5, 7, 9, 11, 13, 15}

/* Whether the kernels transform length n: a product of 2, 3 and 5, at least 2. */
static int served(ptrdiff_t n) {
    if (n < 2)
        return 0;
    for (ptrdiff_t r = 2; r <= 5; ++r)
        while (n % r == 0)
            n /= r;
    return n == 1;
}

static inline ptrdiff_t wrap(ptrdiff_t i, ptrdiff_t n) {
    i %= n;
    return i < 0 ? i + n : i;
}

#define FFT_T float
#define FFT_S f32
#define FFT_V 16
#include "fft.c"   /* this file again: the body below, once per type */
#undef FFT_T
#undef FFT_S
#undef FFT_V

#define FFT_T double
#define FFT_S f64
#define FFT_V 8
#include "fft.c"   /* this file again: the body below, once per type */
#undef FFT_T
#undef FFT_S
#undef FFT_V

#else  /* the body, once per type */
#define T FFT_T
#define V FFT_V
#define VT CAT(vec, FFT_S)
#define UVT CAT(uvec, FFT_S)
#define MT CAT(mask, FFT_S)
#define FN(name) CAT(name, FFT_S)

/* One Stockham radix-4 pass over sub-length 4m at stride s = n / (4m): reads
   x[q + s*(p + j*m)] and writes y[q + s*(4p + j)], p < m, q < s, j < 4. */
static inline void FN(pass4)(ptrdiff_t s, ptrdiff_t m, const VT *R xr, const VT *R xi,
                             VT *R yr, VT *R yi, const T *R twr, const T *R twi) {
    for (ptrdiff_t p = 0; p < m; ++p) {
        T w1r = twr[p * s], w1i = twi[p * s];
        T w2r = twr[2 * p * s], w2i = twi[2 * p * s];
        T w3r = twr[3 * p * s], w3i = twi[3 * p * s];
        const VT *ar = xr + s * p, *ai = xi + s * p;
        VT *br = yr + s * 4 * p, *bi = yi + s * 4 * p;
        for (ptrdiff_t q = 0; q < s; ++q) {
            VT a_r = ar[q], a_i = ai[q];
            VT b_r = ar[q + s * m], b_i = ai[q + s * m];
            VT c_r = ar[q + 2 * s * m], c_i = ai[q + 2 * s * m];
            VT d_r = ar[q + 3 * s * m], d_i = ai[q + 3 * s * m];
            VT apc_r = a_r + c_r, apc_i = a_i + c_i, amc_r = a_r - c_r, amc_i = a_i - c_i;
            VT bpd_r = b_r + d_r, bpd_i = b_i + d_i, bmd_r = b_r - d_r, bmd_i = b_i - d_i;
            br[q] = apc_r + bpd_r;
            bi[q] = apc_i + bpd_i;
            /* (a - c) -+ i (b - d), (a + c) - (b + d) */
            VT t1r = amc_r + bmd_i, t1i = amc_i - bmd_r;
            VT t2r = apc_r - bpd_r, t2i = apc_i - bpd_i;
            VT t3r = amc_r - bmd_i, t3i = amc_i + bmd_r;
            if (p == 0) {   /* twiddles of 1: no products (0 * inf would make NaN) */
                br[q + s] = t1r; bi[q + s] = t1i;
                br[q + 2 * s] = t2r; bi[q + 2 * s] = t2i;
                br[q + 3 * s] = t3r; bi[q + 3 * s] = t3i;
            } else {
                br[q + s] = t1r * w1r - t1i * w1i; bi[q + s] = t1r * w1i + t1i * w1r;
                br[q + 2 * s] = t2r * w2r - t2i * w2i; bi[q + 2 * s] = t2r * w2i + t2i * w2r;
                br[q + 3 * s] = t3r * w3r - t3i * w3i; bi[q + 3 * s] = t3r * w3i + t3i * w3r;
            }
        }
    }
}

/* A radix-2 pass over sub-length 2m at stride s (as pass4). */
static inline void FN(pass2)(ptrdiff_t s, ptrdiff_t m, const VT *R xr, const VT *R xi,
                             VT *R yr, VT *R yi, const T *R twr, const T *R twi) {
    for (ptrdiff_t p = 0; p < m; ++p) {
        T w1r = twr[p * s], w1i = twi[p * s];
        const VT *ar = xr + s * p, *ai = xi + s * p;
        VT *br = yr + s * 2 * p, *bi = yi + s * 2 * p;
        for (ptrdiff_t q = 0; q < s; ++q) {
            VT a_r = ar[q], a_i = ai[q], b_r = ar[q + s * m], b_i = ai[q + s * m];
            br[q] = a_r + b_r; bi[q] = a_i + b_i;
            VT tr = a_r - b_r, ti = a_i - b_i;
            if (p == 0) {
                br[q + s] = tr; bi[q + s] = ti;
            } else {
                br[q + s] = tr * w1r - ti * w1i; bi[q + s] = tr * w1i + ti * w1r;
            }
        }
    }
}

/* A radix-3 pass over sub-length 3m at stride s: X1, X2 = a - (b + c)/2 -+ i sin(2 pi/3) (b - c). */
static inline void FN(pass3)(ptrdiff_t s, ptrdiff_t m, const VT *R xr, const VT *R xi,
                             VT *R yr, VT *R yi, const T *R twr, const T *R twi) {
    const T h = (T)0.5, k = (T)0.86602540378443864676;
    for (ptrdiff_t p = 0; p < m; ++p) {
        T w1r = twr[p * s], w1i = twi[p * s], w2r = twr[2 * p * s], w2i = twi[2 * p * s];
        const VT *ar = xr + s * p, *ai = xi + s * p;
        VT *br = yr + s * 3 * p, *bi = yi + s * 3 * p;
        for (ptrdiff_t q = 0; q < s; ++q) {
            VT a_r = ar[q], a_i = ai[q];
            VT b_r = ar[q + s * m], b_i = ai[q + s * m];
            VT c_r = ar[q + 2 * s * m], c_i = ai[q + 2 * s * m];
            VT sr = b_r + c_r, si = b_i + c_i, dr = (b_r - c_r) * k, di = (b_i - c_i) * k;
            br[q] = a_r + sr; bi[q] = a_i + si;
            VT er = a_r - sr * h, ei = a_i - si * h;
            VT t1r = er + di, t1i = ei - dr, t2r = er - di, t2i = ei + dr;
            if (p == 0) {
                br[q + s] = t1r; bi[q + s] = t1i;
                br[q + 2 * s] = t2r; bi[q + 2 * s] = t2i;
            } else {
                br[q + s] = t1r * w1r - t1i * w1i; bi[q + s] = t1r * w1i + t1i * w1r;
                br[q + 2 * s] = t2r * w2r - t2i * w2i; bi[q + 2 * s] = t2r * w2i + t2i * w2r;
            }
        }
    }
}

/* A radix-5 pass over sub-length 5m at stride s: with c_j = cos(2 pi j/5), s_j = sin(2 pi j/5),
   X1, X4 = a + c1 (b + e) + c2 (c + d) -+ i (s1 (b - e) + s2 (c - d)),
   X2, X3 = a + c2 (b + e) + c1 (c + d) -+ i (s2 (b - e) - s1 (c - d)). */
static inline void FN(pass5)(ptrdiff_t s, ptrdiff_t m, const VT *R xr, const VT *R xi,
                             VT *R yr, VT *R yi, const T *R twr, const T *R twi) {
    const T c1 = (T)0.30901699437494742410, c2 = (T)-0.80901699437494742410;
    const T s1 = (T)0.95105651629515357212, s2 = (T)0.58778525229247312917;
    for (ptrdiff_t p = 0; p < m; ++p) {
        T wr[5], wi[5];
        for (int j = 1; j < 5; ++j)
            wr[j] = twr[j * p * s], wi[j] = twi[j * p * s];
        const VT *ar = xr + s * p, *ai = xi + s * p;
        VT *br = yr + s * 5 * p, *bi = yi + s * 5 * p;
        for (ptrdiff_t q = 0; q < s; ++q) {
            VT a_r = ar[q], a_i = ai[q];
            VT b_r = ar[q + s * m], b_i = ai[q + s * m];
            VT c_r = ar[q + 2 * s * m], c_i = ai[q + 2 * s * m];
            VT d_r = ar[q + 3 * s * m], d_i = ai[q + 3 * s * m];
            VT e_r = ar[q + 4 * s * m], e_i = ai[q + 4 * s * m];
            VT p1r = b_r + e_r, p1i = b_i + e_i, m1r = b_r - e_r, m1i = b_i - e_i;
            VT p2r = c_r + d_r, p2i = c_i + d_i, m2r = c_r - d_r, m2i = c_i - d_i;
            br[q] = a_r + p1r + p2r; bi[q] = a_i + p1i + p2i;
            VT u1r = a_r + p1r * c1 + p2r * c2, u1i = a_i + p1i * c1 + p2i * c2;
            VT u2r = a_r + p1r * c2 + p2r * c1, u2i = a_i + p1i * c2 + p2i * c1;
            VT v1r = m1r * s1 + m2r * s2, v1i = m1i * s1 + m2i * s2;
            VT v2r = m1r * s2 - m2r * s1, v2i = m1i * s2 - m2i * s1;
            /* -i v = (v_i, -v_r) */
            VT tr[5], ti[5];
            tr[1] = u1r + v1i; ti[1] = u1i - v1r; tr[4] = u1r - v1i; ti[4] = u1i + v1r;
            tr[2] = u2r + v2i; ti[2] = u2i - v2r; tr[3] = u2r - v2i; ti[3] = u2i + v2r;
            for (int j = 1; j < 5; ++j) {
                if (p == 0) {
                    br[q + j * s] = tr[j]; bi[q + j * s] = ti[j];
                } else {
                    br[q + j * s] = tr[j] * wr[j] - ti[j] * wi[j];
                    bi[q + j * s] = tr[j] * wi[j] + ti[j] * wr[j];
                }
            }
        }
    }
}

/* Forward DFT of the n >= 2 vectors (xr, xi), n a product of 2, 3 and 5, which it leaves as
   they are, with (yr, yi) and (zr, zi) as its buffers; returns whichever holds the result (its
   real part; *im its imaginary part). Stockham: radix-4 passes while 4 divides what is left,
   then radix 2, 3, 5. */
static VT *FN(cfft)(ptrdiff_t n, const VT *xr, const VT *xi, VT *yr, VT *yi, VT *zr, VT *zi,
                    const T *R tw, VT **im) {
    const T *twr = tw, *twi = tw + n;
    ptrdiff_t s = 1, len = n;
    const VT *ar = xr, *ai = xi;
    VT *br = yr, *bi = yi, *cr = zr, *ci = zi, *t;
    while (len > 1) {
        ptrdiff_t r = len % 4 == 0 ? 4 : len % 2 == 0 ? 2 : len % 3 == 0 ? 3 : 5;
        if (r == 4)
            FN(pass4)(s, len / 4, ar, ai, br, bi, twr, twi);
        else if (r == 2)
            FN(pass2)(s, len / 2, ar, ai, br, bi, twr, twi);
        else if (r == 3)
            FN(pass3)(s, len / 3, ar, ai, br, bi, twr, twi);
        else
            FN(pass5)(s, len / 5, ar, ai, br, bi, twr, twi);
        s *= r;
        len /= r;
        ar = br, ai = bi;
        t = br, br = cr, cr = t;
        t = bi, bi = ci, ci = t;
    }
    *im = (VT *)ai;
    return (VT *)ar;
}

/* Scratch of one call: 64-byte aligned, zeroed. */
static void *FN(scratch)(size_t vectors) {
    void *p = aligned_alloc(64, vectors * sizeof(VT));
    if (p)
        memset(p, 0, vectors * sizeof(VT));
    return p;
}

/* Masks of the in-register V x V transpose: stage k swaps bit k of the row and column index
   between the rows r and r + 2^k (r without bit k), lo[k] making row r, hi[k] row r + 2^k. */
static void FN(transpose_masks)(MT *lo, MT *hi) {
    for (int k = 0, d = 1; d < V; ++k, d *= 2)
        for (int c = 0; c < V; ++c) {
            lo[k][c] = c & d ? V + c - d : c;
            hi[k][c] = c & d ? V + c : c + d;
        }
}

static inline void FN(transpose)(VT *v, const MT *lo, const MT *hi) {
#pragma GCC unroll 4
    for (int k = 0, d = 1; d < V; ++k, d *= 2) {
#pragma GCC unroll 16
        for (int r = 0; r < V; ++r)
            if (!(r & d)) {
                VT x = v[r], y = v[r + d];
                v[r] = __builtin_shuffle(x, y, lo[k]);
                v[r + d] = __builtin_shuffle(x, y, hi[k]);
            }
    }
}

/* Row i of V signals (lanes, the first ``lanes`` real) into the vectors z[cpos[j]], j < w: V
   columns at a time through an in-register transpose where the rows are contiguous (sw = 1). */
static inline void FN(load_rows)(const T *R a, const ptrdiff_t *R off, ptrdiff_t lanes,
                                 ptrdiff_t i, ptrdiff_t w, ptrdiff_t sh, ptrdiff_t sw,
                                 const ptrdiff_t *R cpos, VT *z, const MT *lo, const MT *hi) {
    if (sw != 1) {
        T *zs = (T *)z;
        for (ptrdiff_t lane = 0; lane < lanes; ++lane) {
            const T *row = a + off[lane] + i * sh;
            for (ptrdiff_t j = 0; j < w; ++j)
                zs[cpos[j] * V + lane] = row[j * sw];
        }
        return;
    }
    for (ptrdiff_t j0 = 0; j0 < w; j0 += V) {
        const ptrdiff_t n = w - j0 < V ? w - j0 : V;
        VT v[V];
        if (lanes == V && n == V) {   /* the common case, unrolled: v stays in registers */
#pragma GCC unroll 16
            for (int lane = 0; lane < V; ++lane)
                v[lane] = *(const UVT *)(a + off[lane] + i * sh + j0);
            FN(transpose)(v, lo, hi);
#pragma GCC unroll 16
            for (int j = 0; j < V; ++j)
                z[cpos[j0 + j]] = v[j];
            continue;
        }
        for (ptrdiff_t lane = 0; lane < V; ++lane) {
            const T *row = a + (lane < lanes ? off[lane] : 0) + i * sh + j0;
            if (lane >= lanes) {
                v[lane] = (VT){0};
            } else if (n == V) {
                v[lane] = *(const UVT *)row;
            } else {
                T tmp[V] = {0};
                memcpy(tmp, row, (size_t)n * sizeof(T));
                memcpy(&v[lane], tmp, sizeof(VT));
            }
        }
        FN(transpose)(v, lo, hi);
        for (ptrdiff_t j = 0; j < n; ++j)
            z[cpos[j0 + j]] = v[j];
    }
}

/* The adjoint: the vectors z[cpos[j]] * scale, j < nc, into row i of the outputs of the first
   ``lanes`` lanes, out[off[lane] + i*nc + j]. */
static inline void FN(store_rows)(const VT *z, T scale, const ptrdiff_t *R cpos, ptrdiff_t nc,
                                  ptrdiff_t lanes, ptrdiff_t i, T *out, const ptrdiff_t *R off,
                                  const MT *lo, const MT *hi) {
    for (ptrdiff_t j0 = 0; j0 < nc; j0 += V) {
        const ptrdiff_t n = nc - j0 < V ? nc - j0 : V;
        VT v[V];
        if (lanes == V && n == V) {   /* the common case, unrolled: v stays in registers */
#pragma GCC unroll 16
            for (int j = 0; j < V; ++j)
                v[j] = z[cpos[j0 + j]] * scale;
            FN(transpose)(v, lo, hi);
#pragma GCC unroll 16
            for (int lane = 0; lane < V; ++lane)
                *(UVT *)(out + off[lane] + i * nc + j0) = v[lane];
            continue;
        }
        for (ptrdiff_t j = 0; j < V; ++j)
            if (j < n)
                v[j] = z[cpos[j0 + j]] * scale;
            else
                v[j] = (VT){0};
        FN(transpose)(v, lo, hi);
        for (ptrdiff_t lane = 0; lane < lanes; ++lane) {
            T *o = out + off[lane] + i * nc + j0;
            if (n == V)
                *(UVT *)o = v[lane];
            else
                memcpy(o, &v[lane], (size_t)n * sizeof(T));
        }
    }
}

void FN(fft_rfft2)(const T *a, const ptrdiff_t *R off, ptrdiff_t l0, ptrdiff_t l1, ptrdiff_t h,
                   ptrdiff_t w, ptrdiff_t sh, ptrdiff_t sw, ptrdiff_t r0, ptrdiff_t rstep,
                   ptrdiff_t c0, ptrdiff_t cstep, ptrdiff_t n0, ptrdiff_t n1, const T *R tw0,
                   const T *R tw1, T *out, ptrdiff_t L) {
    const ptrdiff_t nh = n1 / 2 + 1, big = n0 > n1 ? n0 : n1;
    /* sr, si: the half spectra of the real stage, column-major [v][r] so that the complex stage
       runs on contiguous columns; rows without data stay zero. work: two FFT buffers. */
    VT *mem = FN(scratch)((size_t)(2 * n0 * nh + 6 * big));
    ptrdiff_t *pos = malloc((size_t)(h + w) * sizeof(ptrdiff_t));
    if (!mem || !pos || !served(n0) || !served(n1)) {   /* a NaN spectrum, never garbage */
        for (ptrdiff_t u = 0; u < n0 * nh; ++u)
            for (ptrdiff_t l = l0; l < l1; ++l)
                out[2 * (u * L + l)] = out[2 * (u * L + l) + 1] = (T)NAN;
        free(mem);
        free(pos);
        return;
    }
    VT *sr = mem, *si = sr + n0 * nh, *w0r = si + n0 * nh, *w0i = w0r + big, *w1r = w0i + big,
       *w1i = w1r + big, *w2r = w1i + big, *w2i = w2r + big;
    ptrdiff_t *rpos = pos, *cpos = pos + h;
    for (ptrdiff_t i = 0; i < h; ++i)
        rpos[i] = wrap(r0 + i * rstep, n0);
    for (ptrdiff_t j = 0; j < w; ++j)
        cpos[j] = wrap(c0 + j * cstep, n1);
    const VT half = (VT){0} + (T)0.5;
    const MT lo = CAT(LO, FFT_S), hi = CAT(HI, FFT_S);
    MT tlo[4], thi[4];
    FN(transpose_masks)(tlo, thi);
    for (ptrdiff_t b = l0; b < l1; b += V) {
        const ptrdiff_t lanes = l1 - b < V ? l1 - b : V;
        for (ptrdiff_t i = 0; i < h; i += 2) {
            const int pair = i + 1 < h;
            if (w < n1) {
                memset(w0r, 0, (size_t)n1 * sizeof(VT));
                memset(w0i, 0, (size_t)n1 * sizeof(VT));
            }
            FN(load_rows)(a, off + b, lanes, i, w, sh, sw, cpos, w0r, tlo, thi);
            if (pair)
                FN(load_rows)(a, off + b, lanes, i + 1, w, sh, sw, cpos, w0i, tlo, thi);
            else if (w == n1)
                memset(w0i, 0, (size_t)n1 * sizeof(VT));
            VT *fi, *fr = FN(cfft)(n1, w0r, w0i, w1r, w1i, w2r, w2i, tw1, &fi);
            /* A = (Z[k] + conj Z[-k]) / 2 (row i), B = (Z[k] - conj Z[-k]) / 2i (row i + 1) */
            ptrdiff_t ra = rpos[i], rb = pair ? rpos[i + 1] : 0;
            for (ptrdiff_t k = 0; k < nh; ++k) {
                ptrdiff_t kk = k ? n1 - k : 0;
                VT pr = fr[k], pi = fi[k], qr = fr[kk], qi = fi[kk];
                sr[k * n0 + ra] = (pr + qr) * half;
                si[k * n0 + ra] = (pi - qi) * half;
                if (pair) {
                    sr[k * n0 + rb] = (pi + qi) * half;
                    si[k * n0 + rb] = (qr - pr) * half;
                }
            }
        }
        for (ptrdiff_t k = 0; k < nh; ++k) {
            /* (cfft leaves its input as it is: the scratch's rows without data stay zero) */
            VT *fi, *fr = FN(cfft)(n0, sr + k * n0, si + k * n0, w1r, w1i, w2r, w2i, tw0, &fi);
            for (ptrdiff_t u = 0; u < n0; ++u) {
                T *o = out + 2 * ((u * nh + k) * L + b);
                if (lanes == V) {
                    *(UVT *)o = __builtin_shuffle(fr[u], fi[u], lo);
                    *(UVT *)(o + V) = __builtin_shuffle(fr[u], fi[u], hi);
                } else {
                    const T *vr = (const T *)(fr + u), *vi = (const T *)(fi + u);
                    for (ptrdiff_t lane = 0; lane < lanes; ++lane) {
                        o[2 * lane] = vr[lane];
                        o[2 * lane + 1] = vi[lane];
                    }
                }
            }
        }
    }
    free(mem);
    free(pos);
}

void FN(fft_irfft2)(const T *spec, ptrdiff_t L, ptrdiff_t l0, ptrdiff_t l1, ptrdiff_t n0,
                    ptrdiff_t n1, ptrdiff_t r0, ptrdiff_t rstep, ptrdiff_t nr, ptrdiff_t c0,
                    ptrdiff_t cstep, ptrdiff_t nc, const T *R tw0, const T *R tw1, T *out,
                    const ptrdiff_t *R off) {
    const ptrdiff_t nh = n1 / 2 + 1, big = n0 > n1 ? n0 : n1;
    /* sr, si: the kept rows after the complex stage, row-major [i][k] */
    VT *mem = FN(scratch)((size_t)(2 * nr * nh + 6 * big));
    ptrdiff_t *pos = malloc((size_t)(nr + nc) * sizeof(ptrdiff_t));
    if (!mem || !pos || !served(n0) || !served(n1)) {   /* NaN results, never garbage */
        for (ptrdiff_t l = l0; l < l1; ++l)
            for (ptrdiff_t j = 0; j < nr * nc; ++j)
                out[off[l] + j] = (T)NAN;
        free(mem);
        free(pos);
        return;
    }
    VT *sr = mem, *si = sr + nr * nh, *w0r = si + nr * nh, *w0i = w0r + big, *w1r = w0i + big,
       *w1i = w1r + big, *w2r = w1i + big, *w2i = w2r + big;
    ptrdiff_t *rpos = pos, *cpos = pos + nr;
    for (ptrdiff_t i = 0; i < nr; ++i)
        rpos[i] = wrap(r0 + i * rstep, n0);
    for (ptrdiff_t j = 0; j < nc; ++j)
        cpos[j] = wrap(c0 + j * cstep, n1);
    const T scale = (T)1 / ((T)n0 * (T)n1);
    const MT even = CAT(EVEN, FFT_S), odd = CAT(ODD, FFT_S);
    MT tlo[4], thi[4];
    FN(transpose_masks)(tlo, thi);
    for (ptrdiff_t b = l0; b < l1; b += V) {
        const ptrdiff_t lanes = l1 - b < V ? l1 - b : V;
        for (ptrdiff_t k = 0; k < nh; ++k) {
            for (ptrdiff_t u = 0; u < n0; ++u) {
                const T *s = spec + 2 * ((u * nh + k) * L + b);
                if (lanes == V) {
                    UVT x0 = *(const UVT *)s, x1 = *(const UVT *)(s + V);
                    w0r[u] = __builtin_shuffle(x0, x1, even);
                    w0i[u] = __builtin_shuffle(x0, x1, odd);
                } else {
                    T *vr = (T *)(w0r + u), *vi = (T *)(w0i + u);
                    for (ptrdiff_t lane = 0; lane < V; ++lane) {
                        vr[lane] = lane < lanes ? s[2 * lane] : 0;
                        vi[lane] = lane < lanes ? s[2 * lane + 1] : 0;
                    }
                }
            }
            VT *fr, *fi = FN(cfft)(n0, w0i, w0r, w1i, w1r, w2i, w2r, tw0, &fr);   /* inverse: re, im swapped */
            for (ptrdiff_t i = 0; i < nr; ++i) {
                sr[i * nh + k] = fr[rpos[i]];
                si[i * nh + k] = fi[rpos[i]];
            }
        }
        const ptrdiff_t hn = n1 / 2;
        for (ptrdiff_t i = 0; i < nr; i += 2) {
            const int pair = i + 1 < nr;
            const VT *ar = sr + i * nh, *ai = si + i * nh;
            const VT *br = pair ? ar + nh : 0, *bi = pair ? ai + nh : 0;
            /* Z = A + i B over the whole length, A[-k] = conj A[k]; the real stage ignores the
               imaginary parts at DC and (even n1) Nyquist */
            for (ptrdiff_t k = 0; k <= hn; k += hn) {
                if (k && n1 % 2)
                    break;
                w0r[k] = ar[k];
                w0i[k] = pair ? br[k] : (VT){0};
            }
            for (ptrdiff_t k = 1; k < n1 - k; ++k) {
                if (pair) {
                    w0r[k] = ar[k] - bi[k]; w0i[k] = ai[k] + br[k];
                    w0r[n1 - k] = ar[k] + bi[k]; w0i[n1 - k] = br[k] - ai[k];
                } else {
                    w0r[k] = ar[k]; w0i[k] = ai[k];
                    w0r[n1 - k] = ar[k]; w0i[n1 - k] = -ai[k];
                }
            }
            VT *fr, *fi = FN(cfft)(n1, w0i, w0r, w1i, w1r, w2i, w2r, tw1, &fr);
            FN(store_rows)(fr, scale, cpos, nc, lanes, i, out, off + b, tlo, thi);
            if (pair)
                FN(store_rows)(fi, scale, cpos, nc, lanes, i + 1, out, off + b, tlo, thi);
        }
    }
    free(mem);
    free(pos);
}

#undef T
#undef V
#undef VT
#undef UVT
#undef MT
#undef FN
#endif
