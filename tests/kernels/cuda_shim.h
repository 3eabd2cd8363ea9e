// Host shim that lets a CUDA kernel source compile with g++ and run on the CPU: it defines
// the CUDA built-ins and runs the grid in plain loops. Exact only for kernels that use no
// shared memory and no barriers (every thread independent), as minifft's kernels promise.
#pragma once

struct uint3 { unsigned x, y, z; };
static uint3 blockIdx, threadIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline

#define MINIFFT_RUN_GRID(grid, block, call)                                             \
    do {                                                                                \
        gridDim = grid;                                                                 \
        blockDim = block;                                                               \
        for (unsigned bz = 0; bz < gridDim.z; ++bz)                                     \
            for (unsigned by = 0; by < gridDim.y; ++by)                                 \
                for (unsigned bx = 0; bx < gridDim.x; ++bx)                             \
                    for (unsigned tz = 0; tz < blockDim.z; ++tz)                        \
                        for (unsigned ty = 0; ty < blockDim.y; ++ty)                    \
                            for (unsigned tx = 0; tx < blockDim.x; ++tx) {              \
                                blockIdx = uint3{bx, by, bz};                           \
                                threadIdx = uint3{tx, ty, tz};                          \
                                call;                                                   \
                            }                                                           \
    } while (0)
