/* Winograd F(m x m, r x r) tile transforms for conv/winograd.py, r = 3 or 5 with m = 2 or 4
   (a = m + r - 1: F(2, 5) has F(4, 3)'s six points, so the same B; F(4, 5)'s eight add +-1/2),
   float32 and float64: each reads or writes an (S, C, H, W) C-contiguous image directly and writes
   or reads the GEMM layout, one pass each, with the zero padding and the last tiles' overhang never
   stored.

   GEMM layout: Z[xi, c, p] at z[(xi * C + c) * P + p], xi = i * a + k the transform point (row i,
   column k), c the channel, p = (s * th + t) * tw + u the tile (sample s, tile row t, tile column
   u), P = S * th * tw; so every V_xi, M_xi is a (C, P) matrix for BLAS and each tile row of a plane
   is a contiguous run of tw values per point.

       winograd_input    V = B^T d B of the tiles d of x (padded by ph, pw)          x -> v
       winograd_output   y = A^T M A of every tile, placed and cut to (oh, ow)       m -> y
       winograd_dm       dM = A gy A^T (the adjoint of winograd_output)             gy -> dm
       winograd_dx       gx = B dV B^T overlap-added (the adjoint of winograd_input) dv -> gx

   Each call covers a range [q0, q1) of the planes, so callers split the work across threads.
   Within a tile row the columns of a plane are split by phase (column = index * m + phase): tile
   u's a columns are then a + 1 contiguous runs shifted by whole indices, and every 1-D transform
   below is one loop over u that the compiler vectorises. Coefficients are written out (zero terms
   skipped, as the NumPy code does) and the arithmetic is IEEE: NaN and infinities propagate. */
#include <stddef.h>
#include <string.h>

#define R restrict

/* The 1-D transforms, n values each: o_k[j] = sum_l T[k][l] d_l[j].
   BT4/BT6: B^T (a -> a); AT4/AT6: A^T (a -> m); AT4T/AT6T: A (m -> a); BT4T/BT6T: B (a -> a);
   AT6M2/AT6M2T: A^T and A of F(2, 5), whose a = 6 points (and so B) are F(4, 3)'s. */
#define DEFINE_1D(T, S)                                                                             \
static inline void bt4_##S(ptrdiff_t n, const T *R d0, const T *R d1, const T *R d2,                \
                           const T *R d3, T *R o0, T *R o1, T *R o2, T *R o3) {                     \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = d0[j], x1 = d1[j], x2 = d2[j], x3 = d3[j];                                           \
        o0[j] = x0 - x2; o1[j] = x1 + x2; o2[j] = x2 - x1; o3[j] = x1 - x3;                         \
    }                                                                                               \
}                                                                                                   \
static inline void bt6_##S(ptrdiff_t n, const T *R d0, const T *R d1, const T *R d2,                \
                           const T *R d3, const T *R d4, const T *R d5, T *R o0, T *R o1,           \
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
static inline void at4_##S(ptrdiff_t n, const T *R d0, const T *R d1, const T *R d2,                \
                           const T *R d3, T *R o0, T *R o1) {                                       \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = d0[j], x1 = d1[j], x2 = d2[j], x3 = d3[j];                                           \
        o0[j] = x0 + x1 + x2; o1[j] = x1 - x2 - x3;                                                 \
    }                                                                                               \
}                                                                                                   \
static inline void at6_##S(ptrdiff_t n, const T *R d0, const T *R d1, const T *R d2,                \
                           const T *R d3, const T *R d4, const T *R d5, T *R o0, T *R o1,           \
                           T *R o2, T *R o3) {                                                      \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = d0[j], x1 = d1[j], x2 = d2[j], x3 = d3[j], x4 = d4[j], x5 = d5[j];                   \
        T sp = x1 + x2, sm = x1 - x2, tp = x3 + x4, tm = x3 - x4;                                   \
        o0[j] = x0 + sp + tp; o1[j] = sm + 2 * tm; o2[j] = sp + 4 * tp; o3[j] = (sm + 8 * tm) + x5; \
    }                                                                                               \
}                                                                                                   \
static inline void at4t_##S(ptrdiff_t n, const T *R g0, const T *R g1, T *R o0, T *R o1,            \
                            T *R o2, T *R o3) {                                                     \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = g0[j], x1 = g1[j];                                                                   \
        o0[j] = x0; o1[j] = x0 + x1; o2[j] = x0 - x1; o3[j] = -x1;                                  \
    }                                                                                               \
}                                                                                                   \
static inline void at6t_##S(ptrdiff_t n, const T *R g0, const T *R g1, const T *R g2,               \
                            const T *R g3, T *R o0, T *R o1, T *R o2, T *R o3, T *R o4, T *R o5) {  \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = g0[j], x1 = g1[j], x2 = g2[j], x3 = g3[j];                                           \
        T e = x0 + x2, o = x1 + x3, e4 = x0 + 4 * x2, o8 = 2 * x1 + 8 * x3;                         \
        o0[j] = x0; o1[j] = e + o; o2[j] = e - o; o3[j] = e4 + o8; o4[j] = e4 - o8; o5[j] = x3;     \
    }                                                                                               \
}                                                                                                   \
static inline void at6m2_##S(ptrdiff_t n, const T *R d0, const T *R d1, const T *R d2,              \
                             const T *R d3, const T *R d4, const T *R d5, T *R o0, T *R o1) {       \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = d0[j], x1 = d1[j], x2 = d2[j], x3 = d3[j], x4 = d4[j], x5 = d5[j];                   \
        o0[j] = x0 + (x1 + x2) + (x3 + x4); o1[j] = ((x1 - x2) + 2 * (x3 - x4)) + x5;               \
    }                                                                                               \
}                                                                                                   \
static inline void at6m2t_##S(ptrdiff_t n, const T *R g0, const T *R g1, T *R o0, T *R o1,          \
                              T *R o2, T *R o3, T *R o4, T *R o5) {                                 \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = g0[j], x1 = g1[j];                                                                   \
        o0[j] = x0; o1[j] = x0 + x1; o2[j] = x0 - x1; o3[j] = x0 + 2 * x1; o4[j] = x0 - 2 * x1;     \
        o5[j] = x1;                                                                                 \
    }                                                                                               \
}                                                                                                   \
static inline void bt4t_##S(ptrdiff_t n, const T *R d0, const T *R d1, const T *R d2,               \
                            const T *R d3, T *R o0, T *R o1, T *R o2, T *R o3) {                    \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = d0[j], x1 = d1[j], x2 = d2[j], x3 = d3[j];                                           \
        o0[j] = x0; o1[j] = (x1 - x2) + x3; o2[j] = (x1 + x2) - x0; o3[j] = -x3;                    \
    }                                                                                               \
}                                                                                                   \
static inline void bt6t_##S(ptrdiff_t n, const T *R d0, const T *R d1, const T *R d2,               \
                            const T *R d3, const T *R d4, const T *R d5, T *R o0, T *R o1,          \
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
}                                                                                                   \
/* F(4, 5), a = 8: B^T, B, A^T (8 -> 4), A (4 -> 8), the nonzero terms only (as the NumPy code) */  \
static inline void bt8_##S(ptrdiff_t n, const T *p, ptrdiff_t ps, T *q, ptrdiff_t qs) {             \
    const T *R d0 = p, *R d1 = p + ps, *R d2 = p + 2 * ps, *R d3 = p + 3 * ps, *R d4 = p + 4 * ps,  \
            *R d5 = p + 5 * ps, *R d6 = p + 6 * ps, *R d7 = p + 7 * ps;                             \
    T *R o0 = q, *R o1 = q + qs, *R o2 = q + 2 * qs, *R o3 = q + 3 * qs, *R o4 = q + 4 * qs,        \
      *R o5 = q + 5 * qs, *R o6 = q + 6 * qs, *R o7 = q + 7 * qs;                                   \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = d0[j], x1 = d1[j], x2 = d2[j], x3 = d3[j], x4 = d4[j], x5 = d5[j], x6 = d6[j], x7 = d7[j]; \
        T e1 = (x2 + x6) - (T)4.25 * x4, f1 = (x1 + x5) - (T)4.25 * x3;                             \
        T e3 = ((T)0.25 * x2 - (T)1.25 * x4) + x6, f3 = ((T)0.5 * x1 - (T)2.5 * x3) + 2 * x5;       \
        T e5 = (4 * x2 - 5 * x4) + x6, f5 = (2 * x1 - (T)2.5 * x3) + (T)0.5 * x5;                   \
        o0[j] = (x6 - x0) + (T)5.25 * (x2 - x4);                                                    \
        o1[j] = e1 + f1; o2[j] = e1 - f1; o3[j] = e3 + f3; o4[j] = e3 - f3; o5[j] = e5 + f5; o6[j] = e5 - f5; \
        o7[j] = (x7 - x1) + (T)5.25 * (x3 - x5);                                                    \
    }                                                                                               \
}                                                                                                   \
static inline void bt8t_##S(ptrdiff_t n, const T *p, ptrdiff_t ps, T *q, ptrdiff_t qs) {            \
    const T *R d0 = p, *R d1 = p + ps, *R d2 = p + 2 * ps, *R d3 = p + 3 * ps, *R d4 = p + 4 * ps,  \
            *R d5 = p + 5 * ps, *R d6 = p + 6 * ps, *R d7 = p + 7 * ps;                             \
    T *R o0 = q, *R o1 = q + qs, *R o2 = q + 2 * qs, *R o3 = q + 3 * qs, *R o4 = q + 4 * qs,        \
      *R o5 = q + 5 * qs, *R o6 = q + 6 * qs, *R o7 = q + 7 * qs;                                   \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = d0[j], x1 = d1[j], x2 = d2[j], x3 = d3[j], x4 = d4[j], x5 = d5[j], x6 = d6[j], x7 = d7[j]; \
        T s12 = x1 + x2, m12 = x1 - x2, s34 = x3 + x4, m34 = x3 - x4, s56 = x5 + x6, m56 = x5 - x6; \
        o0[j] = -x0;                                                                                \
        o1[j] = ((m12 + (T)0.5 * m34) + 2 * m56) - x7;                                              \
        o2[j] = (((T)5.25 * x0 + s12) + (T)0.25 * s34) + 4 * s56;                                   \
        o3[j] = ((T)-4.25 * m12 - (T)2.5 * (m34 + m56)) + (T)5.25 * x7;                             \
        o4[j] = (((T)-5.25 * x0 - (T)4.25 * s12) - (T)1.25 * s34) - 5 * s56;                        \
        o5[j] = ((m12 + 2 * m34) + (T)0.5 * m56) - (T)5.25 * x7;                                    \
        o6[j] = ((x0 + s12) + s34) + s56;                                                           \
        o7[j] = x7;                                                                                 \
    }                                                                                               \
}                                                                                                   \
static inline void at8_##S(ptrdiff_t n, const T *p, ptrdiff_t ps, T *q, ptrdiff_t qs) {             \
    const T *R d0 = p, *R d1 = p + ps, *R d2 = p + 2 * ps, *R d3 = p + 3 * ps, *R d4 = p + 4 * ps,  \
            *R d5 = p + 5 * ps, *R d6 = p + 6 * ps, *R d7 = p + 7 * ps;                             \
    T *R o0 = q, *R o1 = q + qs, *R o2 = q + 2 * qs, *R o3 = q + 3 * qs;                            \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = d0[j], x1 = d1[j], x2 = d2[j], x3 = d3[j], x4 = d4[j], x5 = d5[j], x6 = d6[j], x7 = d7[j]; \
        T s12 = x1 + x2, m12 = x1 - x2, s34 = x3 + x4, m34 = x3 - x4, s56 = x5 + x6, m56 = x5 - x6; \
        o0[j] = ((x0 + s12) + s34) + s56;                                                           \
        o1[j] = (m12 + 2 * m34) + (T)0.5 * m56;                                                     \
        o2[j] = (s12 + 4 * s34) + (T)0.25 * s56;                                                    \
        o3[j] = ((m12 + 8 * m34) + (T)0.125 * m56) + x7;                                            \
    }                                                                                               \
}                                                                                                   \
static inline void at8t_##S(ptrdiff_t n, const T *p, ptrdiff_t ps, T *q, ptrdiff_t qs) {            \
    const T *R g0 = p, *R g1 = p + ps, *R g2 = p + 2 * ps, *R g3 = p + 3 * ps;                      \
    T *R o0 = q, *R o1 = q + qs, *R o2 = q + 2 * qs, *R o3 = q + 3 * qs, *R o4 = q + 4 * qs,        \
      *R o5 = q + 5 * qs, *R o6 = q + 6 * qs, *R o7 = q + 7 * qs;                                   \
    for (ptrdiff_t j = 0; j < n; ++j) {                                                             \
        T x0 = g0[j], x1 = g1[j], x2 = g2[j], x3 = g3[j];                                           \
        T e1 = x0 + x2, f1 = x1 + x3, e2 = x0 + 4 * x2, f2 = 2 * x1 + 8 * x3;                       \
        T e3 = x0 + (T)0.25 * x2, f3 = (T)0.5 * x1 + (T)0.125 * x3;                                 \
        o0[j] = x0; o1[j] = e1 + f1; o2[j] = e1 - f1; o3[j] = e2 + f2; o4[j] = e2 - f2;             \
        o5[j] = e3 + f3; o6[j] = e3 - f3; o7[j] = x3;                                               \
    }                                                                                               \
}

/* One transform of a runs (run l at p + ps * l) into a runs (at q + qs * k): B by the a points alone,
   A by the output tile m and a (F(2, 3): m 2, a 4; F(4, 3): 4, 6; F(2, 5): 2, 6). */
#define B_T(A, S, n, p, ps, q, qs) ((A) == 8 ? bt8_##S(n, p, ps, q, qs) : (A) == 4                  \
    ? bt4_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps), q, q + (qs), q + 2 * (qs), q + 3 * (qs))  \
    : bt6_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps), p + 4 * (ps), p + 5 * (ps),               \
              q, q + (qs), q + 2 * (qs), q + 3 * (qs), q + 4 * (qs), q + 5 * (qs)))
#define B_(A, S, n, p, ps, q, qs) ((A) == 8 ? bt8t_##S(n, p, ps, q, qs) : (A) == 4                  \
    ? bt4t_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps), q, q + (qs), q + 2 * (qs), q + 3 * (qs)) \
    : bt6t_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps), p + 4 * (ps), p + 5 * (ps),              \
               q, q + (qs), q + 2 * (qs), q + 3 * (qs), q + 4 * (qs), q + 5 * (qs)))
#define A_T(M, A, S, n, p, ps, q, qs) ((A) == 8 ? at8_##S(n, p, ps, q, qs) : (A) == 4               \
    ? at4_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps), q, q + (qs))                              \
    : (M) == 4                                                                                      \
    ? at6_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps), p + 4 * (ps), p + 5 * (ps),               \
              q, q + (qs), q + 2 * (qs), q + 3 * (qs))                                              \
    : at6m2_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps), p + 4 * (ps), p + 5 * (ps),             \
                q, q + (qs)))
#define A_(M, A, S, n, p, ps, q, qs) ((A) == 8 ? at8t_##S(n, p, ps, q, qs) : (A) == 4               \
    ? at4t_##S(n, p, p + (ps), q, q + (qs), q + 2 * (qs), q + 3 * (qs))                             \
    : (M) == 4                                                                                      \
    ? at6t_##S(n, p, p + (ps), p + 2 * (ps), p + 3 * (ps),                                          \
               q, q + (qs), q + 2 * (qs), q + 3 * (qs), q + 4 * (qs), q + 5 * (qs))                 \
    : at6m2t_##S(n, p, p + (ps), q, q + (qs), q + 2 * (qs), q + 3 * (qs), q + 4 * (qs), q + 5 * (qs)))

/* Eight tiles' columns at once (unfold, below): the a columns l of tiles u..u+7 are src[(u + i) M + l],
   i < 8, a stride-M gather; it runs as whole-vector loads split by phase with two levels of
   shuffles (column l + M is column l one tile on). Eight lanes of T: 256-bit float, 512-bit double
   vectors. The scalar loop took half of the input transform's time. */
typedef float v8_f32 __attribute__((vector_size(32)));
typedef int i8_f32 __attribute__((vector_size(32)));
typedef double v8_f64 __attribute__((vector_size(64)));
typedef long long i8_f64 __attribute__((vector_size(64)));

#define DEFINE_UNFOLD(T, S)                                                                         \
static inline v8_##S ld8_##S(const T *p) { v8_##S v; memcpy(&v, p, sizeof v); return v; }           \
static inline void st8_##S(T *p, v8_##S v) { memcpy(p, &v, sizeof v); }                             \
/* dst[l n + i] = src[i M + l], i < 8, l < a (a = M + 2, or 6 for M = 2); reads src[0, 8 M + 8) */  \
static inline void unfold8_##S(ptrdiff_t M, ptrdiff_t a, const T *R src, T *R dst, ptrdiff_t n) {   \
    if (M == 4) {                                                                                   \
        v8_##S A = ld8_##S(src), B = ld8_##S(src + 8), C = ld8_##S(src + 16),                       \
               D = ld8_##S(src + 24), E = ld8_##S(src + 32);                                        \
        const i8_##S lo = {0, 4, 8, 12, 1, 5, 9, 13}, hi = {2, 6, 10, 14, 3, 7, 11, 15};            \
        const i8_##S first = {0, 1, 2, 3, 8, 9, 10, 11}, second = {4, 5, 6, 7, 12, 13, 14, 15};     \
        const i8_##S next0 = {1, 2, 3, 4, 5, 6, 7, 8}, next1 = {1, 2, 3, 4, 5, 6, 7, 9};            \
        v8_##S p01 = __builtin_shuffle(A, B, lo), p23 = __builtin_shuffle(A, B, hi);                \
        v8_##S q01 = __builtin_shuffle(C, D, lo), q23 = __builtin_shuffle(C, D, hi);                \
        v8_##S c0 = __builtin_shuffle(p01, q01, first), c1 = __builtin_shuffle(p01, q01, second);   \
        st8_##S(dst, c0);                                                                           \
        st8_##S(dst + n, c1);                                                                       \
        v8_##S c2 = __builtin_shuffle(p23, q23, first), c3 = __builtin_shuffle(p23, q23, second);   \
        st8_##S(dst + 2 * n, c2);                                                                   \
        st8_##S(dst + 3 * n, c3);                                                                   \
        st8_##S(dst + 4 * n, __builtin_shuffle(c0, E, next0));                                      \
        st8_##S(dst + 5 * n, __builtin_shuffle(c1, E, next1));                                      \
        if (a == 8) {               /* F(4, 5): columns 6, 7 are 2, 3 one tile on */                \
            const i8_##S next2 = {1, 2, 3, 4, 5, 6, 7, 10}, next3 = {1, 2, 3, 4, 5, 6, 7, 11};      \
            st8_##S(dst + 6 * n, __builtin_shuffle(c2, E, next2));                                  \
            st8_##S(dst + 7 * n, __builtin_shuffle(c3, E, next3));                                  \
        }                                                                                           \
    } else {                                                                                        \
        v8_##S A = ld8_##S(src), B = ld8_##S(src + 8), C = ld8_##S(src + 16);                       \
        const i8_##S even = {0, 2, 4, 6, 8, 10, 12, 14}, odd = {1, 3, 5, 7, 9, 11, 13, 15};         \
        const i8_##S next0 = {1, 2, 3, 4, 5, 6, 7, 8}, next1 = {1, 2, 3, 4, 5, 6, 7, 9};            \
        v8_##S c0 = __builtin_shuffle(A, B, even), c1 = __builtin_shuffle(A, B, odd);               \
        st8_##S(dst, c0);                                                                           \
        st8_##S(dst + n, c1);                                                                       \
        st8_##S(dst + 2 * n, __builtin_shuffle(c0, C, next0));                                      \
        st8_##S(dst + 3 * n, __builtin_shuffle(c1, C, next1));                                      \
        if (a == 6) {               /* F(2, 5): columns 4, 5 are 0, 1 two tiles on */               \
            const i8_##S skip0 = {2, 3, 4, 5, 6, 7, 8, 10}, skip1 = {2, 3, 4, 5, 6, 7, 9, 11};      \
            st8_##S(dst + 4 * n, __builtin_shuffle(c0, C, skip0));                                  \
            st8_##S(dst + 5 * n, __builtin_shuffle(c1, C, skip1));                                  \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
/* dst[r n + i] = src[i M + r], i < 8, r < M (a row split by phase); reads src[0, 8 M) */           \
static inline void split8_##S(ptrdiff_t M, const T *R src, T *R dst, ptrdiff_t n) {                 \
    if (M == 4) {                                                                                   \
        v8_##S A = ld8_##S(src), B = ld8_##S(src + 8), C = ld8_##S(src + 16), D = ld8_##S(src + 24); \
        const i8_##S lo = {0, 4, 8, 12, 1, 5, 9, 13}, hi = {2, 6, 10, 14, 3, 7, 11, 15};            \
        const i8_##S first = {0, 1, 2, 3, 8, 9, 10, 11}, second = {4, 5, 6, 7, 12, 13, 14, 15};     \
        v8_##S p01 = __builtin_shuffle(A, B, lo), p23 = __builtin_shuffle(A, B, hi);                \
        v8_##S q01 = __builtin_shuffle(C, D, lo), q23 = __builtin_shuffle(C, D, hi);                \
        st8_##S(dst, __builtin_shuffle(p01, q01, first));                                           \
        st8_##S(dst + n, __builtin_shuffle(p01, q01, second));                                      \
        st8_##S(dst + 2 * n, __builtin_shuffle(p23, q23, first));                                   \
        st8_##S(dst + 3 * n, __builtin_shuffle(p23, q23, second));                                  \
    } else {                                                                                        \
        v8_##S A = ld8_##S(src), B = ld8_##S(src + 8);                                              \
        const i8_##S even = {0, 2, 4, 6, 8, 10, 12, 14}, odd = {1, 3, 5, 7, 9, 11, 13, 15};         \
        st8_##S(dst, __builtin_shuffle(A, B, even));                                                \
        st8_##S(dst + n, __builtin_shuffle(A, B, odd));                                             \
    }                                                                                               \
}                                                                                                   \
/* the inverse of split8 on vectors: out[0, 8 M) = c_0..c_{M-1} interleaved (out[i M + r] = c_r[i]); \
   with add, added to what out holds */                                                             \
static inline void merge8_##S(ptrdiff_t M, const v8_##S *c, T *R out, int add) {                    \
    const i8_##S zip_lo = {0, 8, 1, 9, 2, 10, 3, 11}, zip_hi = {4, 12, 5, 13, 6, 14, 7, 15};        \
    v8_##S w[4];                                                                                    \
    if (M == 4) {                                                                                   \
        const i8_##S pair_lo = {0, 1, 8, 9, 2, 3, 10, 11}, pair_hi = {4, 5, 12, 13, 6, 7, 14, 15};  \
        v8_##S p01 = __builtin_shuffle(c[0], c[1], zip_lo), p23 = __builtin_shuffle(c[2], c[3], zip_lo); \
        v8_##S q01 = __builtin_shuffle(c[0], c[1], zip_hi), q23 = __builtin_shuffle(c[2], c[3], zip_hi); \
        w[0] = __builtin_shuffle(p01, p23, pair_lo); w[1] = __builtin_shuffle(p01, p23, pair_hi);   \
        w[2] = __builtin_shuffle(q01, q23, pair_lo); w[3] = __builtin_shuffle(q01, q23, pair_hi);   \
    } else {                                                                                        \
        w[0] = __builtin_shuffle(c[0], c[1], zip_lo); w[1] = __builtin_shuffle(c[0], c[1], zip_hi); \
    }                                                                                               \
    for (ptrdiff_t k = 0; k < M; ++k)                                                               \
        st8_##S(out + 8 * k, add ? ld8_##S(out + 8 * k) + w[k] : w[k]);                             \
}

/* the per-tile loops (a <= 6 passes) unrolled, so the tile lives in registers */
#define UNROLL _Pragma("GCC unroll 6")

#define DEFINE_KERNELS(T, S)                                                                        \
DEFINE_1D(T, S)                                                                                     \
DEFINE_UNFOLD(T, S)                                                                                 \
                                                                                                    \
/* input takes planes q = c * NS + s in bands of nb tile rows across samples (like output and dm,   \
   below): each tile's a x a pixels are unfolded into a runs per tile row, from a zero-bordered     \
   copy of the image row, so both 1-D passes run along nb * tw tiles and write the GEMM layout in   \
   whole runs. V's tiles are (so + s) * th * tw + t * tw + u: x holds NS samples from sample so. */ \
static void input_##S(const T *R x, T *R v, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t C, ptrdiff_t NS,  \
                      ptrdiff_t so, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw,           \
                      ptrdiff_t M, ptrdiff_t K, ptrdiff_t th, ptrdiff_t tw, ptrdiff_t P, ptrdiff_t nb, \
                      T *R buf) {                                                                   \
    ptrdiff_t a = M + K - 1, wp = tw * M + K - 1;                                                   \
    T *d = buf, *tmp = buf + a * a * nb * tw, *row = tmp + a * a * nb * tw, *zero = row + wp;       \
    memset(row, 0, (size_t)(2 * wp + 8) * sizeof(T));   /* unfold8 reads up to 6 past a row */      \
    for (ptrdiff_t c = q0 / NS; c * NS < q1; ++c) {                                                 \
        ptrdiff_t R1 = ((q1 < (c + 1) * NS ? q1 : (c + 1) * NS) - c * NS) * th;                     \
        for (ptrdiff_t R0 = ((q0 > c * NS ? q0 : c * NS) - c * NS) * th; R0 < R1; R0 += nb) {       \
            ptrdiff_t nt = R1 - R0 < nb ? R1 - R0 : nb, n = nt * tw;                                \
            for (ptrdiff_t tt = 0; tt < nt; ++tt) {         /* unfold: d[j][l][tt tw + u] */        \
                ptrdiff_t s = (R0 + tt) / th, t = (R0 + tt) % th;                                   \
                for (ptrdiff_t j = 0; j < a; ++j) {                                                 \
                    ptrdiff_t y = t * M + j - ph;                                                   \
                    const T *src = zero;                                                            \
                    if (y >= 0 && y < H) {                                                          \
                        memcpy(row + pw, x + ((s * C + c) * H + y) * W, (size_t)W * sizeof(T));     \
                        src = row;                                                                  \
                    }                                                                               \
                    T *dst = d + j * a * n + tt * tw;                                               \
                    ptrdiff_t u = 0;                                                                \
                    for (; u + 8 <= tw; u += 8) unfold8_##S(M, a, src + u * M, dst + u, n);         \
                    for (; u < tw; ++u)                                                             \
                        UNROLL for (ptrdiff_t l = 0; l < a; ++l) dst[l * n + u] = src[u * M + l];   \
                }                                                                                   \
            }                                                                                       \
            B_T(a, S, a * n, d, a * n, tmp, a * n);         /* down the columns */                  \
            T *out = v + c * P + (so * th + R0) * tw;                                               \
            for (ptrdiff_t i = 0; i < a; ++i)               /* along the rows */                    \
                B_T(a, S, n, tmp + i * a * n, n, out + i * a * C * P, C * P);                       \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* output and dm take planes q = o * NS + s (channel-major: a channel's tiles of consecutive samples \
   are contiguous in the GEMM layout) in bands of nb tile rows across samples, so their runs are    \
   nb * tw long even on small images. */                                                            \
static void output_##S(const T *R mm, T *R y, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t F,              \
                       ptrdiff_t NS, ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t M, ptrdiff_t K, ptrdiff_t th, \
                       ptrdiff_t tw, ptrdiff_t P, ptrdiff_t nb, T *R buf) {                         \
    ptrdiff_t a = M + K - 1, full = ow / M;                                                         \
    T *cols = buf, *tile = buf + a * M * nb * tw;                                                   \
    for (ptrdiff_t o = q0 / NS; o * NS < q1; ++o) {                                                 \
        ptrdiff_t R1 = ((q1 < (o + 1) * NS ? q1 : (o + 1) * NS) - o * NS) * th;                     \
        for (ptrdiff_t R0 = ((q0 > o * NS ? q0 : o * NS) - o * NS) * th; R0 < R1; R0 += nb) {       \
            ptrdiff_t nt = R1 - R0 < nb ? R1 - R0 : nb, n = nt * tw;                                \
            const T *in = mm + o * P + R0 * tw;                                                     \
            for (ptrdiff_t i = 0; i < a; ++i)               /* along the rows */                    \
                A_T(M, a, S, n, in + i * a * F * P, F * P, cols + i * M * n, n);                    \
            A_T(M, a, S, M * n, cols, M * n, tile, M * n);     /* down the columns */               \
            for (ptrdiff_t tt = 0; tt < nt; ++tt) {                                                 \
                ptrdiff_t s = (R0 + tt) / th, t = (R0 + tt) % th;                                   \
                for (ptrdiff_t r = 0; r < M && t * M + r < oh; ++r) {                               \
                    T *out = y + ((s * F + o) * oh + t * M + r) * ow;                               \
                    const T *src = tile + r * M * n + tt * tw;                                      \
                    ptrdiff_t u0 = 0;               /* a last block past ow through a buffer */     \
                    for (; u0 + 8 <= tw && u0 * M < ow; u0 += 8) {                                  \
                        v8_##S c[4];                                                                \
                        T part[32];                                                                 \
                        for (ptrdiff_t p = 0; p < M; ++p) c[p] = ld8_##S(src + p * n + u0);         \
                        if (u0 * M + 8 * M <= ow) {                                                 \
                            merge8_##S(M, c, out + u0 * M, 0);                                      \
                        } else {                                                                    \
                            merge8_##S(M, c, part, 0);                                              \
                            memcpy(out + u0 * M, part, (size_t)(ow - u0 * M) * sizeof(T));          \
                        }                                                                           \
                    }                                                                               \
                    if (M == 2) {                                                                   \
                        for (ptrdiff_t u = u0; u < full; ++u) {                                     \
                            out[2 * u] = src[u]; out[2 * u + 1] = src[n + u];                       \
                        }                                                                           \
                    } else {                                                                        \
                        for (ptrdiff_t u = u0; u < full; ++u) {                                     \
                            out[4 * u] = src[u]; out[4 * u + 1] = src[n + u];                       \
                            out[4 * u + 2] = src[2 * n + u]; out[4 * u + 3] = src[3 * n + u];       \
                        }                                                                           \
                    }                                                                               \
                    for (ptrdiff_t col = (u0 > full ? u0 : full) * M; col < ow; ++col)              \
                        out[col] = src[(col % M) * n + col / M];                                    \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
static void dm_##S(const T *R gy, T *R dm, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t F, ptrdiff_t NS,   \
                   ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t M, ptrdiff_t K, ptrdiff_t th, ptrdiff_t tw, \
                   ptrdiff_t P, ptrdiff_t nb, T *R buf) {                                           \
    ptrdiff_t a = M + K - 1, full = ow / M;                                                         \
    T *g = buf, *h = buf + M * M * nb * tw;                                                         \
    for (ptrdiff_t o = q0 / NS; o * NS < q1; ++o) {                                                 \
        ptrdiff_t R1 = ((q1 < (o + 1) * NS ? q1 : (o + 1) * NS) - o * NS) * th;                     \
        for (ptrdiff_t R0 = ((q0 > o * NS ? q0 : o * NS) - o * NS) * th; R0 < R1; R0 += nb) {       \
            ptrdiff_t nt = R1 - R0 < nb ? R1 - R0 : nb, n = nt * tw;                                \
            for (ptrdiff_t tt = 0; tt < nt; ++tt) {         /* gy's rows, phase-split, zero past the edge */ \
                ptrdiff_t s = (R0 + tt) / th, t = (R0 + tt) % th;                                   \
                for (ptrdiff_t r = 0; r < M; ++r) {                                                 \
                    ptrdiff_t row = t * M + r;                                                      \
                    T *dst = g + r * M * n + tt * tw;                                               \
                    if (row >= oh) {                                                                \
                        for (ptrdiff_t p = 0; p < M; ++p)                                           \
                            memset(dst + p * n, 0, (size_t)tw * sizeof(T));                         \
                        continue;                                                                   \
                    }                                                                               \
                    const T *in = gy + ((s * F + o) * oh + row) * ow;                               \
                    ptrdiff_t u0 = 0;               /* a last block past ow from a zeroed buffer */ \
                    for (; u0 + 8 <= tw; u0 += 8) {                                                 \
                        if (u0 * M + 8 * M <= ow) {                                                 \
                            split8_##S(M, in + u0 * M, dst + u0, n);                                \
                        } else {                                                                    \
                            T part[32] = {0};                                                       \
                            if (ow > u0 * M)                                                        \
                                memcpy(part, in + u0 * M, (size_t)(ow - u0 * M) * sizeof(T));       \
                            split8_##S(M, part, dst + u0, n);                                       \
                        }                                                                           \
                    }                                                                               \
                    if (M == 2) {                                                                   \
                        for (ptrdiff_t u = u0; u < full; ++u) {                                     \
                            dst[u] = in[2 * u]; dst[n + u] = in[2 * u + 1];                         \
                        }                                                                           \
                    } else {                                                                        \
                        for (ptrdiff_t u = u0; u < full; ++u) {                                     \
                            dst[u] = in[4 * u]; dst[n + u] = in[4 * u + 1];                         \
                            dst[2 * n + u] = in[4 * u + 2]; dst[3 * n + u] = in[4 * u + 3];         \
                        }                                                                           \
                    }                                                                               \
                    for (ptrdiff_t col = (u0 > full ? u0 : full) * M; col < tw * M; ++col)          \
                        dst[(col % M) * n + col / M] = col < ow ? in[col] : 0;                      \
                }                                                                                   \
            }                                                                                       \
            A_(M, a, S, M * n, g, M * n, h, M * n);            /* down the columns */               \
            T *out = dm + o * P + R0 * tw;                                                          \
            for (ptrdiff_t i = 0; i < a; ++i)               /* along the rows */                    \
                A_(M, a, S, n, h + i * M * n, n, out + i * a * F * P, F * P);                       \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* The adjoint of input, in the same bands (planes c * NS + s): both 1-D passes along the tiles,    \
   then each tile row adds its a padded rows into a zero-bordered plane, whose interior goes to gx  \
   when the sample's last tile row is in. */                                                        \
static void dx_##S(const T *R dv, T *R gx, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t C, ptrdiff_t NS,   \
                   ptrdiff_t so, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t M, \
                   ptrdiff_t K, ptrdiff_t th, ptrdiff_t tw, ptrdiff_t P, ptrdiff_t nb, T *R buf) {  \
    ptrdiff_t a = M + K - 1, hp = th * M + K - 1, wp = tw * M + K - 1;                              \
    T *e = buf, *d = buf + a * a * nb * tw, *acc = d + a * a * nb * tw;                             \
    for (ptrdiff_t c = q0 / NS; c * NS < q1; ++c) {                                                 \
        ptrdiff_t R1 = ((q1 < (c + 1) * NS ? q1 : (c + 1) * NS) - c * NS) * th;                     \
        for (ptrdiff_t R0 = ((q0 > c * NS ? q0 : c * NS) - c * NS) * th; R0 < R1; R0 += nb) {       \
            ptrdiff_t nt = R1 - R0 < nb ? R1 - R0 : nb, n = nt * tw;                                \
            const T *in = dv + c * P + (so * th + R0) * tw;                                         \
            for (ptrdiff_t i = 0; i < a; ++i)               /* along the rows */                    \
                B_(a, S, n, in + i * a * C * P, C * P, e + i * a * n, n);                           \
            B_(a, S, a * n, e, a * n, d, a * n);            /* down the columns */                  \
            for (ptrdiff_t tt = 0; tt < nt; ++tt) {         /* each tile adds into its place */     \
                ptrdiff_t s = (R0 + tt) / th, t = (R0 + tt) % th;                                   \
                if (t == 0) memset(acc, 0, (size_t)(hp * wp) * sizeof(T));                          \
                for (ptrdiff_t j = 0; j < a; ++j) {                                                 \
                    T *dst = acc + (t * M + j) * wp;                                                \
                    const T *src = d + j * a * n + tt * tw;                                         \
                    ptrdiff_t u0 = 0;                                                               \
                    for (; u0 + 8 <= tw; u0 += 8) { /* column l >= M of tile u is l % M of u + l / M */ \
                        v8_##S c[4];                                                                \
                        for (ptrdiff_t p = 0; p < M; ++p) c[p] = ld8_##S(src + p * n + u0);         \
                        v8_##S e0 = ld8_##S(src + M * n + u0 - 1), e1 = ld8_##S(src + (M + 1) * n + u0 - 1); \
                        if (u0 == 0) { e0[0] = 0; e1[0] = 0; }                                      \
                        c[0] += e0;                                                                 \
                        c[1] += e1;                                                                 \
                        if (a == 8) {               /* F(4, 5): columns 6, 7 one tile on */         \
                            v8_##S e2 = ld8_##S(src + 6 * n + u0 - 1), e3 = ld8_##S(src + 7 * n + u0 - 1); \
                            if (u0 == 0) { e2[0] = 0; e3[0] = 0; }                                  \
                            c[2] += e2;                                                             \
                            c[3] += e3;                                                             \
                        }                                                                           \
                        if (a == 6 && M == 2) {     /* F(2, 5): columns 4, 5 two tiles on */        \
                            v8_##S f0 = ld8_##S(src + 4 * n + u0 - 2), f1 = ld8_##S(src + 5 * n + u0 - 2); \
                            if (u0 == 0) { f0[0] = f0[1] = 0; f1[0] = f1[1] = 0; }                  \
                            c[0] += f0;                                                             \
                            c[1] += f1;                                                             \
                        }                                                                           \
                        merge8_##S(M, c, dst + u0 * M, 1);                                          \
                    }                                                                               \
                    for (ptrdiff_t u = u0 > 2 ? u0 - 2 : 0; u < u0; ++u) /* their overhang past u0 */ \
                        for (ptrdiff_t l = (u0 - u) * M; l < a; ++l) dst[u * M + l] += src[l * n + u]; \
                    for (ptrdiff_t u = u0; u < tw; ++u)                                             \
                        UNROLL for (ptrdiff_t l = 0; l < a; ++l) dst[u * M + l] += src[l * n + u];  \
                }                                                                                   \
                if (t == th - 1)                                                                    \
                    for (ptrdiff_t y = 0; y < H; ++y)                                               \
                        memcpy(gx + ((s * C + c) * H + y) * W, acc + (y + ph) * wp + pw,            \
                               (size_t)W * sizeof(T));                                              \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* Entry points: planes [q0, q1), channel * NS + sample, in bands of nb tile rows; K: the kernel    \
   size (3, or 5 with M = 2); buf is scratch of (elements, a = M + K - 1, wp = tw M + K - 1)        \
   input 2 a a nb tw + 2 wp + 8, output and dm (a + M) M nb tw, dx 2 a a nb tw + (th M + K - 1) wp, \
   one per concurrent call. */                                                                      \
void winograd_input_##S(const T *x, T *v, T *buf, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t C,          \
                        ptrdiff_t NS, ptrdiff_t so, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph,         \
                        ptrdiff_t pw, ptrdiff_t M, ptrdiff_t K, ptrdiff_t th, ptrdiff_t tw, ptrdiff_t P, \
                        ptrdiff_t nb) {                                                             \
    if (K == 5 && M == 4) input_##S(x, v, q0, q1, C, NS, so, H, W, ph, pw, 4, 5, th, tw, P, nb, buf); \
    else if (K == 5) input_##S(x, v, q0, q1, C, NS, so, H, W, ph, pw, 2, 5, th, tw, P, nb, buf);    \
    else if (M == 2) input_##S(x, v, q0, q1, C, NS, so, H, W, ph, pw, 2, 3, th, tw, P, nb, buf);    \
    else input_##S(x, v, q0, q1, C, NS, so, H, W, ph, pw, 4, 3, th, tw, P, nb, buf);                \
}                                                                                                   \
void winograd_output_##S(const T *mm, T *y, T *buf, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t F,        \
                         ptrdiff_t NS, ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t M, ptrdiff_t K, ptrdiff_t th, \
                         ptrdiff_t tw, ptrdiff_t P, ptrdiff_t nb) {                                 \
    if (K == 5 && M == 4) output_##S(mm, y, q0, q1, F, NS, oh, ow, 4, 5, th, tw, P, nb, buf);       \
    else if (K == 5) output_##S(mm, y, q0, q1, F, NS, oh, ow, 2, 5, th, tw, P, nb, buf);            \
    else if (M == 2) output_##S(mm, y, q0, q1, F, NS, oh, ow, 2, 3, th, tw, P, nb, buf);            \
    else output_##S(mm, y, q0, q1, F, NS, oh, ow, 4, 3, th, tw, P, nb, buf);                        \
}                                                                                                   \
void winograd_dm_##S(const T *gy, T *dm, T *buf, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t F,           \
                     ptrdiff_t NS, ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t M, ptrdiff_t K, ptrdiff_t th, \
                     ptrdiff_t tw, ptrdiff_t P, ptrdiff_t nb) {                                     \
    if (K == 5 && M == 4) dm_##S(gy, dm, q0, q1, F, NS, oh, ow, 4, 5, th, tw, P, nb, buf);          \
    else if (K == 5) dm_##S(gy, dm, q0, q1, F, NS, oh, ow, 2, 5, th, tw, P, nb, buf);               \
    else if (M == 2) dm_##S(gy, dm, q0, q1, F, NS, oh, ow, 2, 3, th, tw, P, nb, buf);               \
    else dm_##S(gy, dm, q0, q1, F, NS, oh, ow, 4, 3, th, tw, P, nb, buf);                           \
}                                                                                                   \
void winograd_dx_##S(const T *dv, T *gx, T *buf, ptrdiff_t q0, ptrdiff_t q1, ptrdiff_t C,           \
                     ptrdiff_t NS, ptrdiff_t so, ptrdiff_t H, ptrdiff_t W, ptrdiff_t ph,            \
                     ptrdiff_t pw, ptrdiff_t M, ptrdiff_t K, ptrdiff_t th, ptrdiff_t tw, ptrdiff_t P, \
                     ptrdiff_t nb) {                                                                \
    if (K == 5 && M == 4) dx_##S(dv, gx, q0, q1, C, NS, so, H, W, ph, pw, 4, 5, th, tw, P, nb, buf); \
    else if (K == 5) dx_##S(dv, gx, q0, q1, C, NS, so, H, W, ph, pw, 2, 5, th, tw, P, nb, buf);     \
    else if (M == 2) dx_##S(dv, gx, q0, q1, C, NS, so, H, W, ph, pw, 2, 3, th, tw, P, nb, buf);     \
    else dx_##S(dv, gx, q0, q1, C, NS, so, H, W, ph, pw, 4, 3, th, tw, P, nb, buf);                 \
}

DEFINE_KERNELS(float, f32)
DEFINE_KERNELS(double, f64)
