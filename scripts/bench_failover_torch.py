#!/usr/bin/python3
"""PyTorch peer of cohort's worker failover (scripts/bench-failover.sh).

Run under torchrun (python3 -m torch.distributed.run). Trains the MLP of
cohort train's default (--inputs 32, --hidden 128,64, 3 outputs, ZILN loss,
AdamW lr 1e-3, weight decay 1e-4) data-parallel with gloo DDP on random data
the size of the synthetic shop's training rows, with a global minibatch of
--batch split evenly over the ranks, as cohort's replicas split each global
minibatch. After each epoch it computes the validation loss over --val rows
(sharded, summed with all_reduce), as cohort does, and rank 0 prints one line:

    epoch N restart R time T loss L

T is time.time() when the epoch completed and R is TORCHELASTIC_RESTART_COUNT.
Like a training script without checkpoints of its own, every (re)start begins
at epoch 1 with fresh weights: that is what torchrun's restart gives you.
The caller sets OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and OMP_WAIT_POLICY
before Python starts, as the thread pools read them at import time.
"""
import argparse
import math
import os
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel


def ziln_loss(logits, labels, reduction="mean"):
    """Zero-inflated lognormal loss, as in google/lifetime_value."""
    positive = (labels > 0).to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits[:, 0], positive, reduction="none")
    mu = logits[:, 1]
    sigma = torch.clamp(F.softplus(logits[:, 2]), min=math.sqrt(1e-7))
    log_y = torch.log(torch.where(labels > 0, labels, torch.ones_like(labels)))
    z = (log_y - mu) / sigma
    nll = log_y + torch.log(sigma) + 0.5 * math.log(2 * math.pi) + 0.5 * z * z
    loss = bce + positive * nll
    return loss.sum() if reduction == "sum" else loss.mean()


def synthetic(rows, inputs, seed):
    """Random features and ZILN-shaped labels: about 40% zero, the rest lognormal."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, inputs, generator=g)
    spend = torch.exp(3 + torch.randn(rows, generator=g))
    y = torch.where(torch.rand(rows, generator=g) < 0.6, spend, torch.zeros(rows))
    return x, y


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=13992, help="training rows")
    ap.add_argument("--val", type=int, default=3002, help="validation rows")
    ap.add_argument("--inputs", type=int, default=32)
    ap.add_argument("--hidden", default="128,64")
    ap.add_argument("--batch", type=int, default=512, help="global minibatch")
    ap.add_argument("--epochs", type=int, default=12)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))

    # Every rank builds the same data and the same initial weights.
    x, y = synthetic(args.rows, args.inputs, seed=1)
    vx, vy = synthetic(args.val, args.inputs, seed=2)
    torch.manual_seed(1)
    widths = [args.inputs] + [int(h) for h in args.hidden.split(",")]
    layers = []
    for a, b in zip(widths, widths[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(widths[-1], 3))
    net = DistributedDataParallel(torch.nn.Sequential(*layers))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)

    for epoch in range(1, args.epochs + 1):
        # The same permutation on every rank; each takes every world-th row
        # of the global minibatch, so DDP's gradient mean is the global one.
        perm = torch.randperm(args.rows, generator=torch.Generator().manual_seed(epoch))
        net.train()
        for start in range(0, args.rows, args.batch):
            idx = perm[start:start + args.batch][rank::world]
            opt.zero_grad(set_to_none=True)
            ziln_loss(net(x[idx]), y[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            part = torch.tensor([ziln_loss(net.module(vx[rank::world]), vy[rank::world], "sum").item(),
                                 float(vy[rank::world].numel())], dtype=torch.float64)
        dist.all_reduce(part)
        if rank == 0:
            print("epoch %d restart %d time %.6f loss %.4f"
                  % (epoch, restart, time.time(), part[0] / part[1]), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
