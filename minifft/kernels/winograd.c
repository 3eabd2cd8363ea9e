/* Winograd F(m x m, 3 x 3) tile transforms for conv/winograd.py, m = 2 or 4 (a = m + 2), float32
   and float64: each reads or writes an (S, C, H, W) C-contiguous image directly and writes or reads
   the GEMM layout, one pass each, with the zero padding and the last tiles' overhang never stored.

   GEMM layout: Z[xi, c, p] at z[(xi * C + c) * P + p], xi = i * a + k the transform point (row i,
   column k), c the channel, p = (s * th + t) * tw + u the tile (sample s, tile row t, tile column
   u), P = S * th * tw; so every V_xi, M_xi is a (C, P) matrix for BLAS and each tile row of a plane
   is a contiguous run of tw values per point.

       winograd_input    V = B^T d B of the tiles d of x (padded by ph, pw)          x -> v
       winograd_output   y = A^T M A of every tile, placed and cut to (oh, ow)       m -> y
       winograd_dm       dM = A gy A^T (the adjoint of winograd_output)             gy -> dm
       winograd_dx       gx = B dV B^T overlap-added (the adjoint of winograd_input) dv -> gx

   Each call covers the planes [q0, q1) of s * C + c, so callers split the work across threads.
   Within a tile row the columns of a plane are split by phase (column = index * m + phase): tile
   u's a columns are then a + 1 contiguous runs shifted by whole indices, and every 1-D transform
   below is one loop over u that the compiler vectorises. Coefficients are written out (zero terms
   skipped, as the NumPy code does) and the arithmetic is IEEE: NaN and infinities propagate. */
#include <stddef.h>
#include <string.h>

#define R restrict

/* [*lo, *hi): the indices t in [0, n) whose position t * m + off lies in [0, size) */
static inline void valid_range(ptrdiff_t n, ptrdiff_t m, ptrdiff_t off, ptrdiff_t size,
                               ptrdiff_t *lo, ptrdiff_t *hi) {
    ptrdiff_t l = off >= 0 ? 0 : (-off + m - 1) / m;
    ptrdiff_t h = size - off <= 0 ? 0 : (size - 1 - off) / m + 1;
    if (h > n) h = n;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

/* The 1-D transforms, n values each: o_k[j] = sum_l T[k][l] d_l[j].
   BT4/BT6: B^T (a -> a); AT4/AT6: A^T (a -> m); AT4T/AT6T: A (m -> a); BT4T/BT6T: B (a -> a). */
#define DEFINE_1D(T, S)                                                                             \
static inline void bt4_##S(ptrdiff_t n, const T *R d0, const T *R d1, const T *R d2,               \
                           const T *R d3, T *R o0, T *R o1, T *R o2, T *R o3) {                     \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = d0[j], x1 = d1[j], x2 = d2[j], x3 = d3[j];                                           \
        o0[j] = x0 - x2; o1[j] = x1 + x2; o2[j] = x2 - x1; o3[j] = x1 - x3;                         \
    }                                                                                               \
}                                                                                                   \
static inline void bt6_##S(ptrdiff_t n, const T *R d0, const T *R d1, const T *R d2,               \
                           const T *R d3, const T *R d4, const T *R d5, T *R o0, T *R o1,          \
                           T *R o2, T *R o3, T *R o4, T *R o5) {                                    \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = d0[j], x1 = d1[j], x2 = d2[j], x3 = d3[j], x4 = d4[j], x5 = d5[j];                   \
        o0[j] = (4 * x0 - 5 * x2) + x4;                                                             \
        o1[j] = (x3 + x4) - 4 * (x1 + x2);                                                          \
        o2[j] = (x4 - x3) + 4 * (x1 - x2);                                                          \
        o3[j] = (x4 - x2) + 2 * (x3 - x1);                                                          \
        o4[j] = (x4 - x2) - 2 * (x3 - x1);                                                          \
        o5[j] = (4 * x1 - 5 * x3) + x5;                                                             \
    }                                                                                               \
}                                                                                                   \
static inline void at4_##S(ptrdiff_t n, const T *R d0, const T *R d1, const T *R d2,               \
                           const T *R d3, T *R o0, T *R o1) {                                       \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = d0[j], x1 = d1[j], x2 = d2[j], x3 = d3[j];                                           \
        o0[j] = x0 + x1 + x2; o1[j] = x1 - x2 - x3;                                                 \
    }                                                                                               \
}                                                                                                   \
static inline void at6_##S(ptrdiff_t n, const T *R d0, const T *R d1, const T *R d2,               \
                           const T *R d3, const T *R d4, const T *R d5, T *R o0, T *R o1,          \
                           T *R o2, T *R o3) {                                                      \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = d0[j], x1 = d1[j], x2 = d2[j], x3 = d3[j], x4 = d4[j], x5 = d5[j];                   \
        T sp = x1 + x2, sm = x1 - x2, tp = x3 + x4, tm = x3 - x4;                                   \
        o0[j] = x0 + sp + tp; o1[j] = sm + 2 * tm; o2[j] = sp + 4 * tp; o3[j] = (sm + 8 * tm) + x5; \
    }                                                                                               \
}                                                                                                   \
static inline void at4t_##S(ptrdiff_t n, const T *R g0, const T *R g1, T *R o0, T *R o1,           \
                            T *R o2, T *R o3) {                                                     \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = g0[j], x1 = g1[j];                                                                   \
        o0[j] = x0; o1[j] = x0 + x1; o2[j] = x0 - x1; o3[j] = -x1;                                  \
    }                                                                                               \
}                                                                                                   \
static inline void at6t_##S(ptrdiff_t n, const T *R g0, const T *R g1, const T *R g2,              \
                            const T *R g3, T *R o0, T *R o1, T *R o2, T *R o3, T *R o4, T *R o5) {  \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = g0[j], x1 = g1[j], x2 = g2[j], x3 = g3[j];                                           \
        T e = x0 + x2, o = x1 + x3, e4 = x0 + 4 * x2, o8 = 2 * x1 + 8 * x3;                         \
        o0[j] = x0; o1[j] = e + o; o2[j] = e - o; o3[j] = e4 + o8; o4[j] = e4 - o8; o5[j] = x3;     \
    }                                                                                               \
}                                                                                                   \
static inline void bt4t_##S(ptrdiff_t n, const T *R d0, const T *R d1, const T *R d2,              \
                            const T *R d3, T *R o0, T *R o1, T *R o2, T *R o3) {                    \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = d0[j], x1 = d1[j], x2 = d2[j], x3 = d3[j];                                           \
        o0[j] = x0; o1[j] = (x1 - x2) + x3; o2[j] = (x1 + x2) - x0; o3[j] = -x3;                    \
    }                                                                                               \
}                                                                                                   \
static inline void bt6t_##S(ptrdiff_t n, const T *R d0, const T *R d1, const T *R d2,              \
                            const T *R d3, const T *R d4, const T *R d5, T *R o0, T *R o1,         \
                            T *R o2, T *R o3, T *R o4, T *R o5) {                                   \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = d0[j], x1 = d1[j], x2 = d2[j], x3 = d3[j], x4 = d4[j], x5 = d5[j];                   \
        o0[j] = 4 * x0;                                                                             \
        o1[j] = 4 * ((x2 - x1) + x5) + 2 * (x4 - x3);                                               \
        o2[j] = -5 * x0 - 4 * (x1 + x2) - (x3 + x4);                                                \
        o3[j] = ((x1 - x2) + 2 * (x3 - x4)) - 5 * x5;                                               \
        o4[j] = x0 + (x1 + x2) + (x3 + x4);                                                         \
        o5[j] = x5;                                                                                 \
    }                                                                                               \
}

/* One transform of a runs (run l at p + ps * l) into a runs (at q + qs * k), for m = 2 or 4. */
#define B_T(M, S, n, p, ps, q, qs) ((M) == 2                                                        \
    ? bt4_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps), q, q + (qs), q + 2 * (qs), q + 3 * (qs))  \
    : bt6_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps), p + 4 * (ps), p + 5 * (ps),               \
              q, q + (qs), q + 2 * (qs), q + 3 * (qs), q + 4 * (qs), q + 5 * (qs)))
#define B_(M, S, n, p, ps, q, qs) ((M) == 2                                                         \
    ? bt4t_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps), q, q + (qs), q + 2 * (qs), q + 3 * (qs)) \
    : bt6t_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps), p + 4 * (ps), p + 5 * (ps),              \
               q, q + (qs), q + 2 * (qs), q + 3 * (qs), q + 4 * (qs), q + 5 * (qs)))
#define A_T(M, S, n, p, ps, q, qs) ((M) == 2                                                        \
    ? at4_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps), q, q + (qs))                              \
    : at6_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps), p + 4 * (ps), p + 5 * (ps),               \
              q, q + (qs), q + 2 * (qs), q + 3 * (qs)))
#define A_(M, S, n, p, ps, q, qs) ((M) == 2                                                         \
    ? at4t_##S(n, p, p + (ps), q, q + (qs), q + 2 * (qs), q + 3 * (qs))                             \
    : at6t_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps),                                          \
               q, q + (qs), q + 2 * (qs), q + 3 * (qs), q + 4 * (qs), q + 5 * (qs)))

/* Column l of tile u in a phase-split row (m phases of `len` values): phase l % m, index u + l / m.
   The runs of a transform's inputs are then not equally spaced; these spell them out. */
#define PH(b, l, M, len) ((b) + ((l) % (M)) * (len) + (l) / (M))
#define B_T_PH(M, S, n, b, len, q, qs) ((M) == 2                                                    \
    ? bt4_##S(n, PH(b, 0, 2, len), PH(b, 1, 2, len), PH(b, 2, 2, len), PH(b, 3, 2, len),            \
              q, q + (qs), q + 2 * (qs), q + 3 * (qs))                                              \
    : bt6_##S(n, PH(b, 0, 4, len), PH(b, 1, 4, len), PH(b, 2, 4, len), PH(b, 3, 4, len),            \
              PH(b, 4, 4, len), PH(b, 5, 4, len),                                                   \
              q, q + (qs), q + 2 * (qs), q + 3 * (qs), q + 4 * (qs), q + 5 * (qs)))

#define DEFINE_KERNELS(T, S)                                                                        \
DEFINE_1D(T, S)                                                                                     \
                                                                                                    \
/* The a padded rows of tile row t, phase-split: buf[(j * M + r) * len + i] = x at padded row       \
   t M + j, column i M + r (zero outside the image), len = tw + 1. */                               \
static inline void gather_rows_##S(const T *R x, T *R buf, ptrdiff_t M, ptrdiff_t t, ptrdiff_t H,   \
                                   ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t len) {        \
    for (ptrdiff_t j = 0; j < M + 2; ++j) {                                                         \
        ptrdiff_t row = t * M + j - ph;                                                             \
        T *out = buf + j * M * len;                                                                 \
        if (row < 0 || row >= H) {                                                                  \
            memset(out, 0, (size_t)(M * len) * sizeof(T));                                          \
            continue;                                                                               \
        }                                                                                           \
        const T *in = x + row * W;                                                                  \
        for (ptrdiff_t r = 0; r < M; ++r) {                                                         \
            ptrdiff_t lo, hi;                                                                       \
            valid_range(len, M, r - pw, W, &lo, &hi);                                               \
            T *o = out + r * len;                                                                   \
            const T *src = in + r - pw;                                                             \
            for (ptrdiff_t i = 0; i < lo; ++i) o[i] = 0;                                            \
            for (ptrdiff_t i = lo; i < hi; ++i) o[i] = src[i * M];                                  \
            for (ptrdiff_t i = hi; i < len; ++i) o[i] = 0;                                          \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
static void input_##S(const T *R x, T *R v, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t C, ptrdiff_t H,   \
                      ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t M, ptrdiff_t th,           \
                      ptrdiff_t tw, ptrdiff_t P, T *R buf) {                                        \
    ptrdiff_t a = M + 2, len = tw + 1, row = M * len;                                               \
    T *rows = buf, *tmp = buf + a * row;                                                            \
    for (ptrdiff_t q = q0; q < q1; ++q) {                                                           \
        ptrdiff_t s = q / C, c = q % C;                                                             \
        for (ptrdiff_t t = 0; t < th; ++t) {                                                        \
            gather_rows_##S(x + q * H * W, rows, M, t, H, W, ph, pw, len);                          \
            B_T(M, S, row, rows, row, tmp, row);            /* down the columns */                  \
            T *out = v + c * P + (s * th + t) * tw;                                                 \
            for (ptrdiff_t i = 0; i < a; ++i)               /* along the rows */                    \
                B_T_PH(M, S, tw, tmp + i * row, len, out + i * a * C * P, C * P);                   \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
static void output_##S(const T *R mm, T *R y, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t F,              \
                       ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t M, ptrdiff_t th, ptrdiff_t tw,         \
                       ptrdiff_t P, T *R buf) {                                                     \
    ptrdiff_t a = M + 2, row = M * tw, full = ow / M;                                               \
    T *cols = buf, *tile = buf + a * row;                                                           \
    for (ptrdiff_t q = q0; q < q1; ++q) {                                                           \
        ptrdiff_t s = q / F, o = q % F;                                                             \
        for (ptrdiff_t t = 0; t < th; ++t) {                                                        \
            const T *in = mm + o * P + (s * th + t) * tw;                                           \
            for (ptrdiff_t i = 0; i < a; ++i)               /* along the rows */                    \
                A_T(M, S, tw, in + i * a * F * P, F * P, cols + i * row, tw);                       \
            A_T(M, S, row, cols, row, tile, row);           /* down the columns */                  \
            for (ptrdiff_t r = 0; r < M && t * M + r < oh; ++r) {                                   \
                T *out = y + (q * oh + t * M + r) * ow;                                             \
                const T *src = tile + r * row;                                                      \
                if (M == 2) {                                                                       \
                    for (ptrdiff_t u = 0; u < full; ++u) {                                          \
                        out[2 * u] = src[u]; out[2 * u + 1] = src[tw + u];                          \
                    }                                                                               \
                } else {                                                                            \
                    for (ptrdiff_t u = 0; u < full; ++u) {                                          \
                        out[4 * u] = src[u]; out[4 * u + 1] = src[tw + u];                          \
                        out[4 * u + 2] = src[2 * tw + u]; out[4 * u + 3] = src[3 * tw + u];         \
                    }                                                                               \
                }                                                                                   \
                for (ptrdiff_t col = full * M; col < ow; ++col)                                     \
                    out[col] = src[(col % M) * tw + col / M];                                       \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
static void dm_##S(const T *R gy, T *R dm, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t F, ptrdiff_t oh,   \
                   ptrdiff_t ow, ptrdiff_t M, ptrdiff_t th, ptrdiff_t tw, ptrdiff_t P, T *R buf) {  \
    ptrdiff_t a = M + 2, row = M * tw, full = ow / M;                                               \
    T *g = buf, *h = buf + M * row;                                                                 \
    for (ptrdiff_t q = q0; q < q1; ++q) {                                                           \
        ptrdiff_t s = q / F, o = q % F;                                                             \
        for (ptrdiff_t t = 0; t < th; ++t) {                                                        \
            for (ptrdiff_t r = 0; r < M; ++r) {            /* gy's rows, phase-split, zero past the edge */ \
                T *dst = g + r * row;                                                               \
                if (t * M + r >= oh) {                                                              \
                    memset(dst, 0, (size_t)row * sizeof(T));                                        \
                    continue;                                                                       \
                }                                                                                   \
                const T *in = gy + (q * oh + t * M + r) * ow;                                       \
                if (M == 2) {                                                                       \
                    for (ptrdiff_t u = 0; u < full; ++u) {                                          \
                        dst[u] = in[2 * u]; dst[tw + u] = in[2 * u + 1];                            \
                    }                                                                               \
                } else {                                                                            \
                    for (ptrdiff_t u = 0; u < full; ++u) {                                          \
                        dst[u] = in[4 * u]; dst[tw + u] = in[4 * u + 1];                            \
                        dst[2 * tw + u] = in[4 * u + 2]; dst[3 * tw + u] = in[4 * u + 3];           \
                    }                                                                               \
                }                                                                                   \
                for (ptrdiff_t col = full * M; col < tw * M; ++col)                                 \
                    dst[(col % M) * tw + col / M] = col < ow ? in[col] : 0;                         \
            }                                                                                       \
            A_(M, S, row, g, row, h, row);                  /* down the columns */                  \
            T *out = dm + o * P + (s * th + t) * tw;                                                \
            for (ptrdiff_t i = 0; i < a; ++i)               /* along the rows */                    \
                A_(M, S, tw, h + i * row, tw, out + i * a * F * P, F * P);                          \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
static void dx_##S(const T *R dv, T *R gx, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t C, ptrdiff_t H,    \
                   ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t M, ptrdiff_t th,              \
                   ptrdiff_t tw, ptrdiff_t P, T *R buf) {                                           \
    ptrdiff_t a = M + 2, len = tw + 1, prow = M * len, hp = th * M + 2;                             \
    T *e = buf, *d = buf + a * a * tw, *acc = buf + 2 * a * a * tw;                                 \
    for (ptrdiff_t q = q0; q < q1; ++q) {                                                           \
        ptrdiff_t s = q / C, c = q % C;                                                             \
        memset(acc, 0, (size_t)(hp * prow) * sizeof(T));                                            \
        for (ptrdiff_t t = 0; t < th; ++t) {                                                        \
            const T *in = dv + c * P + (s * th + t) * tw;                                           \
            for (ptrdiff_t i = 0; i < a; ++i)               /* along the rows */                    \
                B_(M, S, tw, in + i * a * C * P, C * P, e + i * a * tw, tw);                        \
            B_(M, S, a * tw, e, a * tw, d, a * tw);         /* down the columns */                  \
            for (ptrdiff_t j = 0; j < a; ++j)               /* each tile adds into its place */     \
                for (ptrdiff_t l = 0; l < a; ++l) {                                                 \
                    T *dst = PH(acc + (t * M + j) * prow, l, M, len);                               \
                    const T *src = d + (j * a + l) * tw;                                            \
                    for (ptrdiff_t u = 0; u < tw; ++u) dst[u] += src[u];                            \
                }                                                                                   \
        }                                                                                           \
        T *out = gx + q * H * W;                                                                    \
        for (ptrdiff_t y = 0; y < H; ++y) {                                                         \
            const T *src = acc + (y + ph) * prow;                                                   \
            for (ptrdiff_t x = 0; x < W; ++x)                                                       \
                out[y * W + x] = src[((x + pw) % M) * len + (x + pw) / M];                          \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* Entry points: planes [q0, q1); buf is scratch of (elements) input 2 a M (tw + 1), output and dm  \
   (2 M + 2) M tw, dx 2 a a tw + (th M + 2) M (tw + 1), a = M + 2, one per concurrent call. */      \
void winograd_input_##S(const T *x, T *v, T *buf, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t C,          \
                        ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t M,          \
                        ptrdiff_t th, ptrdiff_t tw, ptrdiff_t P) {                                  \
    if (M == 2) input_##S(x, v, q0, q1, C, H, W, ph, pw, 2, th, tw, P, buf);                        \
    else input_##S(x, v, q0, q1, C, H, W, ph, pw, 4, th, tw, P, buf);                               \
}                                                                                                   \
void winograd_output_##S(const T *mm, T *y, T *buf, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t F,        \
                         ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t M, ptrdiff_t th, ptrdiff_t tw,       \
                         ptrdiff_t P) {                                                             \
    if (M == 2) output_##S(mm, y, q0, q1, F, oh, ow, 2, th, tw, P, buf);                            \
    else output_##S(mm, y, q0, q1, F, oh, ow, 4, th, tw, P, buf);                                   \
}                                                                                                   \
void winograd_dm_##S(const T *gy, T *dm, T *buf, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t F,           \
                     ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t M, ptrdiff_t th, ptrdiff_t tw,           \
                     ptrdiff_t P) {                                                                 \
    if (M == 2) dm_##S(gy, dm, q0, q1, F, oh, ow, 2, th, tw, P, buf);                               \
    else dm_##S(gy, dm, q0, q1, F, oh, ow, 4, th, tw, P, buf);                                      \
}                                                                                                   \
void winograd_dx_##S(const T *dv, T *gx, T *buf, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t C,           \
                     ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t M,             \
                     ptrdiff_t th, ptrdiff_t tw, ptrdiff_t P) {                                     \
    if (M == 2) dx_##S(dv, gx, q0, q1, C, H, W, ph, pw, 2, th, tw, P, buf);                         \
    else dx_##S(dv, gx, q0, q1, C, H, W, ph, pw, 4, th, tw, P, buf);                                \
}

DEFINE_KERNELS(float, f32)
DEFINE_KERNELS(double, f64)
