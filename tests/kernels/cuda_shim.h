// Host shim that lets a CUDA kernel source compile with g++ and run exactly on the CPU.
//
// MINIFFT_RUN_GRID(grid, block, call) runs `call` once per CUDA thread: blocks one after another
// (x fastest), and within a block one fiber (ucontext) per thread. A fiber runs until it calls
// __syncthreads() or returns; when every thread of the block has reached the same
// __syncthreads(), all are released for the next phase. So __shared__ (block-shared storage,
// `static` here: only one block is alive at a time) and barriers have their CUDA meaning, and a
// kernel that forgets a barrier reads stale shared data here as it would on a GPU.
// A barrier that not every thread of the block reaches (some returned, or wait at a different
// __syncthreads()) aborts with a message instead of hanging: on a GPU that is undefined behaviour.
// Build with -DMINIFFT_SHIM_NO_BARRIER to make __syncthreads() a no-op (tests use it to show that
// a kernel's result depends on its barriers).
#pragma once

#include <sys/mman.h>
#include <ucontext.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

struct uint3 { unsigned x, y, z; };
static uint3 blockIdx, threadIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

namespace minifft_shim {

enum State { READY, AT_BARRIER, DONE };

struct Fiber {
    ucontext_t context;
    State state;
    int site;  // source line of the __syncthreads() it waits at
    char* stack;
};

static const size_t STACK_BYTES = 256 * 1024;  // kernels keep register tiles on it
static std::vector<Fiber> fibers;
static ucontext_t scheduler;
static unsigned current;
static void (*body_entry)(void*);
static void* body;

static void fiber_main() {
    body_entry(body);
    fibers[current].state = DONE;  // returning resumes the scheduler (uc_link)
}

inline void sync_threads(int site) {
#ifndef MINIFFT_SHIM_NO_BARRIER
    Fiber& fiber = fibers[current];
    fiber.state = AT_BARRIER;
    fiber.site = site;
    swapcontext(&fiber.context, &scheduler);
#else
    (void)site;
#endif
}

[[noreturn]] inline void fail(const char* what, unsigned arrived, unsigned threads, int site, int other) {
    std::fprintf(stderr,
                 "cuda_shim: block (%u, %u, %u): %s: %u of %u threads wait at the __syncthreads() of line %d%s",
                 blockIdx.x, blockIdx.y, blockIdx.z, what, arrived, threads, site, other ? "" : "\n");
    if (other) std::fprintf(stderr, ", another at line %d\n", other);
    std::fflush(stderr);
    std::abort();
}

inline void set_thread(unsigned i) {
    threadIdx = uint3{i % blockDim.x, (i / blockDim.x) % blockDim.y, i / (blockDim.x * blockDim.y)};
}

// Runs every thread of the current block to completion, phase by phase between barriers.
inline void run_block() {
    const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
    if (fibers.size() < threads) fibers.resize(threads, Fiber{ucontext_t(), DONE, 0, nullptr});
    for (unsigned i = 0; i < threads; ++i) {
        Fiber& fiber = fibers[i];
        if (fiber.stack == nullptr) {
            void* stack = mmap(nullptr, STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (stack == MAP_FAILED) {
                std::fprintf(stderr, "cuda_shim: cannot map a fiber stack\n");
                std::abort();
            }
            fiber.stack = static_cast<char*>(stack);
        }
        getcontext(&fiber.context);
        fiber.context.uc_stack.ss_sp = fiber.stack;
        fiber.context.uc_stack.ss_size = STACK_BYTES;
        fiber.context.uc_link = &scheduler;
        makecontext(&fiber.context, fiber_main, 0);
        fiber.state = READY;
    }
    for (;;) {
        unsigned arrived = 0;
        int site = 0;
        for (unsigned i = 0; i < threads; ++i) {
            Fiber& fiber = fibers[i];
            if (fiber.state != READY) continue;
            current = i;
            set_thread(i);
            swapcontext(&scheduler, &fiber.context);
        }
        for (unsigned i = 0; i < threads; ++i) {
            if (fibers[i].state != AT_BARRIER) continue;
            if (arrived++ == 0) site = fibers[i].site;
            else if (fibers[i].site != site)
                fail("threads wait at different barriers", arrived - 1, threads, site, fibers[i].site);
        }
        if (arrived == 0) return;  // every thread returned
        if (arrived != threads) fail("barrier not reached by every thread (some returned)", arrived, threads, site, 0);
        for (unsigned i = 0; i < threads; ++i) fibers[i].state = READY;
    }
}

template <typename Body>
void run_grid(Body& kernel_call) {
    body_entry = [](void* call) { (*static_cast<Body*>(call))(); };
    body = &kernel_call;
    for (unsigned bz = 0; bz < gridDim.z; ++bz)
        for (unsigned by = 0; by < gridDim.y; ++by)
            for (unsigned bx = 0; bx < gridDim.x; ++bx) {
                blockIdx = uint3{bx, by, bz};
                run_block();
            }
}

}  // namespace minifft_shim

#define __syncthreads() minifft_shim::sync_threads(__LINE__)

#define MINIFFT_RUN_GRID(grid, block, call)                     \
    do {                                                        \
        gridDim = grid;                                         \
        blockDim = block;                                       \
        auto minifft_kernel_call = [&]() { call; };             \
        minifft_shim::run_grid(minifft_kernel_call);            \
    } while (0)
