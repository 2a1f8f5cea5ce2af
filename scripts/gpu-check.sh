#!/usr/bin/env bash
# The one command for a GPU host: checks and benchmarks a prebuilt cohort
# binary (built elsewhere with `go build -tags cuda ./cmd/cohort`) on an
# NVIDIA GPU, against PyTorch + cuBLAS on the same GPU when PyTorch with CUDA
# is installed. Needs no Go toolchain and no network.
#
#   scripts/gpu-check.sh COHORT_BINARY OUTDIR [CUDA_TEST_BINARY]   (DEVICE=cuda:1 to pick a GPU)
#
# CUDA_TEST_BINARY, optional, is the compiled conformance suite of the backend
# (`go test -tags cuda -c -o cuda.test ./kernels/cuda/`); it runs on GPU 0.
#
# Writes into OUTDIR:
#   host.txt          GPU, driver, CUDA version (nvidia-smi), the binary's libraries
#   selftest.json     `cohort selftest --device $DEVICE --bench --json`: every kernel
#                     against the CPU backend, SGEMM GFLOP/s, training samples/s
#   peer.json         the same benchmarks in PyTorch (fp32, TF32 off), or a reason it was skipped
#   conformance.txt   the conformance suite's verbose output (with CUDA_TEST_BINARY)
#   results.md        the table: cohort vs PyTorch per benchmark, and the self-test summary
# Exits non-zero when the self-test fails (after writing everything).
set -uo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 COHORT_BINARY OUTDIR [CUDA_TEST_BINARY]" >&2; exit 2
fi
bin=$(readlink -f "$1")
out=$2
dev=${DEVICE:-cuda:0}
mkdir -p "$out" || exit 1
if [ ! -x "$bin" ]; then
  echo "gpu-check: $bin is not an executable cohort binary" >&2; exit 2
fi

# --- host
{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -srm)"
  echo "binary: $bin"
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
    nvidia-smi | grep -m1 "CUDA Version" || true
  else
    echo "nvidia-smi: not found"
  fi
  echo "libraries:"; ldd "$bin" 2>&1
} >"$out/host.txt"
if ldd "$bin" 2>&1 | grep -q "libcuda.so.1 => not found"; then
  echo "gpu-check: libcuda.so.1 (the NVIDIA driver) is not installed on this host" >&2; exit 1
fi

# --- cohort: self-test and benchmarks
echo "gpu-check: cohort selftest --device $dev --bench (about a minute)" >&2
"$bin" selftest --device "$dev" --bench --json >"$out/selftest.json" 2>"$out/selftest.stderr"
selftest_rc=$?
if [ $selftest_rc -ne 0 ]; then
  echo "gpu-check: self-test exit $selftest_rc:" >&2; tail -5 "$out/selftest.stderr" >&2
fi

# --- the backend's conformance suite, when its test binary was given
conformance_rc=0
if [ $# -eq 3 ]; then
  echo "gpu-check: conformance suite $3" >&2
  "$(readlink -f "$3")" -test.v -test.count=1 >"$out/conformance.txt" 2>&1
  conformance_rc=$?
  tail -3 "$out/conformance.txt" >&2
fi

# --- peer: PyTorch with cuBLAS on the same GPU
py=""
for p in /usr/bin/python3 python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
    py=$p; break
  fi
done
if [ -n "$py" ]; then
  echo "gpu-check: PyTorch peer ($py)" >&2
  idx=${dev#cuda:}; [ "$idx" = "cuda" ] && idx=0
  CUDA_VISIBLE_DEVICES_ORDINAL=$idx "$py" - >"$out/peer.json" 2>"$out/peer.stderr" <<'PY'
import json, math, os, statistics, time
import torch
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = False  # fp32 like cohort's kernels
torch.backends.cudnn.allow_tf32 = False
dev = torch.device("cuda", int(os.environ.get("CUDA_VISIBLE_DEVICES_ORDINAL", "0")))
torch.manual_seed(1)

def median_ms(fn, trials=5, min_s=0.3):
    fn(); torch.cuda.synchronize(dev)
    t = time.perf_counter(); fn(); torch.cuda.synchronize(dev)
    reps = max(1, int(min_s / max(time.perf_counter() - t, 1e-6)))
    times = []
    for _ in range(trials):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(reps):
            fn()
        b.record(); torch.cuda.synchronize(dev)
        times.append(a.elapsed_time(b) / reps)
    return statistics.median(times)

# Same names and shapes as cohort selftest --bench (row-major C = op(A) op(B)).
gemms = [("sgemm", False, False, 4096, 4096, 4096),
         ("sgemm fwd layer1", False, False, 4096, 512, 64),
         ("sgemm fwd layer2", False, False, 4096, 512, 512),
         ("sgemm fwd layer3", False, False, 4096, 256, 512),
         ("sgemm fwd head", False, False, 4096, 3, 256),
         ("sgemm dW layer2 (A^T)", True, False, 512, 512, 4096),
         ("sgemm dX layer3 (B^T)", False, True, 4096, 512, 256)]
out = []
for name, ta, tb, m, n, k in gemms:
    A = torch.randn(k, m, device=dev).t() if ta else torch.randn(m, k, device=dev)
    B = torch.randn(n, k, device=dev).t() if tb else torch.randn(k, n, device=dev)
    C = torch.empty(m, n, device=dev)
    ms = median_ms(lambda: torch.mm(A, B, out=C))
    out.append({"name": name, "shape": f"{m}x{n}x{k}", "value": 2 * m * n * k / (ms / 1e3) / 1e9, "unit": "GFLOP/s", "ms_per_iter": ms})

def ziln_loss(logits, labels):
    positive = (labels > 0).to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits[:, 0], positive, reduction="none")
    mu = logits[:, 1]
    sigma = torch.clamp(F.softplus(logits[:, 2]), min=math.sqrt(1e-7))
    log_y = torch.log(torch.where(labels > 0, labels, torch.ones_like(labels)))
    z = (log_y - mu) / sigma
    nll = log_y + torch.log(sigma) + 0.5 * math.log(2 * math.pi) + 0.5 * z * z
    return (bce + positive * nll).mean()

batch, widths = 4096, [64, 512, 512, 256]
layers = []
for a, b in zip(widths, widths[1:]):
    layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
layers.append(torch.nn.Linear(widths[-1], 3))
net = torch.nn.Sequential(*layers).to(dev)
opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
x = torch.randn(batch, widths[0], device=dev)
y = torch.where(torch.rand(batch, device=dev) < 0.5, torch.exp(3 + torch.randn(batch, device=dev)), torch.zeros(batch, device=dev))

def step():
    opt.zero_grad(set_to_none=True)
    ziln_loss(net(x), y).backward()
    opt.step()

for _ in range(3):
    step()
torch.cuda.synchronize(dev)
steps, t = 0, time.perf_counter()
while steps < 3 or time.perf_counter() - t < 3:
    step(); steps += 1
torch.cuda.synchronize(dev)
el = time.perf_counter() - t
out.append({"name": "train step (MLP+ZILN, AdamW)", "shape": "64-512-512-256-3 batch 4096",
            "value": steps * batch / el, "unit": "samples/s", "ms_per_iter": el * 1e3 / steps})
print(json.dumps({"peer": f"PyTorch {torch.__version__} eager, cuBLAS fp32 (TF32 off), CUDA {torch.version.cuda}",
                  "device": torch.cuda.get_device_name(dev), "bench": out}, indent=2))
PY
  [ $? -eq 0 ] || echo "{\"skipped\": \"PyTorch peer failed: see peer.stderr\"}" >"$out/peer.json"
else
  echo "gpu-check: no PyTorch with CUDA on this host: peer skipped" >&2
  echo '{"skipped": "no python3 with torch.cuda.is_available()"}' >"$out/peer.json"
fi

# --- the results table (python3's standard library when present)
if command -v python3 >/dev/null 2>&1; then
  python3 - "$out" <<'PY' >"$out/results.md"
import json, os, sys
out = sys.argv[1]
def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except Exception as e:
        return {"error": str(e)}
st, peer = load("selftest.json"), load("peer.json")
print(f"# cohort GPU check\n\ncohort: {st.get('detail', st.get('error'))}\n")
print(f"peer: {peer.get('peer', peer.get('skipped', peer.get('error')))}\n")
print("## Benchmarks\n")
print("| benchmark | shape | cohort | peer | cohort/peer |\n|---|---|---|---|---|")
pb = {b["name"]: b for b in peer.get("bench", [])}
for b in st.get("bench") or []:
    p = pb.get(b["name"])
    ratio = f"{b['value'] / p['value']:.2f}x" if p and p["value"] > 0 else "-"
    pv = f"{p['value']:.1f} {p['unit']}" if p else "-"
    print(f"| {b['name']} | {b['shape']} | {b['value']:.1f} {b['unit']} | {pv} | {ratio} |")
checks = st.get("checks") or []
bad = [c for c in checks if not c["ok"]]
print(f"\n## Self-test\n\n{len(checks) - len(bad)} of {len(checks)} kernel checks passed (bound {st.get('bound')}, seed {st.get('seed')}).\n")
worst = {}
for c in checks:
    worst[c["op"]] = max(worst.get(c["op"], 0), c["max_rel_err"])
print("| kernel | worst relative error |\n|---|---|")
for op, e in worst.items():
    print(f"| {op} | {e:.2e} |")
for c in bad:
    print(f"\nFAILED: {c['op']} {c['shape']}: error {c['max_rel_err']:.2e}, {c['unwritten']} outputs unwritten")
PY
else
  "$bin" selftest --device "$dev" --bench >"$out/results.md" 2>&1
fi
if [ $# -eq 3 ]; then
  echo "" >>"$out/results.md"
  echo "Conformance suite (kernels/cuda tests): $( [ $conformance_rc -eq 0 ] && echo passed || echo "FAILED, see conformance.txt")" >>"$out/results.md"
fi
cat "$out/results.md"
[ $selftest_rc -eq 0 ] && [ $conformance_rc -eq 0 ]
