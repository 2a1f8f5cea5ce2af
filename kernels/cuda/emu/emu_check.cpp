// emu_check runs gemm.cu and ops.cu on the CPU through cuda_shim.h and
// compares every kernel with a plain double-precision reference, on awkward
// shapes, both transposes, both GEMM tiles and both load paths. It exits
// non-zero on the first mismatch. Build: see scripts/gen-ptx.sh.
#include "cuda_shim.h"

#include "../gemm.cu"
#include "../ops.cu"

#include <cstdlib>
#include <random>

static std::mt19937_64 rng(12345);
static std::vector<float> rnd(size_t n, float lo = -1, float hi = 1)
{
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}
static int failures = 0;
#define FAIL(...) do { std::printf(__VA_ARGS__); std::printf("\n"); if (++failures > 20) std::exit(1); } while (0)

using GemmFn = void (*)(long long, long long, long long, float, const float*, const float*, float, float*, long long, long long);

static void check_gemm(GemmFn fn, int tile, bool ta, bool tb, int m, int n, int k, float alpha, float beta, bool vec, const char* name)
{
    // Offset the operands by one float when the scalar path is wanted, as
    // the host does for unaligned views.
    std::vector<float> abuf = rnd(m * k + 4), bbuf = rnd(k * n + 4), cbuf = rnd(m * n + 1);
    const float* A = abuf.data() + (vec ? 0 : 1);
    const float* B = bbuf.data() + (vec ? 0 : 1);
    float* C = cbuf.data();
    std::vector<float> c0(C, C + m * n);
    if (beta == 0) for (int i = 0; i < m * n; i++) C[i] = NAN;
    bool va = vec && (ta ? m : k) % 4 == 0, vb = vec && (tb ? k : n) % 4 == 0;
    emu_launch(fn, dim3((n + tile - 1) / tile, (m + tile - 1) / tile), dim3(256), (long long)m, (long long)n, (long long)k,
               alpha, A, B, beta, C, (long long)va, (long long)vb);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int p = 0; p < k; p++) {
                double a = ta ? A[p * m + i] : A[i * k + p];
                double b = tb ? B[j * k + p] : B[p * n + j];
                s += a * b;
                mag += std::fabs(a * b);
            }
            double want = alpha * s + (beta != 0 ? beta * (double)c0[i * n + j] : 0);
            double tol = 2.0 / (1 << 24) * (k + 3) * (std::fabs(alpha) * mag + std::fabs(beta * c0[i * n + j])) + 1e-30;
            double got = C[i * n + j];
            if (!(std::fabs(got - want) <= tol)) {
                FAIL("%s %dx%dx%d vec=%d: C[%d,%d] = %g, want %g", name, m, n, k, (int)vec, i, j, got, want);
                return;
            }
        }
}

int main()
{
    GemmFn g128[4] = {sgemm128_nn, sgemm128_tn, sgemm128_nt, sgemm128_tt};
    GemmFn g64[4] = {sgemm64_nn, sgemm64_tn, sgemm64_nt, sgemm64_tt};
    const char* names[4] = {"nn", "tn", "nt", "tt"};
    int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {5, 17, 3}, {12, 32, 64}, {65, 129, 37}, {31, 3, 33}, {2, 2, 40}, {130, 68, 20}, {64, 64, 16}};
    float ab[][2] = {{1, 0}, {1, 1}, {-0.5f, 0}, {1.5f, -2}};
    int cases = 0;
    for (auto& s : shapes)
        for (int tr = 0; tr < 4; tr++)
            for (int vec = 0; vec < 2; vec++) {
                float* sc = ab[(cases++) % 4];
                check_gemm(g128[tr], 128, tr & 1, tr & 2, s[0], s[1], s[2], sc[0], sc[1], vec, names[tr]);
                check_gemm(g64[tr], 64, tr & 1, tr & 2, s[0], s[1], s[2], sc[0], sc[1], vec, names[tr]);
            }
    std::printf("gemm: %d cases x 2 tiles\n", cases);

    // bias_act, relu_backward, scale, axpy
    for (int relu = 0; relu < 2; relu++) {
        int rows = 37, cols = 19;
        auto x = rnd(rows * cols), bias = rnd(cols), x0 = x;
        emu_launch(bias_act, dim3(2), dim3(256), x.data(), (const float*)bias.data(), (long long)rows, (long long)cols, (long long)relu);
        for (int i = 0; i < rows * cols; i++) {
            float want = x0[i] + bias[i % cols];
            if (relu && want < 0) want = 0;
            if (x[i] != want) FAIL("bias_act relu=%d [%d] = %g, want %g", relu, i, x[i], want);
        }
    }
    {
        long long n = 1000;
        auto g = rnd(n), out = rnd(n), g0 = g;
        emu_launch(relu_backward, dim3(2), dim3(256), g.data(), (const float*)out.data(), n);
        for (int i = 0; i < n; i++)
            if (g[i] != (out[i] > 0 ? g0[i] : 0.f)) FAIL("relu_backward [%d]", i);
        auto x = rnd(n), y = rnd(n), x0 = x, y0 = y;
        emu_launch(axpy, dim3(3), dim3(256), -1.5f, (const float*)x.data(), y.data(), n);
        emu_launch(scale, dim3(1), dim3(256), x.data(), 0.75f, n);
        for (int i = 0; i < n; i++) {
            if (x[i] != 0.75f * x0[i]) FAIL("scale [%d]", i);
            if (std::fabs(y[i] - (-1.5 * x0[i] + y0[i])) > 4e-7) FAIL("axpy [%d]", i);
        }
    }
    // colsum: rows past several chunks, cols past one 32-column block.
    for (auto rc : {std::pair<int, int>{600, 40}, {1, 1}, {256, 33}, {257, 3}}) {
        int rows = rc.first, cols = rc.second;
        long long chunks = (rows + 255) / 256;
        auto x = rnd((size_t)rows * cols), d = rnd(cols), d0 = d;
        std::vector<double> part(chunks * cols);
        emu_launch(colsum_partial, dim3(chunks, (cols + 31) / 32), dim3(32, 8), part.data(), (const float*)x.data(), (long long)rows, (long long)cols);
        emu_launch(colsum_final, dim3(1), dim3(256), d.data(), (const double*)part.data(), chunks, (long long)cols, 0.5f);
        for (int j = 0; j < cols; j++) {
            double s = 0.5 * d0[j];
            for (int i = 0; i < rows; i++) s += x[(size_t)i * cols + j];
            if (std::fabs(d[j] - s) > 1e-5 * (1 + std::fabs(s))) FAIL("colsum %dx%d [%d] = %g, want %g", rows, cols, j, d[j], s);
        }
    }
    // ziln loss and predict
    for (long long rows : {1LL, 37LL, 600LL}) {
        auto logits = rnd(3 * rows, -3, 3), labels = rnd(rows, -2, 50);
        for (long long i = 0; i < rows; i++) if (i % 7 == 3) logits[3 * i + 2] = -20;
        std::vector<float> grad(3 * rows, NAN);
        long long blocks = (rows + 255) / 256;
        std::vector<double> part(blocks), out(1);
        double inv = 1.0 / rows;
        emu_launch(ziln_loss_partial, dim3(blocks), dim3(256), part.data(), grad.data(), (const float*)logits.data(), (const float*)labels.data(), rows, inv);
        emu_launch(ziln_loss_final, dim3(1), dim3(256), out.data(), (const double*)part.data(), blocks, 1.0);
        double sum = 0;
        for (long long i = 0; i < rows; i++) {
            double z = logits[3 * i], mu = logits[3 * i + 1], raw = logits[3 * i + 2], y = labels[i];
            double sp = [](double v) { return v > 30 ? v : std::log1p(std::exp(v)); }(-z);
            double spz = [](double v) { return v > 30 ? v : std::log1p(std::exp(v)); }(z);
            double sig = 1 / (1 + std::exp(-z));
            if (y <= 0) {
                sum += spz;
                if (std::fabs(grad[3 * i] - sig * inv) > 1e-6 * inv || grad[3 * i + 1] != 0 || grad[3 * i + 2] != 0) FAIL("ziln grad row %lld (y<=0)", i);
                continue;
            }
            double sigma = std::log1p(std::exp(raw)), ds = 1 / (1 + std::exp(-raw));
            if (sigma < ZILN_MIN_SIGMA) { sigma = ZILN_MIN_SIGMA; ds = 0; }
            double d = std::log(y) - mu;
            sum += sp + std::log(y) + std::log(sigma) + HALF_LOG_2PI + d * d / (2 * sigma * sigma);
            double g1 = -d / (sigma * sigma) * inv, g2 = (1 / sigma - d * d / (sigma * sigma * sigma)) * ds * inv;
            if (std::fabs(grad[3 * i] - (sig - 1) * inv) > 1e-6 * inv || std::fabs(grad[3 * i + 1] - g1) > 1e-5 * std::fabs(g1) + 1e-12 ||
                std::fabs(grad[3 * i + 2] - g2) > 1e-5 * std::fabs(g2) + 1e-12)
                FAIL("ziln grad row %lld: (%g %g %g) want (%g %g %g)", i, grad[3 * i], grad[3 * i + 1], grad[3 * i + 2], (sig - 1) * inv, g1, g2);
        }
        if (std::fabs(out[0] * inv - sum * inv) > 1e-9 * std::fabs(sum * inv)) FAIL("ziln loss rows=%lld: %g want %g", rows, out[0] * inv, sum * inv);
        std::vector<float> p(rows), mean(rows);
        emu_launch(ziln_predict, dim3(2), dim3(256), p.data(), mean.data(), (const float*)logits.data(), rows);
        for (long long i = 0; i < rows; i++) {
            double pr = 1 / (1 + std::exp(-(double)logits[3 * i]));
            double sigma = std::fmax(std::log1p(std::exp((double)logits[3 * i + 2])), ZILN_MIN_SIGMA);
            double wm = pr * std::exp(logits[3 * i + 1] + sigma * sigma / 2);
            if (std::fabs(p[i] - pr) > 1e-6 * pr || std::fabs(mean[i] - wm) > 1e-5 * wm) FAIL("ziln_predict row %lld", i);
        }
    }
    // adamw: two steps against the textbook update in double.
    {
        long long n = 777;
        auto p = rnd(n);
        std::vector<float> m(n), v(n);
        std::vector<double> pd(p.begin(), p.end()), md(n), vd(n);
        double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
        for (int step = 1; step <= 3; step++) {
            auto g = rnd(n);
            double bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
            emu_launch(adamw, dim3(2), dim3(256), p.data(), (const float*)g.data(), m.data(), v.data(), n, (float)b1, (float)b2,
                       (float)(1 - (float)b1), (float)(1 - (float)b2), (float)(1 - lr * wd), (float)(lr / bc1), (float)(1 / std::sqrt(bc2)), (float)eps);
            for (long long i = 0; i < n; i++) {
                md[i] = b1 * md[i] + (1 - b1) * g[i];
                vd[i] = b2 * vd[i] + (1 - b2) * g[i] * g[i];
                pd[i] -= lr * ((md[i] / bc1) / (std::sqrt(vd[i] / bc2) + eps) + wd * pd[i]);
            }
        }
        for (long long i = 0; i < n; i++)
            if (std::fabs(p[i] - pd[i]) > 1e-5 * std::fabs(pd[i]) + 1e-6) FAIL("adamw [%lld] = %g, want %g", i, p[i], pd[i]);
    }
    if (failures) { std::printf("emu_check: %d failures\n", failures); return 1; }
    std::printf("emu_check: all kernels match the reference\n");
    return 0;
}
