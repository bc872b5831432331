"""A checkpoint directory nobody can trick into losing work (issue 17): the `checkpoint` state file is not
trusted blindly (paths outside the directory are never deleted), a missing or damaged newest checkpoint is a
warning and a fallback (never a silent fresh start), one training run per directory (a lock), stale temp
files are cleaned up, and a full disk is one clear error naming the file, the step and the last good
checkpoint."""

import errno
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from pathlib import Path

import numpy as np
import pytest

import slimir as slim
from slimir.errors import CheckpointError, FailedPreconditionError

# ------------------------------------------------------------------------------------------------ helpers


def _model():
    """A logistic regression on 4 one-hot inputs, trained by gradient descent (a checkpoint of 2 variables
    and the global step)."""
    x = slim.constant(np.eye(4, dtype=np.float32))
    y = slim.constant(np.array([[0], [1], [0], [1]], np.float32))
    predictions = slim.fully_connected(x, 1, activation_fn=slim.sigmoid)
    slim.losses.log_loss(predictions, y)
    return slim.learning.create_train_op(slim.losses.get_total_loss(), slim.train.GradientDescentOptimizer(0.5))


def _train(logdir, steps, **kwargs):
    """Train _model in logdir until global step `steps`, saving after every step; returns the global steps
    each train step started from (the first one is where the run resumed)."""
    seen = []

    def step_fn(sess, train_op, global_step, kw):
        seen.append(int(sess.run(global_step)))
        return slim.learning.train_step(sess, train_op, global_step, kw)

    with slim.Graph().as_default():
        slim.set_random_seed(0)
        train_op = _model()
        slim.learning.train(train_op, str(logdir), number_of_steps=steps, save_interval_secs=1e-9,
                            save_summaries_secs=1e9, log_every_n_steps=0, train_step_fn=step_fn, **kwargs)
    return seen


def _files(d):
    """{name: bytes} of the checkpoint files in d."""
    return {p.name: p.read_bytes() for p in Path(d).glob("*.safetensors")}


def _steps(d):
    """The global steps of the model.ckpt-<step> files in d, in order."""
    names = [p.name for p in Path(d).glob("model.ckpt-*.safetensors")]
    return sorted(int(n[len("model.ckpt-"):-len(".safetensors")]) for n in names)


def _write_state(d, newest, listed):
    lines = [f'model_checkpoint_path: "{newest}"'] + [f'all_model_checkpoint_paths: "{p}"' for p in listed]
    (Path(d) / "checkpoint").write_text("\n".join(lines) + "\n")


def _warnings(caplog):
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


# ----------------------------------------------------------------------- 1. paths outside the directory


def test_a_state_file_listing_another_runs_checkpoint_never_gets_it_deleted(tmp_path, caplog):
    other, run = tmp_path / "other_run", tmp_path / "run"
    _train(other, 3)
    other_files = _files(other)
    _train(run, 2)
    # hand-edited (or copied, or hostile): the other run's checkpoint is listed first, the first to rotate away
    _write_state(run, "model.ckpt-2", ["../other_run/model.ckpt-3", "model.ckpt-1", "model.ckpt-2"])
    with caplog.at_level(logging.WARNING, logger="slimir"):
        seen = _train(run, 14)  # 12 more saves with max_to_keep=5
    assert seen[0] == 2
    assert _files(other) == other_files  # nothing outside run/ was deleted or changed
    assert "other_run/model.ckpt-3" in _warnings(caplog)
    state = slim.train.get_checkpoint_state(str(run))
    assert all(os.path.dirname(p) == str(run) for p in state.all_model_checkpoint_paths), state
    assert _steps(run) == list(range(10, 15))


def test_a_newest_checkpoint_outside_the_directory_by_a_relative_path_is_ignored(tmp_path, caplog):
    other, run = tmp_path / "other_run", tmp_path / "run"
    _train(other, 3)
    other_files = _files(other)
    _train(run, 2)
    _write_state(run, "../other_run/model.ckpt-3", ["model.ckpt-1", "model.ckpt-2", "../other_run/model.ckpt-3"])
    with caplog.at_level(logging.WARNING, logger="slimir"):
        seen = _train(run, 10)
    assert seen[0] == 2  # resumed from this directory's newest, not from the other run's step 3
    assert "other_run/model.ckpt-3" in _warnings(caplog)
    assert _files(other) == other_files


def test_an_absolute_path_written_on_purpose_is_restored_but_never_deleted(tmp_path):
    pretrained, run = tmp_path / "pretrained", tmp_path / "run"
    _train(pretrained, 3)
    files = _files(pretrained)
    run.mkdir()
    _write_state(run, str(pretrained / "model.ckpt-3"), [str(pretrained / "model.ckpt-3")])
    seen = _train(run, 12)
    assert seen[0] == 3  # restored from there, as TF does
    assert _files(pretrained) == files  # and never rotated away
    assert _steps(run) == list(range(8, 13))


def test_saver_rotation_deletes_only_its_own_files_in_its_directory(tmp_path, caplog):
    d, outside = tmp_path / "run", tmp_path / "elsewhere"
    d.mkdir()
    outside.mkdir()
    for p in (outside / "model-7.safetensors", d / "notes.safetensors"):
        p.write_bytes(b"keep me")
    with slim.Graph().as_default():
        slim.variable("v", initializer=np.ones(3, np.float32))
        saver = slim.train.Saver(max_to_keep=1)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            saver.set_last_checkpoints([str(outside / "model-7"), str(d / "notes")])
            with caplog.at_level(logging.WARNING, logger="slimir"):
                saver.save(sess, str(d / "model"), global_step=1)
                saver.save(sess, str(d / "model"), global_step=2)
    assert (outside / "model-7.safetensors").read_bytes() == b"keep me"
    assert (d / "notes.safetensors").read_bytes() == b"keep me"
    assert not (d / "model-1.safetensors").exists()  # its own files still rotate
    assert (d / "model-2.safetensors").exists()
    assert "model-7" in _warnings(caplog) and "notes" in _warnings(caplog)


def test_saver_rotation_still_deletes_what_it_wrote_itself_elsewhere(tmp_path):
    with slim.Graph().as_default():
        slim.variable("v", initializer=np.ones(3, np.float32))
        saver = slim.train.Saver(max_to_keep=1)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            first = saver.save(sess, str(tmp_path / "a" / "first"), global_step=1)
            saver.save(sess, str(tmp_path / "b" / "second"), global_step=2)
    assert not os.path.exists(first + ".safetensors")  # as TF: this Saver wrote it
    assert (tmp_path / "b" / "second-2.safetensors").exists()


# --------------------------------------------------------------- 2. a missing or damaged newest checkpoint


def test_a_missing_newest_checkpoint_falls_back_and_overwrites_nothing(tmp_path, caplog):
    run = tmp_path / "run"
    _train(run, 5)
    os.unlink(run / "model.ckpt-5.safetensors")  # removed by hand, or a copy that missed it
    older = {k: v for k, v in _files(run).items() if k != "model.ckpt-4.safetensors"}
    with caplog.at_level(logging.WARNING, logger="slimir"):
        seen = _train(run, 12)
    assert seen[0] == 4, seen  # the newest complete listed checkpoint, not a fresh start at step 0
    assert "model.ckpt-5" in _warnings(caplog)
    now = _files(run)
    for name, data in older.items():  # never overwritten nor rotated away: this run did not write them
        assert now.get(name) == data, name
    assert slim.train.latest_checkpoint(str(run)) == str(run / "model.ckpt-12")
    assert int(slim.train.load_variable(str(run), "global_step")) == 12


def test_a_damaged_newest_checkpoint_falls_back_and_is_kept(tmp_path, caplog):
    run = tmp_path / "run"
    _train(run, 5)
    newest = run / "model.ckpt-5.safetensors"
    torn = newest.read_bytes()[:100]
    newest.write_bytes(torn)
    older = {k: v for k, v in _files(run).items() if k not in ("model.ckpt-4.safetensors", newest.name)}
    with caplog.at_level(logging.WARNING, logger="slimir"):
        seen = _train(run, 9)
    assert seen[0] == 4
    assert "model.ckpt-5" in _warnings(caplog)
    kept = [p for p in run.iterdir() if p.is_file() and p.read_bytes() == torn]
    assert kept, "the damaged checkpoint was overwritten"
    for name, data in older.items():
        assert _files(run).get(name) == data, name
    assert int(slim.train.load_variable(str(run), "global_step")) == 9


def test_a_state_file_naming_something_that_is_not_a_checkpoint(tmp_path, caplog):
    run = tmp_path / "run"
    _train(run, 3)
    _write_state(run, "/etc/passwd", ["model.ckpt-1", "model.ckpt-2", "model.ckpt-3"])
    with caplog.at_level(logging.WARNING, logger="slimir"):
        seen = _train(run, 5)
    assert seen[0] == 3  # a warning and the newest complete checkpoint listed
    assert "/etc/passwd" in _warnings(caplog)
    # only /etc/passwd: a clear error, not a silent fresh start that saves over the directory
    alone = tmp_path / "alone"
    alone.mkdir()
    _write_state(alone, "/etc/passwd", ["/etc/passwd"])
    (alone / "model.ckpt-2.safetensors").write_bytes(b"not a checkpoint either")
    with pytest.raises(CheckpointError) as info:
        _train(alone, 5)
    assert "/etc/passwd" in str(info.value) and str(alone) in str(info.value)
    assert sorted(set(os.listdir(alone)) - {".slimir-train.lock"}) == ["checkpoint", "model.ckpt-2.safetensors"]
    assert (alone / "model.ckpt-2.safetensors").read_bytes() == b"not a checkpoint either"


def test_a_state_file_whose_checkpoints_are_all_gone_starts_fresh_with_a_warning(tmp_path, caplog):
    run = tmp_path / "run"
    run.mkdir()
    _write_state(run, "model.ckpt-9", ["model.ckpt-8", "model.ckpt-9"])
    with caplog.at_level(logging.WARNING, logger="slimir"):
        seen = _train(run, 2)
    assert seen[0] == 0
    assert "model.ckpt-9" in _warnings(caplog) and "from scratch" in _warnings(caplog)


def test_latest_checkpoint_warns_about_a_missing_newest_checkpoint(tmp_path, caplog):
    run = tmp_path / "run"
    _train(run, 2)
    os.unlink(run / "model.ckpt-2.safetensors")
    with caplog.at_level(logging.WARNING, logger="slimir"):
        assert slim.train.latest_checkpoint(str(run)) is None
    assert "model.ckpt-2" in _warnings(caplog)


# ------------------------------------------------------------------------- 6. a non-UTF-8 state file


def test_a_non_utf8_state_file_is_a_checkpoint_error_naming_it(tmp_path):
    (tmp_path / "checkpoint").write_bytes(b'model_checkpoint_path: "model.ckpt-\xff3"\n')
    for fn in (slim.train.get_checkpoint_state, slim.train.latest_checkpoint):
        with pytest.raises(CheckpointError) as info:
            fn(str(tmp_path))
        assert str(tmp_path / "checkpoint") in str(info.value)


def test_training_falls_back_past_a_non_utf8_state_file(tmp_path, caplog):
    run = tmp_path / "run"
    _train(run, 3)
    (run / "checkpoint").write_bytes(b'model_checkpoint_path: "model.ckpt-\xff3"\n')
    with caplog.at_level(logging.WARNING, logger="slimir"):
        seen = _train(run, 5)
    assert seen[0] == 3
    assert str(run / "checkpoint") in _warnings(caplog)
    assert slim.train.latest_checkpoint(str(run)) == str(run / "model.ckpt-5")


# ----------------------------------------------------------------------------- 4. stale temp files


def test_a_save_removes_stale_temp_files_of_its_own_naming(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        old = time.time() - 3 * 3600
        stale = {f".tmp-{dead.pid}-abcd1234": None,  # its writer was killed
                 f".tmp-{os.getpid()}-efgh5678": old,  # this pid, but older than this process: a reused pid
                 ".tmp-ijkl9012": old}  # the naming before pids, hours old
        kept = {f".tmp-{alive.pid}-mnop3456": None,  # a writer that is still running
                f".tmp-{os.getpid()}-qrst7890": None,  # a write of this process in progress
                ".tmp-uvwx1234": None,  # old naming, written just now
                ".tmp-notes.txt": old, "tmp-12-abcdefgh": old}  # not the Saver's naming
        for name, mtime in {**stale, **kept}.items():
            p = tmp_path / name
            p.write_bytes(b"x" * 1000)
            if mtime is not None:
                os.utime(p, (mtime, mtime))
        with slim.Graph().as_default():
            slim.variable("v", initializer=np.ones(3, np.float32))
            with slim.Session() as sess:
                sess.run(slim.global_variables_initializer())
                slim.train.Saver().save(sess, str(tmp_path / "model"), global_step=1)
        left = set(os.listdir(tmp_path))
        assert not left & set(stale), left & set(stale)
        assert set(kept) <= left, set(kept) - left
    finally:
        alive.kill()
        alive.wait()


# ------------------------------------------------------------------------------------- 5. disk full


def _failing_fsync(monkeypatch, fail_from, err=errno.ENOSPC):
    """os.fsync raising `err` from its `fail_from`-th call on (a full disk shows up at write or fsync)."""
    real, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) >= fail_from:
            raise OSError(err, os.strerror(err))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("fail_on", ["data", "state"])
def test_a_full_disk_during_save_names_the_file_the_step_and_the_intact_checkpoint(tmp_path, monkeypatch,
                                                                                   fail_on):
    with slim.Graph().as_default():
        slim.variable("v", initializer=np.ones(3, np.float32))
        saver = slim.train.Saver()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            first = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=1)
            state = (tmp_path / "checkpoint").read_text()
            # fsync calls of a save: data file, its folder, state file, its folder
            _failing_fsync(monkeypatch, 1 if fail_on == "data" else 3)
            with pytest.raises(CheckpointError) as info:
                saver.save(sess, str(tmp_path / "model.ckpt"), global_step=2)
    e = info.value
    assert isinstance(e, OSError) and e.errno == errno.ENOSPC
    text = str(e)
    target = "model.ckpt-2.safetensors" if fail_on == "data" else str(tmp_path / "checkpoint")
    assert target in text and "global step 2" in text and "No space left on device" in text, text
    assert f"{first} is intact" in text, text
    assert (tmp_path / "checkpoint").read_text() == state
    assert slim.train.latest_checkpoint(str(tmp_path)) == first
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]
    assert saver.last_checkpoints == [first]


def test_a_full_disk_during_training_is_one_error_not_two_chained_tracebacks(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _train(run, 2)
    _failing_fsync(monkeypatch, 1)  # from the next save on
    with pytest.raises(CheckpointError) as info:
        _train(run, 6)
    e = info.value
    text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    assert text.count("Traceback (most recent call last)") == 1, text
    assert "During handling" not in text and "direct cause" not in text, text
    assert "model.ckpt-3.safetensors" in str(e) and "global step 3" in str(e), str(e)
    assert f"{run / 'model.ckpt-2'} is intact" in str(e), str(e)
    monkeypatch.undo()
    assert slim.train.latest_checkpoint(str(run)) == str(run / "model.ckpt-2")


@pytest.mark.slow
def test_slimir_train_past_a_file_size_limit_prints_one_error_line(tmp_path):
    """`slimir train` with RLIMIT_FSIZE below the size of a LeNet checkpoint: a first run (no limit) saves
    step 1; the second run's save fails with one `slimir: error:` line naming the file, the step and the
    intact checkpoint of step 1."""
    resource = pytest.importorskip("resource")
    train_dir = tmp_path / "train"
    argv = [sys.executable, "-m", "slimir", "train", "--model_name=lenet", "--dataset_name=digits",
            f"--train_dir={train_dir}", "--batch_size=4", "--log_every_n_steps=1", "--num_readers=1",
            "--num_preprocessing_threads=1", "--device=cpu"]
    r = subprocess.run(argv + ["--max_number_of_steps=1"], capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    limit = 2 * 1024 * 1024  # the checkpoint is about 40 MB; events and logs stay far below

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = subprocess.run(argv + ["--max_number_of_steps=3", "--save_interval_secs=0"], capture_output=True,
                       text=True, timeout=300, preexec_fn=limit_file_size, check=False)
    assert r.returncode == 2, (r.returncode, r.stderr[-3000:])
    errors = [line for line in r.stderr.splitlines() if line.startswith("slimir: error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
    line = errors[0]
    assert "model.ckpt-" in line and "global step" in line and "File too large" in line, line
    assert f"{train_dir / 'model.ckpt-1'} is intact" in line, line
    assert slim.train.latest_checkpoint(str(train_dir)) == str(train_dir / "model.ckpt-1")
    assert not [f for f in os.listdir(train_dir) if f.startswith(".tmp")]


# ------------------------------------------------------------------------------ 3. one run per directory


def test_a_second_training_run_in_the_same_directory_and_process_is_refused(tmp_path):
    run = tmp_path / "run"
    inner = []

    def step_fn(sess, train_op, global_step, kw):
        if not inner:
            with pytest.raises(FailedPreconditionError) as info:
                _train(run, 3)
            inner.append(str(info.value))
        return slim.learning.train_step(sess, train_op, global_step, kw)

    with slim.Graph().as_default():
        slim.learning.train(_model(), str(run), number_of_steps=2, train_step_fn=step_fn, log_every_n_steps=0)
    assert str(run) in inner[0] and f"pid {os.getpid()}" in inner[0], inner
    assert _train(run, 4)[0] == 2  # released at the end: the next run resumes


def test_the_lock_is_released_when_training_fails(tmp_path):
    run = tmp_path / "run"

    def failing_step(sess, train_op, global_step, kw):
        raise RuntimeError("a failing step")

    with slim.Graph().as_default(), pytest.raises(RuntimeError, match="a failing step"):
        slim.learning.train(_model(), str(run), number_of_steps=2, train_step_fn=failing_step)
    assert _train(run, 2) == [0, 1]


HOLDER = '''
import os, sys, time
import numpy as np
import slimir as slim

logdir, started, release = sys.argv[1:4]
with slim.Graph().as_default():
    x = slim.constant(np.eye(4, dtype=np.float32))
    y = slim.constant(np.array([[0], [1], [0], [1]], np.float32))
    slim.losses.log_loss(slim.fully_connected(x, 1, activation_fn=slim.sigmoid), y)
    train_op = slim.learning.create_train_op(slim.losses.get_total_loss(), slim.train.GradientDescentOptimizer(0.5))

    def step_fn(sess, train_op, global_step, kw):
        out = slim.learning.train_step(sess, train_op, global_step, kw)
        open(started, "w").close()
        t0 = time.time()
        while not os.path.exists(release) and time.time() - t0 < 120:
            time.sleep(0.05)
        return out

    slim.learning.train(train_op, logdir, number_of_steps=2, train_step_fn=step_fn, log_every_n_steps=0)
'''


@pytest.mark.slow
def test_a_second_training_process_is_refused_and_a_killed_ones_lock_is_taken_over(tmp_path, caplog):
    run, started, release = tmp_path / "run", tmp_path / "started", tmp_path / "release"
    script = tmp_path / "holder.py"
    script.write_text(textwrap.dedent(HOLDER))
    proc = subprocess.Popen([sys.executable, str(script), str(run), str(started), str(release)],
                            stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not started.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert started.exists(), proc.stderr.read().decode()[-3000:]
        with pytest.raises(FailedPreconditionError) as info:
            _train(run, 5)
        assert str(run) in str(info.value) and f"pid {proc.pid}" in str(info.value), str(info.value)
        assert not (run / "model.ckpt-5.safetensors").exists()
        os.kill(proc.pid, signal.SIGKILL)  # killed while it holds the lock: the lock is stale
        proc.wait()
        with caplog.at_level(logging.WARNING, logger="slimir"):
            seen = _train(run, 5)
        assert seen[0] in (0, 1)
        assert f"pid {proc.pid}" in _warnings(caplog)
    finally:
        release.touch()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stderr.close()
