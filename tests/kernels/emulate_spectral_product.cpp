// spectral_product.cu compiled for the CPU through cuda_shim.h, callable from ctypes: one
// emulate_<entry point> per instantiation, with the kernel's own arguments after grid and block.
#include "cuda_shim.h"
#include "spectral_product.cu"

#define EMULATE(NAME, R)                                                                        \
    extern "C" void emulate_##NAME(const unsigned* grid, const unsigned* block, const void* a,  \
                                   const void* b, void* c, const long long* dims,               \
                                   int accumulate) {                                            \
        MINIFFT_RUN_GRID((uint3{grid[0], grid[1], grid[2]}),                                   \
                         (uint3{block[0], block[1], block[2]}),                                \
                         NAME((const Complex<R>*)a, (const Complex<R>*)b, (Complex<R>*)c,       \
                              dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[6],    \
                              dims[7], dims[8], dims[9], dims[10], dims[11], dims[12],          \
                              accumulate));                                                     \
    }

EMULATE(spectral_product_complex64_nn, float)
EMULATE(spectral_product_complex64_nc, float)
EMULATE(spectral_product_complex64_cn, float)
EMULATE(spectral_product_complex64_cc, float)
EMULATE(spectral_product_complex64_nn_vec2, float)
EMULATE(spectral_product_complex64_nc_vec2, float)
EMULATE(spectral_product_complex64_cn_vec2, float)
EMULATE(spectral_product_complex64_cc_vec2, float)
EMULATE(spectral_product_complex128_nn, double)
EMULATE(spectral_product_complex128_nc, double)
EMULATE(spectral_product_complex128_cn, double)
EMULATE(spectral_product_complex128_cc, double)
