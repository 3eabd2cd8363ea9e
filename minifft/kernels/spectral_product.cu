// Batched complex product over a strided layout (version 2): for every channel group g and
// frequency bin b,
//
//     C[g, m, n, b] (+)= sum_k opA(A[g, m, k, b]) * opB(B[g, n, k, b]),    op = identity or conj.
//
// Layout: bins last. The bin b is the contiguous axis of every operand; g, m, n, k have element
// strides given per operand, so fprop, bprop and accGrad all read the spectra exactly as the GPU
// transforms leave them (cupyx rfft2 of [S, f, n, n] is [S, f, N, N/2+1], bins last) with no
// transpose and no copy, and every global access is coalesced: consecutive threads take
// consecutive bins. (The cuBLAS backend wants bins first; it pays the transposes this avoids.)
//
// Design: a batched GEMM whose batch is the bins.
// - A block owns BB consecutive bins x a BM x BN tile of (m, n) outputs of one group, and walks
//   k in chunks of BK. Each chunk of A (BM x BK x BB) and of B (BN x BK x BB) is loaded from
//   global memory once per block (16-byte loads: two complex64 bins where alignment allows, one
//   complex128), stored to shared memory, and read there by every thread that needs it: a value
//   of A serves BN / TN threads, a value of B serves BM / TM.
// - A thread owns one bin and a TM x TN register tile. Per k it reads TM + TN complex values
//   from shared memory (16-byte loads) and issues 4 TM TN FFMA: the complex multiply-add is
//   written as four explicit fma calls, so it compiles to four FFMA and never FMUL + FFMA + FADD;
//   conjugation is a template parameter that becomes a negated FFMA operand, not a multiply.
// - The next chunk's global loads are issued before the current chunk's arithmetic (register
//   prefetch), so their latency hides behind 4 TM TN BK FFMA per thread.
// - Threads never return early: every thread reaches every __syncthreads(). Rows and bins past
//   the edge load clamped (they only feed outputs that are not stored), k past K loads as zero.
// Geometry (Geometry<R> below; spectral_product.py's GEOMETRY must match):
//   complex64:  BB = 8,  BM = BN = 32, BK = 8, TM = TN = 4: 512 threads, 34 KiB shared memory.
//   complex128: BB = 16, BM = BN = 16, BK = 4, TM = TN = 4: 256 threads, 34 KiB shared memory
//               (a 32 x 32 tile would need ~190 registers x 512 threads: spills).
// One extern "C" entry point per (dtype, conj_a, conj_b, vector width); spectral_product.py picks
// it. Grid: x = bin tiles, y = m tiles, z = groups x n tiles (the launcher splits y and z at 65535).
// Tests run this very source on the CPU through tests/kernels/cuda_shim.h, whose fibers give
// __shared__ and __syncthreads() their CUDA meaning, and check its sm_90 machine code
// (tests/kernels/test_kernel_sass.py, benchmarks/kernel_sass.py).

template <typename R>
struct alignas(2 * sizeof(R)) Complex {  // layout of complex64 / complex128 elements
    R re, im;
};

template <typename R, int V>
struct alignas(V * 2 * sizeof(R)) Packet {  // V consecutive bins moved by one load / store
    Complex<R> v[V];
};

__device__ __forceinline__ float fused(float x, float y, float z) { return fmaf(x, y, z); }
__device__ __forceinline__ double fused(double x, double y, double z) { return fma(x, y, z); }

template <bool NEGATE, typename R>
__device__ __forceinline__ R sign(R x) { return NEGATE ? -x : x; }  // folds into an FFMA operand

// Block geometry per element type. Shared memory holds the chunks transposed, [BK][BB][BM + PAD]:
// a thread's TM (TN) operands of one bin are then contiguous, so it reads them with 16-byte LDS,
// and PAD makes a row 16 bytes longer than a multiple of 128 bytes, so the 8 threads of a
// 16-byte access phase (8 bins) hit 8 distinct groups of 4 banks. Bytes: (BM + BN + 2 PAD) *
// BK * BB elements = 34 KiB for both types, under the 48 KiB of static shared memory a block
// may declare.
template <typename R> struct Geometry;
template <> struct Geometry<float> {
    static constexpr int BB = 8, BM = 32, BN = 32, BK = 8, TM = 4, TN = 4, PAD = 2;
    static constexpr int THREADS = BB * (BM / TM) * (BN / TN);
};
template <> struct Geometry<double> {
    static constexpr int BB = 16, BM = 16, BN = 16, BK = 4, TM = 4, TN = 4, PAD = 1;
    static constexpr int THREADS = BB * (BM / TM) * (BN / TN);
};

// One operand's chunk: ROWS rows (m or n) x BK values of k x BB bins, moved as V-bin packets.
// Thread t always moves the same (row, bin packet) and k = k_first + r * K_STEP, r < PER_THREAD.
// Rows and bins past the operand's edge are clamped to the last valid one instead of being
// masked: they only feed outputs that are never stored, so full chunks load without predicates.
template <typename R, int V, int ROWS, int BK, int BB, int PAD, int THREADS>
struct ChunkLoader {
    static constexpr int LANES = BB / V;                 // packets per (row, k)
    static constexpr int PLANE = LANES * ROWS;           // packets per k
    static_assert(THREADS % PLANE == 0, "a k plane must split evenly over the threads");
    static constexpr int K_STEP = THREADS / PLANE;
    static_assert(BK % K_STEP == 0, "the chunk must split evenly over the threads");
    static constexpr int PER_THREAD = BK / K_STEP;

    const Packet<R, V>* p;  // this thread's packet at k = k_first of the current chunk
    long long step_r, step_chunk;
    int lane, row, k_first;

    __device__ __forceinline__ ChunkLoader(const Complex<R>* base, long long rows, long long s_row,
                                           long long s_k, long long bins, long long bin0, int tid) {
        lane = tid % LANES;
        row = (tid / LANES) % ROWS;
        k_first = tid / PLANE;
        const long long r = row < rows ? row : rows - 1;
        const long long bin = bin0 + (long long)lane * V;
        const long long b = bin < bins ? bin : bins - V;  // V divides bins whenever V > 1
        p = reinterpret_cast<const Packet<R, V>*>(base + r * s_row + k_first * s_k + b);
        step_r = K_STEP * s_k / V;
        step_chunk = BK * s_k / V;
    }

    // CHECK_K: the chunk at k0 may run past K; those k load as zero.
    template <bool CHECK_K>
    __device__ __forceinline__ void load(Packet<R, V> (&stage)[PER_THREAD], long long k0, long long K) const {
#pragma unroll
        for (int r = 0; r < PER_THREAD; ++r) {
            if (CHECK_K) {
                Packet<R, V> v = {};
                if (k0 + k_first + r * K_STEP < K) v = p[r * step_r];
                stage[r] = v;
            } else {
                stage[r] = p[r * step_r];
            }
        }
    }

    __device__ __forceinline__ void advance() { p += step_chunk; }

    __device__ __forceinline__ void store(const Packet<R, V> (&stage)[PER_THREAD], Complex<R>* tile) const {
#pragma unroll
        for (int r = 0; r < PER_THREAD; ++r)  // tile is [BK][BB][ROWS + PAD]
#pragma unroll
            for (int v = 0; v < V; ++v)
                tile[((k_first + r * K_STEP) * BB + lane * V + v) * (ROWS + PAD) + row] = stage[r].v[v];
    }
};

// One chunk of arithmetic: BK steps of a TM x TN complex register tile, operands from shared memory.
template <typename R, bool CONJ_A, bool CONJ_B>
__device__ __forceinline__ void multiply_chunk(const Complex<R>* a_tile, const Complex<R>* b_tile,
                                               R (&re)[Geometry<R>::TM][Geometry<R>::TN],
                                               R (&im)[Geometry<R>::TM][Geometry<R>::TN], int lane, int tm, int tn) {
    using G = Geometry<R>;
    constexpr int BB = G::BB, BM = G::BM, BN = G::BN, BK = G::BK, TM = G::TM, TN = G::TN, PAD = G::PAD;
    constexpr int PV = 16 / sizeof(Complex<R>);  // complex values per 16-byte shared load
    static_assert(TM % PV == 0 && TN % PV == 0 && (BM + PAD) % PV == 0 && (BN + PAD) % PV == 0,
                  "16-byte aligned operand rows");
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
        Packet<R, PV> x[TM / PV], y[TN / PV];
        const auto* xa = reinterpret_cast<const Packet<R, PV>*>(a_tile + (kk * BB + lane) * (BM + PAD) + tm * TM);
        const auto* yb = reinterpret_cast<const Packet<R, PV>*>(b_tile + (kk * BB + lane) * (BN + PAD) + tn * TN);
#pragma unroll
        for (int i = 0; i < TM / PV; ++i) x[i] = xa[i];
#pragma unroll
        for (int j = 0; j < TN / PV; ++j) y[j] = yb[j];
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j) {
                const Complex<R> u = x[i / PV].v[i % PV], w = y[j / PV].v[j % PV];
                // (ur + i sa ui)(wr + i sb wi) = ur wr - sa sb ui wi + i (sb ur wi + sa ui wr)
                re[i][j] = fused(u.re, w.re, re[i][j]);
                re[i][j] = fused(sign<CONJ_A == CONJ_B>(u.im), w.im, re[i][j]);
                im[i][j] = fused(sign<CONJ_B>(u.re), w.im, im[i][j]);
                im[i][j] = fused(sign<CONJ_A>(u.im), w.re, im[i][j]);
            }
    }
}

template <typename R, int V, bool CONJ_A, bool CONJ_B>
__device__ __forceinline__ void spectral_product(
        const Complex<R>* __restrict__ a, const Complex<R>* __restrict__ b, Complex<R>* __restrict__ c,
        long long M, long long N, long long K, long long bins,
        long long a_g, long long a_m, long long a_k, long long b_g, long long b_n, long long b_k,
        long long c_g, long long c_m, long long c_n, int accumulate) {
    using G = Geometry<R>;
    constexpr int BB = G::BB, BM = G::BM, BN = G::BN, BK = G::BK, TM = G::TM, TN = G::TN, PAD = G::PAD;
    constexpr int THREADS = G::THREADS;
    __shared__ Complex<R> a_tile[BK * BB * (BM + PAD)] __attribute__((aligned(16)));
    __shared__ Complex<R> b_tile[BK * BB * (BN + PAD)] __attribute__((aligned(16)));

    const int tid = threadIdx.x;
    const int lane = tid % BB;               // this thread's bin within the block
    const int tm = (tid / BB) % (BM / TM);   // a warp: 32 / BB row tiles x BB bins, one column tile
    const int tn = tid / (BB * (BM / TM));
    const long long n_tiles = (N + BN - 1) / BN;
    const long long group = blockIdx.z / n_tiles;
    const long long bin0 = (long long)blockIdx.x * BB;
    const long long m0 = (long long)blockIdx.y * BM;
    const long long n0 = (long long)(blockIdx.z % n_tiles) * BN;

    using LoaderA = ChunkLoader<R, V, BM, BK, BB, PAD, THREADS>;
    using LoaderB = ChunkLoader<R, V, BN, BK, BB, PAD, THREADS>;
    LoaderA load_a(a + group * a_g + m0 * a_m, M - m0, a_m, a_k, bins, bin0, tid);
    LoaderB load_b(b + group * b_g + n0 * b_n, N - n0, b_n, b_k, bins, bin0, tid);
    Packet<R, V> a_stage[LoaderA::PER_THREAD], b_stage[LoaderB::PER_THREAD];

    R re[TM][TN], im[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) re[i][j] = im[i][j] = R(0);

    // Each step stores the staged chunk to shared memory, issues the next chunk's global loads
    // (register prefetch: their latency hides behind this chunk's FFMA) and multiplies.
    const long long full = K / BK;  // chunks with every k inside
    if (full > 0) {
        load_a.template load<false>(a_stage, 0, K);
        load_b.template load<false>(b_stage, 0, K);
    } else {
        load_a.template load<true>(a_stage, 0, K);
        load_b.template load<true>(b_stage, 0, K);
    }
    long long k0 = 0;
    for (; k0 + BK < full * BK; k0 += BK) {  // the next chunk is full too: unpredicated loads
        __syncthreads();  // every thread is done reading the previous chunk
        load_a.store(a_stage, a_tile);
        load_b.store(b_stage, b_tile);
        __syncthreads();
        load_a.advance();
        load_b.advance();
        load_a.template load<false>(a_stage, k0 + BK, K);
        load_b.template load<false>(b_stage, k0 + BK, K);
        multiply_chunk<R, CONJ_A, CONJ_B>(a_tile, b_tile, re, im, lane, tm, tn);
    }
    // At most two chunks are left: the last full one and a partial one (k past K loads as zero).
#pragma unroll
    for (int tail = 0; tail < 2 && k0 < K; ++tail, k0 += BK) {
        __syncthreads();
        load_a.store(a_stage, a_tile);
        load_b.store(b_stage, b_tile);
        __syncthreads();
        if (k0 + BK < K) {
            load_a.advance();
            load_b.advance();
            load_a.template load<true>(a_stage, k0 + BK, K);
            load_b.template load<true>(b_stage, k0 + BK, K);
        }
        multiply_chunk<R, CONJ_A, CONJ_B>(a_tile, b_tile, re, im, lane, tm, tn);
    }

    const long long bin = bin0 + lane;
    c += group * c_g + bin;
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            const long long m = m0 + tm * TM + i, n = n0 + tn * TN + j;
            if (m >= M || n >= N || bin >= bins) continue;
            Complex<R>& out = c[m * c_m + n * c_n];
            if (accumulate) {
                out.re += re[i][j];
                out.im += im[i][j];
            } else {
                out.re = re[i][j];
                out.im = im[i][j];
            }
        }
}

#define MINIFFT_SPECTRAL_PRODUCT_ENTRY(NAME, R, V, CONJ_A, CONJ_B)                                \
    extern "C" __global__ void __launch_bounds__(Geometry<R>::THREADS) NAME(                                       \
            const Complex<R>* a, const Complex<R>* b, Complex<R>* c,                              \
            long long M, long long N, long long K, long long bins, long long a_g, long long a_m,  \
            long long a_k, long long b_g, long long b_n, long long b_k, long long c_g,            \
            long long c_m, long long c_n, int accumulate) {                                       \
        spectral_product<R, V, CONJ_A, CONJ_B>(a, b, c, M, N, K, bins, a_g, a_m, a_k, b_g, b_n,   \
                                               b_k, c_g, c_m, c_n, accumulate);                   \
    }

// Name: spectral_product_<dtype>_<op A><op B>[_vec2], op n = identity, c = conj. The _vec2
// complex64 variants move two bins per 16-byte load; the launcher takes them only when bins and
// every g/m/k stride are even and the operands are 16-byte aligned. complex128 elements are
// 16 bytes already.
MINIFFT_SPECTRAL_PRODUCT_ENTRY(spectral_product_complex64_nn, float, 1, false, false)
MINIFFT_SPECTRAL_PRODUCT_ENTRY(spectral_product_complex64_nc, float, 1, false, true)
MINIFFT_SPECTRAL_PRODUCT_ENTRY(spectral_product_complex64_cn, float, 1, true, false)
MINIFFT_SPECTRAL_PRODUCT_ENTRY(spectral_product_complex64_cc, float, 1, true, true)
MINIFFT_SPECTRAL_PRODUCT_ENTRY(spectral_product_complex64_nn_vec2, float, 2, false, false)
MINIFFT_SPECTRAL_PRODUCT_ENTRY(spectral_product_complex64_nc_vec2, float, 2, false, true)
MINIFFT_SPECTRAL_PRODUCT_ENTRY(spectral_product_complex64_cn_vec2, float, 2, true, false)
MINIFFT_SPECTRAL_PRODUCT_ENTRY(spectral_product_complex64_cc_vec2, float, 2, true, true)
MINIFFT_SPECTRAL_PRODUCT_ENTRY(spectral_product_complex128_nn, double, 1, false, false)
MINIFFT_SPECTRAL_PRODUCT_ENTRY(spectral_product_complex128_nc, double, 1, false, true)
MINIFFT_SPECTRAL_PRODUCT_ENTRY(spectral_product_complex128_cn, double, 1, true, false)
MINIFFT_SPECTRAL_PRODUCT_ENTRY(spectral_product_complex128_cc, double, 1, true, true)
