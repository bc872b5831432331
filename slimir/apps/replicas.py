"""research/slim's distributed-training flags of `slimir train` mapped onto MPI data parallelism under `slimir launch
-n N`: checking the flags on every rank, agreeing that every rank built its graph, and the step count every rank
can run for --num_epochs."""

from __future__ import annotations

from slimir.runtime import distributed

from .flags import JobError, TrainFlags


def _replica_problem(f: TrainFlags, rank: int, size: int) -> str | None:
    """What is wrong with the distributed flags for this process (rank of a world of size), or None."""
    launch = f"slimir launch -n {f.worker_replicas or 2} -- slimir train ... --sync_replicas"
    if f.num_clones != 1:
        return (f"--num_clones {f.num_clones}: model_deploy clones (several devices in one process) are not "
                "supported; run one process per device with `slimir launch -n N -- slimir train ... "
                "--sync_replicas` (synchronous data-parallel over MPI), --num_clones 1")
    if f.num_ps_tasks:
        return (f"--num_ps_tasks {f.num_ps_tasks}: parameter servers are not supported; slimir trains "
                "synchronous data-parallel over MPI (all-reduce): `slimir launch -n N -- slimir train ... "
                "--sync_replicas` with --num_ps_tasks 0")
    if f.master not in ("", "local", "mpi"):
        return (f"--master {f.master!r}: TensorFlow servers are not supported; leave --master out (under "
                "`slimir launch` / mpiexec the MPI world is the cluster)")
    if f.clone_on_cpu and f.device == "cuda":
        return "--clone_on_cpu with --device cuda: choose one (--clone_on_cpu means --device cpu)"
    if f.worker_replicas is not None and f.worker_replicas != size:
        how = (f"start it with `{launch}`" if size == 1
               else f"leave --worker_replicas out or make it {size}")
        return (f"--worker_replicas {f.worker_replicas} but this job has {size} process(es) (the MPI world "
                f"size); {how}")
    if f.task is not None and f.task != rank:
        return (f"--task {f.task} but this process is rank {rank} of {size}: under slimir launch the task "
                "index is the MPI rank; leave --task out")
    if size > 1 and not f.sync_replicas:
        return (f"{size} processes without --sync_replicas would be asynchronous (parameter-server) training, "
                f"which slimir does not support; add --sync_replicas (the gradients of all {size} replicas "
                "are averaged every step)")
    if f.replicas_to_aggregate is not None and f.replicas_to_aggregate != size:
        return (f"--replicas_to_aggregate {f.replicas_to_aggregate} with {size} process(es): slimir aggregates "
                f"every replica's gradients each step (no backup workers); leave it out or make it {size}")
    return None


def _replicas(f: TrainFlags):
    """The MPI world (slim.distributed.init(): size 1 when not launched by mpiexec) after checking the
    distributed flags on every rank; a problem on any rank raises the same JobError on all of them."""
    comm = distributed.init("mpi")
    problem = _replica_problem(f, comm.rank, comm.size)
    if comm.size == 1:
        if problem:
            raise JobError(problem)
        return comm
    problems = comm.allgather_obj(problem)
    bad = [(r, p) for r, p in enumerate(problems) if p]
    if bad:
        _raise_agreed(comm, bad[0][1] if bad[0][0] == 0 else f"rank {bad[0][0]}: {bad[0][1]}")
    return comm


def _raise_agreed(comm, message: str):
    """Raise the error every rank agreed on; only the chief prints it (the others exit quietly, status 2)."""
    e = JobError(message)
    e.quiet = not comm.is_chief
    raise e


def _steps_every_rank_can_run(f: TrainFlags, num_samples: int, size: int) -> int | None:
    """With --num_epochs, the global steps after which the smallest shard runs out (every rank must run the
    same number of steps: a rank at the end of its input would leave the others waiting in the all-reduce)."""
    if f.num_epochs is None:
        return f.max_number_of_steps
    fewest = min(len(range(k, num_samples, size)) for k in range(size))
    steps = fewest * f.num_epochs // f.batch_size
    if steps < 1:
        raise JobError(f"--num_epochs {f.num_epochs}: each of the {size} shards of {num_samples} examples gives "
                       f"fewer than one batch of {f.batch_size}")
    return steps if f.max_number_of_steps is None else min(steps, f.max_number_of_steps)


def _agree(comm, state: dict) -> None:
    """Every rank built its graph (or reports why not): the point after which a failure aborts the job."""
    problems = comm.allgather_obj(None)
    state["agreed"] = True
    bad = [(r, p) for r, p in enumerate(problems) if p]
    if bad:
        r, p = bad[0]
        try:
            _raise_agreed(comm, f"rank {r}: {p}")
        except JobError as e:
            e.agreed = True
            raise
