/* Batch normalisation for minifft/functions/normalization.py over C-contiguous (N, C, HW) arrays,
 * channels [c0, c1) per call (the caller runs chunks of channels on its thread pool). Per channel
 * c the M = N * HW values are N planes of HW; each pass reads them plane by plane, and the two
 * passes over one channel follow each other, so the second finds the channel in cache.
 *
 * batch_norm_stats:    mean = sum(x) / M, var = sum((x - mean)^2) / M   (two passes: no
 *                      cancellation of sum(x^2) - M mean^2)
 * batch_norm_forward:  y = ((x - mean) * inv_std) * gamma + beta         (NumPy's order of rounding)
 * batch_norm_backward: gbeta = sum(gy), ggamma = sum(gy * xhat), xhat = (x - mean) * inv_std
 *                      recomputed as forward computed it, then
 *                      gx = (inv_std * gamma) * ((gy - gbeta / M) - xhat * (ggamma / M))  (training)
 *                      gx = (inv_std * gamma) * gy                                        (eval)
 * Sums run in T across SIMD lanes within a plane and in double across planes.
 */
#include <stddef.h>

#define NORMALIZATION(T, SUF)                                                                    \
void batch_norm_stats_##SUF(const T *restrict x, T *restrict mean, T *restrict var,              \
                            ptrdiff_t N, ptrdiff_t C, ptrdiff_t HW, ptrdiff_t c0, ptrdiff_t c1)  \
{                                                                                                \
    double M = (double)(N * HW);                                                                 \
    for (ptrdiff_t c = c0; c < c1; c++) {                                                        \
        double s = 0;                                                                            \
        for (ptrdiff_t n = 0; n < N; n++) {                                                      \
            const T *p = x + (n * C + c) * HW;                                                   \
            T t = 0;                                                                             \
            _Pragma("omp simd reduction(+:t)")                                                   \
            for (ptrdiff_t i = 0; i < HW; i++)                                                   \
                t += p[i];                                                                       \
            s += t;                                                                              \
        }                                                                                        \
        T mu = (T)(s / M);                                                                       \
        double q = 0;                                                                            \
        for (ptrdiff_t n = 0; n < N; n++) {                                                      \
            const T *p = x + (n * C + c) * HW;                                                   \
            T t = 0;                                                                             \
            _Pragma("omp simd reduction(+:t)")                                                   \
            for (ptrdiff_t i = 0; i < HW; i++) {                                                 \
                T d = p[i] - mu;                                                                 \
                t += d * d;                                                                      \
            }                                                                                    \
            q += t;                                                                              \
        }                                                                                        \
        mean[c] = mu;                                                                            \
        var[c] = (T)(q / M);                                                                     \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
void batch_norm_forward_##SUF(const T *restrict x, T *restrict y, const T *restrict mean,        \
                              const T *restrict inv_std, const T *restrict gamma,                \
                              const T *restrict beta, ptrdiff_t N, ptrdiff_t C, ptrdiff_t HW,    \
                              ptrdiff_t c0, ptrdiff_t c1)                                        \
{                                                                                                \
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
void batch_norm_backward_##SUF(const T *restrict x, const T *restrict gy, T *restrict gx,        \
                               const T *restrict mean, const T *restrict inv_std,                \
                               const T *restrict gamma, T *restrict gbeta, T *restrict ggamma,   \
                               int training, ptrdiff_t N, ptrdiff_t C, ptrdiff_t HW,             \
                               ptrdiff_t c0, ptrdiff_t c1)                                       \
{                                                                                                \
    T M = (T)(N * HW);                                                                           \
    for (ptrdiff_t c = c0; c < c1; c++) {                                                        \
        T mu = mean[c], s = inv_std[c];                                                          \
        double sb = 0, sg = 0;                                                                   \
        for (ptrdiff_t n = 0; n < N; n++) {                                                      \
            const T *p = x + (n * C + c) * HW, *g = gy + (n * C + c) * HW;                       \
            T tb = 0, tg = 0;                                                                    \
            _Pragma("omp simd reduction(+:tb, tg)")                                              \
            for (ptrdiff_t i = 0; i < HW; i++) {                                                 \
                tb += g[i];                                                                      \
                tg += g[i] * ((p[i] - mu) * s);                                                  \
            }                                                                                    \
            sb += tb;                                                                            \
            sg += tg;                                                                            \
        }                                                                                        \
        gbeta[c] = (T)sb;                                                                        \
        ggamma[c] = (T)sg;                                                                       \
        T scale = s * gamma[c], bm = (T)sb / M, gm = (T)sg / M;                                  \
        for (ptrdiff_t n = 0; n < N; n++) {                                                      \
            const T *p = x + (n * C + c) * HW, *g = gy + (n * C + c) * HW;                       \
            T *q = gx + (n * C + c) * HW;                                                        \
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
    }                                                                                            \
}

NORMALIZATION(float, f32)
NORMALIZATION(double, f64)
