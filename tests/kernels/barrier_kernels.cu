// Tiny kernels for the shim's own tests (tests/kernels/test_cuda_shim.py).

// Reverses each block's slice of x through shared memory: correct only if every thread's write
// lands before any thread reads, i.e. only with the barrier.
extern "C" __global__ void reverse_in_block(const float* x, float* y) {
    __shared__ float s[64];
    const unsigned t = threadIdx.x, base = blockIdx.x * blockDim.x;
    s[t] = x[base + t];
    __syncthreads();
    y[base + t] = s[blockDim.x - 1 - t];
}

// Thread 0 returns before the barrier the others wait at: undefined on a GPU, an abort here.
extern "C" __global__ void early_return(float* y) {
    if (threadIdx.x == 0) return;
    __syncthreads();
    y[threadIdx.x] = 1;
}

// Two halves of the block wait at different barriers.
extern "C" __global__ void split_barrier(float* y) {
    if (threadIdx.x % 2) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    y[threadIdx.x] = 1;
}
