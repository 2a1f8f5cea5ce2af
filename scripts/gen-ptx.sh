#!/usr/bin/env bash
# Regenerates the committed PTX of kernels/cuda from its .cu sources with
# nvcc 11.8 (Debian bookworm's nvidia-cuda-toolkit, installed when missing).
# The PTX targets compute_80 (PTX ISA 7.8); the driver JIT-compiles it for
# the GPU it runs on (A100, H100, ...), so no GPU is needed here.
#
#   scripts/gen-ptx.sh           regenerate kernels/cuda/*.ptx
#   scripts/gen-ptx.sh --check   fail if the committed PTX is stale
#   scripts/gen-ptx.sh --report  also print ptxas' register/spill report for sm_80 and sm_90
#   scripts/gen-ptx.sh --emu     only the CPU emulation check below (needs g++, not nvcc)
#
# Every mode first runs the kernels on the CPU (kernels/cuda/emu: each CUDA
# thread an OS thread, __syncthreads a barrier) against a double-precision
# reference, so indexing and reduction bugs show up without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
case "$mode" in
  ""|--check|--report|--emu) ;;
  *) echo "usage: scripts/gen-ptx.sh [--check|--report|--emu]" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
g++ -std=c++20 -O1 -pthread -x c++ kernels/cuda/emu/emu_check.cpp -o "$tmp/emu_check"
"$tmp/emu_check"
if [ "$mode" = "--emu" ]; then exit 0; fi

if ! command -v nvcc >/dev/null 2>&1; then
  scripts/install-cuda-headers.sh --toolkit
fi

arch=compute_80
dir=kernels/cuda
out=$dir
if [ "$mode" = "--check" ]; then
  out=$tmp/ptx
  mkdir -p "$out"
fi

for src in "$dir"/*.cu; do
  base=$(basename "$src" .cu)
  # -ptx: PTX only, no SASS; the module is loaded with cuModuleLoadData.
  nvcc -ptx -arch="$arch" -O3 -std=c++14 -o "$out/$base.ptx" "$src"
  if [ "$mode" = "--report" ]; then
    for sm in sm_80 sm_90; do
      echo "== $base.ptx on $sm"
      ptxas -arch="$sm" -v -o /dev/null "$out/$base.ptx" 2>&1 | grep -E 'Compiling|registers|spill' || true
    done
  fi
done

if [ "$mode" = "--check" ]; then
  for f in "$out"/*.ptx; do
    if ! diff -q "$f" "$dir/$(basename "$f")" >/dev/null 2>&1; then
      echo "gen-ptx: $dir/$(basename "$f") is stale: run scripts/gen-ptx.sh"; exit 1
    fi
  done
  echo "gen-ptx: committed PTX is up to date"
fi
