"""Checkpoint reliability: a training process SIGKILLed at random moments while it saves a checkpoint every
step never leaves logdir without a complete, loadable latest checkpoint; damaged or foreign files given to
restore raise clear slimir errors (never unpickled, sizes checked before allocating)."""

import os
import pickle
import random
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import slimir as slim
from slimir.errors import CheckpointError, SlimirError
from slimir.runtime.checkpoint.assign import assign_from_checkpoint_fn

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURE = SHARED / "fixtures" / "tfslim_tiny"

ROUNDS = 15

MODEL = '''
import sys
import numpy as np
import slimir as slim


def model():
    x = slim.placeholder(slim.float32, [None, 64], name="x")
    y = slim.placeholder(slim.int64, [None], name="y")
    net = slim.fully_connected(x, 512, scope="fc1")
    net = slim.fully_connected(net, 512, scope="fc2")
    logits = slim.fully_connected(net, 2, activation_fn=None, scope="logits")
    return x, y, logits
'''

CHILD = MODEL + '''

if __name__ == "__main__":
    logdir, steps = sys.argv[1], int(sys.argv[2])
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        x, y, logits = model()
        rng = np.random.default_rng()

        def batches():
            while True:
                xb = rng.standard_normal((16, 64)).astype(np.float32)
                yield xb, (xb[:, 0] > 0).astype(np.int64)

        slim.inputs.bind([x, y], batches())
        slim.losses.sparse_softmax_cross_entropy(logits, y)
        train_op = slim.learning.create_train_op(slim.losses.get_total_loss(),
                                                 slim.train.MomentumOptimizer(0.01, 0.9))
        # a checkpoint (about 2.4 MB with the Momentum slots) after every step
        slim.learning.train(train_op, logdir, number_of_steps=steps, save_interval_secs=1e-9,
                            save_summaries_secs=1e9, log_every_n_steps=0)
'''


def _expected_shapes():
    shapes = {"fc1/weights": [64, 512], "fc1/biases": [512], "fc2/weights": [512, 512], "fc2/biases": [512],
              "logits/weights": [512, 2], "logits/biases": [2]}
    out = dict(shapes)
    out.update({k + "/Momentum": v for k, v in shapes.items()})
    out["global_step"] = []
    return out


def _spawn(script, logdir, steps):
    return subprocess.Popen([sys.executable, str(script), logdir, str(steps)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _tmp_files(d):
    return sorted(f for f in os.listdir(d) if f.startswith(".tmp"))


def _check_complete(logdir, sess, saver, variables, min_step):
    """latest_checkpoint names a complete checkpoint: every variable, right shapes, finite values, a step
    that never goes back; every checkpoint the state file lists loads; Saver.restore works."""
    state = slim.train.get_checkpoint_state(logdir)
    assert state is not None
    latest = slim.train.latest_checkpoint(logdir)
    assert latest is not None and latest == state.model_checkpoint_path, (latest, sorted(os.listdir(logdir)))
    assert not os.path.basename(latest).startswith(".tmp")
    for path in state.all_model_checkpoint_paths:
        reader = slim.train.CheckpointReader(path)
        assert dict(reader.list_variables()) == _expected_shapes(), path
        for name, _ in reader.list_variables():
            assert np.all(np.isfinite(reader.get_tensor(name))), (path, name)
    step = int(slim.train.load_variable(latest, "global_step"))
    assert latest.endswith(f"-{step}") and step >= min_step, (latest, step, min_step)
    saver.restore(sess, latest)
    for v in variables:
        got = sess.variable_value(v)
        assert list(got.shape) == list(v.shape) and np.all(np.isfinite(got))
    np.testing.assert_array_equal(sess.variable_value(variables[0]),
                                  slim.train.load_variable(latest, variables[0].op.name))
    named = {os.path.basename(p) for p in state.all_model_checkpoint_paths}
    assert not any(t in named for t in _tmp_files(logdir))
    return step


def test_sigkill_while_saving_never_leaves_a_broken_latest_checkpoint(tmp_path):
    script = tmp_path / "train_child.py"
    script.write_text(textwrap.dedent(CHILD))
    logdir = str(tmp_path / "logdir")
    rng = random.Random(20240601)
    # the same graph in this process, to restore each latest checkpoint into
    ns: dict = {}
    exec(compile(textwrap.dedent(MODEL), "model", "exec"), ns)
    graph = slim.Graph()
    with graph.as_default():
        _, y, logits = ns["model"]()
        slim.losses.sparse_softmax_cross_entropy(logits, y)
        slim.learning.create_train_op(slim.losses.get_total_loss(), slim.train.MomentumOptimizer(0.01, 0.9))
        variables = slim.global_variables()
        saver = slim.train.Saver()
        sess = slim.Session(graph=graph)
    last_step, kills, torn = 0, 0, 0
    t0 = time.time()
    for round_ in range(ROUNDS):
        before = slim.train.latest_checkpoint(logdir) if os.path.isdir(logdir) else None
        tmp_before = set(_tmp_files(logdir)) if os.path.isdir(logdir) else set()
        proc = _spawn(script, logdir, 10 ** 9)
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:  # until it saves in this round
            if os.path.isdir(logdir) and slim.train.latest_checkpoint(logdir) not in (None, before):
                break
            time.sleep(0.01)
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        time.sleep(rng.uniform(0.0, 0.3))  # then a random moment: mostly inside a save
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        kills += 1
        torn += bool(set(_tmp_files(logdir)) - tmp_before)  # killed inside a write
        with graph.as_default():
            last_step = _check_complete(logdir, sess, saver, variables, last_step)
    # a last, uninterrupted run resumes from what the kills left (temp files included) and finishes
    proc = _spawn(script, logdir, last_step + 3)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-3000:]
    with graph.as_default():
        final = _check_complete(logdir, sess, saver, variables, last_step)
    assert final == last_step + 3
    sess.close()
    assert kills == ROUNDS
    print(f"{kills} kills in {time.time() - t0:.1f} s, {torn} of them inside a file write (a temp file left "
          f"behind); final step {final}")


# ----------------------------------------------------------------------------- damaged and foreign files


@pytest.fixture()
def saved(tmp_path):
    with slim.Graph().as_default() as g:
        v = slim.variable("a/v", shape=[200, 100])
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            prefix = slim.train.Saver().save(sess, str(tmp_path / "model"))
            original = sess.variable_value(v).copy()
    return tmp_path, prefix, Path(prefix + ".safetensors").read_bytes(), original, g


def _header_len(data):
    return struct.unpack("<Q", data[:8])[0]


def _damaged(data):
    n = _header_len(data)
    header = bytearray(data[8:8 + n])
    return {
        "truncated-data": data[:len(data) - 100],
        "truncated-header": data[:20],
        "empty": b"",
        "huge-header-length": struct.pack("<Q", 2 ** 60) + data[8:],
        "garbage-header": data[:8] + b"\xff" * 50 + data[58:],
        "header-offsets-past-the-end": data[:8] + bytes(header).replace(b'"data_offsets":[0,80000]',
                                                                         b'"data_offsets":[0,99999]') + data[8 + n:],
        "random-bytes": np.random.default_rng(0).bytes(5000),
        "pickle": pickle.dumps({"a/v": np.zeros((200, 100), np.float32)}),
        "text": b"model_checkpoint_path: \"x\"\n",
    }


@pytest.mark.parametrize("kind", list(_damaged(struct.pack("<Q", 2) + b"{}" + b"\0" * 16)))
def test_damaged_or_foreign_safetensors_files_are_clear_errors(saved, kind, monkeypatch):
    tmp_path, prefix, data, original, g = saved
    bad = tmp_path / f"{kind}.safetensors"
    bad.write_bytes(_damaged(data)[kind])

    def no_pickle(*a, **k):
        raise AssertionError("a checkpoint must never be unpickled")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    with g.as_default():
        v = slim.get_unique_variable("a/v")
        with slim.Session() as sess:
            sess.set_variable_value(v, original)
            for path in (str(bad)[:-len(".safetensors")], str(bad)):
                with pytest.raises(CheckpointError) as info:
                    slim.train.Saver().restore(sess, path)
                assert f"{kind}.safetensors" in str(info.value)
                with pytest.raises(CheckpointError):
                    assign_from_checkpoint_fn(path, [v])(sess)
            np.testing.assert_array_equal(sess.variable_value(v), original)  # nothing was half-loaded


def test_huge_header_length_is_refused_before_allocating(saved):
    tmp_path, prefix, data, original, g = saved
    bad = tmp_path / "huge.safetensors"
    bad.write_bytes(struct.pack("<Q", 2 ** 62) + data[8:])
    t0 = time.time()
    with pytest.raises(CheckpointError, match="huge.safetensors"):
        slim.train.CheckpointReader(str(bad))
    assert time.time() - t0 < 1.0


def test_non_checkpoint_paths_are_clear_errors(tmp_path, saved):
    _, _, _, _, g = saved
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "emptydir").mkdir()
    with g.as_default():
        v = slim.get_unique_variable("a/v")
        with slim.Session() as sess:
            for path in (str(tmp_path / "notes.txt"), str(tmp_path / "missing"), str(tmp_path / "emptydir")):
                with pytest.raises(SlimirError) as info:
                    slim.train.Saver().restore(sess, path)
                assert os.path.basename(path) in str(info.value)
            with pytest.raises(CheckpointError, match="no complete checkpoint"):
                assign_from_checkpoint_fn(str(tmp_path / "emptydir"), [v])
            with pytest.raises(CheckpointError, match="None"):
                slim.train.Saver().restore(sess, None)


def _tiny_copy(tmp_path, name, mutate):
    d = tmp_path / name
    shutil.copytree(FIXTURE, d)
    mutate(d)
    return str(d / "model.ckpt")


def _truncate(rel, frac):
    def m(d):
        p = d / rel
        p.write_bytes(p.read_bytes()[:int(p.stat().st_size * frac)])
    return m


def _flip(rel, frac):
    def m(d):
        p = d / rel
        b = bytearray(p.read_bytes())
        b[int(len(b) * frac)] ^= 0xFF
        p.write_bytes(bytes(b))
    return m


DATA = "model.ckpt.data-00000-of-00001"


@pytest.mark.parametrize("name,mutate,expect", [
    ("data-truncated", _truncate(DATA, 0.5), "truncated"),
    ("data-bitflip", _flip(DATA, 0.3), "CRC32C mismatch"),
    ("data-missing", lambda d: os.unlink(d / DATA), "no such file"),
    ("index-bitflip", _flip("model.ckpt.index", 0.2), "corrupt"),
    ("index-truncated", _truncate("model.ckpt.index", 0.5), "model.ckpt.index"),
    ("index-empty", _truncate("model.ckpt.index", 0.0), "model.ckpt.index"),
])
def test_damaged_tf_checkpoints_are_clear_errors(tmp_path, name, mutate, expect):
    if not FIXTURE.is_dir():
        pytest.skip(f"shared fixtures folder {FIXTURE} is absent")
    prefix = _tiny_copy(tmp_path, name, mutate)
    with slim.Graph().as_default():
        variables = [slim.variable(n, shape=s) for n, s in [
            ("tiny_net/conv1/weights", [5, 5, 3, 8]), ("tiny_net/fc4/weights", [288, 32]),
            ("tiny_net/logits/weights", [32, 10])]]
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            before = [sess.variable_value(v).copy() for v in variables]
            with pytest.raises(CheckpointError) as info:
                assign_from_checkpoint_fn(prefix, variables)(sess)
            assert expect in str(info.value) and name in str(info.value), str(info.value)
            for v, b in zip(variables, before):  # all or nothing: no variable was half-restored
                np.testing.assert_array_equal(sess.variable_value(v), b)
            with pytest.raises(CheckpointError):
                slim.train.Saver(variables).restore(sess, prefix)
