/* The FFT convolution's per-frequency complex product on the CPU (conv/spectral.py, HostProduct):
 * a batched complex GEMM that reads its operands in place, float32 and float64 (complex64 and
 * complex128 stored interleaved, re then im).
 *
 *     C[t, p, q] = sum_k opS(S[t, p, k]) * opV(V[t, q, k])        op = identity or conj
 *
 * for every batch t (a frequency bin and a channel group, t = (i0 * n1 + i1) * G + g over two bin
 * axes and the groups), C dense (batches, P, Q). S and V are the two operands, each with its own
 * strides for the bin axes, the group, its free axis and k, in complex elements. The caller picks
 * which GEMM operand plays V: its free axis q is the vector axis of the microkernel.
 *
 * Why not BLAS: every bin's matrices are small and skewed (paper layer 3: 16 x 256 times
 * 384 x 256, each weight spectrum element used only 16 times), so OpenBLAS's packing and per-call
 * set-up took a large share of each of the thousands of per-bin CGEMMs (47-70% of a large CGEMM's
 * rate through numpy.matmul). Here a bin's V is used in place when its q axis is contiguous (only
 * the last partial vector of q is copied, zero-padded, into ``work``), and otherwise copied once
 * per bin into ``work`` as K rows of Q contiguous complex (fprop's 16 x f image spectra). S is
 * never copied: its elements are broadcast from wherever they are. (Copying V in blocks of rows,
 * GotoBLAS style, was tried: bprop, whose V is the large weight spectrum used 16 times, ran at
 * half the speed, the copy's memory reads serialised with the arithmetic.)
 *
 * Microkernel (register tile of MR rows p by NR vectors of CV complex q): for each k, a row of V
 * is NR vector loads w_j = (vr, vi, ...); each S element (sr, si) is two broadcasts, and
 *
 *     acc1[i][j] += sr * w_j  = (sr vr, sr vi)       acc2[i][j] += si * w_j  = (si vr, si vi)
 *
 * two FMAs per vector, no shuffle in the loop; at the end the pair swap of acc2 combines them:
 *
 *     C = acc1 * P + swap(acc2) * Q,   P = (1, cv ? -1 : 1),   Q = (cs ^ cv ? 1 : -1, cs ? -1 : 1)
 *
 * (cs, cv: the conj flags of S and V; e.g. no conj: (sr vr - si vi, sr vi + si vr)). The sums run
 * over k in order, the real and imaginary products kept apart until the end, so NaN and infinity
 * propagate as IEEE arithmetic does (no fast-math); only FMA contraction is enabled here.
 * Zero-padded lanes of the last vector are computed and never stored.
 *
 * Tiles: NR = 3 vectors with MR = 4 rows, NR = 2 with MR = 6, NR = 1 with MR = 8 (24, 24 and 16
 * accumulators of the 32 vector registers). Loop order: V panels that fit L1 together run inside
 * each block of PB rows of S (C written row block by row block), larger ones one panel at a time.
 *
 * Memory (the operands of a step are 100+ MB, so most bins come from DRAM; the tile runs at
 * 100-115 GFLOP/s a core from cache, about a large CGEMM's rate): every tile prefetches for
 * writing the output lines of the next panel in its rows, or past the rows' end those of the next
 * row block (accGrad's outputs, 786 KiB a bin at paper layer 3: 49 -> 78 GFLOP/s single-thread;
 * the next row block's: 71 -> 79 at paper layer 2), and one of two read streams, a line per k:
 *   - a V over STREAM_BYTES a bin (bprop's weight spectra) runs in blocks of about BLOCK_BYTES of
 *     rows, C accumulated over the blocks, and the tiles of a block prefetch the next block (the
 *     next bin's first after the last) in memory order, so that V streams sequentially
 *     (bprop 66-75 -> 85-95 GFLOP/s single-thread on paper layers 2-5);
 *   - otherwise the next row tile's S rows, where k is contiguous (fprop's weight spectra:
 *     67-88 -> 91-104 GFLOP/s).
 * (Measured single-thread on the shared 2-core Zen 4, best of 5-7, indicative.)
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__clang__)
#pragma clang fp contract(fast)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=fast")
#endif

#define R restrict
#define INLINE static inline __attribute__((always_inline))

typedef float v16f __attribute__((vector_size(64)));
typedef float v16f_u __attribute__((vector_size(64), aligned(4)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef double v8d __attribute__((vector_size(64)));
typedef double v8d_u __attribute__((vector_size(64), aligned(8)));
typedef int64_t v8l __attribute__((vector_size(64)));

#define SWAP_f32 ((v16i){1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14})
#define SWAP_f64 ((v8l){1, 0, 3, 2, 5, 4, 7, 6})

#define MR1 8
#define MR2 6
#define MR3 4
#define PB 24                 /* rows of S per block: a multiple of every MR */
#define PANEL_BYTES 32768     /* V panels up to this size together (L1) run in each row block */
#define STREAM_BYTES 65536    /* a V over this size a bin streams in blocks of rows ... */
#define BLOCK_BYTES 262144    /* ... of about this size (L2) */
#define MIN_KC 16             /* rows of such a block at least */
#define AHEAD 16              /* rows of V prefetched ahead by a panel's first tile (first block) */

/* vectors in the V panel that starts rem vectors before the end (4 -> 2 + 2, not 3 + 1) */
INLINE int panel_width(ptrdiff_t rem) { return rem >= 3 ? (rem == 4 ? 2 : 3) : (int)rem; }

/* offset of batch t = (i0 * n1 + i1) * G + g, strides st over (bin 0, bin 1, group) */
static inline ptrdiff_t batch_offset(ptrdiff_t t, ptrdiff_t n1, ptrdiff_t G, const ptrdiff_t *st) {
    return (t / (G * n1)) * st[0] + ((t / G) % n1) * st[1] + (t % G) * st[2];
}

#define DEFINE_CPRODUCT(T, S, VT, VTU, IT, LANES)                                                        \
enum { CV_##S = LANES / 2 };                                                                       \
                                                                                                   \
INLINE VT splat_##S(T x) { return __builtin_shuffle((VT){x}, (IT){0}); }                          \
                                                                                                   \
INLINE VT pairs_##S(T re, T im) {                                                                  \
    VT r;                                                                                          \
    for (int l = 0; l < LANES; l += 2) { r[l] = re; r[l + 1] = im; }                               \
    return r;                                                                                      \
}                                                                                                  \
                                                                                                   \
/* One register tile: rows p of s (mr of them, row stride sp, k stride sk, in T), vectors of v    \
   (nr, row stride vk), into c (row stride cp), added to c when ``add``; the last vector stores   \
   ``last`` complex. Prefetches, a line per k: pf's rows AHEAD ahead (pf: this tile's v or NULL), \
   and nps lines from line pstart of the rows psp bytes apart from pfs, lpr lines a row. */        \
INLINE void micro_##S(const int mr, const int nr, const T *R s, ptrdiff_t sp, ptrdiff_t sk,        \
                      const T *R v, ptrdiff_t vk, T *R c, ptrdiff_t cp, ptrdiff_t K,               \
                      VT psign, VT qsign, int last, int add, const T *pf, const char *pfs,         \
                      ptrdiff_t psp, ptrdiff_t lpr, ptrdiff_t pstart, ptrdiff_t nps) {             \
    VT acc1[MR1][3], acc2[MR1][3];                                                                 \
    ptrdiff_t prow = nps ? pstart / lpr : 0, pline = nps ? pstart % lpr : 0;                       \
    _Pragma("GCC unroll 8") for (int i = 0; i < mr; ++i)                                           \
        _Pragma("GCC unroll 3") for (int j = 0; j < nr; ++j) {                                     \
            acc1[i][j] = splat_##S(0);                                                             \
            acc2[i][j] = splat_##S(0);                                                             \
            if (add) {  /* C so far, times P (its own inverse) so the end's acc1 * P restores it */ \
                VT prev = splat_##S(0);                                                            \
                memcpy(&prev, c + i * cp + j * LANES,                                              \
                       (size_t)(j == nr - 1 ? last : CV_##S) * 2 * sizeof(T));                     \
                acc1[i][j] = prev * psign;                                                         \
            }                                                                                      \
        }                                                                                          \
    for (ptrdiff_t k = 0; k < K; ++k) {                                                            \
        const T *vrow = v + k * vk;                                                                \
        const T *srow = s + k * sk;                                                                \
        VT w[3];                                                                                   \
        _Pragma("GCC unroll 3") for (int j = 0; j < nr; ++j) w[j] = *(const VTU *)(vrow + j * LANES); \
        if (pf) {                                                                                  \
            _Pragma("GCC unroll 3") for (int j = 0; j < nr; ++j)                                   \
                __builtin_prefetch(pf + (k + AHEAD) * vk + j * LANES, 0, 3);                       \
        }                                                                                          \
        if (k < nps) {                                                                             \
            __builtin_prefetch(pfs + prow * psp + 64 * pline, 0, 3);                               \
            if (++pline == lpr) { pline = 0; ++prow; }                                             \
        }                                                                                          \
        _Pragma("GCC unroll 8") for (int i = 0; i < mr; ++i) {                                     \
            VT br = splat_##S(srow[i * sp]), bi = splat_##S(srow[i * sp + 1]);                     \
            _Pragma("GCC unroll 3") for (int j = 0; j < nr; ++j) {                                 \
                acc1[i][j] += br * w[j];                                                           \
                acc2[i][j] += bi * w[j];                                                           \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    _Pragma("GCC unroll 8") for (int i = 0; i < mr; ++i)                                           \
        _Pragma("GCC unroll 3") for (int j = 0; j < nr; ++j) {                                     \
            VT r = acc1[i][j] * psign + __builtin_shuffle(acc2[i][j], SWAP_##S) * qsign;           \
            T *to = c + i * cp + j * LANES;                                                        \
            if (j == nr - 1 && last < CV_##S)                                                      \
                memcpy(to, &r, (size_t)last * 2 * sizeof(T));                                      \
            else                                                                                   \
                *(VTU *)to = r;                                                                    \
        }                                                                                          \
}                                                                                                  \
                                                                                                   \
static void tile_##S(int mr, int nr, const T *s, ptrdiff_t sp, ptrdiff_t sk, const T *v,            \
                     ptrdiff_t vk, T *c, ptrdiff_t cp, ptrdiff_t K, VT psign, VT qsign, int last,  \
                     int add, const T *pf, const char *pfs, ptrdiff_t psp, ptrdiff_t lpr,          \
                     ptrdiff_t pstart, ptrdiff_t nps) {                                            \
    switch (nr * 16 + mr) {                                                                        \
    case 0x11: micro_##S(1, 1, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x12: micro_##S(2, 1, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x13: micro_##S(3, 1, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x14: micro_##S(4, 1, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x15: micro_##S(5, 1, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x16: micro_##S(6, 1, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x17: micro_##S(7, 1, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x18: micro_##S(8, 1, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x21: micro_##S(1, 2, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x22: micro_##S(2, 2, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x23: micro_##S(3, 2, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x24: micro_##S(4, 2, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x25: micro_##S(5, 2, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x26: micro_##S(6, 2, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x31: micro_##S(1, 3, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x32: micro_##S(2, 3, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    case 0x33: micro_##S(3, 3, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    default:   micro_##S(4, 3, s, sp, sk, v, vk, c, cp, K, psign, qsign, last, add, pf, pfs, psp, lpr, pstart, nps); break;             \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
/* One batch: C (P x nvec vectors, row stride cp) from s and a v with contiguous rows (stride vk); \
   the last vector holds ``last`` valid complex. A V larger than BLOCK_BYTES runs in blocks of    \
   rows (C accumulated), each block's tiles prefetching the next block in memory order, a line   \
   per k, so that V streams from memory sequentially; otherwise each row tile prefetches the     \
   next row tile's S rows (where k is contiguous). */                                              \
static void gemm_##S(const T *s, ptrdiff_t sp, ptrdiff_t sk, const T *v, ptrdiff_t vk, T *c,       \
                     ptrdiff_t cp, ptrdiff_t P, ptrdiff_t nvec, ptrdiff_t K, VT psign, VT qsign,   \
                     int last, const T *vnext) {                                                   \
    if (K == 0) {                                                                                  \
        for (ptrdiff_t p = 0; p < P; ++p)                                                          \
            memset(c + 2 * p * cp, 0, (size_t)((nvec - 1) * CV_##S + last) * 2 * sizeof(T));       \
        return;                                                                                    \
    }                                                                                              \
    const ptrdiff_t vrow = nvec * (ptrdiff_t)sizeof(VT);   /* bytes of a V row */                  \
    ptrdiff_t kc = K * vrow <= BLOCK_BYTES ? K : BLOCK_BYTES / vrow;                               \
    kc = kc < MIN_KC ? MIN_KC : kc;                                                                \
    const int blocked = K * vrow > STREAM_BYTES;                                                   \
    const ptrdiff_t vlines = (vrow + 63) / 64;                                                     \
    for (ptrdiff_t k0 = 0; k0 < K; k0 += kc) {                                                     \
        const ptrdiff_t kk = K - k0 < kc ? K - k0 : kc;                                            \
        /* the next block: of this V, else the first of the next batch's */                      \
        const T *vn = k0 + kk < K ? v + (k0 + kk) * vk : vnext;                                    \
        const ptrdiff_t next = !vn ? 0 : k0 + kk < K ? (K - k0 - kk < kc ? K - k0 - kk : kc) : kc;  \
        const T *sb = s + 2 * k0 * sk, *vb = v + k0 * vk;                                          \
        const ptrdiff_t lpr = (2 * kk * (ptrdiff_t)sizeof(T) + 63) / 64;  /* lines of an S row */  \
        ptrdiff_t panel = PANEL_BYTES / (kk * (ptrdiff_t)sizeof(VT));                              \
        panel = panel < 3 ? 3 : panel - panel % 3;                                                 \
        ptrdiff_t issued = 0;   /* lines of the next V block prefetched so far */                 \
        for (ptrdiff_t q0 = 0; q0 < nvec; q0 += panel) {                                           \
            const ptrdiff_t q1 = nvec - q0 < panel ? nvec : q0 + panel;                           \
            for (ptrdiff_t p = 0; p < P; p += PB) {                                                \
                for (ptrdiff_t q = q0; q < q1;) {                                                  \
                    const int nr = panel_width(q1 - q);                                            \
                    const int MR = nr == 3 ? MR3 : nr == 2 ? MR2 : MR1;                            \
                    const int lq = q + nr == nvec ? last : CV_##S;                                 \
                    for (ptrdiff_t pp = p; pp < p + PB && pp < P; pp += MR) {                      \
                        const int mr = P - pp < MR ? (int)(P - pp) : MR;                           \
                        T *to = c + 2 * pp * cp + q * LANES;                                       \
                        /* output lines, for writing: of the next panel in these rows, or past   \
                           the rows' end, of the group's first panel in the next row block (in   \
                           the last one, what follows: the next batch's first rows) */           \
                        T *ahead = q + nr < nvec || pp + PB >= P ? to + nr * LANES                 \
                                 : c + 2 * (pp + PB) * cp + q0 * LANES;                            \
                        for (int i = 0; i < mr; ++i)                                               \
                            for (int j = 0; j < 3; ++j)                                            \
                                __builtin_prefetch(ahead + 2 * i * cp + j * LANES, 1, 3);          \
                        const char *pfs;                                                           \
                        ptrdiff_t psp, plpr, pstart, nps;                                          \
                        if (blocked) {                                                             \
                            pfs = (const char *)vn;                                                \
                            psp = vk * (ptrdiff_t)sizeof(T), plpr = vlines, pstart = issued;       \
                            nps = next * vlines - issued;                                          \
                            nps = nps < 0 ? 0 : nps > kk ? kk : nps;                               \
                            issued += nps;                                                         \
                        } else {                                                                   \
                            pfs = (const char *)(sb + 2 * (pp + mr) * sp);                         \
                            psp = 2 * sp * (ptrdiff_t)sizeof(T), plpr = lpr, pstart = 0;           \
                            nps = sk == 1 && pp + mr < P ? mr * lpr : 0;                           \
                        }                                                                          \
                        tile_##S(mr, nr, sb + 2 * pp * sp, 2 * sp, 2 * sk, vb + q * LANES, vk, to, \
                                 2 * cp, kk, psign, qsign, lq, k0 > 0,                             \
                                 pp == p && k0 == 0 ? vb + q * LANES : NULL,                       \
                                 pfs, psp, plpr, pstart, nps);                                     \
                    }                                                                              \
                    q += nr;                                                                       \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
/* Columns [q0, q0 + n) of V (q stride vq, k stride vk, complex) as K rows of ``width`` complex,   \
   zero-padded past n. */                                                                          \
static void pack_##S(const T *R v, ptrdiff_t vq, ptrdiff_t vk, ptrdiff_t q0, ptrdiff_t n,          \
                     ptrdiff_t width, ptrdiff_t K, T *R out) {                                     \
    for (ptrdiff_t k = 0; k < K; ++k) {                                                            \
        T *row = out + 2 * k * width;                                                              \
        const T *from = v + 2 * (k * vk + q0 * vq);                                                \
        for (ptrdiff_t q = 0; q < n; ++q) {                                                        \
            row[2 * q] = from[2 * q * vq];                                                         \
            row[2 * q + 1] = from[2 * q * vq + 1];                                                 \
        }                                                                                          \
        for (ptrdiff_t q = 2 * n; q < 2 * width; ++q) row[q] = 0;                                  \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
/* dims: n0, n1, G, P, Q, K; ss: strides of s over (bin 0, bin 1, group, p, k); vs: of v over     \
   (bin 0, bin 1, group, q, k), in complex elements. Batches [lo, hi) of c, dense (n0 n1 G, P, Q). \
   work: K * ceil(Q / CV) * CV complex when v's q stride is not 1, else K * CV. */                  \
void cproduct_##S(const T *s, const T *v, T *c, const ptrdiff_t *dims, const ptrdiff_t *ss,        \
                  const ptrdiff_t *vs, ptrdiff_t lo, ptrdiff_t hi, int conj_s, int conj_v,         \
                  T *work) {                                                                       \
    const ptrdiff_t n1 = dims[1], G = dims[2], P = dims[3], Q = dims[4], K = dims[5];               \
    const VT psign = pairs_##S(1, conj_v ? -1 : 1);                                                \
    const VT qsign = pairs_##S((conj_s ^ conj_v) ? 1 : -1, conj_s ? -1 : 1);                       \
    const ptrdiff_t nvec = (Q + CV_##S - 1) / CV_##S, full = Q / CV_##S;                            \
    for (ptrdiff_t t = lo; t < hi; ++t) {                                                          \
        const T *st = s + 2 * batch_offset(t, n1, G, ss);                                          \
        const T *vt = v + 2 * batch_offset(t, n1, G, vs);                                          \
        T *ct = c + 2 * t * P * Q;                                                                 \
        if (P == 0 || Q == 0) continue;                                                            \
        if (vs[3] != 1) {                                                                          \
            pack_##S(vt, vs[3], vs[4], 0, Q, nvec * CV_##S, K, work);                              \
            gemm_##S(st, ss[3], ss[4], work, 2 * nvec * CV_##S, ct, Q, P, nvec, K, psign, qsign,   \
                     (int)(Q - (nvec - 1) * CV_##S), NULL);                                        \
            continue;                                                                              \
        }                                                                                          \
        const T *vn = t + 1 < hi ? v + 2 * (batch_offset(t + 1, n1, G, vs)) : NULL;                \
        if (full > 0)                                                                              \
            gemm_##S(st, ss[3], ss[4], vt, 2 * vs[4], ct, Q, P, full, K, psign, qsign, CV_##S, vn); \
        if (full < nvec) {                                                                         \
            pack_##S(vt, 1, vs[4], full * CV_##S, Q - full * CV_##S, CV_##S, K, work);             \
            gemm_##S(st, ss[3], ss[4], work, 2 * CV_##S, ct + 2 * full * CV_##S, Q, P, 1, K,       \
                     psign, qsign, (int)(Q - full * CV_##S), NULL);                                \
        }                                                                                          \
    }                                                                                              \
}

DEFINE_CPRODUCT(float, f32, v16f, v16f_u, v16i, 16)
DEFINE_CPRODUCT(double, f64, v8d, v8d_u, v8l, 8)
