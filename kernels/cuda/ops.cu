// Elementwise, reduction and loss kernels for kernels.Backend.
//
// Integer arguments are 64-bit: gorgonia.org/cu copies 8 bytes per kernel
// argument. Reductions use a fixed tree whose shape depends only on the
// problem size (never on the device or on timing), so results are
// bit-identical run to run.

#define GRID_STRIDE(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// x[i,j] = act(x[i,j] + bias[j]); relu != 0 selects ReLU.
extern "C" __global__ void bias_act(float* x, const float* bias, long long rows, long long cols, long long relu)
{
    GRID_STRIDE(i, rows * cols) {
        float v = x[i] + bias[i % cols];
        x[i] = (relu && !(v > 0.f)) ? 0.f : v;
    }
}

// grad = 0 where out <= 0 (ReLU's derivative evaluated from its output).
extern "C" __global__ void relu_backward(float* grad, const float* out, long long n)
{
    GRID_STRIDE(i, n) {
        if (!(out[i] > 0.f)) grad[i] = 0.f;
    }
}

// x = a*x.
extern "C" __global__ void scale(float* x, float a, long long n)
{
    GRID_STRIDE(i, n) { x[i] = a * x[i]; }
}

// y = a*x + y.
extern "C" __global__ void axpy(float a, const float* x, float* y, long long n)
{
    GRID_STRIDE(i, n) { y[i] = fmaf(a, x[i], y[i]); }
}

// One AdamW step with the host-folded constants of kernels/cpu/adam.go:
// m = b1*m + c1*g; v = b2*v + c2*g*g;
// p = p*decay - step*m/(sqrt(v)*invSqrtBC2 + eps).
extern "C" __global__ void adamw(float* p, const float* g, float* m, float* v, long long n,
                                 float b1, float b2, float c1, float c2,
                                 float decay, float step, float invSqrtBC2, float eps)
{
    GRID_STRIDE(i, n) {
        float gi = g[i];
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float den = sqrtf(vi) * invSqrtBC2 + eps;
        p[i] = p[i] * decay - step * mi / den;
    }
}

// Column sums, pass 1: block (32, 8) sums rows [r0, r0+COLSUM_ROWS) of 32
// columns into partial[chunk*cols + j], in double. Thread (tx, ty) adds rows
// ty, ty+8, ... in order; the 8 per-thread sums are added in a fixed tree.
#define COLSUM_ROWS 256
extern "C" __global__ void colsum_partial(double* partial, const float* x, long long rows, long long cols)
{
    __shared__ double s[8][33];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const long long j = (long long)blockIdx.y * 32 + tx;
    const long long chunk = blockIdx.x;
    const long long r0 = chunk * COLSUM_ROWS;
    const long long r1 = min(r0 + COLSUM_ROWS, rows);
    double acc = 0.0;
    if (j < cols)
        for (long long r = r0 + ty; r < r1; r += 8) acc += (double)x[r * cols + j];
    s[ty][tx] = acc;
    __syncthreads();
    for (int h = 4; h > 0; h >>= 1) {
        if (ty < h) s[ty][tx] += s[ty + h][tx];
        __syncthreads();
    }
    if (ty == 0 && j < cols) partial[chunk * cols + j] = s[0][tx];
}

// Column sums, pass 2: dst[j] = beta*dst[j] + sum of the chunk partials in
// chunk order. beta == 0 does not read dst.
extern "C" __global__ void colsum_final(float* dst, const double* partial, long long chunks, long long cols, float beta)
{
    GRID_STRIDE(j, cols) {
        double s = 0.0;
        for (long long c = 0; c < chunks; c++) s += partial[c * cols + j];
        if (beta != 0.f) s += (double)beta * (double)dst[j];
        dst[j] = (float)s;
    }
}

#define ZILN_MIN_SIGMA 3.1622776601683793319988935444327e-4
#define HALF_LOG_2PI 0.91893853320467274178

__device__ __forceinline__ double sigmoid_d(double x)
{
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

__device__ __forceinline__ double softplus_d(double x)
{
    return fmax(x, 0.0) + log1p(exp(-fabs(x)));
}

// ZILN loss, pass 1: each thread handles one sample (the arithmetic of
// kernels/cpu/ziln.go, in double), writes the gradient of inv*loss, and the
// block's 256 losses are summed in a fixed tree into partial[blockIdx.x].
// Launched with exactly 256 threads per block and ceil(rows/256) blocks.
extern "C" __global__ void ziln_loss_partial(double* partial, float* grad, const float* logits,
                                             const float* labels, long long rows, double inv)
{
    __shared__ double s[256];
    const long long i = (long long)blockIdx.x * 256 + threadIdx.x;
    double loss = 0.0;
    if (i < rows) {
        const float* l = logits + 3 * i;
        float* g = grad + 3 * i;
        double y = labels[i];
        double z = l[0];
        double pos = y > 0 ? 1.0 : 0.0;
        loss = fmax(z, 0.0) - z * pos + log1p(exp(-fabs(z)));
        g[0] = (float)((sigmoid_d(z) - pos) * inv);
        if (y > 0) {
            double mu = l[1], raw = l[2];
            double sigma = softplus_d(raw), dsigma = sigmoid_d(raw);
            if (sigma < ZILN_MIN_SIGMA) { sigma = ZILN_MIN_SIGMA; dsigma = 0.0; }
            double ly = log(y);
            double d = ly - mu;
            double s2 = sigma * sigma;
            loss += ly + log(sigma) + HALF_LOG_2PI + d * d / (2 * s2);
            g[1] = (float)(-d / s2 * inv);
            g[2] = (float)((1 / sigma - d * d / (s2 * sigma)) * dsigma * inv);
        } else {
            g[1] = 0.f;
            g[2] = 0.f;
        }
    }
    s[threadIdx.x] = loss;
    __syncthreads();
    for (int h = 128; h > 0; h >>= 1) {
        if (threadIdx.x < h) s[threadIdx.x] += s[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// ZILN loss, pass 2: one block of 256 threads sums the block partials
// (thread t adds partials t, t+256, ... in order, then a fixed tree) and
// writes the mean loss to out[0].
extern "C" __global__ void ziln_loss_final(double* out, const double* partial, long long blocks, double inv)
{
    __shared__ double s[256];
    double acc = 0.0;
    for (long long b = threadIdx.x; b < blocks; b += 256) acc += partial[b];
    s[threadIdx.x] = acc;
    __syncthreads();
    for (int h = 128; h > 0; h >>= 1) {
        if (threadIdx.x < h) s[threadIdx.x] += s[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = s[0] * inv;
}

// ZILN predict: p = sigmoid(logit), mean = p*exp(mu + sigma^2/2).
extern "C" __global__ void ziln_predict(float* p, float* mean, const float* logits, long long rows)
{
    GRID_STRIDE(i, rows) {
        const float* l = logits + 3 * i;
        double prob = sigmoid_d(l[0]);
        double sigma = fmax(softplus_d(l[2]), ZILN_MIN_SIGMA);
        p[i] = (float)prob;
        mean[i] = (float)(prob * exp((double)l[1] + sigma * sigma / 2));
    }
}
