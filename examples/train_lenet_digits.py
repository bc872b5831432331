"""Train TF-Slim's LeNet on the handwritten digits scikit-learn ships (offline), then evaluate and export.

    python examples/train_lenet_digits.py [--logdir DIR] [--steps N] [--batch-size B]

This is `slimir demo`: the research/slim jobs (`slimir.apps.demo`) run one after the other:
train_image_classifier (digits 'train' split -> DatasetDataProvider -> lenet_preprocessing -> slim.train.batch
-> nets_factory's lenet -> softmax cross entropy -> Adam -> learning.train), eval_image_classifier (streaming
accuracy and recall@5 on the held-out 'test' split) and export_inference_graph (ONNX with the trained weights).
`load_digits_split` and `batches` below are the plain-numpy input of examples/finetune_digits.py.
"""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np

from slimir.apps.demo import run_demo


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--logdir", default=None, help="checkpoints and TensorBoard logs (default: a new temp dir)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        import sklearn  # noqa: F401
    except ImportError:
        sys.exit("this example needs scikit-learn: pip install -e '.[examples]'")
    run_demo(train_dir=args.logdir, steps=args.steps, batch_size=args.batch_size,
             learning_rate=args.learning_rate, device=args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
