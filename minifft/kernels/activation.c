/* ReLU for minifft/functions/math.py, one pass each way over [i0, i1) of flat C-contiguous arrays
 * (the caller runs chunks on its thread pool). The same arithmetic as the NumPy code it replaces:
 *   forward:   mask = x > 0, y = max(x, 0)   (NaN stays NaN, -inf gives 0, as in PyTorch)
 *   backward:  gx = gy * mask                (a NaN gradient stays NaN where the mask is off)
 *   backward2: gx = (g0 + g1) * mask         (the output feeds two ops: their gradients' sum,
 *                                             which the graph would add in a pass of its own)
 * where NumPy takes one pass for the mask and one for the maximum, and casts the mask backward.
 * Written as selects: the product with the mask converted to T vectorised 5x slower (byte-to-float
 * conversions in every lane).
 */
#include <stddef.h>
#include <stdint.h>

#define ACTIVATION(T, SUF)                                                                       \
void relu_forward_##SUF(const T *restrict x, T *restrict y, uint8_t *restrict mask,              \
                        ptrdiff_t i0, ptrdiff_t i1)                                              \
{                                                                                                \
    for (ptrdiff_t i = i0; i < i1; i++) {                                                        \
        int m = x[i] > 0;                                                                        \
        mask[i] = (uint8_t)m;                                                                    \
        y[i] = (m || x[i] != x[i]) ? x[i] : (T)0;                                                \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
void relu_backward_##SUF(const T *restrict gy, const uint8_t *restrict mask, T *restrict gx,     \
                         ptrdiff_t i0, ptrdiff_t i1)                                             \
{                                                                                                \
    for (ptrdiff_t i = i0; i < i1; i++)                                                          \
        gx[i] = mask[i] ? gy[i] : gy[i] * 0;                                                     \
}                                                                                                \
                                                                                                 \
void relu_backward2_##SUF(const T *restrict g0, const T *restrict g1,                            \
                          const uint8_t *restrict mask, T *restrict gx,                          \
                          ptrdiff_t i0, ptrdiff_t i1)                                            \
{                                                                                                \
    for (ptrdiff_t i = i0; i < i1; i++) {                                                        \
        T g = g0[i] + g1[i];                                                                     \
        gx[i] = mask[i] ? g : g * 0;                                                             \
    }                                                                                            \
}

ACTIVATION(float, f32)
ACTIVATION(double, f64)
