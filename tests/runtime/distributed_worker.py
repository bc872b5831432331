"""Worker run by tests/runtime/test_distributed.py under `mpiexec -n 2` (and, with world size 1, as the reference).

    python tests/runtime/distributed_worker.py CASE OUTDIR [ARGS...]

Every rank takes its slice of a deterministic global batch per global step, trains or evaluates through
slim.learning.train / slim.evaluation with master=slim.distributed.init(), and writes what it ended with
to OUTDIR/<case>-rank<r>.npz for the test to compare.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import numpy as np

import slimir as slim
from slimir.runtime.checkpoint.saver import latest_checkpoint

GLOBAL_BATCH = 16
STEPS = 6
OPTIMIZERS = {
    "sgd": lambda: slim.train.GradientDescentOptimizer(0.1),
    "momentum": lambda: slim.train.MomentumOptimizer(0.05, 0.9),
    "adam": lambda: slim.train.AdamOptimizer(0.01),
    "rmsprop": lambda: slim.train.RMSPropOptimizer(0.01, momentum=0.5),
}


def data(step: int, batch_norm_twin: bool = False):
    """The global batch of one step. With batch_norm_twin the second half is a permutation of the first
    (so each half has the whole batch's moments: batch norm then gives the whole batch's gradients)."""
    rng = np.random.default_rng(1000 + step)
    x = rng.standard_normal((GLOBAL_BATCH, 8)).astype(np.float32)
    y = rng.integers(0, 3, GLOBAL_BATCH).astype(np.int64)
    if batch_norm_twin:
        h = GLOBAL_BATCH // 2
        perm = rng.permutation(h)
        x[h:], y[h:] = x[:h][perm], y[:h][perm]
    return x, y


def build(opt_name: str, bn: bool, clip: float, world: int, update_ops: str = "mean"):
    """A small MLP with L2 regularisation; returns (graph, x, y, train_op, sync optimizer or None)."""
    g = slim.Graph()
    with g.as_default():
        slim.set_random_seed(7)
        x = slim.placeholder(slim.float32, [None, 8], name="x")
        y = slim.placeholder(slim.int64, [None], name="y")
        with slim.arg_scope([slim.fully_connected], weights_regularizer=slim.l2_regularizer(1e-2)):
            net = slim.fully_connected(x, 16, scope="fc1", normalizer_fn=slim.batch_norm if bn else None,
                                       normalizer_params={"is_training": True, "decay": 0.9} if bn else None)
            logits = slim.fully_connected(net, 3, activation_fn=None, scope="logits")
        slim.losses.sparse_softmax_cross_entropy(logits, y)
        slim.summary.scalar("total_loss", slim.losses.get_total_loss())
        opt = OPTIMIZERS[opt_name]()
        sync = None
        if world:
            opt = sync = slim.train.SyncReplicasOptimizer(opt, world, world, update_ops=update_ops)
        train_op = slim.learning.create_train_op(slim.losses.get_total_loss(), opt, clip_gradient_norm=clip)
    return g, x, y, train_op, sync


def variables(g) -> dict:
    return {v.op.name: v for v in g.get_collection(slim.GraphKeys.GLOBAL_VARIABLES)}


def train_case(opt_name, bn, clip, logdir, comm, steps=STEPS, twin=False, kill_at=None, save_every_step=False,
               session_out=None, raise_at=None, end_at=None, update_ops="mean", first_half=False):
    """Train on this rank's slices (comm None: one process on whole batches, the fused step)."""
    world = comm.size if comm is not None else 0
    rank = comm.rank if comm is not None else 0
    g, x, y, train_op, sync = build(opt_name, bn, clip, world, update_ops)
    ckpt = latest_checkpoint(logdir) if logdir else None
    state = {"step": int(ckpt.rsplit("-", 1)[1]) if ckpt else 0}
    per = GLOBAL_BATCH // (world or (2 if first_half else 1))  # first_half: one process on rank 0's slice

    def feed_fn():
        if kill_at is not None and state["step"] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if raise_at is not None and state["step"] == raise_at:
            raise RuntimeError(f"input failure on rank {rank} at step {raise_at}")
        if end_at is not None and state["step"] == end_at:
            raise slim.errors.OutOfRangeError(f"rank {rank}'s input ended")
        xb, yb = data(state["step"], twin)
        state["step"] += 1
        return {x: xb[rank * per:(rank + 1) * per], y: yb[rank * per:(rank + 1) * per]}

    from slimir.runtime.session import Session

    sess = Session(graph=g, allow_spinning=False, intra_op_num_threads=1)
    slim.learning.train(train_op, logdir, number_of_steps=steps, feed_fn=feed_fn, master=comm if world else "",
                        sync_optimizer=sync, session=sess, log_every_n_steps=0, save_summaries_secs=1e9,
                        save_interval_secs=1e-9 if save_every_step else 1e9,
                        train_step_kwargs={"replica_check_every_n_steps": 2})
    if session_out is not None:
        session_out.append(sess)
    return {k: np.array(sess.variable_value(v)) for k, v in variables(g).items()}


def provider_case(comm, steps=4):
    """Training fed by a DatasetDataProvider sharded by rank and slim.train.batch (no feed_dict): rank k reads
    examples i % size == k, so one global step sees the same 16 examples as one process with batch 16."""
    from slimir.data import Dataset, DatasetDataProvider, DictDecoder, NumpyReader

    world = comm.size if comm is not None else 0
    rng = np.random.default_rng(11)
    arrays = {"x": rng.standard_normal((32, 8)).astype(np.float32), "y": rng.integers(0, 3, 32).astype(np.int64)}
    ds = Dataset(arrays, NumpyReader, DictDecoder(["x", "y"]), 32, {"x": "features", "y": "class"})
    g = slim.Graph()
    with g.as_default():
        slim.set_random_seed(7)
        shard = {"num_shards": comm.size, "shard_index": comm.rank} if world else {}
        provider = DatasetDataProvider(ds, num_readers=1, shuffle=False, **shard)
        x, y = provider.get(["x", "y"])
        xb, yb = slim.train.batch([x, y], batch_size=GLOBAL_BATCH // (world or 1), num_threads=1)
        logits = slim.fully_connected(xb, 3, activation_fn=None, scope="logits")
        slim.losses.sparse_softmax_cross_entropy(logits, yb)
        opt = slim.train.MomentumOptimizer(0.1, 0.9)
        sync = None
        if world:
            opt = sync = slim.train.SyncReplicasOptimizer(opt, world, world)
        train_op = slim.learning.create_train_op(slim.losses.get_total_loss(), opt)
        from slimir.runtime.session import Session

        sess = Session(graph=g, allow_spinning=False, intra_op_num_threads=1)
        slim.learning.train(train_op, None, number_of_steps=steps, master=comm if world else "", sync_optimizer=sync,
                            session=sess, log_every_n_steps=0)
        out = {k: np.array(sess.variable_value(v)) for k, v in variables(g).items()}
        sess.close()
    return out


def audit_writes(root: str) -> list:
    """Record every attempt of this process to create, open for writing, rename or remove under `root`."""
    root = os.path.realpath(root)
    seen: list = []

    def under(p) -> bool:
        try:
            return os.path.realpath(os.fsdecode(p)).startswith(root)
        except (TypeError, ValueError):
            return False

    def hook(event, args):
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            mode, flags = args[1], args[2] if len(args) > 2 else 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if writing and under(args[0]):
                seen.append(("open", os.fsdecode(args[0])))
        elif event in ("os.mkdir", "os.rename", "os.remove", "tempfile.mkstemp", "os.makedirs") and args \
                and under(args[0]):
            seen.append((event, os.fsdecode(args[0])))

    sys.addaudithook(hook)
    return seen


def kill_during_save(save_index: int) -> None:
    """SIGKILL this process when it renames its `save_index`-th checkpoint file into place (data written)."""
    count = {"n": 0}

    def hook(event, args):
        if event == "os.rename" and len(args) > 1 and str(args[1]).endswith(".safetensors"):
            count["n"] += 1
            if count["n"] == save_index:
                os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)


def eval_case(comm, outdir, loop=False):
    """accuracy, mean_iou, AUC, mean, covariance and concat of a fixed checkpoint, batches split by rank."""
    g = slim.Graph()
    with g.as_default():
        slim.set_random_seed(3)
        x = slim.placeholder(slim.float32, [None, 8], name="x")
        y = slim.placeholder(slim.int64, [None], name="y")
        logits = slim.fully_connected(x, 3, activation_fn=None, scope="logits")
        probs = slim.nn.softmax(logits)
        pred = slim.argmax(logits, 1)
        pos = slim.cast(slim.equal(y, 1), slim.float32)
        names_to_values, names_to_updates = slim.metrics.aggregate_metric_map({
            "accuracy": slim.metrics.streaming_accuracy(pred, y),
            "mean_iou": slim.metrics.streaming_mean_iou(pred, y, 3),
            "auc": slim.metrics.streaming_auc(probs[:, 1], pos),
            "mean": slim.metrics.streaming_mean(probs[:, 0]),
            "covariance": slim.metrics.streaming_covariance(probs[:, 1], pos),
            "pearson": slim.metrics.streaming_pearson_correlation(probs[:, 2], x[:, 0]),
        })
        slim.summary.scalar("eval/accuracy", names_to_values["accuracy"])
        concat, concat_update = slim.metrics.streaming_concat(pred, max_size=64)
        names_to_values["concat"] = concat
        names_to_updates["concat"] = concat_update
        ckpt_dir = os.path.join(outdir, "eval_ckpt")
        rng = np.random.default_rng(5)
        X = rng.standard_normal((6, 8, 8)).astype(np.float32)  # 6 batches of 8
        X[:, :, 0] += 0.5 * rng.standard_normal((6, 8)).astype(np.float32)
        Y = rng.integers(0, 3, (6, 8)).astype(np.int64)
        world = comm.size if comm is not None else 1
        rank = comm.rank if comm is not None else 0
        mine = list(range(rank, 6, world))  # strided shards of the batches
        it = iter(mine)

        def feed_fn():
            i = next(it)
            return {x: X[i], y: Y[i]}

        master = comm if comm is not None else ""
        if loop:  # evaluation_loop: every rank evaluates the checkpoint the chief picked
            final = slim.evaluation.evaluation_loop(master, ckpt_dir, os.path.join(outdir, "eval_logs"), num_evals=6,
                                                    eval_op=list(names_to_updates.values()),
                                                    final_op=names_to_values, feed_fn=feed_fn, eval_interval_secs=0,
                                                    timeout=1,  # ends when the chief sees no new checkpoint
                                                    summary_op=slim.summary.merge_all())
        else:
            final = slim.evaluation.evaluate_once(master, ckpt_dir, None, num_evals=6,
                                                  eval_op=list(names_to_updates.values()),
                                                  final_op=names_to_values, feed_fn=feed_fn)
    return {k: np.asarray(v) for k, v in final.items()}


def make_eval_checkpoint(outdir):
    g = slim.Graph()
    with g.as_default():
        slim.set_random_seed(3)
        x = slim.placeholder(slim.float32, [None, 8], name="x")
        slim.fully_connected(x, 3, activation_fn=None, scope="logits")
        slim.get_or_create_global_step()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            slim.train.Saver().save(sess, os.path.join(outdir, "eval_ckpt", "model.ckpt"), global_step=3)


def main(argv):
    case, outdir = argv[1], argv[2]
    if os.environ.get("SLIMIR_TEST_BACKEND") == "torch":  # a gloo process group instead of MPI
        import torch.distributed as tdist

        tdist.init_process_group("gloo", init_method=os.environ["SLIMIR_TEST_INIT"],
                                 rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"]))
        comm = slim.distributed.init("torch")
    else:
        comm = slim.distributed.init()
    rank = comm.rank
    out = {}
    if case == "train":  # every optimizer, regularisation and clipping; batch norm; a sharded data provider
        for name in OPTIMIZERS:
            res = train_case(name, False, 0.5, None, comm)
            out.update({f"{name}/{k}": v for k, v in res.items()})
        res = train_case("momentum", True, 0.5, None, comm, twin=True)
        out.update({f"bn/{k}": v for k, v in res.items()})
        res = train_case("momentum", True, 0.0, None, comm, steps=1)  # distinct halves: moving stats averaged
        out.update({f"bn1/{k}": v for k, v in res.items()})
        out.update({f"provider/{k}": v for k, v in provider_case(comm).items()})
        res = train_case("momentum", True, 0.0, None, comm, steps=1, update_ops="chief")
        out.update({f"bnchief/{k}": v for k, v in res.items()})
    elif case == "momentum":
        out.update(train_case("momentum", False, 0.5, None, comm))
    elif case == "provider":
        out.update(provider_case(comm))
    elif case == "chief_io":  # logdir holds a checkpoint of step 3: restore on the chief, broadcast, train on
        logdir = argv[3]
        seen = audit_writes(logdir)
        sessions = []
        res = train_case("adam", False, 0.0, logdir, comm, steps=STEPS, save_every_step=True, session_out=sessions)
        out.update(res)
        with open(os.path.join(outdir, f"writes-rank{rank}.json"), "w") as f:
            json.dump(seen, f)
    elif case == "kill":  # rank 1 is SIGKILLed at global step 3 on the first attempt
        logdir = argv[3]
        first = os.environ.get("SLIMIR_LAUNCH_ATTEMPT", "0") == "0"
        kill_at = 3 if (rank == 1 and first) else None
        out.update(train_case("momentum", False, 0.5, logdir, comm, save_every_step=True, kill_at=kill_at))
    elif case == "uneven":  # rank 1's input ends after 3 batches, rank 0's does not: both stop at step 3
        out.update(train_case("momentum", False, 0.5, None, comm, end_at=3 if rank == 1 else None))
    elif case == "raise":  # rank 1's input raises at step 2 while rank 0 waits in the all-reduce
        train_case("momentum", False, 0.0, None, comm, raise_at=2 if rank == 1 else None)
    elif case == "kill_save":  # the chief is SIGKILLed while it writes its 3rd checkpoint
        logdir = argv[3]
        if rank == 0:
            kill_during_save(3)
        train_case("momentum", False, 0.0, logdir, comm, save_every_step=True)
    elif case == "eval":
        if rank == 0 and not os.path.exists(os.path.join(outdir, "eval_ckpt")):
            make_eval_checkpoint(outdir)
        comm.barrier()
        out.update(eval_case(comm, outdir))
        out.update({f"loop/{k}": v for k, v in eval_case(comm, outdir, loop=True).items()})
    else:
        raise SystemExit(f"unknown case {case!r}")
    np.savez(os.path.join(outdir, f"{case}-rank{rank}.npz"), **out)
    if os.environ.get("SLIMIR_TEST_BACKEND") == "torch":
        # tear the gloo group down before exit: left to the interpreter's shutdown, its threads were seen
        # to abort the process ("terminate called without an active exception") after the results were saved
        import torch.distributed as tdist

        tdist.barrier()
        tdist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv)
