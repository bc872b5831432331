"""Train TF-Slim's LeNet on the handwritten digits scikit-learn ships (offline), then evaluate and export.

    python examples/train_lenet_digits.py [--logdir DIR] [--steps N] [--batch-size B]

The training graph is written the TF-Slim way (nets.lenet, losses, create_train_op, learning.train with
its inputs bound to the placeholders); evaluation restores the newest checkpoint into an inference
graph (is_training=False) and measures accuracy on a held-out split; the model is exported to ONNX.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

import numpy as np

import slimir as slim
from slimir.nets import lenet


def load_digits_split(seed: int = 0, test_fraction: float = 0.2):
    """8x8 digit images in [0, 1] as NHWC float32, int64 labels; a fixed stratified held-out split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("this example needs scikit-learn: pip install -e '.[examples]'")
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for c in range(10):
        idx = np.flatnonzero(y == c)
        test[rng.choice(idx, int(round(len(idx) * test_fraction)), replace=False)] = True
    return (x[~test], y[~test]), (x[test], y[test])


def batches(x, y, batch_size: int, seed: int = 0):
    """Endless shuffled mini-batches (a new permutation every epoch)."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(y))
        for i in range(0, len(order) - batch_size + 1, batch_size):
            j = order[i:i + batch_size]
            yield x[j], y[j]


def train(logdir: str, train_set, steps: int, batch_size: int, lr: float) -> float:
    x, y = train_set
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        images = slim.placeholder(slim.float32, [None, 8, 8, 1], name="images")
        labels = slim.placeholder(slim.int64, [None], name="labels")
        slim.inputs.bind([images, labels], batches(x, y, batch_size))
        with slim.arg_scope(lenet.lenet_arg_scope(weight_decay=1e-4)):
            logits, _ = lenet.lenet(images, num_classes=10, is_training=True)
        slim.losses.sparse_softmax_cross_entropy(logits, labels)
        total_loss = slim.losses.get_total_loss()
        slim.summary.scalar("losses/total_loss", total_loss)
        optimizer = slim.train.AdamOptimizer(learning_rate=lr)
        train_op = slim.learning.create_train_op(total_loss, optimizer)
        return float(slim.learning.train(train_op, logdir, number_of_steps=steps, save_summaries_secs=5,
                                         save_interval_secs=60, log_every_n_steps=100))


def evaluate_and_export(logdir: str, test_set, onnx_path: str) -> float:
    x, y = test_set
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [None, 8, 8, 1], name="images")
        logits, _ = lenet.lenet(images, num_classes=10, is_training=False)
        predictions = slim.argmax(logits, 1)
        with slim.Session() as sess:
            slim.train.Saver(slim.get_model_variables()).restore(sess, slim.train.latest_checkpoint(logdir))
            pred = sess.run(predictions, {images: x})
            slim.export_onnx({"logits": logits}, onnx_path, session=sess)
    return float(np.mean(pred == y))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--logdir", default=None, help="checkpoints and TensorBoard logs (default: a new temp dir)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logdir = args.logdir or tempfile.mkdtemp(prefix="slimir-lenet-")
    train_set, test_set = load_digits_split()
    t0 = time.time()
    loss = train(logdir, train_set, args.steps, args.batch_size, args.learning_rate)
    t1 = time.time()
    onnx_path = os.path.join(logdir, "lenet_digits.onnx")
    acc = evaluate_and_export(logdir, test_set, onnx_path)
    print(f"trained {args.steps} steps in {t1 - t0:.1f} s (final loss {loss:.4f})")
    print(f"test accuracy: {acc:.4f} on {len(test_set[1])} held-out digits")
    print(f"checkpoints and TensorBoard logs: {logdir}")
    print(f"ONNX model: {onnx_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
