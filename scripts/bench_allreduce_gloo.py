#!/usr/bin/python3
"""PyTorch gloo peer of cohort's BenchmarkGRPCRing (allreduce/bench_test.go).

Starts --ranks processes with torch.multiprocessing, joins them with
torch.distributed (backend gloo, TCP rendezvous on 127.0.0.1), and times
all_reduce(SUM) of one float32 tensor of --mib MiB after --warmup untimed
calls. Prints one JSON line: the mean seconds per call (slowest rank),
algorithm and bus bandwidth as nccl-tests define them (busbw = algbw *
2(n-1)/n), and the CPU seconds all ranks spent per call. Run by
scripts/bench-allreduce.sh, which sets OMP_NUM_THREADS=1 before Python
starts.
"""
import argparse
import json
import os
import resource
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def worker(rank, args, port, results):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=args.ranks)
    x = torch.zeros(args.mib * (1 << 20) // 4, dtype=torch.float32)
    for _ in range(args.warmup):
        dist.all_reduce(x)
    dist.barrier()
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    for _ in range(args.iters):
        dist.all_reduce(x)
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    results.put((rank, elapsed, cpu))
    dist.barrier()
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    args = ap.parse_args()

    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.start_processes(worker, args=(args, free_port(), results), nprocs=args.ranks, join=True,
                       start_method="spawn")
    got = [results.get() for _ in range(args.ranks)]
    sec = max(e for _, e, _ in got) / args.iters
    alg = args.mib * (1 << 20) / sec / 1e9
    n = args.ranks
    print(json.dumps({
        "torch": torch.__version__,
        "ranks": n,
        "mib": args.mib,
        "iters": args.iters,
        "sec_per_op": sec,
        "alg_gbps": alg,
        "bus_gbps": alg * 2 * (n - 1) / n,
        "cpu_s_per_op": sum(c for _, _, c in got) / args.iters,
    }))


if __name__ == "__main__":
    main()
