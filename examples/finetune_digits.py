"""Fine-tune LeNet to a new task, the TF-Slim way, on the digits scikit-learn ships (offline).

    python examples/finetune_digits.py [--logdir DIR] [--base-steps N] [--head-steps N] [--all-steps N]

1. Train LeNet on the digits 0-4 (a 5-class head) and save checkpoints.
2. Build the same net with a new 5-class head for the digits 5-9. Restore everything but the head from
   step 1's checkpoint: `slim.get_variables_to_restore(exclude=['LeNet/fc4'])` and
   `slim.assign_from_checkpoint_fn`, handed to `slim.learning.train(init_fn=...)` (which runs it only
   while the new logdir has no checkpoint of its own).
3. Train only the head (`variables_to_train`), then every layer (the second `learning.train` resumes
   from the first one's checkpoint), reporting held-out accuracy after each phase and checking that the
   restored layers started from the checkpoint's values (and that head-only training left them alone).
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
from slimir.runtime.checkpoint.assign import assign_from_checkpoint_fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_lenet_digits import batches, load_digits_split  # noqa: E402

HEAD = "LeNet/fc4"  # the logits layer of slim.nets.lenet
BODY_PROBE = ["LeNet/conv1/weights", "LeNet/conv2/weights", "LeNet/fc3/weights"]


def task_split(data, classes):
    """The examples of `classes`, relabelled 0..len(classes)-1."""
    x, y = data
    keep = np.isin(y, classes)
    return x[keep], (y[keep] - min(classes)).astype(np.int64)


def _train_graph(x, y, batch_size: int, seed: int):
    images = slim.placeholder(slim.float32, [None, 8, 8, 1], name="images")
    labels = slim.placeholder(slim.int64, [None], name="labels")
    slim.inputs.bind([images, labels], batches(x, y, batch_size, seed=seed))
    with slim.arg_scope(lenet.lenet_arg_scope(weight_decay=1e-4)):
        logits, _ = lenet.lenet(images, num_classes=5, is_training=True)
    slim.losses.sparse_softmax_cross_entropy(logits, labels)
    total_loss = slim.losses.get_total_loss()
    slim.summary.scalar("losses/total_loss", total_loss)
    return total_loss


def train_base(logdir: str, train_set, steps: int, batch_size: int = 64, lr: float = 1e-3) -> str:
    """Step 1: LeNet on digits 0-4; returns the checkpoint prefix."""
    x, y = task_split(train_set, [0, 1, 2, 3, 4])
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        total_loss = _train_graph(x, y, batch_size, seed=0)
        train_op = slim.learning.create_train_op(total_loss, slim.train.AdamOptimizer(learning_rate=lr))
        slim.learning.train(train_op, logdir, number_of_steps=steps, save_summaries_secs=30,
                            save_interval_secs=600, log_every_n_steps=100)
    return slim.train.latest_checkpoint(logdir)


def finetune(base_checkpoint: str, logdir: str, train_set, head_steps: int, all_steps: int, test_set=None,
             batch_size: int = 64, head_lr: float = 3e-3, all_lr: float = 5e-4) -> dict:
    """Steps 2 and 3: a new head for digits 5-9, warm-started from `base_checkpoint`. Returns a report."""
    x, y = task_split(train_set, [5, 6, 7, 8, 9])
    report: dict = {}
    with slim.Graph().as_default():
        slim.set_random_seed(1)
        total_loss = _train_graph(x, y, batch_size, seed=1)
        # Everything of the net but the new head (taken before the optimisers add their slots and the
        # global step, so neither the old global step nor the old task's Adam state comes along).
        variables_to_restore = slim.get_variables_to_restore(exclude=[HEAD])
        restore = assign_from_checkpoint_fn(base_checkpoint, variables_to_restore)

        def init_fn(sess):
            before = {n: sess.variable_value(_var(n)).copy() for n in BODY_PROBE + [HEAD + "/weights"]}
            restore(sess)
            diffs = {}
            for n in BODY_PROBE:
                ckpt = slim.train.load_variable(base_checkpoint, n)
                diffs[n] = float(np.max(np.abs(sess.variable_value(_var(n)) - ckpt)))
                assert not np.array_equal(before[n], ckpt), f"{n} was already equal to the checkpoint"
            report["restored_max_abs_diff"] = diffs
            head_ckpt = slim.train.load_variable(base_checkpoint, HEAD + "/weights")
            head_now = sess.variable_value(_var(HEAD + "/weights"))
            report["head_differs_from_checkpoint"] = bool(not np.allclose(head_now, head_ckpt))
            report["init_fn_calls"] = report.get("init_fn_calls", 0) + 1

        head_vars = slim.get_trainable_variables(HEAD)
        train_head = slim.learning.create_train_op(total_loss, slim.train.AdamOptimizer(learning_rate=head_lr),
                                                   variables_to_train=head_vars)
        train_all = slim.learning.create_train_op(total_loss, slim.train.AdamOptimizer(learning_rate=all_lr))
        report["restored"] = [v.op.name for v in variables_to_restore]
        report["trained_in_head_phase"] = [v.op.name for v in head_vars]

        # phase 1: the head only; init_fn runs (logdir has no checkpoint yet)
        slim.learning.train(train_head, logdir, number_of_steps=head_steps, init_fn=init_fn,
                            save_summaries_secs=30, save_interval_secs=600, log_every_n_steps=100)
        head_ckpt = slim.train.latest_checkpoint(logdir)
        report["body_unchanged_by_head_phase"] = all(
            np.array_equal(slim.train.load_variable(head_ckpt, n), slim.train.load_variable(base_checkpoint, n))
            for n in BODY_PROBE)
        if test_set is not None:
            report["accuracy_head_only"] = accuracy(head_ckpt, test_set, [5, 6, 7, 8, 9])
        # phase 2: every layer; resumes from phase 1's checkpoint, so init_fn does not run again
        slim.learning.train(train_all, logdir, number_of_steps=head_steps + all_steps, init_fn=init_fn,
                            save_summaries_secs=30, save_interval_secs=600, log_every_n_steps=100)
        final_ckpt = slim.train.latest_checkpoint(logdir)
        report["body_changed_by_full_phase"] = any(
            not np.array_equal(slim.train.load_variable(final_ckpt, n), slim.train.load_variable(head_ckpt, n))
            for n in BODY_PROBE)
        if test_set is not None:
            report["accuracy_all"] = accuracy(final_ckpt, test_set, [5, 6, 7, 8, 9])
        report["checkpoint"] = final_ckpt
    return report


def _var(name: str):
    return slim.get_unique_variable(name)


def accuracy(checkpoint: str, test_set, classes) -> float:
    """Held-out accuracy of the 5-class LeNet at `checkpoint` on the digits `classes`."""
    x, y = task_split(test_set, classes)
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [None, 8, 8, 1], name="images")
        logits, _ = lenet.lenet(images, num_classes=5, is_training=False)
        predictions = slim.argmax(logits, 1)
        with slim.Session() as sess:
            slim.train.Saver(slim.get_model_variables()).restore(sess, checkpoint)
            pred = sess.run(predictions, {images: x})
    return float(np.mean(pred == y))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--logdir", default=None, help="where both runs write (default: a new temp dir)")
    p.add_argument("--base-steps", type=int, default=400)
    p.add_argument("--head-steps", type=int, default=150)
    p.add_argument("--all-steps", type=int, default=250)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = args.logdir or tempfile.mkdtemp(prefix="slimir-finetune-")
    train_set, test_set = load_digits_split()
    t0 = time.time()
    base = train_base(os.path.join(root, "digits0-4"), train_set, args.base_steps)
    base_acc = accuracy(base, test_set, [0, 1, 2, 3, 4])
    rep = finetune(base, os.path.join(root, "digits5-9"), train_set, args.head_steps, args.all_steps, test_set)
    print(f"base model (digits 0-4): test accuracy {base_acc:.4f}  [{base}]")
    print(f"restored {len(rep['restored'])} variables from it (all but {HEAD}); largest difference to the "
          f"checkpoint right after init_fn: {max(rep['restored_max_abs_diff'].values()):.1e}; "
          f"new head freshly initialised: {rep['head_differs_from_checkpoint']}")
    print(f"head only ({', '.join(rep['trained_in_head_phase'])}): test accuracy on digits 5-9 "
          f"{rep['accuracy_head_only']:.4f}; restored layers unchanged: {rep['body_unchanged_by_head_phase']}")
    print(f"all layers: test accuracy on digits 5-9 {rep['accuracy_all']:.4f}; restored layers updated: "
          f"{rep['body_changed_by_full_phase']}; init_fn ran {rep['init_fn_calls']} time(s)")
    print(f"total {time.time() - t0:.1f} s; logs and checkpoints in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
