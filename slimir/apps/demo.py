"""The main job (`slimir demo`, examples/train_lenet_digits.py): LeNet trained, evaluated and exported on the
embedded digits with the same jobs as `slimir train` / `eval` / `export`."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .flags import EvalFlags, ExportFlags, TrainFlags
from .image_classifier import (
    EvalResult,
    TrainResult,
    eval_image_classifier,
    export_inference_graph,
    train_image_classifier,
)


@dataclass
class DemoResult:
    train: TrainResult
    eval: EvalResult
    onnx_path: str


DEMO_IMAGE_SIZE = 8  # the digits as they are: LeNet (5x5 convs, SAME padding, two 2x2 pools) runs on 8x8 inputs


def run_demo(train_dir: str | None = None, steps: int = 1500, batch_size: int = 64, learning_rate: float = 1e-3,
             device: str | None = None, image_size: int = DEMO_IMAGE_SIZE, progress: bool | None = None,
             verbose: bool = True) -> DemoResult:
    """Train LeNet on the embedded digits, evaluate it on the test split and export it to ONNX, with the
    same jobs as `slimir train` / `eval` / `export`; prints where the results are when `verbose`."""
    import tempfile

    train_dir = train_dir or tempfile.mkdtemp(prefix="slimir-lenet-")
    tf = TrainFlags(train_dir=train_dir, model_name="lenet", dataset_name="digits", dataset_split_name="train",
                    batch_size=batch_size, train_image_size=image_size, max_number_of_steps=steps, num_readers=1,
                    num_preprocessing_threads=2, log_every_n_steps=100, save_summaries_secs=20,
                    save_interval_secs=60, weight_decay=1e-4, optimizer="adam", opt_epsilon=1e-8,
                    learning_rate=learning_rate, learning_rate_decay_type="fixed", device=device, seed=0,
                    progress=progress)
    tr = train_image_classifier(tf)
    ef = EvalFlags(checkpoint_path=train_dir, eval_dir=os.path.join(train_dir, "eval"), model_name="lenet",
                   dataset_name="digits", dataset_split_name="test", batch_size=200, eval_image_size=image_size,
                   num_preprocessing_threads=2, device=device)
    ev = eval_image_classifier(ef)
    onnx_path = os.path.join(train_dir, "lenet_digits.onnx")
    export_inference_graph(ExportFlags(model_name="lenet", output_file=onnx_path, dataset_name="digits",
                                       image_size=image_size, checkpoint_path=tr.checkpoint))
    if verbose:
        acc = ev.metrics.get("Accuracy", float("nan"))
        loss = "-" if tr.loss is None else f"{tr.loss:.4f}"
        print(f"trained LeNet on digits/train ({tr.num_samples} images): global step {tr.global_step} in "
              f"{tr.seconds:.1f} s (final loss {loss})")
        print(f"test accuracy: {acc:.4f} on {ev.num_examples} held-out digits (recall@5 "
              f"{ev.metrics.get('Recall_5', float('nan')):.4f})")
        print(f"checkpoints and TensorBoard logs: {train_dir}   (tensorboard --logdir {train_dir})")
        print(f"ONNX model: {onnx_path}   (inputs: images [batch, {image_size}, {image_size}, 1] = "
              "(pixel - 128) / 128)")
    return DemoResult(train=tr, eval=ev, onnx_path=onnx_path)
