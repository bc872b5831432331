"""`slimir train` / `eval` / `export` / `demo`: research/slim's image-classifier jobs on the embedded digits,
run in-process through `cli.main(argv)`; numbers checked against the checkpoint's own network."""

import os
import re

import numpy as np
import pytest

import slimir as slim
from slimir.apps import cli

pytest.importorskip("sklearn")

STEPS = 40
SIZE = "8"  # LeNet on the 8x8 digits as they are (lenet_preprocessing pads to --*_image_size otherwise)


def _run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _train_argv(train_dir, steps=STEPS, *extra):
    return ["train", "--model_name=lenet", "--dataset_name=digits", f"--train_dir={train_dir}",
            f"--max_number_of_steps={steps}", "--batch_size=32", "--optimizer=adam", "--learning_rate=0.003",
            "--opt_epsilon=1e-8", "--learning_rate_decay_type=fixed", f"--train_image_size={SIZE}",
            "--num_readers=1", "--num_preprocessing_threads=2", "--save_summaries_secs=0", *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    train_dir = tmp_path_factory.mktemp("lenet_digits")
    rc = cli.main(_train_argv(train_dir))
    assert rc == 0
    return str(train_dir)


def _test_images_and_labels():
    from slimir.datasets import digits
    from slimir.preprocessing import lenet_preprocessing

    images, labels = digits.load_arrays("test")
    x = np.stack([lenet_preprocessing.preprocess_image(im, 8, 8) for im in images])
    return x, labels


def _checkpoint_logits(ckpt, x):
    from slimir.nets import nets_factory

    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [None, 8, 8, 1], name="images")
        logits, _ = nets_factory.get_network_fn("lenet", 10, is_training=False)(images)
        with slim.Session() as sess:
            slim.train.Saver(slim.get_model_variables()).restore(sess, ckpt)
            return sess.run(logits, {images: x})


# ------------------------------------------------------------------------------------------------ train


@pytest.mark.slow
def test_train_writes_checkpoints_and_event_files(trained, capsys):
    assert slim.train.latest_checkpoint(trained) == os.path.join(trained, f"model.ckpt-{STEPS}")
    assert any("tfevents" in f for f in os.listdir(trained))
    # a second run resumes from the checkpoint (research/slim: train_dir wins) and stops at the new step
    rc, out, err = _run(_train_argv(trained, STEPS + 5), capsys)
    assert rc == 0, err
    assert f"global step {STEPS + 5}" in out and f"tensorboard --logdir {trained}" in out
    assert slim.train.latest_checkpoint(trained).endswith(f"model.ckpt-{STEPS + 5}")


def test_fine_tune_with_exclude_and_trainable_scopes(trained, tmp_path, capsys):
    """--checkpoint_path restores all but LeNet/fc4; --trainable_scopes trains only LeNet/fc4, so the other
    weights of the new checkpoint are the source checkpoint's."""
    src = slim.train.latest_checkpoint(trained)
    rc, _out, err = _run(_train_argv(tmp_path, 3, f"--checkpoint_path={trained}",
                                    "--checkpoint_exclude_scopes=LeNet/fc4", "--trainable_scopes=LeNet/fc4"), capsys)
    assert rc == 0, err
    new = slim.train.latest_checkpoint(str(tmp_path))
    np.testing.assert_array_equal(slim.train.load_variable(new, "LeNet/conv1/weights"),
                                  slim.train.load_variable(src, "LeNet/conv1/weights"))
    np.testing.assert_array_equal(slim.train.load_variable(new, "LeNet/fc3/biases"),
                                  slim.train.load_variable(src, "LeNet/fc3/biases"))
    assert not np.array_equal(slim.train.load_variable(new, "LeNet/fc4/weights"),
                              slim.train.load_variable(src, "LeNet/fc4/weights"))


# ------------------------------------------------------------------------------------------------ eval


def test_eval_prints_accuracy_and_recall_of_the_checkpoint(trained, tmp_path, capsys):
    ckpt = os.path.join(trained, f"model.ckpt-{STEPS}")
    rc, out, err = _run(["eval", "--model_name=lenet", "--dataset_name=digits", f"--checkpoint_path={ckpt}",
                         f"--eval_dir={tmp_path}", f"--eval_image_size={SIZE}", "--batch_size=148"], capsys)
    assert rc == 0, err
    acc = float(re.search(r"Accuracy\s+([0-9.]+)", out).group(1))
    rec = float(re.search(r"Recall_5\s+([0-9.]+)", out).group(1))
    assert "297 examples" in out and f"global step {STEPS}" in out
    x, labels = _test_images_and_labels()
    logits = _checkpoint_logits(ckpt, x)
    expected_acc = float(np.mean(logits.argmax(1) == labels))
    top5 = np.argsort(-logits, axis=1)[:, :5]
    expected_rec = float(np.mean([labels[i] in top5[i] for i in range(len(labels))]))
    assert acc == pytest.approx(expected_acc, abs=6e-5)
    assert rec == pytest.approx(expected_rec, abs=6e-5)
    assert 0.3 < acc <= rec <= 1.0  # 40 steps already beat chance (0.1)
    # (297 = 2 x 148 + 1: the final batch of one example counts too)
    assert any("tfevents" in f for f in os.listdir(tmp_path))


# ------------------------------------------------------------------------------------------------ export


def test_export_writes_the_checkpoints_network(trained, tmp_path, capsys):
    import onnx
    import onnxruntime as ort

    path = tmp_path / "lenet.onnx"
    rc, out, err = _run(["export", "--model_name=lenet", f"--output_file={path}", "--dataset_name=digits",
                         f"--image_size={SIZE}", f"--checkpoint_path={trained}"], capsys)
    assert rc == 0, err
    assert "checkpoint" in out and str(path) in out
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [inp] = sess.get_inputs()
    assert inp.shape[1:] == [8, 8, 1]
    x, _ = _test_images_and_labels()
    got = sess.run(None, {inp.name: x})[0]
    expected = _checkpoint_logits(slim.train.latest_checkpoint(trained), x)
    assert got.shape == (len(x), 10)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # without --checkpoint_path the weights are the initial values: different logits
    rc, _, err = _run(["export", "lenet", "-o", tmp_path / "init.onnx", "--image-size", SIZE, "--num-classes", "10"],
                      capsys)
    assert rc == 0, err
    init = ort.InferenceSession(str(tmp_path / "init.onnx"), providers=["CPUExecutionProvider"])
    assert not np.allclose(init.run(None, {init.get_inputs()[0].name: x})[0], got, atol=1e-3)


def test_export_dataset_name_sets_classes_and_channels(tmp_path, capsys):
    import onnx

    path = tmp_path / "cifar.onnx"
    rc, _, err = _run(["export", "--model_name=cifarnet", f"--output_file={path}", "--dataset_name=flowers",
                       "--batch_size=2", "--no-optimize"], capsys)
    assert rc == 0, err
    model = onnx.load(str(path))
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 32, 32, 3]
    assert [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == [2, 5]


# ------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--model_name=nonet", "--dataset_name=digits", "--train_dir={tmp}/t", "--max_number_of_steps=1"],
     "unknown network 'nonet'"),
    (["train", "--model_name=lenet", "--dataset_name=nodata", "--train_dir={tmp}/t", "--max_number_of_steps=1"],
     "nodata"),
    (["train", "--model_name=lenet", "--dataset_name=digits", "--dataset_dir={tmp}/missing",
      "--train_dir={tmp}/t", "--max_number_of_steps=1"], "missing"),
    (["train", "--model_name=lenet", "--dataset_name=digits", "--dataset_split_name=validation",
      "--train_dir={tmp}/t", "--max_number_of_steps=1"], "validation"),
    (["train", "--model_name=lenet", "--dataset_name=digits", "--max_number_of_steps=1"], "--train_dir"),
    (["train", "--model_name=lenet", "--dataset_name=digits", "--train_dir={tmp}/t"], "--max_number_of_steps"),
    (["train", "--model_name=lenet", "--dataset_name=digits", "--train_dir={tmp}/t", "--max_number_of_steps=0"],
     "--max_number_of_steps"),
    (["train", "--model_name=lenet", "--dataset_name=digits", "--train_dir={tmp}/t", "--max_number_of_steps=1",
      "--batch_size=x"], "--batch_size"),
    (["train", "--model_name=lenet", "--dataset_name=digits", "--train_dir={tmp}/t", "--max_number_of_steps=1",
      "--optimizer=lbfgs"], "--optimizer"),
    (["train", "--model_name=lenet", "--dataset_name=digits", "--train_dir={tmp}/t", "--max_number_of_steps=1",
      "--optimizer=ftrl", "--ftrl_learning_rate_power=0.5"], "--ftrl_learning_rate_power"),
    (["train", "--model_name=lenet", "--dataset_name=digits", "--train_dir={tmp}/t", "--max_number_of_steps=1",
      "--optimizer=adadelta", "--adadelta_rho=1.5"], "--adadelta_rho"),
    (["train", "--model_name=lenet", "--dataset_name=digits", "--train_dir={tmp}/t", "--max_number_of_steps=1",
      "--learning_rate_decay_type=cosine"], "--learning_rate_decay_type"),
    (["train", "--model_name=lenet", "--dataset_name=digits", "--train_dir={tmp}/t", "--max_number_of_steps=1",
      "--moving_average_decay=1.5"], "--moving_average_decay"),
    (["train", "--model_name=lenet", "--dataset_name=digits", "--train_dir={tmp}/t", "--max_number_of_steps=1",
      "--checkpoint_path={tmp}/nothing"], "--checkpoint_path"),
    (["train", "--model_name=lenet", "--dataset_name=digits", "--train_dir={tmp}/t", "--max_number_of_steps=1",
      "--learning_rate=-1"], "--learning_rate"),
    (["eval", "--model_name=lenet", "--dataset_name=digits", "--checkpoint_path={tmp}"], "no complete checkpoint"),
    (["eval", "--model_name=lenet", "--dataset_name=digits", "--checkpoint_path={tmp}/no.ckpt"], "no such"),
    (["eval", "--model_name=lenet", "--dataset_name=digits"], "--checkpoint_path"),
    (["export", "--model_name=lenet", "--output_file={tmp}/x.onnx", "--checkpoint_path={tmp}/no.ckpt"],
     "--checkpoint_path"),
    (["export", "--model_name=nonet", "--output_file={tmp}/x.onnx"], "unknown network 'nonet'"),
    (["export", "--model_name=lenet", "--output_file={tmp}/x.onnx", "--dataset_name=nodata"], "nodata"),
    (["export", "--output_file={tmp}/x.onnx"], "give the network"),
    (["export", "lenet", "--model_name=vgg_16", "-o", "{tmp}/x.onnx"], "two networks"),
])
def test_bad_input_is_one_line_exit_2(argv, fragment, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    rc, _out, err = _run(argv, capsys)
    assert rc == 2, err
    assert err.startswith("slimir: error:"), err
    assert err.count("\n") == 1, err
    assert fragment in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "t").exists()


@pytest.mark.parametrize("command, flags", [
    ("train", ["--model_name", "--train_dir", "--checkpoint_exclude_scopes", "--learning_rate_decay_type",
               "--adadelta_rho", "--ftrl_learning_rate_power", "--ftrl_l1", "--moving_average_decay"]),
    ("eval", ["--checkpoint_path", "--eval_dir", "--max_num_batches", "--eval_image_size", "--moving_average_decay"]),
    ("export", ["--model_name", "--output_file", "--dataset_name", "--checkpoint_path", "--no-optimize"]),
    ("demo", ["--train_dir", "--max_number_of_steps"]),
])
def test_help_of_each_command(command, flags, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: slimir {command}")
    for flag in flags:
        assert flag in out


# ------------------------------------------------------------------------------------------------ demo


@pytest.mark.slow
def test_demo_trains_evaluates_and_exports(tmp_path, capsys):
    import onnxruntime as ort

    rc, out, err = _run(["demo", f"--train_dir={tmp_path}", "--max_number_of_steps=30"], capsys)
    assert rc == 0, err
    acc = float(re.search(r"test accuracy: ([0-9.]+) on 297 held-out digits", out).group(1))
    assert 0.0 <= acc <= 1.0
    assert f"checkpoints and TensorBoard logs: {tmp_path}" in out
    onnx_path = tmp_path / "lenet_digits.onnx"
    assert f"ONNX model: {onnx_path}" in out
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape[1:] == [8, 8, 1]
    assert slim.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-30")
    assert any("tfevents" in f for f in os.listdir(tmp_path / "eval"))


@pytest.mark.slow
def test_num_epochs_ends_training_at_the_end_of_the_data(tmp_path, capsys):
    """1 epoch of the 1,500 training digits at batch 500 is 3 steps, with no --max_number_of_steps."""
    argv = [a for a in _train_argv(tmp_path) if not a.startswith(("--max_number_of_steps", "--batch_size"))]
    rc, out, err = _run([*argv, "--num_epochs=1", "--batch_size=500"], capsys)
    assert rc == 0, err
    assert "global step 3," in out
    assert slim.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-3")


@pytest.mark.slow
def test_eval_loop_follows_a_checkpoint_folder(trained, tmp_path, capsys):
    rc, out, err = _run(["eval", "--model_name=lenet", "--dataset_name=digits", f"--checkpoint_path={trained}",
                         f"--eval_dir={tmp_path}", f"--eval_image_size={SIZE}", "--batch_size=100", "--loop",
                         "--max_number_of_evaluations=1", "--eval_interval_secs=0", "--timeout=30"], capsys)
    assert rc == 0, err
    acc = float(re.search(r"Accuracy\s+([0-9.]+)", out).group(1))
    assert 0.3 < acc <= 1.0
    rc, out2, err = _run(["eval", "--model_name=lenet", "--dataset_name=digits",
                          f"--checkpoint_path={slim.train.latest_checkpoint(trained)}", f"--eval_image_size={SIZE}",
                          f"--eval_dir={tmp_path}", "--batch_size=100"], capsys)
    assert rc == 0, err
    assert float(re.search(r"Accuracy\s+([0-9.]+)", out2).group(1)) == acc  # the same as evaluating it once
    assert "297 examples" in out  # the input restarts for each checkpoint: one pass, a smaller final batch


@pytest.mark.slow
def test_train_eval_export_on_a_converted_image_folder(tmp_path, capsys):
    """TFRecords written by convert_image_folder: JPEG decode, --use_grayscale, --skip_corrupt, a custom
    dataset name found through --dataset_dir."""
    from PIL import Image

    from slimir.datasets import convert_image_folder

    rng = np.random.default_rng(0)
    for i in range(12):
        d = tmp_path / "src" / f"shape{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(d / f"{i}.jpg")
    convert_image_folder(str(tmp_path / "src"), str(tmp_path / "data"), dataset_name="shapes", num_shards=2,
                         validation_fraction=0.25)
    common = ["--model_name=lenet", "--dataset_name=shapes", f"--dataset_dir={tmp_path / 'data'}",
              "--use_grayscale"]
    shard = min((tmp_path / "data").glob("shapes_train_*.tfrecord"))
    data = bytearray(shard.read_bytes())
    data[40] ^= 0xFF  # inside the first record's payload: its CRC no longer matches
    shard.write_bytes(bytes(data))
    train = ["train", *common, "--batch_size=4", "--max_number_of_steps=2", "--num_readers=2", "--optimizer=sgd"]
    rc, _, err = _run([*train, f"--train_dir={tmp_path / 'bad'}"], capsys)
    assert rc == 2 and err.startswith("slimir: error:") and err.count("\n") == 1, err
    assert shard.name in err and "Traceback" not in err
    rc, out, err = _run([*train, f"--train_dir={tmp_path / 'train'}", "--skip_corrupt"], capsys)
    assert rc == 0, err
    assert "shapes/train (9 examples): global step 2" in out
    assert "skipped      1 corrupt record(s)" in out
    rc, out, err = _run(["eval", *common, f"--checkpoint_path={tmp_path / 'train'}", "--dataset_split_name=validation",
                         "--batch_size=2"], capsys)
    assert rc == 0, err
    assert "3 examples" in out and "Recall_3" in out  # k = min(5, num_classes)
    rc, out, err = _run(["export", *common[:3], "--use_grayscale", f"--checkpoint_path={tmp_path / 'train'}",
                         f"--output_file={tmp_path / 'shapes.onnx'}"], capsys)
    assert rc == 0, err
    assert "images [batch, 28, 28, 1]" in out and "[?, 3]" in out
    # the digits are not read from record files: --skip_corrupt is refused
    rc, _, err = _run(_train_argv(tmp_path / "t2", 1, "--skip_corrupt"), capsys)
    assert rc == 2 and "--skip_corrupt" in err


def test_eval_max_num_batches_and_labels_offset(trained, tmp_path, capsys):
    ckpt_dir = ["--model_name=lenet", "--dataset_name=digits", f"--checkpoint_path={trained}",
                f"--eval_dir={tmp_path}", f"--eval_image_size={SIZE}"]
    rc, out, err = _run(["eval", *ckpt_dir, "--max_num_batches=1", "--batch_size=50"], capsys)
    assert rc == 0, err
    assert "50 examples" in out
    # the checkpoint has 10 classes: with --labels_offset=1 the network has 9 and the restore must fail clearly
    rc, _, err = _run(["eval", *ckpt_dir, "--labels_offset=1"], capsys)
    assert rc == 2 and err.startswith("slimir: error:") and err.count("\n") == 1, err
    assert "LeNet/fc4" in err


# ------------------------------------------------------------------------------------------------ optimizers, averages


def _model_variable_names(ckpt):
    return sorted(n for n, _ in slim.train.list_variables(ckpt) if n.startswith("LeNet/") and n.count("/") == 2)


@pytest.mark.slow
def test_train_with_adadelta_slots_follow_tf_kernel(tmp_path, capsys):
    """--optimizer=adadelta: one step from zero slots leaves accum = (1 - rho) g^2 and
    accum_update = (1 - rho) update^2 with update = sqrt(eps) / sqrt(accum + eps) g, so
    accum_update = eps * accum / (accum + eps) in every entry."""
    rho, eps = 0.875, 2.0 ** -4
    rc, _out, err = _run(_train_argv(tmp_path, 1, "--optimizer=adadelta", f"--adadelta_rho={rho}",
                                     f"--opt_epsilon={eps}"), capsys)
    assert rc == 0, err
    ckpt = slim.train.latest_checkpoint(str(tmp_path))
    names = _model_variable_names(ckpt)
    assert len(names) == 8
    for name in names:
        accum = slim.train.load_variable(ckpt, name + "/Adadelta").astype(np.float64)
        accum_update = slim.train.load_variable(ckpt, name + "/Adadelta_1").astype(np.float64)
        assert accum.max() > 0, name
        np.testing.assert_allclose(accum_update, eps * accum / (accum + eps), rtol=2e-5, atol=1e-12, err_msg=name)


@pytest.mark.slow
def test_train_with_ftrl_weights_follow_tf_kernel(tmp_path, capsys):
    """--optimizer=ftrl: after one step the weights are FTRL's closed form of the slots:
    w = (l1 sign(linear) - linear) / (sqrt(accum) / lr + 2 l2) where |linear| > l1, else exactly 0."""
    lr, l1, l2 = 0.1, 0.01, 0.02
    rc, _out, err = _run(_train_argv(tmp_path, 1, "--optimizer=ftrl", f"--learning_rate={lr}", f"--ftrl_l1={l1}",
                                     f"--ftrl_l2={l2}", "--ftrl_initial_accumulator_value=0.2"), capsys)
    assert rc == 0, err
    ckpt = slim.train.latest_checkpoint(str(tmp_path))
    zeros = 0
    for name in _model_variable_names(ckpt):
        w = slim.train.load_variable(ckpt, name).astype(np.float64)
        accum = slim.train.load_variable(ckpt, name + "/Ftrl").astype(np.float64)
        linear = slim.train.load_variable(ckpt, name + "/Ftrl_1").astype(np.float64)
        assert accum.min() >= 0.2 - 1e-7 and accum.max() > 0.2, name
        want = np.where(np.abs(linear) > l1, (l1 * np.sign(linear) - linear) / (np.sqrt(accum) / lr + 2 * l2), 0.0)
        np.testing.assert_allclose(w, want, rtol=2e-5, atol=1e-7, err_msg=name)
        zeros += int(np.sum(w == 0))
    assert zeros > 0  # l1 sets some weights exactly to zero


def _logits_with_weights(weights: dict, x):
    """LeNet's logits on x with its model variables set to `weights` (variable op name -> array)."""
    from slimir.nets import nets_factory

    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [None, 8, 8, 1], name="images")
        logits, _ = nets_factory.get_network_fn("lenet", 10, is_training=False)(images)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for v in slim.get_model_variables():
                sess.set_variable_value(v, weights[v.op.name])
            return sess.run(logits, {images: x})


@pytest.mark.slow
def test_train_and_eval_with_moving_averages(tmp_path, capsys):
    """train --moving_average_decay saves `<var>/ExponentialMovingAverage` for every model variable; eval with
    the flag restores them into the network, so its accuracy is that of the network whose weights are the
    averages (and without the flag, that of the weights themselves)."""
    train_dir = tmp_path / "train"
    rc, _out, err = _run(_train_argv(train_dir, 30, "--moving_average_decay=0.999"), capsys)
    assert rc == 0, err
    ckpt = slim.train.latest_checkpoint(str(train_dir))
    names = _model_variable_names(ckpt)
    all_names = {n for n, _ in slim.train.list_variables(ckpt)}
    assert len(names) == 8 and {n + "/ExponentialMovingAverage" for n in names} <= all_names
    weights = {n: slim.train.load_variable(ckpt, n) for n in names}
    averages = {n: slim.train.load_variable(ckpt, n + "/ExponentialMovingAverage") for n in names}
    assert any(not np.allclose(weights[n], averages[n]) for n in names)

    x, labels = _test_images_and_labels()
    argv = ["eval", "--model_name=lenet", "--dataset_name=digits", f"--checkpoint_path={ckpt}",
            f"--eval_dir={tmp_path / 'eval'}", f"--eval_image_size={SIZE}", "--batch_size=148"]
    for flag, values in ((["--moving_average_decay=0.999"], averages), ([], weights)):
        rc, out, err = _run(argv + flag, capsys)
        assert rc == 0, err
        acc = float(re.search(r"Accuracy\s+([0-9.]+)", out).group(1))
        assert "global step 30" in out
        expected = float(np.mean(_logits_with_weights(values, x).argmax(1) == labels))
        assert acc == pytest.approx(expected, abs=6e-5), flag
        assert acc > 0.3


def test_eval_moving_averages_of_a_checkpoint_without_them(trained, tmp_path, capsys):
    rc, _out, err = _run(["eval", "--model_name=lenet", "--dataset_name=digits", f"--checkpoint_path={trained}",
                          f"--eval_dir={tmp_path}", f"--eval_image_size={SIZE}", "--moving_average_decay=0.999"],
                         capsys)
    assert rc == 2 and err.startswith("slimir: error:") and err.count("\n") == 1, err
    assert "holds no moving average LeNet/" in err and "/ExponentialMovingAverage" in err
