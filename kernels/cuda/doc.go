// Package cuda is the NVIDIA GPU Backend of cohort: its own SGEMM,
// bias/activation, column-sum, ZILN and AdamW kernels (gemm.cu, ops.cu),
// compiled to PTX by scripts/gen-ptx.sh, embedded in the binary and launched
// through the CUDA driver API (gorgonia.org/cu).
//
// Everything but this file is behind the build tag `cuda`: gorgonia.org/cu
// needs the CUDA 11.8 headers to compile (scripts/install-cuda-headers.sh)
// and libcuda.so.1 to link, and its package init exits the process when no
// GPU is present, so the default build never imports it. Build a GPU binary
// with `go build -tags cuda ./cmd/cohort`; such a binary refuses to start on
// a machine without an NVIDIA GPU and driver, with a message saying so
// (package internal/cuinit).
//
// Checking: on a GPU host, `go test -tags cuda ./kernels/cuda/` runs the
// kernels.Backend conformance suite, `cohort selftest --device cuda:0`
// compares every kernel with the CPU backend, and scripts/gpu-check.sh does
// both plus the benchmarks from prebuilt binaries. Without a GPU,
// `scripts/gen-ptx.sh --emu` runs the .cu kernels on the CPU (emu/) against
// a double-precision reference.
//
// Results are deterministic: every reduction (GEMM dot products, column
// sums, the ZILN loss) runs in a fixed order that depends only on the
// shapes, never on the device or on timing.
package cuda
