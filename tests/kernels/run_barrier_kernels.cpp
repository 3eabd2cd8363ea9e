// Runs barrier_kernels.cu through cuda_shim.h: `run_barrier_kernels NAME` (exit 0 on completion;
// reverse_in_block prints how many of its outputs are wrong).
#include <cstring>

#include "cuda_shim.h"
#include "barrier_kernels.cu"

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    const unsigned threads = 64, blocks = 3;
    std::vector<float> x(threads * blocks), y(threads * blocks, -1);
    for (unsigned i = 0; i < x.size(); ++i) x[i] = float(i);
    if (!std::strcmp(argv[1], "reverse_in_block")) {
        MINIFFT_RUN_GRID((uint3{blocks, 1, 1}), (uint3{threads, 1, 1}), reverse_in_block(x.data(), y.data()));
        unsigned wrong = 0;
        for (unsigned b = 0; b < blocks; ++b)
            for (unsigned t = 0; t < threads; ++t) wrong += y[b * threads + t] != x[b * threads + threads - 1 - t];
        std::printf("wrong %u\n", wrong);
    } else if (!std::strcmp(argv[1], "early_return")) {
        MINIFFT_RUN_GRID((uint3{1, 1, 1}), (uint3{threads, 1, 1}), early_return(y.data()));
    } else if (!std::strcmp(argv[1], "split_barrier")) {
        MINIFFT_RUN_GRID((uint3{1, 1, 1}), (uint3{threads, 1, 1}), split_barrier(y.data()));
    } else {
        return 2;
    }
    return 0;
}
