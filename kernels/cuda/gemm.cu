// SGEMM for kernels.Backend: C = alpha*op(A)*op(B) + beta*C, row-major.
//
// One thread block computes a BM x BN tile of C; each thread a TM x TN
// register block, split in 4x4 quarters spread BM/2 (BN/2) apart so the
// shared-memory reads of a warp are 16-byte vectors without bank conflicts
// and the stores of C are float4-coalesced. op(A) and op(B) tiles of depth
// BK are staged in shared memory k-major, double-buffered so the next
// tile's global loads overlap the current tile's arithmetic; the transposes
// are absorbed by the loaders, which read 16-byte vectors when the operand's
// rows are 16-byte aligned (flag vecA/vecB, decided on the host) and
// scalars with bounds checks otherwise. Every element of C is reduced by one thread in
// ascending k, so results are bit-identical run to run.
//
// Integer arguments are 64-bit: gorgonia.org/cu copies 8 bytes per kernel
// argument.

// loadA reads this thread's 4 values of the op(A) tile at depth k0 into v:
// one 16-byte vector when aligned and in bounds, else bounded scalars.
template <int BM, int BK, bool TA>
__device__ __forceinline__ void loadA(float v[4], const float* __restrict__ A, long long m, long long k,
                                      long long bm, long long k0, int e, long long vec)
{
    if (!TA) { // A is m x k: 4 consecutive p of one row i
        int r = e / (BK / 4), c = (e % (BK / 4)) * 4;
        long long gi = bm + r, gp = k0 + c;
        if (vec && gi < m && gp + 3 < k) {
            float4 t = *reinterpret_cast<const float4*>(A + gi * k + gp);
            v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
        } else {
#pragma unroll
            for (int q = 0; q < 4; q++) v[q] = (gi < m && gp + q < k) ? A[gi * k + gp + q] : 0.f;
        }
    } else { // A is k x m: 4 consecutive i of one depth p
        int p = e / (BM / 4), r = (e % (BM / 4)) * 4;
        long long gp = k0 + p, gi = bm + r;
        if (vec && gp < k && gi + 3 < m) {
            float4 t = *reinterpret_cast<const float4*>(A + gp * m + gi);
            v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
        } else {
#pragma unroll
            for (int q = 0; q < 4; q++) v[q] = (gp < k && gi + q < m) ? A[gp * m + gi + q] : 0.f;
        }
    }
}

// storeA writes the values loadA read into the k-major tile As[p][i].
template <int BM, int BK, bool TA>
__device__ __forceinline__ void storeA(float (*As)[BM], const float v[4], int e)
{
    if (!TA) {
        int r = e / (BK / 4), c = (e % (BK / 4)) * 4;
#pragma unroll
        for (int q = 0; q < 4; q++) As[c + q][r] = v[q];
    } else {
        int p = e / (BM / 4), r = (e % (BM / 4)) * 4;
        *reinterpret_cast<float4*>(&As[p][r]) = make_float4(v[0], v[1], v[2], v[3]);
    }
}

// loadB reads this thread's 4 values of the op(B) tile at depth k0.
template <int BN, int BK, bool TB>
__device__ __forceinline__ void loadB(float v[4], const float* __restrict__ B, long long n, long long k,
                                      long long bn, long long k0, int e, long long vec)
{
    if (!TB) { // B is k x n: 4 consecutive j of one depth p
        int p = e / (BN / 4), c = (e % (BN / 4)) * 4;
        long long gp = k0 + p, gj = bn + c;
        if (vec && gp < k && gj + 3 < n) {
            float4 t = *reinterpret_cast<const float4*>(B + gp * n + gj);
            v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
        } else {
#pragma unroll
            for (int q = 0; q < 4; q++) v[q] = (gp < k && gj + q < n) ? B[gp * n + gj + q] : 0.f;
        }
    } else { // B is n x k: 4 consecutive p of one column j
        int j = e / (BK / 4), c = (e % (BK / 4)) * 4;
        long long gj = bn + j, gp = k0 + c;
        if (vec && gj < n && gp + 3 < k) {
            float4 t = *reinterpret_cast<const float4*>(B + gj * k + gp);
            v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
        } else {
#pragma unroll
            for (int q = 0; q < 4; q++) v[q] = (gj < n && gp + q < k) ? B[gj * k + gp + q] : 0.f;
        }
    }
}

// storeB writes the values loadB read into the tile Bs[p][j].
template <int BN, int BK, bool TB>
__device__ __forceinline__ void storeB(float (*Bs)[BN], const float v[4], int e)
{
    if (!TB) {
        int p = e / (BN / 4), c = (e % (BN / 4)) * 4;
        *reinterpret_cast<float4*>(&Bs[p][c]) = make_float4(v[0], v[1], v[2], v[3]);
    } else {
        int j = e / (BK / 4), c = (e % (BK / 4)) * 4;
#pragma unroll
        for (int q = 0; q < 4; q++) Bs[c + q][j] = v[q];
    }
}

// sgemm_tile computes one BM x BN tile of C. Shared memory holds two
// stages of the op(A) and op(B) tiles: while the block multiplies one
// stage, each thread's loads of the next tile are in flight into registers
// and land in the other stage, so one barrier per BK step suffices.
template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB>
__device__ __forceinline__ void sgemm_tile(
    long long m, long long n, long long k, float alpha,
    const float* __restrict__ A, const float* __restrict__ B, float beta,
    float* __restrict__ C, long long vecA, long long vecB)
{
    constexpr int NT = (BM / TM) * (BN / TN);
    constexpr int TX = BN / TN;
    // Each thread loads exactly one 4-value chunk of each tile per step.
    static_assert(BM * BK / 4 == NT && BN * BK / 4 == NT, "tile loads must be one chunk per thread");
    __shared__ __align__(16) float As[2][BK][BM];
    __shared__ __align__(16) float Bs[2][BK][BN];

    const int tid = threadIdx.x;
    const int tx = tid % TX, ty = tid / TX;
    const long long bm = (long long)blockIdx.y * BM;
    const long long bn = (long long)blockIdx.x * BN;

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.f;

    float va[4], vb[4];
    if (k > 0) {
        loadA<BM, BK, TA>(va, A, m, k, bm, 0, tid, vecA);
        loadB<BN, BK, TB>(vb, B, n, k, bn, 0, tid, vecB);
        storeA<BM, BK, TA>(As[0], va, tid);
        storeB<BN, BK, TB>(Bs[0], vb, tid);
    }
    __syncthreads();

    int cur = 0;
    for (long long k0 = 0; k0 < k; k0 += BK) {
        const bool more = k0 + BK < k;
        if (more) { // next tile's loads overlap this tile's arithmetic
            loadA<BM, BK, TA>(va, A, m, k, bm, k0 + BK, tid, vecA);
            loadB<BN, BK, TB>(vb, B, n, k, bn, k0 + BK, tid, vecB);
        }
#pragma unroll
        for (int kk = 0; kk < BK; kk++) {
            float a[TM], b[TN];
#pragma unroll
            for (int h = 0; h < TM / 4; h++) {
                float4 t = *reinterpret_cast<const float4*>(&As[cur][kk][ty * 4 + h * (BM / (TM / 4))]);
                a[4 * h] = t.x; a[4 * h + 1] = t.y; a[4 * h + 2] = t.z; a[4 * h + 3] = t.w;
            }
#pragma unroll
            for (int h = 0; h < TN / 4; h++) {
                float4 t = *reinterpret_cast<const float4*>(&Bs[cur][kk][tx * 4 + h * (BN / (TN / 4))]);
                b[4 * h] = t.x; b[4 * h + 1] = t.y; b[4 * h + 2] = t.z; b[4 * h + 3] = t.w;
            }
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        if (more) { // the other stage was last read before the previous barrier
            storeA<BM, BK, TA>(As[cur ^ 1], va, tid);
            storeB<BN, BK, TB>(Bs[cur ^ 1], vb, tid);
        }
        __syncthreads();
        cur ^= 1;
    }

    // Epilogue: beta == 0 must not read C (it may hold NaNs).
#pragma unroll
    for (int i = 0; i < TM; i++) {
        long long gi = bm + ty * 4 + (i / 4) * (BM / (TM / 4)) + (i % 4);
        if (gi >= m) continue;
#pragma unroll
        for (int j = 0; j < TN; j++) {
            long long gj = bn + tx * 4 + (j / 4) * (BN / (TN / 4)) + (j % 4);
            if (gj >= n) continue;
            float v = alpha * acc[i][j];
            if (beta != 0.f) v = fmaf(beta, C[gi * n + gj], v);
            C[gi * n + gj] = v;
        }
    }
}

// The instantiations the host picks from: a 128x128 tile for products that
// fill the device, a 64x64 tile for the MLP's smaller ones. Both run 256
// threads.
#define SGEMM_KERNEL(name, BM, BN, BK, TM, TN, TA, TB)                                   \
    extern "C" __global__ void __launch_bounds__(256) name(                              \
        long long m, long long n, long long k, float alpha, const float* A,            \
        const float* B, float beta, float* C, long long vecA, long long vecB)          \
    {                                                                                    \
        sgemm_tile<BM, BN, BK, TM, TN, TA, TB>(m, n, k, alpha, A, B, beta, C, vecA, vecB); \
    }

SGEMM_KERNEL(sgemm128_nn, 128, 128, 8, 8, 8, false, false)
SGEMM_KERNEL(sgemm128_nt, 128, 128, 8, 8, 8, false, true)
SGEMM_KERNEL(sgemm128_tn, 128, 128, 8, 8, 8, true, false)
SGEMM_KERNEL(sgemm128_tt, 128, 128, 8, 8, 8, true, true)
SGEMM_KERNEL(sgemm64_nn, 64, 64, 16, 4, 4, false, false)
SGEMM_KERNEL(sgemm64_nt, 64, 64, 16, 4, 4, false, true)
SGEMM_KERNEL(sgemm64_tn, 64, 64, 16, 4, 4, true, false)
SGEMM_KERNEL(sgemm64_tt, 64, 64, 16, 4, 4, true, true)
