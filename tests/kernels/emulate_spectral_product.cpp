// spectral_product.cu compiled for the CPU through cuda_shim.h, callable from ctypes.
#include "cuda_shim.h"
#include "spectral_product.cu"

#define EMULATE(NAME, R)                                                                        \
    extern "C" void emulate_##NAME(const unsigned* grid, const unsigned* block, const void* a,  \
                                   const void* b, void* c, const long long* dims, int conj_a,   \
                                   int conj_b, int accumulate) {                                \
        MINIFFT_RUN_GRID((uint3{grid[0], grid[1], grid[2]}),                                   \
                         (uint3{block[0], block[1], block[2]}),                                \
                         NAME((const Complex<R>*)a, (const Complex<R>*)b, (Complex<R>*)c,       \
                              dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[6],    \
                              dims[7], dims[8], dims[9], dims[10], dims[11], dims[12], conj_a,  \
                              conj_b, accumulate));                                             \
    }

EMULATE(spectral_product_complex64, float)
EMULATE(spectral_product_complex128, double)
