/* Max pooling over (planes, H, W) C-contiguous planes (a plane is one sample's channel), for
 * minifft/functions/pooling.py. Any kernel, stride and padding the op accepts.
 *
 * max_pool_forward: y[p, i, j] = max of the window, and argmax[p, i, j] = the flat index
 *   (row * W + col) in plane p of the element that won. A later element wins where it is larger
 *   or NaN (PyTorch's rule), so the first maximum wins and NaN propagates; padding never wins (a
 *   window holds at least one real element: padding is at most half the kernel).
 * max_pool_backward: gx[p] = 0, then gx[p, argmax[p, o]] += gy[p, o]: overlapping windows that
 *   share a maximum add their gradients.
 *
 * Each call covers planes [p0, p1): the caller runs chunks of planes on its thread pool. Windows
 * of 2x2 and 3x3 get their own instantiations so that the compiler unrolls the window and
 * vectorises along the output row.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* m, k = v, at where v wins (larger, or NaN), branch-free: compilers turned the ternaries into
 * branches in scalar code, mispredicted about every other element on real data (measured 10x
 * slower on planes whose rows are too short to vectorise) */
#define TAKE(T, U, m, k, v, at)                                                                  \
    do {                                                                                         \
        U mask_ = (U)0 - (U)(((v) > (m)) | ((v) != (v))), mb_, vb_;                              \
        memcpy(&mb_, &(m), sizeof mb_);                                                          \
        memcpy(&vb_, &(v), sizeof vb_);                                                          \
        mb_ = (vb_ & mask_) | (mb_ & ~mask_);                                                    \
        memcpy(&(m), &mb_, sizeof mb_);                                                          \
        (k) = (int32_t)(((uint32_t)(at) & (uint32_t)mask_) | ((uint32_t)(k) & ~(uint32_t)mask_)); \
    } while (0)

/* the same with ternaries, for vectorised loops: the vectoriser turns them into blends, where the
 * bit select above stopped it */
#define TAKE_LANES(m, k, v, at)                                                                  \
    do {                                                                                         \
        int win_ = ((v) > (m)) | ((v) != (v));                                                   \
        (m) = win_ ? (v) : (m);                                                                  \
        (k) = win_ ? (at) : (k);                                                                 \
    } while (0)

/* one window clipped by the plane's border: only its real elements take part */
#define EDGE_WINDOW(T, U)                                                                        \
    do {                                                                                         \
        ptrdiff_t c0 = j * sw - pw, c1 = c0 + kw;                                                \
        if (c0 < 0) c0 = 0;                                                                      \
        if (c1 > W) c1 = W;                                                                      \
        int32_t best = (int32_t)(r0 * W + c0);                                                   \
        T m = x[best];                                                                           \
        for (ptrdiff_t r = r0; r < r1; r++)                                                      \
            for (ptrdiff_t c = c0; c < c1; c++) {                                                \
                T v = x[r * W + c];                                                              \
                TAKE(T, U, m, best, v, r * W + c);                                               \
            }                                                                                    \
        yr[j] = m;                                                                               \
        ar[j] = (int32_t)best;                                                                   \
    } while (0)

#define MAX_POOL_FORWARD_PLANE(T, U, NAME)                                                       \
static inline void NAME(const T *restrict x, T *restrict y, int32_t *restrict arg,               \
                        ptrdiff_t H, ptrdiff_t W, ptrdiff_t OH, ptrdiff_t OW,                    \
                        ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw,                  \
                        ptrdiff_t ph, ptrdiff_t pw)                                              \
{                                                                                                \
    for (ptrdiff_t i = 0; i < OH; i++) {                                                         \
        ptrdiff_t r0 = i * sh - ph, r1 = r0 + kh;                                                \
        int inside = r0 >= 0 && r1 <= H;                                                         \
        if (r0 < 0) r0 = 0;                                                                      \
        if (r1 > H) r1 = H;                                                                      \
        T *yr = y + i * OW;                                                                      \
        int32_t *ar = arg + i * OW;                                                              \
        ptrdiff_t j0 = 0, j1 = OW;                                                               \
        if (inside) {   /* the columns whose windows lie inside the plane */                     \
            while (j0 < OW && j0 * sw - pw < 0) j0++;                                            \
            while (j1 > j0 && (j1 - 1) * sw - pw + kw > W) j1--;                                 \
        } else                                                                                   \
            j0 = j1 = OW;                                                                        \
        for (ptrdiff_t j = 0; j < j0; j++)                                                       \
            EDGE_WINDOW(T, U);                                                                   \
        for (ptrdiff_t j = j1; j < OW; j++)                                                      \
            EDGE_WINDOW(T, U);                                                                   \
        /* whole windows, a loop over output columns that vectorises where the caller made the */ \
        /* window's size constant (the compiler then unrolls the window's loops); 8 lanes, as */ \
        /* rows are short and their remainder runs scalar (simdlen(8): 1.6-2x faster than 16) */ \
        _Pragma("omp simd simdlen(8)")                                                           \
        for (ptrdiff_t j = j0; j < j1; j++) {                                                    \
            int32_t start = (int32_t)(r0 * W + j * sw - pw), best = start;                       \
            T m = x[start];                                                                      \
            for (ptrdiff_t r = 0; r < kh; r++)                                                   \
                for (ptrdiff_t c = 0; c < kw; c++) {                                             \
                    int32_t at = start + (int32_t)(r * W + c);                                   \
                    T v = x[at];                                                                 \
                    TAKE_LANES(m, best, v, at);                                                  \
                }                                                                                \
            yr[j] = m;                                                                           \
            ar[j] = best;                                                                        \
        }                                                                                        \
    }                                                                                            \
}

#define MAX_POOL_2X2_ROW(T, U)                                                                   \
    for (ptrdiff_t j = 0; j < OW; j++) {                                                         \
        T v0 = a[2 * j], v1 = a[2 * j + 1], v2 = b[2 * j], v3 = b[2 * j + 1], m = v0;            \
        int32_t at = base + 2 * (int32_t)j, k = at;                                              \
        TAKE_LANES(m, k, v1, at + 1);                                                            \
        TAKE_LANES(m, k, v2, at + w);                                                            \
        TAKE_LANES(m, k, v3, at + w + 1);                                                        \
        yr[j] = m;                                                                               \
        ar[j] = k;                                                                               \
    }

/* 2x2 windows at stride 2 without padding (most networks' pooling): the four loads of a window
 * in one iteration, which the compiler vectorises with de-interleaving shuffles rather than
 * gathers (20x faster than the offset-by-offset loop). Rows shorter than the widest vector
 * would run scalar code (15x slower than vector code), so they get a 4-lane loop. */
#define MAX_POOL_FORWARD_2X2(T, U, NAME)                                                         \
static inline void NAME(const T *restrict x, T *restrict y, int32_t *restrict arg,               \
                        ptrdiff_t W, ptrdiff_t OH, ptrdiff_t OW)                                 \
{                                                                                                \
    for (ptrdiff_t i = 0; i < OH; i++) {                                                         \
        const T *a = x + 2 * i * W, *b = a + W;                                                  \
        T *yr = y + i * OW;                                                                      \
        int32_t *ar = arg + i * OW;                                                              \
        int32_t base = (int32_t)(2 * i * W), w = (int32_t)W;                                     \
        if (OW >= 16) {                                                                          \
            _Pragma("omp simd")                                                                  \
            MAX_POOL_2X2_ROW(T, U)                                                               \
        } else {                                                                                 \
            _Pragma("omp simd simdlen(4)")                                                       \
            MAX_POOL_2X2_ROW(T, U)                                                               \
        }                                                                                        \
    }                                                                                            \
}

#define POOLING(T, U, SUF)                                                                       \
MAX_POOL_FORWARD_PLANE(T, U, plane_forward_##SUF)                                                \
MAX_POOL_FORWARD_2X2(T, U, plane_forward_2x2_##SUF)                                              \
                                                                                                 \
void max_pool_forward_##SUF(const T *x, T *y, int32_t *arg, ptrdiff_t p0, ptrdiff_t p1,          \
                            ptrdiff_t H, ptrdiff_t W, ptrdiff_t OH, ptrdiff_t OW,                \
                            ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sh, ptrdiff_t sw,              \
                            ptrdiff_t ph, ptrdiff_t pw)                                          \
{                                                                                                \
    for (ptrdiff_t p = p0; p < p1; p++) {                                                        \
        const T *xp = x + p * H * W;                                                             \
        T *yp = y + p * OH * OW;                                                                 \
        int32_t *ap = arg + p * OH * OW;                                                         \
        /* constant windows: the compiler unrolls them */                                        \
        if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0)                      \
            plane_forward_2x2_##SUF(xp, yp, ap, W, OH, OW);                                      \
        else if (kh == 2 && kw == 2 && sh == 2 && sw == 2)                                       \
            plane_forward_##SUF(xp, yp, ap, H, W, OH, OW, 2, 2, 2, 2, ph, pw);                   \
        else if (kh == 2 && kw == 2 && sh == 1 && sw == 1)                                       \
            plane_forward_##SUF(xp, yp, ap, H, W, OH, OW, 2, 2, 1, 1, ph, pw);                   \
        else if (kh == 3 && kw == 3 && sh == 2 && sw == 2)                                       \
            plane_forward_##SUF(xp, yp, ap, H, W, OH, OW, 3, 3, 2, 2, ph, pw);                   \
        else if (kh == 3 && kw == 3 && sh == 1 && sw == 1)                                       \
            plane_forward_##SUF(xp, yp, ap, H, W, OH, OW, 3, 3, 1, 1, ph, pw);                   \
        else                                                                                     \
            plane_forward_##SUF(xp, yp, ap, H, W, OH, OW, kh, kw, sh, sw, ph, pw);               \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
void max_pool_backward_##SUF(const T *gy, const int32_t *arg, T *gx, ptrdiff_t p0, ptrdiff_t p1, \
                             ptrdiff_t HW, ptrdiff_t OHW)                                        \
{                                                                                                \
    for (ptrdiff_t p = p0; p < p1; p++) {                                                        \
        T *g = gx + p * HW;                                                                      \
        const T *gp = gy + p * OHW;                                                              \
        const int32_t *ap = arg + p * OHW;                                                       \
        memset(g, 0, (size_t)HW * sizeof(T));                                                    \
        for (ptrdiff_t o = 0; o < OHW; o++)                                                      \
            g[ap[o]] += gp[o];                                                                   \
    }                                                                                            \
}

POOLING(float, uint32_t, f32)
POOLING(double, uint64_t, f64)
