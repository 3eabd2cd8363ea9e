/* Register-tiled GEMMs for the thin products of direct and winograd convolution (conv/direct.py,
   conv/winograd.py), float32 and float64, single-threaded (callers split the batch over the CPU
   thread pool). OpenBLAS runs these shapes (one side 16-64 wide, K 16-400) at 40-60 GFLOP/s a
   thread; a fixed register tile with no packing of the row-major operand does better there.

   gemm_nn   C[g] (+)= A[g] B[g]          A (M, K) any strides (its elements are broadcast one at a
                                           time), B (K, N) rows of N contiguous, C (M, N) likewise
   gemm_nt   C[g] (+)= sum_r A[g, r] B[g, r]^T    A (M, K), B (N, K), rows of K contiguous (the
                                           weight gradients: K, tiles or pixels, is long), summed
                                           over r too
   gemm_windows, gemm_nt_windows           the same products for strided convolutions whose
                                           columns are never made: the im2col side's rows are
                                           windows of an image (x split into its phases by
                                           im2col.c), read in place through offset tables

   nn keeps an MR x 2 vectors block of C in registers: per k, two vector loads of B and MR
   broadcasts of A feed 2 MR fused multiply-adds, over blocks of KC rows of B (in L1). The N tail
   (N % NR columns) goes through a zero-padded copy of B's columns, the M tail repeats the last row
   of A (computed, not stored). nt transposes each KC x NR block of B into such a panel and runs
   the same register block: 1.0-1.3x OpenBLAS on direct's weight-gradient shapes, where a dot
   product per output (4 x 4 outputs as vector partial sums along K) ran at 0.5-0.6x.
   Sums are plain IEEE arithmetic in a fixed order (no fast-math): NaN and infinities propagate
   as in any BLAS. Vectors are GCC vector extensions, so the same source builds with and without
   -march=native. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* -std=c11 turns contraction off; a multiply-add rounded once is what every BLAS does (and is no
   fast-math: NaN and infinities still propagate) */
#pragma GCC optimize("fp-contract=fast")

#define MR 8          /* nn: rows of C per register block */
#define KC 192        /* nn: rows of B per block (a 32-float-wide panel of 192 rows is 24 KiB: L1) */

typedef float v16f __attribute__((vector_size(64)));
typedef double v8d __attribute__((vector_size(64)));

/* Where row (c, t) of a windows' matrix starts in a group of x: c * cs + win[t] (gemm_windows' B
   rows, gemm_nt_windows' A rows); NULL without the memory */
static ptrdiff_t *window_rows(ptrdiff_t Cg, ptrdiff_t taps, const ptrdiff_t *win, ptrdiff_t cs) {
    ptrdiff_t *rows = malloc((size_t)(Cg * taps) * sizeof *rows);
    if (rows)
        for (ptrdiff_t k = 0; k < Cg * taps; ++k) rows[k] = k / taps * cs + win[k % taps];
    return rows;
}

#define DEFINE_GEMM(T, V, S)                                                                        \
enum { VL_##S = sizeof(V) / sizeof(T), NR_##S = 2 * sizeof(V) / sizeof(T) };                        \
                                                                                                    \
static inline V load_##S(const T *p) { V v; memcpy(&v, p, sizeof v); return v; }                    \
static inline void store_##S(T *p, V v) { memcpy(p, &v, sizeof v); }                                \
static inline V load_halves_##S(const T *p, const T *q) {                                           \
    T t[VL_##S];                                                                                    \
    memcpy(t, p, sizeof t / 2);                                                                     \
    memcpy(t + VL_##S / 2, q, sizeof t / 2);                                                        \
    return load_##S(t);                                                                             \
}                                                                                                   \
                                                                                                    \
/* pb[k][q] = B[q, k] for k < kc: nr rows of B (ld apart) as a kc x NR panel, zero-padded           \
   columns */                                                                                       \
static inline void pack_transposed_##S(T *pb, const T *b, ptrdiff_t ld, ptrdiff_t nr,               \
                                       ptrdiff_t kc) {                                              \
    for (ptrdiff_t q = 0; q < NR_##S; ++q) {                                                        \
        if (q < nr) {                                                                               \
            const T *src = b + q * ld;                                                              \
            for (ptrdiff_t k = 0; k < kc; ++k) pb[k * NR_##S + q] = src[k];                         \
        } else {                                                                                    \
            for (ptrdiff_t k = 0; k < kc; ++k) pb[k * NR_##S + q] = 0;                              \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* C[0:mr, 0:NR] (+)= A[0:mr, 0:kc] B[0:kc, 0:NR]: A's row i at a + i * sam (ao: a + ao[i]), its    \
   element k at k * sak after (ko: ko[k]); B's row k at b + k * ldb (bo: b + bo[k]), its second     \
   vector b2 after its first (b2 < 0: four half vectors, -b2 apart); add: accumulate into C. The    \
   tables serve gemm_windows and gemm_nt_windows, whose operands are windows of an image; the       \
   other callers pass NULL and b2 = VL, and the branches go with inlining. */                       \
static inline void kernel_##S(ptrdiff_t mr, ptrdiff_t kc, const T *a, ptrdiff_t sam,                \
                              ptrdiff_t sak, const ptrdiff_t *ao, const ptrdiff_t *ko,              \
                              const T *b, ptrdiff_t ldb, const ptrdiff_t *bo, ptrdiff_t b2, T *c,   \
                              ptrdiff_t ldc, int add) {                                             \
    const T *ar[MR];                                                                                \
    for (int i = 0; i < MR; ++i) {                                                                  \
        ptrdiff_t r = i < mr ? i : mr - 1;                                                          \
        ar[i] = a + (ao ? ao[r] : r * sam);                                                         \
    }                                                                                               \
    V c0[MR], c1[MR];                                                                               \
    _Pragma("GCC unroll 8")                                                                         \
    for (int i = 0; i < MR; ++i) { c0[i] = (V){0}; c1[i] = (V){0}; }                                \
    for (ptrdiff_t k = 0; k < kc; ++k) {                                                            \
        const T *bk = b + (bo ? bo[k] : k * ldb);                                                   \
        ptrdiff_t ak = ko ? ko[k] : k * sak;                                                        \
        V b0, b1;                                                                                   \
        if (b2 < 0) {                                                                               \
            b0 = load_halves_##S(bk, bk - b2);                                                      \
            b1 = load_halves_##S(bk - 2 * b2, bk - 3 * b2);                                         \
        } else {                                                                                    \
            b0 = load_##S(bk);                                                                      \
            b1 = load_##S(bk + b2);                                                                 \
        }                                                                                           \
        _Pragma("GCC unroll 8")                                                                     \
        for (int i = 0; i < MR; ++i) {                                                              \
            T s = ar[i][ak];                                                                        \
            c0[i] += s * b0;                                                                        \
            c1[i] += s * b1;                                                                        \
        }                                                                                           \
    }                                                                                               \
    _Pragma("GCC unroll 8")                                                                         \
    for (int i = 0; i < MR; ++i) {                                                                  \
        if (i < mr) {                                                                               \
            T *ci = c + i * ldc;                                                                    \
            if (add) { c0[i] += load_##S(ci); c1[i] += load_##S(ci + VL_##S); }                     \
            store_##S(ci, c0[i]);                                                                   \
            store_##S(ci + VL_##S, c1[i]);                                                          \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
static inline void kernel_nn_##S(ptrdiff_t mr, ptrdiff_t kc, const T *a, ptrdiff_t sam,             \
                                  ptrdiff_t sak, const T *b, ptrdiff_t ldb, T *c, ptrdiff_t ldc,    \
                                  int add) {                                                        \
    kernel_##S(mr, kc, a, sam, sak, NULL, NULL, b, ldb, NULL, VL_##S, c, ldc, add);                 \
}                                                                                                   \
/* kernel_nn for a tile nr < NR columns wide: through the whole register tile pc (MR x NR), nr      \
   columns of it kept (the kernel loads and stores whole vectors) */                                \
static inline void kernel_narrow_##S(ptrdiff_t mr, ptrdiff_t nr, ptrdiff_t kc, const T *a,          \
                                     ptrdiff_t sam, ptrdiff_t sak, const T *b, ptrdiff_t ldb, T *c, \
                                     ptrdiff_t ldc, int add, T *pc) {                               \
    for (ptrdiff_t r = 0; r < mr; ++r)                                                              \
        for (ptrdiff_t q = 0; q < NR_##S; ++q)                                                      \
            pc[r * NR_##S + q] = add && q < nr ? c[r * ldc + q] : 0;                                \
    kernel_nn_##S(mr, kc, a, sam, sak, b, ldb, pc, NR_##S, 1);                                      \
    for (ptrdiff_t r = 0; r < mr; ++r)                                                              \
        memcpy(c + r * ldc, pc + r * NR_##S, (size_t)nr * sizeof(T));                               \
}                                                                                                   \
                                                                                                    \
static void gemm_nn_one_##S(ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const T *a, ptrdiff_t sam,       \
                            ptrdiff_t sak, const T *b, ptrdiff_t ldb, T *c, ptrdiff_t ldc,          \
                            int add) {                                                              \
    T pb[KC * NR_##S], pc[MR * NR_##S];                                                             \
    for (ptrdiff_t j = 0; j < N; j += NR_##S) {                                                     \
        ptrdiff_t nr = N - j < NR_##S ? N - j : NR_##S;                                             \
        for (ptrdiff_t k0 = 0; k0 < K; k0 += KC) {                                                  \
            ptrdiff_t kc = K - k0 < KC ? K - k0 : KC;                                               \
            int acc = add || k0 > 0;                                                                \
            const T *bp = b + k0 * ldb + j;                                                         \
            ptrdiff_t lb = ldb;                                                                     \
            if (nr < NR_##S) {      /* the last columns, zero-padded to a whole panel */            \
                for (ptrdiff_t k = 0; k < kc; ++k) {                                                \
                    memcpy(pb + k * NR_##S, bp + k * ldb, (size_t)nr * sizeof(T));                  \
                    memset(pb + k * NR_##S + nr, 0, (size_t)(NR_##S - nr) * sizeof(T));             \
                }                                                                                   \
                bp = pb;                                                                            \
                lb = NR_##S;                                                                        \
            }                                                                                       \
            for (ptrdiff_t i = 0; i < M; i += MR) {                                                 \
                ptrdiff_t mr = M - i < MR ? M - i : MR;                                             \
                const T *ai = a + i * sam + k0 * sak;                                               \
                if (nr == NR_##S) {                                                                 \
                    kernel_nn_##S(mr, kc, ai, sam, sak, bp, lb, c + i * ldc + j, ldc, acc);         \
                } else {                                                                            \
                    kernel_narrow_##S(mr, nr, kc, ai, sam, sak, bp, lb, c + i * ldc + j, ldc, acc,  \
                                      pc);                                                          \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* G products, operand g at a + g * sag (and b, c alike); add != 0: C += A B, else C = A B.         \
   K = 0 gives C = 0 (or C unchanged). */                                                           \
void gemm_nn_##S(ptrdiff_t G, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const T *a, ptrdiff_t sag,     \
                 ptrdiff_t sam, ptrdiff_t sak, const T *b, ptrdiff_t sbg, ptrdiff_t ldb, T *c,      \
                 ptrdiff_t scg, ptrdiff_t ldc, ptrdiff_t add) {                                     \
    for (ptrdiff_t g = 0; g < G; ++g) {                                                             \
        if (K == 0) {                                                                               \
            if (!add)                                                                               \
                for (ptrdiff_t i = 0; i < M; ++i)                                                   \
                    memset(c + g * scg + i * ldc, 0, (size_t)N * sizeof(T));                        \
            continue;                                                                               \
        }                                                                                           \
        gemm_nn_one_##S(M, N, K, a + g * sag, sam, sak, b + g * sbg, ldb, c + g * scg, ldc,         \
                        (int)add);                                                                  \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* G products, each C[g] (M, N) (+)= sum over r < Rn of A[g, r] (M, K) B[g, r]^T ((N, K) given),    \
   operand (g, r) at a + g * sag + r * sar (b alike), rows lda / ldb apart, C rows ldc apart: each  \
   block of B's rows is transposed into a zero-padded panel and multiplied as in gemm_nn. */        \
void gemm_nt_##S(ptrdiff_t G, ptrdiff_t Rn, ptrdiff_t M, ptrdiff_t N, ptrdiff_t K, const T *a,      \
                 ptrdiff_t sag, ptrdiff_t sar, ptrdiff_t lda, const T *b, ptrdiff_t sbg,            \
                 ptrdiff_t sbr, ptrdiff_t ldb, T *c, ptrdiff_t scg, ptrdiff_t ldc, ptrdiff_t add) { \
    T pb[KC * NR_##S], pc[MR * NR_##S];                                                             \
    for (ptrdiff_t g = 0; g < G; ++g)                                                               \
    for (ptrdiff_t j = 0; j < N; j += NR_##S) {                                                     \
        ptrdiff_t nr = N - j < NR_##S ? N - j : NR_##S;                                             \
        T *cg = c + g * scg + j;                                                                    \
        if (!add && (Rn == 0 || K == 0))                                                            \
            for (ptrdiff_t i = 0; i < M; ++i) memset(cg + i * ldc, 0, (size_t)nr * sizeof(T));      \
        for (ptrdiff_t r = 0; r < Rn; ++r)                                                          \
        for (ptrdiff_t k0 = 0; k0 < K; k0 += KC) {                                                  \
            ptrdiff_t kc = K - k0 < KC ? K - k0 : KC;                                               \
            int acc = add || r > 0 || k0 > 0;                                                       \
            const T *br = b + g * sbg + r * sbr + j * ldb + k0;                                     \
            pack_transposed_##S(pb, br, ldb, nr, kc);                                               \
            for (ptrdiff_t i = 0; i < M; i += MR) {                                                 \
                ptrdiff_t mr = M - i < MR ? M - i : MR;                                             \
                const T *ai = a + g * sag + r * sar + i * lda + k0;                                 \
                if (nr == NR_##S) {                                                                 \
                    kernel_nn_##S(mr, kc, ai, lda, 1, pb, NR_##S, cg + i * ldc, ldc, acc);          \
                } else {                                                                            \
                    for (ptrdiff_t p = 0; p < mr; ++p)                                              \
                        for (ptrdiff_t q = 0; q < NR_##S; ++q)                                      \
                            pc[p * NR_##S + q] = acc && q < nr ? cg[(i + p) * ldc + q] : 0;         \
                    kernel_nn_##S(mr, kc, ai, lda, 1, pb, NR_##S, pc, NR_##S, 1);                   \
                    for (ptrdiff_t p = 0; p < mr; ++p)                                              \
                        memcpy(cg + (i + p) * ldc, pc + p * NR_##S, (size_t)nr * sizeof(T));        \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* gemm_windows with A as it is and every panel gathered element by element: where its scratch      \
   cannot be had (exported for the tests) */                                                        \
void gemm_windows_plain_##S(ptrdiff_t Sn, ptrdiff_t G, ptrdiff_t M, ptrdiff_t Cg,                   \
                                   ptrdiff_t taps, const ptrdiff_t *win, const T *a, const T *x,    \
                                   ptrdiff_t ps, ptrdiff_t cs, ptrdiff_t vp, ptrdiff_t oh,          \
                                   ptrdiff_t ow, T *y) {                                            \
    T pb[KC * NR_##S], pc[MR * NR_##S];                                                             \
    ptrdiff_t K = Cg * taps, P = oh * ow;                                                           \
    for (ptrdiff_t s = 0; s < Sn; ++s)                                                              \
    for (ptrdiff_t g = 0; g < G; ++g) {                                                             \
        const T *ag = a + g * M * K, *xg = x + s * ps + g * Cg * cs;                                \
        T *yg = y + (s * G + g) * M * P;                                                            \
        for (ptrdiff_t n0 = 0; n0 < P; n0 += NR_##S) {                                              \
            ptrdiff_t nr = P - n0 < NR_##S ? P - n0 : NR_##S;                                       \
            for (ptrdiff_t k0 = 0; k0 < K; k0 += KC) {                                              \
                ptrdiff_t kc = K - k0 < KC ? K - k0 : KC;                                           \
                for (ptrdiff_t k = 0; k < kc; ++k) {                                                \
                    const T *src = xg + (k0 + k) / taps * cs + win[(k0 + k) % taps];                \
                    for (ptrdiff_t q = 0; q < NR_##S; ++q)                                          \
                        pb[k * NR_##S + q] = q < nr ? src[(n0 + q) / ow * vp + (n0 + q) % ow] : 0;  \
                }                                                                                   \
                for (ptrdiff_t i = 0; i < M; i += MR) {                                             \
                    ptrdiff_t mr = M - i < MR ? M - i : MR;                                         \
                    T *ci = yg + i * P + n0;                                                        \
                    kernel_narrow_##S(mr, nr, kc, ag + i * K + k0, K, 1, pb, NR_##S, ci, P, k0 > 0, \
                                      pc);                                                          \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* A (G, M, K) (rows K apart, groups M * K) packed MR rows at a time, each k's MR values together   \
   and zeros past M: one stream of broadcasts instead of MR (gemm_windows' kernel reads it so);     \
   NULL without the memory */                                                                       \
static T *pack_rows_##S(const T *a, ptrdiff_t G, ptrdiff_t M, ptrdiff_t K) {                        \
    ptrdiff_t Mp = (M + MR - 1) / MR * MR;                                                          \
    T *ap = malloc((size_t)(G * Mp * K) * sizeof(T));                                               \
    if (ap)                                                                                         \
        for (ptrdiff_t g = 0; g < G; ++g)                                                           \
            for (ptrdiff_t i = 0; i < Mp; ++i)                                                      \
                for (ptrdiff_t k = 0; k < K; ++k)                                                   \
                    ap[(g * Mp + i / MR * MR) * K + k * MR + i % MR] =                              \
                        i < M ? a[(g * M + i) * K + k] : 0;                                         \
    return ap;                                                                                      \
}                                                                                                   \
                                                                                                    \
/* gemm_windows on A packed by pack_rows and bo from window_rows */                                 \
static void windows_packed_##S(ptrdiff_t Sn, ptrdiff_t G, ptrdiff_t M, ptrdiff_t Cg,                \
                               ptrdiff_t taps, const ptrdiff_t *win, const T *ap,                   \
                               const ptrdiff_t *bo, const T *x,                                     \
                               ptrdiff_t ps, ptrdiff_t cs, ptrdiff_t vp, ptrdiff_t oh,              \
                               ptrdiff_t ow, T *y) {                                                \
    /* VL elements of slack: chunks running past a run's end land in the next run, the next         \
       row or there, all written after them */                                                      \
    T pb[KC * NR_##S + VL_##S], pc[MR * NR_##S];                                                    \
    ptrdiff_t K = Cg * taps, P = oh * ow, Mp = (M + MR - 1) / MR * MR;                              \
    ptrdiff_t rq[NR_##S], rl[NR_##S], ro[NR_##S];   /* the panel's runs, one output row each */     \
    /* whole panels straight from x where a panel's two vectors are two output rows (ow = VL), lie  \
       in one (ow a multiple of NR) or are four rows (ow = VL / 2) */                               \
    ptrdiff_t b2 = ow == VL_##S ? vp : ow % NR_##S == 0 ? VL_##S : 2 * ow == VL_##S ? -vp : 0;      \
    for (ptrdiff_t s = 0; s < Sn; ++s)                                                              \
    for (ptrdiff_t g = 0; g < G; ++g) {                                                             \
        const T *ag = ap + g * Mp * K, *xg = x + s * ps + g * Cg * cs;                              \
        T *yg = y + (s * G + g) * M * P;                                                            \
        for (ptrdiff_t n0 = 0; n0 < P; n0 += NR_##S) {                                              \
            ptrdiff_t nr = P - n0 < NR_##S ? P - n0 : NR_##S, runs = 0;                             \
            for (ptrdiff_t n = n0, i = n0 / ow, j = n0 % ow; n < n0 + nr; ++i, j = 0) {             \
                ptrdiff_t len = ow - j < n0 + nr - n ? ow - j : n0 + nr - n;                        \
                rq[runs] = n - n0;                                                                  \
                rl[runs] = len;                                                                     \
                ro[runs++] = i * vp + j;                                                            \
                n += len;                                                                           \
            }                                                                                       \
            if (b2 && nr == NR_##S) {                                                               \
                const T *xn = xg + n0 / ow * vp + n0 % ow;                                          \
                for (ptrdiff_t k0 = 0; k0 < K; k0 += KC) {                                          \
                    ptrdiff_t kc = K - k0 < KC ? K - k0 : KC;                                       \
                    for (ptrdiff_t i = 0; i < M; i += MR) {                                         \
                        ptrdiff_t mr = M - i < MR ? M - i : MR;                                     \
                        kernel_##S(mr, kc, ag + i * K + k0 * MR, 1, MR, NULL, NULL, xn, 0,          \
                                   bo + k0, b2, yg + i * P + n0, P, k0 > 0);                        \
                    }                                                                               \
                }                                                                                   \
                continue;                                                                           \
            }                                                                                       \
            for (ptrdiff_t k0 = 0; k0 < K; k0 += KC) {                                              \
                ptrdiff_t kc = K - k0 < KC ? K - k0 : KC, c = k0 / taps, t = k0 % taps;             \
                for (ptrdiff_t k = 0; k < kc; ++k) {                                                \
                    const T *src = xg + c * cs + win[t];                                            \
                    T *row = pb + k * NR_##S;                                                       \
                    for (ptrdiff_t r = 0; r < runs; ++r)                                            \
                        for (ptrdiff_t j = 0; j < rl[r]; j += VL_##S)                               \
                            store_##S(row + rq[r] + j, load_##S(src + ro[r] + j));                  \
                    for (ptrdiff_t q = nr; q < NR_##S; ++q) row[q] = 0;                             \
                    if (++t == taps) {                                                              \
                        t = 0;                                                                      \
                        ++c;                                                                        \
                    }                                                                               \
                }                                                                                   \
                int acc = k0 > 0;                                                                   \
                for (ptrdiff_t i = 0; i < M; i += MR) {                                             \
                    ptrdiff_t mr = M - i < MR ? M - i : MR;                                         \
                    const T *ai = ag + i * K + k0 * MR;                                             \
                    T *ci = yg + i * P + n0;                                                        \
                    if (nr == NR_##S) {                                                             \
                        kernel_nn_##S(mr, kc, ai, 1, MR, pb, NR_##S, ci, P, acc);                   \
                    } else {                                                                        \
                        kernel_narrow_##S(mr, nr, kc, ai, 1, MR, pb, NR_##S, ci, P, acc, pc);       \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* Forward convolution without columns (conv/direct.py): per sample s and group g,                  \
   Y (M, oh * ow) = A (M, K) B, K = Cg * taps, B[(c, t), (i, j)] = x[s * ps + (g * Cg + c) * cs     \
   + win[t] + i * vp + j]: x is a layout of the padded image in which every tap's window is a       \
   stride-1 (oh, ow) block with rows vp apart (im2col.c's phases). Each KC x NR panel of B is       \
   copied from those rows into L1 and multiplied as in gemm_nn: the columns are never written       \
   out. x must be readable VL - 1 elements past each window (im2col.c's SLACK). A's rows are K      \
   apart, its groups M * K; Y is (S, G * M, oh * ow), C-contiguous. */                              \
void gemm_windows_##S(ptrdiff_t Sn, ptrdiff_t G, ptrdiff_t M, ptrdiff_t Cg, ptrdiff_t taps,         \
                      const ptrdiff_t *win, const T *a, const T *x, ptrdiff_t ps, ptrdiff_t cs,     \
                      ptrdiff_t vp, ptrdiff_t oh, ptrdiff_t ow, T *y) {                             \
    T *ap = pack_rows_##S(a, G, M, Cg * taps);                                                      \
    ptrdiff_t *bo = window_rows(Cg, taps, win, cs);                                                 \
    if (ap && bo)                                                                                   \
        windows_packed_##S(Sn, G, M, Cg, taps, win, ap, bo, x, ps, cs, vp, oh, ow, y);              \
    else   /* without the memory: the unpacked A and copied panels, slower */                       \
        gemm_windows_plain_##S(Sn, G, M, Cg, taps, win, a, x, ps, cs, vp, oh, ow, y);               \
    free(ap);                                                                                       \
    free(bo);                                                                                       \
}                                                                                                   \
                                                                                                    \
/* gemm_nt_windows on its offset tables: per group g, C (M, N) (+)= sum over samples s of           \
   A_s (M, P) B_s (N, P)^T, A_s[m, (i, j)] = x[s * ps + g * gs + ao[m] + ko[i * ow + j]] */         \
static void nt_windows_tables_##S(ptrdiff_t Sn, ptrdiff_t G, ptrdiff_t M, ptrdiff_t N, ptrdiff_t P, \
                                  const ptrdiff_t *ao, const ptrdiff_t *ko, const T *x,             \
                                  ptrdiff_t ps, ptrdiff_t gs, const T *b, T *c, ptrdiff_t add) {    \
    T pb[KC * NR_##S], pc[MR * NR_##S];                                                             \
    for (ptrdiff_t g = 0; g < G; ++g)                                                               \
    for (ptrdiff_t j = 0; j < N; j += NR_##S) {                                                     \
        ptrdiff_t nr = N - j < NR_##S ? N - j : NR_##S;                                             \
        T *cg = c + g * M * N + j;                                                                  \
        if (!add && (Sn == 0 || P == 0))                                                            \
            for (ptrdiff_t i = 0; i < M; ++i) memset(cg + i * N, 0, (size_t)nr * sizeof(T));        \
        for (ptrdiff_t s = 0; s < Sn; ++s)                                                          \
        for (ptrdiff_t k0 = 0; k0 < P; k0 += KC) {                                                  \
            ptrdiff_t kc = P - k0 < KC ? P - k0 : KC;                                               \
            int acc = add || s > 0 || k0 > 0;                                                       \
            const T *br = b + ((s * G + g) * N + j) * P + k0;                                       \
            const T *xs = x + s * ps + g * gs;                                                      \
            pack_transposed_##S(pb, br, P, nr, kc);                                                 \
            for (ptrdiff_t i = 0; i < M; i += MR) {                                                 \
                ptrdiff_t mr = M - i < MR ? M - i : MR;                                             \
                if (nr == NR_##S) {                                                                 \
                    kernel_##S(mr, kc, xs, 0, 0, ao + i, ko + k0, pb, NR_##S, NULL, VL_##S,         \
                               cg + i * N, N, acc);                                                 \
                } else {                                                                            \
                    for (ptrdiff_t p = 0; p < mr; ++p)                                              \
                        for (ptrdiff_t q = 0; q < NR_##S; ++q)                                      \
                            pc[p * NR_##S + q] = acc && q < nr ? cg[(i + p) * N + q] : 0;           \
                    kernel_##S(mr, kc, xs, 0, 0, ao + i, ko + k0, pb, NR_##S, NULL, VL_##S, pc,     \
                               NR_##S, 1);                                                          \
                    for (ptrdiff_t p = 0; p < mr; ++p)                                              \
                        memcpy(cg + (i + p) * N, pc + p * NR_##S, (size_t)nr * sizeof(T));          \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
/* The weight gradient of a convolution without columns (conv/direct.py): per group g,              \
   C (Cg * taps, N) (+)= sum over samples s of A_s B_s^T, A_s[(c, t), (i, j)] = x[s * ps +          \
   (g * Cg + c) * cs + win[t] + i * vp + j] (the windows of gemm_windows), B_s = b[s, g] (N, oh *   \
   ow) C-contiguous. As gemm_nt, each KC x NR block of B is transposed into a panel; A is read in   \
   place through offset tables. C is (G, Cg * taps, N), C-contiguous. Returns 0 (C untouched)       \
   where the tables could not be allocated, else 1. */                                              \
int gemm_nt_windows_##S(ptrdiff_t Sn, ptrdiff_t G, ptrdiff_t Cg, ptrdiff_t taps,                    \
                        const ptrdiff_t *win, ptrdiff_t N, const T *x, ptrdiff_t ps, ptrdiff_t cs,  \
                        ptrdiff_t vp, ptrdiff_t oh, ptrdiff_t ow, const T *b, T *c,                 \
                        ptrdiff_t add) {                                                            \
    ptrdiff_t *rows = window_rows(Cg, taps, win, cs);                                               \
    ptrdiff_t *pixels = malloc((size_t)(oh * ow) * sizeof *pixels);                                 \
    int ok = rows && pixels;                                                                        \
    if (ok) {                                                                                       \
        for (ptrdiff_t i = 0; i < oh; ++i)                                                          \
            for (ptrdiff_t j = 0; j < ow; ++j) pixels[i * ow + j] = i * vp + j;                     \
        nt_windows_tables_##S(Sn, G, Cg * taps, N, oh * ow, rows, pixels, x, ps, Cg * cs, b, c,     \
                              add);                                                                 \
    }                                                                                               \
    free(rows);                                                                                     \
    free(pixels);                                                                                   \
    return ok;                                                                                      \
}

DEFINE_GEMM(float, v16f, f32)
DEFINE_GEMM(double, v8d, f64)
