"""slim.evaluation: evaluate_once (restore read-only, reset the metrics, run eval_op num_evals times, final_op,
summaries at the checkpoint's global step), checkpoints_iterator / wait_for_new_checkpoint, and
evaluation_loop following a concurrent learning.train; the seed README's evaluation-loop snippet."""

import hashlib
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import slimir as slim
from slimir.errors import CheckpointError, InvalidArgumentError
from slimir.runtime import evaluation
from slimir.crc32c import masked_crc32c

try:  # slim.metrics (graph-built streaming metrics); a local streaming mean stands in when absent
    import slimir.metrics as metrics
except ImportError:  # pragma: no cover - only before slimir/metrics.py exists
    metrics = None

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURE = SHARED / "fixtures" / "tfslim_tiny"


def _streaming_mean(values):
    """(value, update) of the mean of `values`: slim.metrics.streaming_mean, or a local equivalent."""
    if metrics is not None:
        return metrics.streaming_mean(values)
    total = slim.local_variable(0.0, name="mean/total")
    count = slim.local_variable(0.0, name="mean/count")
    n = slim.cast(slim.reduce_sum(slim.ones_like(values)), slim.float32)
    new_total, new_count = total + slim.reduce_sum(values), count + n
    update = slim.group(slim.assign(total, new_total), slim.assign(count, new_count))
    with slim.control_dependencies([update]):
        update_value = slim.identity(new_total / new_count)
    return total / count, update_value


def _events(logdir):
    """[(step, tag, value)] of the scalar summaries in logdir's event files (TFRecord framing)."""
    from tensorboardX.proto import event_pb2

    out = []
    if not os.path.isdir(logdir):
        return out
    for name in sorted(os.listdir(logdir)):
        if "tfevents" not in name:
            continue
        data = Path(logdir, name).read_bytes()
        i = 0
        while i + 12 <= len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            if i + 12 + n + 4 > len(data):
                break  # a record still being written
            header_crc, = struct.unpack("<I", data[i + 8:i + 12])
            data_crc, = struct.unpack("<I", data[i + 12 + n:i + 16 + n])
            assert header_crc == masked_crc32c(data[i:i + 8]) and data_crc == masked_crc32c(data[i + 12:i + 12 + n])
            ev = event_pb2.Event()
            ev.ParseFromString(data[i + 12:i + 12 + n])
            for v in ev.summary.value:
                out.append((ev.step, v.tag, v.simple_value))
            i += 12 + n + 4
    return out


def _digest(directory):
    return {name: hashlib.sha256(Path(directory, name).read_bytes()).hexdigest()
            for name in sorted(os.listdir(directory))
            if not name.startswith("events.") and os.path.isfile(os.path.join(directory, name))}


def _save(tmp_path, w_value, step_var=None, step_arg=None, name="model.ckpt"):
    """A checkpoint of 'model/w' (3 floats) and, optionally, the global step."""
    with slim.Graph().as_default():
        w = slim.variable("model/w", shape=[3])
        gs = slim.get_or_create_global_step() if step_var is not None else None
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            sess.set_variable_value(w, np.asarray(w_value, np.float32))
            if gs is not None:
                sess.set_variable_value(gs, np.int64(step_var))
            return slim.train.Saver().save(sess, str(tmp_path / name), global_step=step_arg)


def _eval_graph(with_global_step=True):
    """mean(x * sum(w)) over the batches fed to x."""
    w = slim.variable("model/w", shape=[3])
    if with_global_step:
        slim.get_or_create_global_step()
    x = slim.placeholder(slim.float32, [None], name="x")
    value, update = _streaming_mean(x * slim.reduce_sum(w))
    slim.summary.scalar("eval/mean", value)
    return x, value, update


def test_evaluate_once_runs_the_metric_and_writes_summaries_at_the_checkpoint_step(tmp_path):
    path = _save(tmp_path, [1.0, 2.0, 3.0], step_var=42, step_arg=7)  # variable 42, file suffix -7
    logdir = str(tmp_path / "eval")
    batches = iter([np.full(4, 1.0, np.float32), np.full(2, 4.0, np.float32), np.full(2, 100.0, np.float32)])
    with slim.Graph().as_default():
        x, value, update = _eval_graph()
        before = _digest(tmp_path)
        got = slim_eval().evaluate_once("", path, logdir, num_evals=2, eval_op=update, final_op=value,
                                        feed_fn=lambda: {x: next(batches)})
    assert got == pytest.approx((4 * 6.0 + 2 * 24.0) / 6)
    ev = _events(logdir)
    assert [(s, t) for s, t, _ in ev] == [(42, "eval/mean")]  # the restored global step, not the suffix
    assert ev[0][2] == pytest.approx(got)
    assert _digest(tmp_path) == before  # the checkpoint is never modified


def slim_eval():
    """slim.evaluation once the facade exports it; the runtime module meanwhile."""
    return getattr(slim, "evaluation", evaluation)


def test_summary_step_falls_back_to_the_checkpoint_name(tmp_path):
    path = _save(tmp_path, [1.0, 1.0, 1.0], step_arg=7)
    logdir = str(tmp_path / "eval")
    with slim.Graph().as_default():
        x, value, update = _eval_graph(with_global_step=False)
        evaluation.evaluate_once("", path, logdir, num_evals=1, eval_op=update, final_op=value,
                                 eval_op_feed_dict={x: np.ones(3, np.float32)})
    assert [s for s, _, _ in _events(logdir)] == [7]
    # a checkpoint without any step: step 0
    path = _save(tmp_path, [1.0, 1.0, 1.0], name="plain")
    logdir2 = str(tmp_path / "eval2")
    with slim.Graph().as_default():
        x, value, update = _eval_graph(with_global_step=False)
        evaluation.evaluate_once("local", path, logdir2, eval_op=update, eval_op_feed_dict={x: np.ones(3, np.float32)})
    assert [s for s, _, _ in _events(logdir2)] == [0]


def test_local_variables_are_reset_for_each_evaluation_and_input_end_stops_early(tmp_path):
    path = _save(tmp_path, [0.5, 0.5, 0.0], step_var=1, step_arg=1)
    with slim.Graph().as_default():
        x, value, update = _eval_graph()
        data = [np.full(2, v, np.float32) for v in (1.0, 2.0, 3.0)]
        binding = slim.inputs.bind(x, iter(data))
        first = evaluation.evaluate_once("", path, None, num_evals=100, eval_op=update, final_op=value)
        assert first == pytest.approx(2.0)  # all three batches, then the input ended
        slim.inputs.unbind(binding, slim.get_default_graph())
        slim.inputs.bind(x, iter([np.full(2, 10.0, np.float32)] * 5))
        second = evaluation.evaluate_once("", path, None, num_evals=2, eval_op=[update], final_op={"m": value})
        assert second == {"m": pytest.approx(10.0)}  # the accumulators started from zero again


def test_initial_op_final_op_feed_dicts_hooks_and_variables_to_restore(tmp_path):
    path = _save(tmp_path, [1.0, 1.0, 1.0], step_var=3, step_arg=3)
    with slim.Graph().as_default():
        x, value, update = _eval_graph()
        other = slim.variable("other", shape=[], initializer=slim.constant_initializer(5.0))  # not in the checkpoint
        scale = slim.placeholder(slim.float32, [], name="scale")
        counter = slim.local_variable(0.0, name="counter")
        initial = slim.assign(counter, scale)
        hook = evaluation.StopAfterNEvalsHook(2)
        calls = []

        class Recorder(evaluation.SessionRunHook):
            def begin(self):
                calls.append("begin")

            def after_create_session(self, session, coord):
                calls.append("created")

            def before_run(self, run_context):
                return evaluation.SessionRunArgs(counter)

            def after_run(self, run_context, run_values):
                calls.append(float(run_values.results))

            def end(self, session):
                calls.append("end")

        got = evaluation.evaluate_once(
            "", path, None, num_evals=10, initial_op=initial, initial_op_feed_dict={scale: 9.0}, eval_op=update,
            eval_op_feed_dict={x: np.ones(3, np.float32)}, final_op=[value * scale, other, counter],
            final_op_feed_dict={scale: 2.0}, variables_to_restore=slim.get_variables_to_restore(exclude=["other"]),
            hooks=[hook, Recorder()])
        assert got[0] == pytest.approx(6.0) and got[1] == 5.0 and got[2] == 9.0
        assert hook.evals_completed == 2
        assert calls == ["begin", "created", 9.0, 9.0, "end"]
        with pytest.raises(InvalidArgumentError, match="master"):
            evaluation.evaluate_once("grpc://somewhere:2222", path, None, eval_op=update)
        with pytest.raises(CheckpointError, match="missing"):  # 'other' asked for and absent
            evaluation.evaluate_once("", path, None, eval_op=update, eval_op_feed_dict={x: np.ones(3, np.float32)},
                                     variables_to_restore=slim.global_variables())


def test_evaluate_once_on_tf_slim_checkpoint_reads_only():
    if not FIXTURE.is_dir():
        pytest.skip(f"shared fixtures folder {FIXTURE} is absent")
    ref = np.load(FIXTURE / "reference.npz")
    before = _digest(FIXTURE)
    mtimes = {n: os.stat(FIXTURE / n).st_mtime_ns for n in os.listdir(FIXTURE)}
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 16, 16, 3], name="x")
        logits = _tiny_net(x, "tiny_net")
        err = slim.reduce_max(slim.abs(logits - slim.constant(ref["endpoint/logits"])))
        got = evaluation.evaluate_once("", str(FIXTURE), None, final_op=err, eval_op_feed_dict=None,
                                       final_op_feed_dict={x: ref["x"]})
    assert got < 1e-4
    assert _digest(FIXTURE) == before
    assert {n: os.stat(FIXTURE / n).st_mtime_ns for n in os.listdir(FIXTURE)} == mtimes


def _tiny_net(x, scope):
    """shared/fixtures/tfslim_tiny's net (see its README)."""
    with slim.variable_scope(scope):
        with slim.arg_scope([slim.conv2d, slim.separable_conv2d, slim.conv2d_transpose, slim.fully_connected],
                            activation_fn=slim.nn.relu):
            net = slim.conv2d(x, 8, [5, 5], stride=2, padding="VALID", scope="conv1")
            net = slim.max_pool2d(net, [3, 3], stride=1, padding="SAME", scope="pool1")
            net = slim.separable_conv2d(net, 16, [3, 3], depth_multiplier=2, scope="sep2")
            net = slim.conv2d_transpose(net, 8, [3, 3], stride=2, padding="SAME", scope="up3")
            net = slim.avg_pool2d(net, [2, 2], scope="pool3")
            net = slim.flatten(net, scope="flatten")
            net = slim.fully_connected(net, 32, scope="fc4")
            return slim.fully_connected(net, 10, activation_fn=None, scope="logits")


# ----------------------------------------------------------------------------- waiting for checkpoints


def test_wait_for_new_checkpoint_and_iterator_timeouts(tmp_path):
    d = tmp_path / "ckpts"
    t0 = time.time()
    assert evaluation.wait_for_new_checkpoint(str(d), seconds_to_sleep=0.05, timeout=0.3) is None
    assert 0.2 <= time.time() - t0 < 2
    assert list(evaluation.checkpoints_iterator(str(d), timeout=0.2)) == []
    d.mkdir()
    first = _save(d, [1.0, 1.0, 1.0], step_arg=1)
    assert evaluation.wait_for_new_checkpoint(str(d), timeout=0.2) == first
    assert evaluation.wait_for_new_checkpoint(str(d), last_checkpoint=first, seconds_to_sleep=0.05, timeout=0.2) is None
    # timeout_fn: False keeps waiting (a new checkpoint arrives meanwhile), True ends the iteration
    answers = []

    def timeout_fn():
        answers.append(len(answers))
        if len(answers) == 1:
            _save(d, [2.0, 2.0, 2.0], step_arg=2)
            return False
        return True

    seen = list(evaluation.checkpoints_iterator(str(d), timeout=0.2, timeout_fn=timeout_fn))
    assert [os.path.basename(p) for p in seen] == ["model.ckpt-1", "model.ckpt-2"]
    assert answers == [0, 1]


def test_evaluation_loop_skips_a_checkpoint_deleted_before_it_is_read(tmp_path, monkeypatch):
    d = tmp_path / "ckpts"
    d.mkdir()
    first = _save(d, [1.0, 1.0, 1.0], step_var=1, step_arg=1)
    real_open = evaluation.open_reader
    state = {"n": 0}

    def racing_open(path):
        state["n"] += 1
        if state["n"] == 1:  # max_to_keep deleted it after it was listed, and a newer one came
            os.unlink(path + ".safetensors")
            _save(d, [2.0, 2.0, 2.0], step_var=2, step_arg=2)
        return real_open(path)

    monkeypatch.setattr(evaluation, "open_reader", racing_open)
    logdir = str(tmp_path / "eval")
    with slim.Graph().as_default():
        x, value, update = _eval_graph()
        got = evaluation.evaluation_loop("", str(d), logdir, eval_op=update, final_op=value,
                                         eval_op_feed_dict={x: np.ones(1, np.float32)}, eval_interval_secs=0,
                                         max_number_of_evaluations=1, timeout=5)
    assert got == pytest.approx(6.0)
    assert [s for s, _, _ in _events(logdir)] == [2]
    assert not os.path.exists(first + ".safetensors")


# ----------------------------------------------------------------------------- following training


def _classifier(x):
    net = slim.fully_connected(x, 16, scope="clf/fc1")
    return slim.fully_connected(net, 2, activation_fn=None, scope="clf/logits")


def _data(seed, n=64):
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((n, 8)).astype(np.float32)
    return xs, (xs[:, 0] - xs[:, 1] > 0).astype(np.int64)


def _train_in_thread(logdir, stop: threading.Event, max_steps=100000):
    """learning.train saving a checkpoint about every 50 ms in a background thread, until `stop` is set
    (its input then ends, and learning.train saves the final checkpoint)."""
    errors = []

    def run():
        try:
            with slim.Graph().as_default():
                slim.set_random_seed(0)
                x = slim.placeholder(slim.float32, [None, 8], name="x")
                y = slim.placeholder(slim.int64, [None], name="y")
                xs, ys = _data(0)

                def batches():
                    while not stop.is_set():
                        time.sleep(0.01)
                        yield xs, ys

                slim.inputs.bind([x, y], batches())
                loss = slim.losses.sparse_softmax_cross_entropy(_classifier(x), y)
                train_op = slim.learning.create_train_op(loss, slim.train.AdamOptimizer(0.05))
                slim.learning.train(train_op, logdir, number_of_steps=max_steps, save_interval_secs=0.05,
                                    save_summaries_secs=1e9, log_every_n_steps=0)
        except BaseException as e:  # pragma: no cover - reported by the test
            errors.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, errors


def _final_step(train_dir) -> int:
    return int(slim.train.latest_checkpoint(train_dir).rsplit("-", 1)[1])


def test_evaluation_loop_follows_a_concurrent_learning_train(tmp_path):
    train_dir, eval_dir = str(tmp_path / "train"), str(tmp_path / "eval")
    stop = threading.Event()
    thread, errors = _train_in_thread(train_dir, stop)
    xs, ys = _data(1, 256)
    try:
        with slim.Graph().as_default():
            x = slim.placeholder(slim.float32, [None, 8], name="x")
            y = slim.placeholder(slim.int64, [None], name="y")
            predictions = slim.argmax(_classifier(x), 1)
            slim.get_or_create_global_step()
            if metrics is not None:
                acc, acc_update = metrics.streaming_accuracy(predictions, y)
            else:
                acc, acc_update = _streaming_mean(slim.to_float(slim.equal(predictions, y)))
            slim.summary.scalar("eval/accuracy", acc)
            feed = {x: xs, y: ys}
            # three evaluations of checkpoints written while training runs
            first = evaluation.evaluation_loop("", train_dir, eval_dir, num_evals=2, eval_op=acc_update,
                                               final_op=acc, eval_op_feed_dict=feed, eval_interval_secs=0.1,
                                               max_number_of_evaluations=3, timeout=60)
            steps = [s for s, t, _ in _events(eval_dir) if t == "eval/accuracy"]
            assert len(steps) == 3 and steps == sorted(steps) and len(set(steps)) == 3, steps
            assert 0.0 <= first <= 1.0
            # training ends; the loop then evaluates the final checkpoint and stops on its timeout
            stop.set()
            thread.join(60)
            assert not thread.is_alive() and not errors, errors
            before = _digest(train_dir)
            last = evaluation.evaluation_loop("", train_dir, eval_dir, num_evals=1, eval_op=acc_update,
                                              final_op=acc, eval_op_feed_dict=feed, eval_interval_secs=0,
                                              timeout=0.5)
            assert _digest(train_dir) == before  # evaluation never touches the checkpoints
    finally:
        stop.set()
    steps = [s for s, t, _ in _events(eval_dir) if t == "eval/accuracy"]
    assert steps[-1] == _final_step(train_dir) and len(steps) == 4
    assert last > 0.8  # the trained classifier


# ----------------------------------------------------------------------------- the README snippet

SNIPPET_SCRIPT = '''
import math, sys
import numpy as np
import slimir as slim
if not hasattr(slim, "evaluation"):  # until the facade exports them
    import slimir.runtime.evaluation
    slim.evaluation = slimir.runtime.evaluation
if not hasattr(slim, "metrics"):
    import slimir.metrics
checkpoint_dir, log_dir = sys.argv[1], sys.argv[2]


def load_data():
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((320, 8)).astype(np.float32)
    ys = (xs[:, 0] - xs[:, 1] > 0).astype(np.int64)
    images = slim.placeholder(slim.float32, [None, 8], name="images")
    labels = slim.placeholder(slim.int64, [None], name="labels")

    def batches():
        while True:
            for i in range(0, 320, 32):
                yield xs[i:i + 32], ys[i:i + 32]

    slim.inputs.bind([images, labels], batches())
    return images, labels


def MyModel(images):
    net = slim.fully_connected(images, 16, scope="clf/fc1")
    return slim.argmax(slim.fully_connected(net, 2, activation_fn=None, scope="clf/logits"), 1)


# ---- the seed README's "Evaluation Loop" snippet, ported: tf. -> slim., iteritems() -> items() ----
# Load the data
images, labels = load_data()

# Define the network
predictions = MyModel(images)

# Choose the metrics to compute:
names_to_values, names_to_updates = slim.metrics.aggregate_metric_map({
    'accuracy': slim.metrics.accuracy(predictions, labels),
    'precision': slim.metrics.precision(predictions, labels),
    'recall': slim.metrics.recall(predictions, labels),
})

# Create the summary ops such that they also print out to std output:
summary_ops = []
for metric_name, metric_value in names_to_values.items():
  op = slim.summary.scalar(metric_name, metric_value)
  op = slim.Print(op, [metric_value], metric_name)
  summary_ops.append(op)

num_examples = 320
batch_size = 32
num_batches = math.ceil(num_examples / float(batch_size))

# Setup the global step.
slim.get_or_create_global_step()

eval_interval_secs = 0.2  # How often to run the evaluation.
slim.evaluation.evaluation_loop(
    'local',
    checkpoint_dir,
    log_dir,
    num_evals=num_batches,
    eval_op=names_to_updates.values(),
    summary_op=slim.summary.merge(summary_ops),
    eval_interval_secs=eval_interval_secs)
'''


@pytest.mark.skipif(metrics is None, reason="slimir.metrics is not there yet")
def test_readme_evaluation_loop_snippet_follows_concurrent_training(tmp_path):
    """The snippet loops forever (as in the README): it runs in a subprocess, against a logdir that
    learning.train fills in this process; once it has evaluated the final checkpoint it is stopped."""
    train_dir, eval_dir = str(tmp_path / "train"), str(tmp_path / "eval")
    script = tmp_path / "eval_snippet.py"
    script.write_text(textwrap.dedent(SNIPPET_SCRIPT))
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, str(script), train_dir, eval_dir], stdout=subprocess.DEVNULL,
                                stderr=err, cwd=str(tmp_path))
        try:
            stop = threading.Event()
            thread, errors = _train_in_thread(train_dir, stop)
            deadline = time.time() + 90
            while time.time() < deadline and proc.poll() is None and not _events(eval_dir):
                time.sleep(0.1)  # until the snippet has evaluated a checkpoint of the running training
            stop.set()
            thread.join(60)
            assert not thread.is_alive() and not errors, errors
            final_step = _final_step(train_dir)
            steps = []
            while time.time() < deadline and proc.poll() is None:
                steps = sorted({s for s, t, _ in _events(eval_dir) if t == "accuracy"})
                if steps and steps[-1] == final_step:
                    break
                time.sleep(0.1)
            assert proc.poll() is None, err_path.read_text()[-3000:]
        finally:
            proc.kill()
            proc.wait()
    stderr = err_path.read_text()
    assert steps and steps[-1] == final_step, (steps, stderr[-3000:])
    assert len(steps) >= 2, steps  # it evaluated checkpoints while training was still writing them
    tags = {t for _, t, _ in _events(eval_dir)}
    assert {"accuracy", "precision", "recall"} <= tags
    final = {t: v for s, t, v in _events(eval_dir) if s == final_step}
    assert final["accuracy"] > 0.8, final
    assert "accuracy" in stderr and "Traceback" not in stderr  # slim.Print wrote the values
