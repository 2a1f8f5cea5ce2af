// A CPU stand-in for the few CUDA features gemm.cu and ops.cu use, so the
// kernels' indexing, bounds and reduction logic can be checked on a machine
// without a GPU (scripts/gen-ptx.sh runs emu_check). Each block runs its
// threads as OS threads meeting at a std::barrier for __syncthreads; blocks
// run one after another, so a function-static array is the block's shared
// memory. It checks logic, not speed, timing or memory-model subtleties.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

struct uint3_ { unsigned x = 0, y = 0, z = 0; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
inline thread_local uint3_ threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
inline std::barrier<>* emu_barrier;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(n)

inline void __syncthreads() { emu_barrier->arrive_and_wait(); }

struct alignas(16) float4 { float x, y, z, w; };
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline long long min(long long a, long long b) { return a < b ? a : b; }

// emu_launch runs kernel over grid x block.
template <typename... P, typename... A>
void emu_launch(void (*kernel)(P...), dim3 grid, dim3 block, A... args)
{
    gridDim = grid;
    blockDim = block;
    const unsigned nt = block.x * block.y * block.z;
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                std::barrier<> bar(nt);
                emu_barrier = &bar;
                std::vector<std::thread> ts;
                ts.reserve(nt);
                for (unsigned t = 0; t < nt; t++)
                    ts.emplace_back([&, t] {
                        blockIdx = {bx, by, bz};
                        threadIdx = {t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                        kernel(static_cast<P>(args)...);
                    });
                for (auto& th : ts) th.join();
            }
}
