/* Whole passes of direct convolution on the CPU (conv/direct.py), float32 and float64: each pass
   runs as tasks of a few samples on pool.h's threads, with gemm.c's and im2col.c's kernels inlined
   (their sources are included: one library holds the pool and every kernel its tasks call).

   forward_phases    y = w * x of a strided layer whose taps meet every phase (3x3 at stride 2):
                     per task, its samples split into their phases (im2col.c's split) in the
                     thread's scratch, then gemm.c's windows product reads each tap's window there
                     (w packed once per pass)
   input_gradient    gx: per sample the column gradient w^T gy (gemm_nn, in the thread's scratch,
                     about one L2) and col2im (im2col.c: through the phases where they pay)
   weight_phases     gw: per task its samples' phases and gemm_nt_windows, one partial sum per
                     task, added in task order (the same bits whichever thread ran which task)

   Shapes: x (S, C, H, W), w (M, C/G, kh, kw), y and gy (S, M, oh, ow), gx like x, gw as
   (G, C/G * kh * kw, M/G); all C-contiguous. The layer comes as an intp array (enum below);
   phases as im2col.c's phase_layout gives them (up, vp, plane, each tap's window). A task holds
   ``block`` samples. Each returns 1, or 0 where its scratch could not be allocated (outputs then
   partly written). */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime and pthreads under -std=c11 */
#include "gemm.c"
#include "im2col.c"
#include "pool.h"

enum { G_S, G_C, G_H, G_W, G_M, G_GROUPS, G_KH, G_KW, G_SH, G_SW, G_PH, G_PW, G_DH, G_DW, G_OH, G_OW,
       G_UP, G_VP, G_PLANE, G_BLOCK, GEOMETRY_FIELDS };

/* What every pass's tasks share; scratch[slot] is one thread's, allocated on its first task. */
typedef struct {
    const void *x, *w, *gy;
    void *out, *parts;
    const void *packed;
    const ptrdiff_t *g, *win, *rows;   /* rows: the forward's window_rows */
    size_t scratch_bytes;
    void *scratch[POOL_MOST_WORKERS + 1];
    atomic_int failed;
} pass_t;

static void *slot_scratch(pass_t *p, int slot) {
    if (!p->scratch[slot] && !(p->scratch[slot] = calloc(1, p->scratch_bytes)))
        atomic_store(&p->failed, 1);
    return p->scratch[slot];
}

static int finish(pass_t *p, int ok) {
    for (int i = 0; i <= POOL_MOST_WORKERS; ++i) free(p->scratch[i]);
    return ok && !atomic_load(&p->failed);
}

/* the samples of task t: [*first, *first + return value) */
static ptrdiff_t task_samples(const ptrdiff_t *g, ptrdiff_t t, ptrdiff_t *first) {
    *first = t * g[G_BLOCK];
    return g[G_S] - *first < g[G_BLOCK] ? g[G_S] - *first : g[G_BLOCK];
}

static ptrdiff_t tasks(const ptrdiff_t *g) { return (g[G_S] + g[G_BLOCK] - 1) / g[G_BLOCK]; }

static ptrdiff_t phase_channel(const ptrdiff_t *g) { return g[G_SH] * g[G_SW] * g[G_PLANE]; }

#define DEFINE_PASSES(T, S)                                                                         \
static void split_task_##S(const ptrdiff_t *g, const T *x, T *planes, ptrdiff_t first,              \
                           ptrdiff_t n) {                                                           \
    split_##S(x + first * g[G_C] * g[G_H] * g[G_W], planes, n, g[G_C], g[G_H], g[G_W], g[G_SH],     \
              g[G_SW], g[G_PH], g[G_PW], g[G_UP], g[G_VP], g[G_PLANE]);                             \
}                                                                                                   \
                                                                                                    \
static void forward_task_##S(void *ctx, ptrdiff_t t, int slot) {                                    \
    pass_t *p = ctx;                                                                                \
    const ptrdiff_t *g = p->g;                                                                      \
    T *planes = slot_scratch(p, slot);                                                              \
    if (!planes) return;                                                                            \
    ptrdiff_t first, n = task_samples(g, t, &first), L = phase_channel(g), G = g[G_GROUPS];         \
    split_task_##S(g, p->x, planes, first, n);                                                      \
    windows_packed_##S(n, G, g[G_M] / G, g[G_C] / G, g[G_KH] * g[G_KW], p->win, p->packed, p->rows, \
                       planes, g[G_C] * L, L, g[G_VP], g[G_OH], g[G_OW],                            \
                       (T *)p->out + first * g[G_M] * g[G_OH] * g[G_OW]);                           \
}                                                                                                   \
                                                                                                    \
int forward_phases_##S(const T *x, const T *w, T *y, const ptrdiff_t *win, const ptrdiff_t *g) {    \
    ptrdiff_t G = g[G_GROUPS], Cg = g[G_C] / G, taps = g[G_KH] * g[G_KW];                           \
    pass_t p = {.x = x, .out = y, .g = g, .win = win,                                               \
                .scratch_bytes = (size_t)(g[G_BLOCK] * g[G_C] * phase_channel(g)) * sizeof(T)};     \
    T *packed = pack_rows_##S(w, G, g[G_M] / G, Cg * taps);                                         \
    ptrdiff_t *rows = window_rows(Cg, taps, win, phase_channel(g));                                 \
    p.packed = packed;                                                                              \
    p.rows = rows;                                                                                  \
    if (packed && rows) pool_run(forward_task_##S, &p, tasks(g));                                   \
    int ok = packed && rows;                                                                        \
    free(packed);                                                                                   \
    free(rows);                                                                                     \
    return finish(&p, ok);                                                                          \
}                                                                                                   \
                                                                                                    \
static void input_task_##S(void *ctx, ptrdiff_t t, int slot) {                                      \
    pass_t *p = ctx;                                                                                \
    const ptrdiff_t *g = p->g;                                                                      \
    T *columns = slot_scratch(p, slot);                                                             \
    if (!columns) return;                                                                           \
    ptrdiff_t first, n = task_samples(g, t, &first), G = g[G_GROUPS], Mg = g[G_M] / G;              \
    ptrdiff_t K = g[G_C] / G * g[G_KH] * g[G_KW], P = g[G_OH] * g[G_OW];                            \
    for (ptrdiff_t s = first; s < first + n; ++s) {                                                 \
        /* per group, the column gradient (K, P) = w[g]^T (K, Mg) gy[s, g] (Mg, P) */               \
        gemm_nn_##S(G, K, P, Mg, p->w, Mg * K, 1, K, (const T *)p->gy + s * g[G_M] * P, Mg * P, P,  \
                    columns, K * P, P, 0);                                                          \
        col2im_##S(columns, (T *)p->out + s * g[G_C] * g[G_H] * g[G_W], 1, g[G_C], g[G_H], g[G_W],  \
                   g[G_KH], g[G_KW], g[G_SH], g[G_SW], g[G_PH], g[G_PW], g[G_DH], g[G_DW],          \
                   g[G_OH], g[G_OW], G * K * P, P);                                                 \
    }                                                                                               \
}                                                                                                   \
                                                                                                    \
int input_gradient_##S(const T *w, const T *gy, T *gx, const ptrdiff_t *g) {                        \
    pass_t p = {.w = w, .gy = gy, .out = gx, .g = g,                                                \
                .scratch_bytes = (size_t)(g[G_C] * g[G_KH] * g[G_KW] * g[G_OH] * g[G_OW]) *         \
                                 sizeof(T)};                                                        \
    pool_run(input_task_##S, &p, tasks(g));                                                         \
    return finish(&p, 1);                                                                           \
}                                                                                                   \
                                                                                                    \
static void weight_task_##S(void *ctx, ptrdiff_t t, int slot) {                                     \
    pass_t *p = ctx;                                                                                \
    const ptrdiff_t *g = p->g;                                                                      \
    T *planes = slot_scratch(p, slot);                                                              \
    if (!planes) return;                                                                            \
    ptrdiff_t first, n = task_samples(g, t, &first), L = phase_channel(g), G = g[G_GROUPS];         \
    ptrdiff_t Cg = g[G_C] / G, taps = g[G_KH] * g[G_KW], P = g[G_OH] * g[G_OW];                     \
    split_task_##S(g, p->x, planes, first, n);                                                      \
    if (!gemm_nt_windows_##S(n, G, Cg, taps, p->win, g[G_M] / G, planes, g[G_C] * L, L, g[G_VP],    \
                             g[G_OH], g[G_OW], (const T *)p->gy + first * g[G_M] * P,               \
                             (T *)p->parts + t * Cg * taps * g[G_M], 0))                            \
        atomic_store(&p->failed, 1);                                                                \
}                                                                                                   \
                                                                                                    \
int weight_phases_##S(const T *x, const T *gy, T *gw, const ptrdiff_t *win, const ptrdiff_t *g) {   \
    ptrdiff_t G = g[G_GROUPS], Cg = g[G_C] / G, taps = g[G_KH] * g[G_KW];                           \
    ptrdiff_t size = Cg * taps * g[G_M], n = tasks(g);                                              \
    pass_t p = {.x = x, .gy = gy, .g = g, .win = win,                                               \
                .scratch_bytes = (size_t)(g[G_BLOCK] * g[G_C] * phase_channel(g)) * sizeof(T)};     \
    T *parts = n > 1 ? malloc((size_t)(n * size) * sizeof(T)) : gw;                                 \
    int ok = parts != NULL;                                                                         \
    if (ok) {                                                                                       \
        p.parts = parts;                                                                            \
        pool_run(weight_task_##S, &p, n);                                                           \
        if (n > 1) {                                                                                \
            memcpy(gw, parts, (size_t)size * sizeof(T));                                            \
            for (ptrdiff_t t = 1; t < n; ++t)                                                       \
                for (ptrdiff_t i = 0; i < size; ++i) gw[i] += parts[t * size + i];                  \
        }                                                                                           \
    }                                                                                               \
    if (parts != gw) free(parts);                                                                   \
    return finish(&p, ok);                                                                          \
}

DEFINE_PASSES(float, f32)
DEFINE_PASSES(double, f64)

/* For the tests (tests/kernels/test_pool.py): every task t < tasks of one pool run adds 1 to
   out[2t] and writes its slot to out[2t + 1], after about busy_ns of spinning. */
typedef struct { long *out; long busy_ns; } count_t;

static void count_task(void *ctx, ptrdiff_t t, int slot) {
    count_t *c = ctx;
    for (long t0 = pool_now_ns(); pool_now_ns() - t0 < c->busy_ns;) pool_relax();
    c->out[2 * t] += 1;
    c->out[2 * t + 1] = slot;
}

void pool_count(ptrdiff_t tasks, long *out, long busy_ns) {
    count_t c = {out, busy_ns};
    pool_run(count_task, &c, tasks);
}
