"""Data-parallel training and distributed evaluation on MPI: real `mpiexec -n 2` jobs of
tests/distributed_worker.py compared with the single-process run on the whole batch; the split step at world
size 1 against the fused step; failures (SIGKILL of a rank, during a checkpoint write) and `slimir launch
--max-restarts`; the errors for what is not supported."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from slimir.runtime import distributed as dist
from slimir.runtime.checkpoint.saver import Saver, latest_checkpoint
from slimir.runtime.launch import find_mpiexec, mpiexec_command
from slimir.runtime.split_step import SplitStep

import slimir as slim
from slimir.errors import InvalidArgumentError

HERE = Path(__file__).resolve().parent
WORKER = HERE / "distributed_worker.py"
_spec = importlib.util.spec_from_file_location("distributed_worker", WORKER)
W = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(W)


def _mpiexec():
    try:
        import mpi4py  # noqa: F401

        return find_mpiexec()
    except Exception:
        return None


MPIEXEC = _mpiexec()
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="mpi4py/mpiexec not installed (pip install 'slimir[mpi]')")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
           SLIMIR_LAUNCH_ATTEMPT="0", PYTHONUNBUFFERED="1")


def _mpirun(case, outdir, *args, timeout=120):
    cmd = [MPIEXEC, "-n", "2", "--bind-to", "none", sys.executable, str(WORKER), case, str(outdir), *map(str, args)]
    start = time.time()
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    return proc, time.time() - start


def _ranks(outdir, case):
    return [dict(np.load(Path(outdir) / f"{case}-rank{r}.npz")) for r in range(2)]


def _assert_close(ref: dict, got: dict, prefix: str = "", atol=1e-6, skip=()):
    assert ref, "nothing to compare"
    for k, v in ref.items():
        if k in skip:
            continue
        np.testing.assert_allclose(got[prefix + k], v, rtol=0, atol=atol, err_msg=prefix + k)


# ------------------------------------------------------------------------------------------ in one process


@pytest.mark.parametrize("opt_name", sorted(W.OPTIMIZERS))
def test_split_step_equals_fused_step_bitwise_at_world_size_1(opt_name):
    results = []
    for split in (False, True):
        g, x, y, train_op, sync = W.build(opt_name, True, 0.5, 1 if split else 0)
        sess = slim.Session(graph=g, allow_spinning=False, intra_op_num_threads=1)
        with g.as_default():
            sess.run(slim.global_variables_initializer())
            step = SplitStep(sess, sync) if split else None
            losses = []
            for i in range(4):
                xb, yb = W.data(i)
                feed = {x: xb, y: yb}
                losses.append(step.step(feed) if split else sess.run(train_op, feed))
        results.append(({k: np.array(sess.variable_value(v)) for k, v in W.variables(g).items()}, losses))
    (fused, l_fused), (split, l_split) = results
    assert set(fused) == set(split) and len(fused) > 6
    for k in fused:
        assert np.array_equal(fused[k], split[k]), k
    assert np.array_equal(np.array(l_fused, np.float32), np.array(l_split, np.float32))


def test_init_without_mpiexec_is_world_of_one(monkeypatch):
    for k in dist._MPI_ENV:
        monkeypatch.delenv(k, raising=False)
    comm = slim.distributed.init()
    assert (comm.rank, comm.size, comm.is_chief) == (0, 1, True)
    buf = np.arange(4, dtype=np.float32)
    comm.allreduce_(buf)
    comm.broadcast_(buf)
    assert buf.tolist() == [0, 1, 2, 3] and comm.allgather_obj("h") == ["h"]
    with pytest.raises(InvalidArgumentError, match="C-contiguous"):
        comm.allreduce_(np.zeros((4, 4), np.float32)[:, 0])


class _FakeWorld(dist.LocalCommunicator):
    size = 2


def test_unsupported_settings_raise_clear_errors():
    with pytest.raises(InvalidArgumentError, match="backup workers"):
        slim.train.SyncReplicasOptimizer(slim.train.GradientDescentOptimizer(0.1), 1, 2)
    with pytest.raises(InvalidArgumentError, match="variable_averages"):
        slim.train.SyncReplicasOptimizer(slim.train.GradientDescentOptimizer(0.1), 2, 2, variable_averages=object())
    g, x, y, train_op, sync = W.build("sgd", False, 0.0, 2)
    with g.as_default():
        with pytest.raises(ValueError, match="startup_delay_steps"):
            slim.learning.train(train_op, None, number_of_steps=1, master=dist.LocalCommunicator(),
                                sync_optimizer=sync, startup_delay_steps=5)
        with pytest.raises(dist.DistributedError, match="total_num_replicas=2.*1 process"):
            slim.learning.train(train_op, None, number_of_steps=1, master=dist.LocalCommunicator(),
                                sync_optimizer=sync)
        with pytest.raises(InvalidArgumentError, match="parameter servers"):
            slim.learning.train(train_op, None, number_of_steps=1, master="grpc://ps0:2222", sync_optimizer=sync)
        with pytest.raises(InvalidArgumentError, match="no master was given"):
            slim.learning.train(train_op, None, number_of_steps=1, sync_optimizer=sync)
    g, x, y, train_op, _ = W.build("sgd", False, 0.0, 0)
    with g.as_default(), pytest.raises(InvalidArgumentError, match="asynchronous .*not support"):
        slim.learning.train(train_op, None, number_of_steps=1, master=_FakeWorld())


def test_launcher_command_line(tmp_path):
    if MPIEXEC is None:
        pytest.skip("no mpiexec")
    cmd = mpiexec_command(2, ["python", "t.py"], hostfile=str(tmp_path / "hosts"))
    assert cmd[1:3] == ["-n", "2"] and cmd[-2:] == ["python", "t.py"]
    assert "--hostfile" in cmd and "--oversubscribe" not in cmd
    assert cmd[cmd.index("--bind-to") + 1] == "none"  # Open MPI wheel: binding made all-reduces 10x slower
    with pytest.raises(slim.errors.SlimirError, match="not an executable"):
        find_mpiexec(str(tmp_path / "nope"))
    with pytest.raises(slim.errors.SlimirError, match="no command"):
        mpiexec_command(2, [])


# ------------------------------------------------------------------------------------------ mpiexec -n 2


@needs_mpi
def test_two_ranks_equal_one_process_on_the_whole_batch(tmp_path):
    proc, _ = _mpirun("train", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = _ranks(tmp_path, "train")
    assert r0.keys() == r1.keys()
    for k in r0:  # the replicas stay bitwise identical
        assert np.array_equal(r0[k], r1[k]), k
    for name in W.OPTIMIZERS:  # regularisation and clip_gradient_norm=0.5 (clipped after the all-reduce)
        ref = W.train_case(name, False, 0.5, None, None)
        assert ref["global_step"] == W.STEPS
        _assert_close(ref, r0, f"{name}/")
    # batch norm (is_training): halves with the whole batch's moments give the whole batch's gradients;
    # the moving variance uses each rank's unbiased (n/(n-1)) variance: n = 8 per rank instead of 16
    ref = W.train_case("momentum", True, 0.5, None, None, twin=True)
    _assert_close(ref, r0, "bn/", skip=("fc1/BatchNorm/moving_variance",))
    d = 0.9 ** W.STEPS  # moving_variance starts at 1
    expect = d + (ref["fc1/BatchNorm/moving_variance"] - d) * (8 / 7) / (16 / 15)
    np.testing.assert_allclose(r0["bn/fc1/BatchNorm/moving_variance"], expect, rtol=0, atol=1e-6)
    # one step on different halves: the averaged moving mean is the whole batch's
    ref = W.train_case("momentum", True, 0.0, None, None, steps=1)
    np.testing.assert_allclose(r0["bn1/fc1/BatchNorm/moving_mean"], ref["fc1/BatchNorm/moving_mean"], atol=1e-6)
    assert np.abs(ref["fc1/BatchNorm/moving_mean"]).max() > 1e-3
    # update_ops='chief': the moving statistics are rank 0's (as model_deploy's first clone)
    ref = W.train_case("momentum", True, 0.0, None, None, steps=1, first_half=True)
    for k in ("fc1/BatchNorm/moving_mean", "fc1/BatchNorm/moving_variance"):
        np.testing.assert_allclose(r0["bnchief/" + k], ref[k], rtol=0, atol=1e-6, err_msg=k)
    # DatasetDataProvider(num_shards=2, shard_index=rank) + slim.train.batch, no feed_dict
    ref = W.provider_case(None)
    assert ref["global_step"] == 4
    _assert_close(ref, r0, "provider/")


@needs_mpi
def test_only_the_chief_writes_and_its_restore_is_broadcast(tmp_path):
    logdir = tmp_path / "logdir"
    W.train_case("adam", False, 0.0, str(logdir), None, steps=3, save_every_step=True)  # one process: step 3
    assert latest_checkpoint(str(logdir)).endswith("-3")
    refdir = tmp_path / "ref"
    shutil.copytree(logdir, refdir)
    before = sorted(os.listdir(logdir))
    proc, _ = _mpirun("chief_io", tmp_path, logdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = _ranks(tmp_path, "chief_io")
    ref = W.train_case("adam", False, 0.0, str(refdir), None, steps=W.STEPS, save_every_step=True)
    assert ref["global_step"] == W.STEPS
    for r in (r0, r1):  # rank 1 never read the checkpoint: it got the chief's restored values
        _assert_close(ref, r)
    w0 = json.loads((tmp_path / "writes-rank0.json").read_text())
    w1 = json.loads((tmp_path / "writes-rank1.json").read_text())
    assert w1 == [], f"rank 1 wrote into logdir: {w1[:5]}"
    assert any(p.endswith(".safetensors") for _, p in w0)
    assert any("events.out.tfevents" in p for _, p in w0)  # the chief's summaries
    assert sorted(os.listdir(logdir)) != before and latest_checkpoint(str(logdir)).endswith(f"-{W.STEPS}")


@needs_mpi
def test_sigkill_of_a_rank_ends_the_job_quickly(tmp_path):
    logdir = tmp_path / "logdir"  # through `slimir launch` without restarts: it reports the failure
    env = {k: v for k, v in ENV.items() if k != "SLIMIR_LAUNCH_ATTEMPT"}
    cmd = [sys.executable, "-m", "slimir", "launch", "-n", "2", "--max-restarts", "0", "--",
           sys.executable, str(WORKER), "kill", str(tmp_path), str(logdir)]
    start = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    elapsed = time.time() - start
    assert proc.returncode != 0 and "giving up" in proc.stderr, proc.stderr[-2000:]
    assert elapsed < 20, f"the job took {elapsed:.1f} s to end after rank 1 was killed"
    assert not (tmp_path / "kill-rank0.npz").exists()
    ckpt = latest_checkpoint(str(logdir))  # the chief's last complete checkpoint is there and readable
    assert ckpt is not None and int(ckpt.rsplit("-", 1)[1]) <= 3
    reader = slim.train.CheckpointReader(ckpt)
    assert reader.get_tensor("fc1/weights").shape == (8, 16)


@needs_mpi
def test_an_exception_on_one_rank_aborts_the_job(tmp_path):
    proc, elapsed = _mpirun("raise", tmp_path, timeout=60)  # rank 0 is waiting in the all-reduce
    assert proc.returncode != 0 and elapsed < 20
    assert "input failure on rank 1 at step 2" in proc.stderr


@needs_mpi
def test_the_end_of_one_ranks_input_stops_every_rank(tmp_path):
    proc, elapsed = _mpirun("uneven", tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = _ranks(tmp_path, "uneven")
    ref = W.train_case("momentum", False, 0.5, None, None, steps=3)
    for r in (r0, r1):
        assert r["global_step"] == 3
        _assert_close(ref, r)


@needs_mpi
def test_launch_max_restarts_resumes_to_the_uninterrupted_result(tmp_path):
    logdir = tmp_path / "logdir"
    env = {k: v for k, v in ENV.items() if k != "SLIMIR_LAUNCH_ATTEMPT"}
    cmd = [sys.executable, "-m", "slimir", "launch", "-n", "2", "--max-restarts", "1", "--",
           sys.executable, str(WORKER), "kill", str(tmp_path), str(logdir)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "attempt 0 ended with status" in proc.stderr and "relaunching" in proc.stderr
    r0, r1 = _ranks(tmp_path, "kill")
    ref = W.train_case("momentum", False, 0.5, None, None)
    assert ref["global_step"] == W.STEPS
    for r in (r0, r1):
        _assert_close(ref, r)


@needs_mpi
def test_sigkill_during_a_checkpoint_write_leaves_the_previous_one(tmp_path):
    logdir = tmp_path / "logdir"
    proc, elapsed = _mpirun("kill_save", tmp_path, logdir, timeout=60)
    assert proc.returncode != 0 and elapsed < 20
    ckpt = latest_checkpoint(str(logdir))
    assert ckpt is not None and ckpt.endswith("-2"), ckpt  # the 3rd save was killed before its rename
    g, x, y, train_op, _ = W.build("momentum", False, 0.0, 0)
    with g.as_default():
        sess = slim.Session(graph=g)
        sess.run(slim.global_variables_initializer())
        Saver().restore(sess, ckpt)
        assert int(sess.run(slim.get_global_step())) == 2
        assert all(np.all(np.isfinite(sess.variable_value(v))) for v in W.variables(g).values())


@needs_mpi
def test_distributed_metrics_equal_one_process(tmp_path):
    proc, _ = _mpirun("eval", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = _ranks(tmp_path, "eval")
    ref = W.eval_case(None, str(tmp_path))
    assert set(ref) == {"accuracy", "mean_iou", "auc", "mean", "covariance", "pearson", "concat"}
    for k in ref:
        assert np.array_equal(r0[k], r1[k]), k
    for k in ("accuracy", "mean_iou", "auc"):  # sums of counts: exact
        assert r0[k] == ref[k], (k, r0[k], ref[k])
    for k in ("mean", "covariance", "pearson"):
        np.testing.assert_allclose(r0[k], ref[k], rtol=0, atol=1e-6, err_msg=k)
    assert 0.2 < ref["accuracy"] < 0.8 and 0.2 < ref["auc"] < 0.9 and abs(ref["covariance"]) > 1e-4
    assert r0["concat"].shape == (48,)  # ranks' parts in rank order: the same multiset as in one process
    assert np.array_equal(np.sort(r0["concat"]), np.sort(ref["concat"]))
    for k in ("accuracy", "mean_iou", "auc"):  # evaluation_loop over the same checkpoint
        assert r0["loop/" + k] == ref[k] and r1["loop/" + k] == ref[k], k
    assert len(list((tmp_path / "eval_logs").glob("events.out.tfevents*"))) == 1  # the chief's only


# ------------------------------------------------------------------------------------------ batch inference


def _double(pred, block):
    return pred.predict_array(block)


def test_onnx_predictor_pickles_and_runs_in_worker_processes(tmp_path):
    import multiprocessing
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    g = slim.Graph()
    with g.as_default():
        slim.set_random_seed(2)
        x = slim.placeholder(slim.float32, [None, 8], name="x")
        probs = slim.nn.softmax(slim.fully_connected(x, 3, activation_fn=None, scope="logits"), name="probs")
        sess = slim.Session(graph=g)
        sess.run(slim.global_variables_initializer())
        path = str(tmp_path / "m.onnx")
        slim.export_onnx([probs], path, inputs=[x], session=sess)
        data = np.random.default_rng(0).standard_normal((40, 8)).astype(np.float32)
        expect = sess.run(probs, {x: data})
    pred = slim.distributed.OnnxPredictor(path, input_names={"data": "x"})
    blob = pickle.dumps(pred)
    assert len(blob) < 1000  # path and options only: no session, no weights
    out = pred({"data": data, "id": np.arange(40)})  # Ray Data numpy batch: extra columns are ignored
    ((_, got),) = out.items()
    np.testing.assert_allclose(got, expect, atol=1e-6)
    np.testing.assert_allclose(pred.make_predict_fn()(data), expect, atol=1e-6)  # Spark predict_batch_udf
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:  # a fresh process each
        parts = list(ex.map(_double, [pred] * 4, np.split(data, 4)))  # shipped to spawned workers as the engines do
    np.testing.assert_allclose(np.concatenate(parts), expect, atol=1e-6)
    with pytest.raises(InvalidArgumentError, match="no column for model input"):
        pred({"other": data})
    with pytest.raises(InvalidArgumentError, match="no model file"):
        slim.distributed.OnnxPredictor(str(tmp_path / "missing.onnx"))


def test_torch_process_group_backend(tmp_path):
    pytest.importorskip("torch.distributed")
    env = dict(ENV, SLIMIR_TEST_BACKEND="torch", WORLD_SIZE="2", SLIMIR_TEST_INIT=f"file://{tmp_path}/store")
    procs = [subprocess.Popen([sys.executable, str(WORKER), "momentum", str(tmp_path)], env=dict(env, RANK=str(r)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
    r0, r1 = _ranks(tmp_path, "momentum")
    ref = W.train_case("momentum", False, 0.5, None, None)
    for r in (r0, r1):
        _assert_close(ref, r)
    assert all(np.array_equal(r0[k], r1[k]) for k in r0)


def test_gradient_graph_is_not_lowered_twice():
    """The gradient graph's fetches are the passes' rewritten gradients: the forward convolutions appear once,
    as in the fused step (lowering the pre-pass gradients computed the network a second time)."""
    from collections import Counter

    results = {}
    for split in (False, True):
        g = slim.Graph()
        with g.as_default():
            slim.set_random_seed(0)
            x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
            y = slim.placeholder(slim.int64, [None], name="y")
            net = slim.conv2d(x, 4, [3, 3], scope="conv1")
            net = slim.conv2d(net, 4, [3, 3], scope="conv2")
            logits = slim.fully_connected(slim.flatten(net), 3, activation_fn=None, scope="logits")
            slim.losses.sparse_softmax_cross_entropy(logits, y)
            opt = slim.train.MomentumOptimizer(0.1, 0.9)
            if split:
                opt = slim.train.SyncReplicasOptimizer(opt, 1, 1)
            train_op = slim.learning.create_train_op(slim.losses.get_total_loss(), opt)
            sess = slim.Session(graph=g)
            sess.run(slim.global_variables_initializer())
            feed = {x: np.ones((2, 8, 8, 3), np.float32), y: np.array([0, 1])}
            if split:
                step = SplitStep(sess, opt)
                step.step(feed)
                model = next(iter(step._compiled.values())).lowered.model
            else:
                sess.run(train_op, feed)
                model = [c for c in sess._cache.values() if c.sess is not None][-1].lowered.model
            results[split] = Counter(n.op_type for n in model.graph.node)
    assert results[True]["Conv"] == results[False]["Conv"] == 2
    assert results[True]["Relu"] == results[False]["Relu"]
