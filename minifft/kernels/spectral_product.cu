// Batched complex product over a strided layout: for every channel group g and frequency bin b,
//
//     C[g, m, n, b] (+)= sum_k opA(A[g, m, k, b]) * opB(B[g, n, k, b]),    op = identity or conj.
//
// The bin b is the contiguous axis of every operand; g, m, n, k have element strides given per
// operand, so fprop, bprop and accGrad all read the FFT output layout [S, f, F] directly.
// Consecutive threads take consecutive bins (coalesced loads); each thread accumulates a
// TM x TN register tile of (m, n) outputs over k. No shared memory and no barriers: every
// thread is independent, which is what lets tests run this source on the CPU under a shim.

template <typename R>
struct alignas(2 * sizeof(R)) Complex {  // layout of complex64 / complex128 elements
    R re, im;
};

template <typename R, int TM, int TN>
__device__ __forceinline__ void spectral_product(
        const Complex<R>* __restrict__ a, const Complex<R>* __restrict__ b, Complex<R>* __restrict__ c,
        long long M, long long N, long long K, long long bins,
        long long a_g, long long a_m, long long a_k, long long b_g, long long b_n, long long b_k,
        long long c_g, long long c_m, long long c_n, int conj_a, int conj_b, int accumulate) {
    const long long bin = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (bin >= bins) return;
    const long long n_tiles = (N + TN - 1) / TN;       // grid z runs over (group, tile of n)
    const long long group = blockIdx.z / n_tiles;
    const long long m0 = (long long)blockIdx.y * TM;
    const long long n0 = (long long)(blockIdx.z % n_tiles) * TN;
    a += group * a_g;
    b += group * b_g;
    c += group * c_g;
    const R sign_a = conj_a ? R(-1) : R(1);
    const R sign_b = conj_b ? R(-1) : R(1);

    R re[TM][TN], im[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) re[i][j] = im[i][j] = R(0);

    for (long long k = 0; k < K; ++k) {
        R ar[TM], ai[TM], br[TN], bi[TN];
#pragma unroll
        for (int i = 0; i < TM; ++i) {  // rows past the edge read as zero: no branch in the FMA loop
            const bool inside = m0 + i < M;
            const Complex<R> v = inside ? a[(m0 + i) * a_m + k * a_k + bin] : Complex<R>{R(0), R(0)};
            ar[i] = v.re;
            ai[i] = sign_a * v.im;
        }
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            const bool inside = n0 + j < N;
            const Complex<R> v = inside ? b[(n0 + j) * b_n + k * b_k + bin] : Complex<R>{R(0), R(0)};
            br[j] = v.re;
            bi[j] = sign_b * v.im;
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j) {
                re[i][j] += ar[i] * br[j] - ai[i] * bi[j];
                im[i][j] += ar[i] * bi[j] + ai[i] * br[j];
            }
    }

#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            if (m0 + i >= M || n0 + j >= N) continue;
            Complex<R>& out = c[(m0 + i) * c_m + (n0 + j) * c_n + bin];
            if (accumulate) {
                out.re += re[i][j];
                out.im += im[i][j];
            } else {
                out.re = re[i][j];
                out.im = im[i][j];
            }
        }
}

#define MINIFFT_SPECTRAL_PRODUCT_ENTRY(NAME, R)                                                   \
    extern "C" __global__ void NAME(                                                              \
            const Complex<R>* a, const Complex<R>* b, Complex<R>* c,                              \
            long long M, long long N, long long K, long long bins, long long a_g, long long a_m,  \
            long long a_k, long long b_g, long long b_n, long long b_k, long long c_g,            \
            long long c_m, long long c_n, int conj_a, int conj_b, int accumulate) {               \
        spectral_product<R, MINIFFT_TILE_M, MINIFFT_TILE_N>(a, b, c, M, N, K, bins, a_g, a_m,     \
                                                            a_k, b_g, b_n, b_k, c_g, c_m, c_n,    \
                                                            conj_a, conj_b, accumulate);          \
    }

#ifndef MINIFFT_TILE_M
#define MINIFFT_TILE_M 4
#endif
#ifndef MINIFFT_TILE_N
#define MINIFFT_TILE_N 4
#endif

MINIFFT_SPECTRAL_PRODUCT_ENTRY(spectral_product_complex64, float)
MINIFFT_SPECTRAL_PRODUCT_ENTRY(spectral_product_complex128, double)
