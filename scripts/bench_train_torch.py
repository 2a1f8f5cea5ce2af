#!/usr/bin/python3
"""PyTorch peer of cohort's BenchmarkTrainStep (model/bench_test.go).

Times one training step -- forward, ZILN loss, backward, AdamW -- of the same
MLP (inputs-hidden...-3, ReLU) on one resident batch of random data, and
prints one JSON line with the throughput. Run by scripts/bench-train.sh, which
sets OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and OMP_WAIT_POLICY before Python
starts, as the thread pools read them at import time.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F


def ziln_loss(logits, labels):
    """Mean zero-inflated lognormal loss, as in google/lifetime_value."""
    positive = (labels > 0).to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits[:, 0], positive, reduction="none")
    mu = logits[:, 1]
    sigma = torch.clamp(F.softplus(logits[:, 2]), min=math.sqrt(1e-7))
    log_y = torch.log(torch.where(labels > 0, labels, torch.ones_like(labels)))
    z = (log_y - mu) / sigma
    nll = log_y + torch.log(sigma) + 0.5 * math.log(2 * math.pi) + 0.5 * z * z
    return (bce + positive * nll).mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--inputs", type=int, default=64)
    ap.add_argument("--hidden", default="512,512,256")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(1)

    widths = [args.inputs] + [int(h) for h in args.hidden.split(",")]
    layers = []
    for a, b in zip(widths, widths[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(widths[-1], 3))
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)

    x = torch.randn(args.batch, args.inputs)
    y = torch.where(torch.rand(args.batch) < 0.5,
                    torch.exp(3 + torch.randn(args.batch)), torch.zeros(args.batch))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = ziln_loss(net(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    elapsed = time.perf_counter() - start
    print(json.dumps({
        "threads": args.threads,
        "torch": torch.__version__,
        "steps": args.steps,
        "seconds": elapsed,
        "samples_per_s": args.steps * args.batch / elapsed,
    }))


if __name__ == "__main__":
    main()
