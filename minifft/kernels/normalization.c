/* Batch normalisation for minifft/functions/normalization.py over C-contiguous (N, C, HW) arrays,
 * channels [c0, c1) per call (the caller runs chunks of channels on its thread pool). Per channel
 * c the M = N * HW values are N planes of HW. Every pass walks memory in order (plane n of
 * channels c0..c1, then plane n + 1). Walking one channel's planes instead jumps by C * HW, and
 * on a 1 MiB 8-way L2 those planes share a few sets (a 64 KiB stride at 64 x 16 x 32 x 32
 * leaves a 256 KiB channel 64 KiB of cache): its second pass came from L3 anyway, and the short
 * runs of small planes defeated the prefetcher (one pass of statistics instead of two, in memory
 * order, took 0.18 ms instead of 0.39 at 64 x 16 x 32 x 32 float32; the backward 0.67 instead
 * of 0.9; one thread, measured on the 2-core Zen 4).
 *
 * batch_norm_train_forward: mean and biased var in one pass over memory: per plane its sum and
 *     the sum of squares about its own mean (the plane is in L1 for that second loop); the sums
 *     give the mean, and the squares are gathered across planes in double about the first
 *     plane's mean (no sum(x^2) - M mean^2 cancellation); inv_std = 1 / sqrt(var + eps) rounded
 *     as NumPy rounds it; then
 *     y = ((x - mean) * inv_std) * gamma + beta (NumPy's order of rounding), also
 *     batch_norm_forward's (eval: the caller gives mean and inv_std).
 * batch_norm_backward: gbeta = sum(gy), ggamma = sum(gy * xhat), xhat = (x - mean) * inv_std
 *     recomputed as forward computed it, then
 *     gx = (inv_std * gamma) * ((gy - gbeta / M) - xhat * (ggamma / M))   (training)
 *     gx = (inv_std * gamma) * gy                                         (eval)
 * Sums run in T across SIMD lanes within a plane and in double across planes; planes of fewer
 * than SMALL_PLANE values sum per position (c, i) across the batch in double instead, one flat
 * loop over a row of C * HW values per image. ``work`` holds batch_norm_workspace(C, HW) doubles
 * of the caller's, indexed by channel so chunks of channels share it.
 */
#include <math.h>
#include <stddef.h>

/* Planes of fewer values than this run their sums and their elementwise passes per position
 * across the batch instead, flat loops over a row of C * HW values with the per-channel numbers
 * spread over their positions: a plane's own loops and sums cost more than its few values. At
 * 256 x 512 x 1 float32 the forward took 4.5 ms with per-plane sums (1.6 in the old channel
 * order), 0.10 by position, the backward 1.7 and 0.11; at 64 x 128 x 16 0.15 and 0.08, 0.14
 * and 0.10; by position broke even at 32 and 36 values a plane and lost at 49 and 64. */
#define SMALL_PLANE 32

/* The doubles ``work`` must hold for C channels of HW values (every entry point): small planes
 * take 2 C and then 7 regions of C * HW (REGION below), the others 3 C. */
ptrdiff_t batch_norm_workspace(ptrdiff_t C, ptrdiff_t HW)
{
    return HW < SMALL_PLANE ? 2 * C + 7 * C * HW : 3 * C;
}

/* region k of a small-plane workspace from channel c0 on, as doubles or as T */
#define REGION(k) (work + 2 * C + (k) * C * HW + c0 * HW)

/* one value per channel spread over its HW positions, for flat loops over a row of C * HW */
#define SPREAD(dst, src)                                                                         \
    for (ptrdiff_t c = c0; c < c1; c++)                                                          \
        for (ptrdiff_t i = 0; i < HW; i++)                                                       \
            (dst)[(c - c0) * HW + i] = (src);

#define NORMALIZATION(T, SUF, SQRT)                                                              \
/* planes of fewer than SMALL_PLANE values: sums per position (c, i) across the batch, in        \
   double, two passes (sum, then squares about the mean), each a flat loop over C * HW */        \
static void batch_norm_stats_small_##SUF(const T *restrict x, T *restrict mean, T *restrict var, \
                                         double *restrict work, ptrdiff_t N, ptrdiff_t C,        \
                                         ptrdiff_t HW, ptrdiff_t c0, ptrdiff_t c1)               \
{                                                                                                \
    double *a = REGION(0), *m = REGION(1), M = (double)(N * HW);                                 \
    ptrdiff_t len = (c1 - c0) * HW;                                                              \
    for (ptrdiff_t j = 0; j < len; j++)                                                          \
        a[j] = 0;                                                                                \
    for (ptrdiff_t n = 0; n < N; n++) {                                                          \
        const T *p = x + (n * C + c0) * HW;                                                      \
        _Pragma("omp simd")                                                                      \
        for (ptrdiff_t j = 0; j < len; j++)                                                      \
            a[j] += p[j];                                                                        \
    }                                                                                            \
    for (ptrdiff_t c = c0; c < c1; c++) {                                                        \
        double t = 0;                                                                            \
        for (ptrdiff_t i = 0; i < HW; i++)                                                       \
            t += a[(c - c0) * HW + i];                                                           \
        mean[c] = (T)(t / M);                                                                    \
        for (ptrdiff_t i = 0; i < HW; i++)                                                       \
            m[(c - c0) * HW + i] = t / M;                                                        \
    }                                                                                            \
    for (ptrdiff_t j = 0; j < len; j++)                                                          \
        a[j] = 0;                                                                                \
    for (ptrdiff_t n = 0; n < N; n++) {                                                          \
        const T *p = x + (n * C + c0) * HW;                                                      \
        _Pragma("omp simd")                                                                      \
        for (ptrdiff_t j = 0; j < len; j++) {                                                    \
            double d = (double)p[j] - m[j];                                                      \
            a[j] += d * d;                                                                       \
        }                                                                                        \
    }                                                                                            \
    for (ptrdiff_t c = c0; c < c1; c++) {                                                        \
        double q = 0;                                                                            \
        for (ptrdiff_t i = 0; i < HW; i++)                                                       \
            q += a[(c - c0) * HW + i];                                                           \
        var[c] = (T)(q / M);                                                                     \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
static void batch_norm_stats_##SUF(const T *restrict x, T *restrict mean, T *restrict var,       \
                                   double *restrict work, ptrdiff_t N, ptrdiff_t C,              \
                                   ptrdiff_t HW, ptrdiff_t c0, ptrdiff_t c1)                     \
{                                                                                                \
    if (HW < SMALL_PLANE) {                                                                      \
        batch_norm_stats_small_##SUF(x, mean, var, work, N, C, HW, c0, c1);                      \
        return;                                                                                  \
    }                                                                                            \
    /* k: the first plane's mean, the shift the squares are gathered about; st: the sum */       \
    double *k = work, *m2 = work + C, *st = work + 2 * C, inv_hw = 1.0 / (double)HW;             \
    for (ptrdiff_t n = 0; n < N; n++)                                                            \
        for (ptrdiff_t c = c0; c < c1; c++) {                                                    \
            const T *p = x + (n * C + c) * HW;                                                   \
            T t = 0;                                                                             \
            _Pragma("omp simd reduction(+:t)")                                                   \
            for (ptrdiff_t i = 0; i < HW; i++)                                                   \
                t += p[i];                                                                       \
            T pm = t / (T)HW, q = 0;                                                             \
            _Pragma("omp simd reduction(+:q)")                                                   \
            for (ptrdiff_t i = 0; i < HW; i++) {                                                 \
                T d = p[i] - pm;                                                                 \
                q += d * d;                                                                      \
            }                                                                                    \
            /* q, about pm (the plane's mean rounded to T), exceeds the sum about its exact      \
               mean by HW (pm - mean)^2: relatively 1e-14 mean^2 / var in float32, left out */   \
            if (n == 0) {                                                                        \
                k[c] = (double)t * inv_hw;                                                       \
                st[c] = t;                                                                       \
                m2[c] = q;                                                                       \
            } else {                                                                             \
                double d = (double)t * inv_hw - k[c];                                            \
                st[c] += t;                                                                      \
                m2[c] += (double)q + (double)HW * d * d;                                         \
            }                                                                                    \
        }                                                                                        \
    double M = (double)(N * HW);                                                                 \
    for (ptrdiff_t c = c0; c < c1; c++) {                                                        \
        double m = st[c] / M, shift = m - k[c], v = m2[c] / M - shift * shift;                   \
        mean[c] = (T)m;   /* the plain sum: an infinity gives an infinite mean, as in NumPy */   \
        /* rounding can take v below 0 where var << shift^2; NaN stays NaN */                    \
        var[c] = (T)(v < 0 ? 0 : v);                                                             \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
void batch_norm_forward_##SUF(const T *restrict x, T *restrict y, const T *restrict mean,        \
                              const T *restrict inv_std, const T *restrict gamma,                \
                              const T *restrict beta, double *restrict work, ptrdiff_t N,        \
                              ptrdiff_t C, ptrdiff_t HW, ptrdiff_t c0, ptrdiff_t c1)             \
{                                                                                                \
    if (HW < SMALL_PLANE) {                                                                      \
        T *emu = (T *)REGION(0), *es = (T *)REGION(1);                                           \
        T *eg = (T *)REGION(2), *eb = (T *)REGION(3);                                            \
        ptrdiff_t len = (c1 - c0) * HW;                                                          \
        SPREAD(emu, mean[c]) SPREAD(es, inv_std[c]) SPREAD(eg, gamma[c]) SPREAD(eb, beta[c])     \
        for (ptrdiff_t n = 0; n < N; n++) {                                                      \
            const T *p = x + (n * C + c0) * HW;                                                  \
            T *q = y + (n * C + c0) * HW;                                                        \
            _Pragma("omp simd")                                                                  \
            for (ptrdiff_t j = 0; j < len; j++) {                                                \
                T h = (p[j] - emu[j]) * es[j];                                                   \
                q[j] = h * eg[j] + eb[j];                                                        \
            }                                                                                    \
        }                                                                                        \
        return;                                                                                  \
    }                                                                                            \
    for (ptrdiff_t n = 0; n < N; n++)                                                            \
        for (ptrdiff_t c = c0; c < c1; c++) {                                                    \
            const T *p = x + (n * C + c) * HW;                                                   \
            T *q = y + (n * C + c) * HW;                                                         \
            T mu = mean[c], s = inv_std[c], g = gamma[c], b = beta[c];                           \
            _Pragma("omp simd")                                                                  \
            for (ptrdiff_t i = 0; i < HW; i++) {                                                 \
                T h = (p[i] - mu) * s;                                                           \
                q[i] = h * g + b;                                                                \
            }                                                                                    \
        }                                                                                        \
}                                                                                                \
                                                                                                 \
void batch_norm_train_forward_##SUF(const T *restrict x, T *restrict y, T *restrict mean,        \
                                    T *restrict var, T *restrict inv_std,                        \
                                    const T *restrict gamma,                                     \
                                    const T *restrict beta, double *restrict work, double eps,   \
                                    ptrdiff_t N, ptrdiff_t C, ptrdiff_t HW, ptrdiff_t c0,        \
                                    ptrdiff_t c1)                                                \
{                                                                                                \
    batch_norm_stats_##SUF(x, mean, var, work, N, C, HW, c0, c1);                                \
    for (ptrdiff_t c = c0; c < c1; c++)                                                          \
        inv_std[c] = (T)1 / SQRT(var[c] + (T)eps);                                               \
    batch_norm_forward_##SUF(x, y, mean, inv_std, gamma, beta, work, N, C, HW, c0, c1);          \
}                                                                                                \
                                                                                                 \
void batch_norm_backward_##SUF(const T *restrict x, const T *restrict gy, T *restrict gx,        \
                               const T *restrict mean, const T *restrict inv_std,                \
                               const T *restrict gamma, T *restrict gbeta, T *restrict ggamma,   \
                               double *restrict work, int training, ptrdiff_t N, ptrdiff_t C,    \
                               ptrdiff_t HW, ptrdiff_t c0, ptrdiff_t c1)                         \
{                                                                                                \
    double *sb = work, *sg = work + C;                                                           \
    if (HW < SMALL_PLANE) {                                                                      \
        /* per position (c, i) across the batch, then per channel (see the statistics) */        \
        ptrdiff_t len = (c1 - c0) * HW;                                                          \
        double *pb = REGION(0), *pg = REGION(1);                                                 \
        T *emu = (T *)REGION(2), *es = (T *)REGION(3);                                           \
        SPREAD(emu, mean[c]) SPREAD(es, inv_std[c])                                              \
        for (ptrdiff_t j = 0; j < len; j++)                                                      \
            pb[j] = pg[j] = 0;                                                                   \
        for (ptrdiff_t n = 0; n < N; n++) {                                                      \
            const T *p = x + (n * C + c0) * HW, *g = gy + (n * C + c0) * HW;                     \
            _Pragma("omp simd")                                                                  \
            for (ptrdiff_t j = 0; j < len; j++) {                                                \
                pb[j] += g[j];                                                                   \
                pg[j] += g[j] * ((p[j] - emu[j]) * es[j]);                                       \
            }                                                                                    \
        }                                                                                        \
        for (ptrdiff_t c = c0; c < c1; c++) {                                                    \
            sb[c] = sg[c] = 0;                                                                   \
            for (ptrdiff_t i = 0; i < HW; i++) {                                                 \
                sb[c] += pb[(c - c0) * HW + i];                                                  \
                sg[c] += pg[(c - c0) * HW + i];                                                  \
            }                                                                                    \
        }                                                                                        \
    } else {                                                                                     \
        for (ptrdiff_t c = c0; c < c1; c++)                                                      \
            sb[c] = sg[c] = 0;                                                                   \
        for (ptrdiff_t n = 0; n < N; n++)                                                        \
            for (ptrdiff_t c = c0; c < c1; c++) {                                                \
                const T *p = x + (n * C + c) * HW, *g = gy + (n * C + c) * HW;                   \
                T mu = mean[c], s = inv_std[c], tb = 0, tg = 0;                                  \
                _Pragma("omp simd reduction(+:tb, tg)")                                          \
                for (ptrdiff_t i = 0; i < HW; i++) {                                             \
                    tb += g[i];                                                                  \
                    tg += g[i] * ((p[i] - mu) * s);                                              \
                }                                                                                \
                sb[c] += tb;                                                                     \
                sg[c] += tg;                                                                     \
            }                                                                                    \
    }                                                                                            \
    T M = (T)(N * HW);                                                                           \
    for (ptrdiff_t c = c0; c < c1; c++) {                                                        \
        gbeta[c] = (T)sb[c];                                                                     \
        ggamma[c] = (T)sg[c];                                                                    \
    }                                                                                            \
    if (HW < SMALL_PLANE) {                                                                      \
        T *emu = (T *)REGION(2), *es = (T *)REGION(3), *esc = (T *)REGION(4);                    \
        T *ebm = (T *)REGION(5), *egm = (T *)REGION(6);                                          \
        ptrdiff_t len = (c1 - c0) * HW;                                                          \
        SPREAD(esc, inv_std[c] * gamma[c]) SPREAD(ebm, gbeta[c] / M) SPREAD(egm, ggamma[c] / M)  \
        for (ptrdiff_t n = 0; n < N; n++) {                                                      \
            const T *p = x + (n * C + c0) * HW, *g = gy + (n * C + c0) * HW;                     \
            T *q = gx + (n * C + c0) * HW;                                                       \
            if (training) {                                                                      \
                _Pragma("omp simd")                                                              \
                for (ptrdiff_t j = 0; j < len; j++) {                                            \
                    T h = (p[j] - emu[j]) * es[j];                                               \
                    q[j] = esc[j] * ((g[j] - ebm[j]) - h * egm[j]);                              \
                }                                                                                \
            } else {                                                                             \
                _Pragma("omp simd")                                                              \
                for (ptrdiff_t j = 0; j < len; j++)                                              \
                    q[j] = esc[j] * g[j];                                                        \
            }                                                                                    \
        }                                                                                        \
        return;                                                                                  \
    }                                                                                            \
    for (ptrdiff_t n = 0; n < N; n++)                                                            \
        for (ptrdiff_t c = c0; c < c1; c++) {                                                    \
            const T *p = x + (n * C + c) * HW, *g = gy + (n * C + c) * HW;                       \
            T *q = gx + (n * C + c) * HW;                                                        \
            T mu = mean[c], s = inv_std[c];                                                      \
            T scale = s * gamma[c], bm = gbeta[c] / M, gm = ggamma[c] / M;                       \
            if (training) {                                                                      \
                _Pragma("omp simd")                                                              \
                for (ptrdiff_t i = 0; i < HW; i++) {                                             \
                    T h = (p[i] - mu) * s;                                                       \
                    q[i] = scale * ((g[i] - bm) - h * gm);                                       \
                }                                                                                \
            } else {                                                                             \
                _Pragma("omp simd")                                                              \
                for (ptrdiff_t i = 0; i < HW; i++)                                               \
                    q[i] = scale * g[i];                                                         \
            }                                                                                    \
        }                                                                                        \
}

NORMALIZATION(float, f32, sqrtf)
NORMALIZATION(double, f64, sqrt)
