"""examples/train_lenet_digits.py (= `slimir demo`), shortened: LeNet trained on the embedded digits through
the research/slim jobs, evaluated on the held-out split and exported; the ONNX model must give the checkpoint's
predictions in onnxruntime. (The full 1500-step run is the README's main job, not a test.)"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import slimir as slim

pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "train_lenet_digits.py"
STEPS = 300


def _load_example():
    spec = importlib.util.spec_from_file_location("train_lenet_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    ex = _load_example()
    logdir = str(tmp_path_factory.mktemp("lenet_digits"))
    result = ex.run_demo(train_dir=logdir, steps=STEPS, verbose=False)
    return logdir, result


def test_split_is_fixed_stratified_and_disjoint():
    """The numpy split examples/finetune_digits.py trains on."""
    ex = _load_example()
    (x_tr, y_tr), (x_te, y_te) = ex.load_digits_split()
    assert x_tr.shape[1:] == (8, 8, 1) and x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    assert len(y_tr) + len(y_te) == 1797
    assert 0.0 <= x_tr.min() and x_tr.max() <= 1.0
    assert set(np.unique(y_te)) == set(range(10))
    (x_tr2, _), (x_te2, y_te2) = ex.load_digits_split()
    np.testing.assert_array_equal(x_te, x_te2)
    np.testing.assert_array_equal(y_te, y_te2)
    train_rows = {r.tobytes() for r in x_tr}
    assert sum(r.tobytes() in train_rows for r in x_te) < 0.1 * len(x_te)  # (digits has a few duplicates)


def test_training_reaches_accuracy_and_writes_logdir(trained):
    logdir, r = trained
    assert r.train.global_step == STEPS and np.isfinite(r.train.loss) and r.train.loss < 1.0
    assert r.eval.num_examples == 297
    acc = r.eval.metrics["Accuracy"]
    assert acc >= 0.85, f"test accuracy {acc:.4f} after {STEPS} steps"
    assert r.eval.metrics["Recall_5"] >= acc
    assert slim.train.latest_checkpoint(logdir) == os.path.join(logdir, f"model.ckpt-{STEPS}")
    assert any("tfevents" in f for f in os.listdir(logdir))
    assert any("tfevents" in f for f in os.listdir(os.path.join(logdir, "eval")))


def test_onnx_export_runs_in_onnxruntime_with_the_same_predictions(trained):
    import onnx
    import onnxruntime as ort

    from slimir.datasets import digits
    from slimir.nets import lenet
    from slimir.preprocessing import lenet_preprocessing

    logdir, r = trained
    onnx.checker.check_model(onnx.load(r.onnx_path), full_check=True)
    images, labels = digits.load_arrays("test")
    x = np.stack([lenet_preprocessing.preprocess_image(im, 8, 8) for im in images])
    sess = ort.InferenceSession(r.onnx_path, providers=["CPUExecutionProvider"])
    [inp] = sess.get_inputs()
    logits_ort = sess.run(None, {inp.name: x})[0]
    assert logits_ort.shape == (len(labels), 10)
    with slim.Graph().as_default():
        ph = slim.placeholder(slim.float32, [None, 8, 8, 1], name="images")
        logits, _ = lenet.lenet(ph, num_classes=10, is_training=False)
        with slim.Session() as s:
            slim.train.Saver(slim.get_model_variables()).restore(s, slim.train.latest_checkpoint(logdir))
            logits_slim = s.run(logits, {ph: x})
    np.testing.assert_allclose(logits_ort, logits_slim, rtol=1e-4, atol=1e-4)
    assert float(np.mean(logits_ort.argmax(1) == labels)) == pytest.approx(r.eval.metrics["Accuracy"], abs=1e-6)
    # a different batch size runs too (the batch dimension is symbolic)
    np.testing.assert_allclose(sess.run(None, {inp.name: x[:3]})[0], logits_ort[:3], rtol=1e-4, atol=1e-4)


def test_command_line_runs(tmp_path):
    out = subprocess.run([sys.executable, str(EXAMPLE), "--logdir", str(tmp_path), "--steps", "20"],
                         capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "test accuracy:" in out.stdout and "on 297 held-out digits" in out.stdout
    assert os.path.isfile(tmp_path / "lenet_digits.onnx")
    assert os.path.isfile(tmp_path / "model.ckpt-20.safetensors")
