"""Input pipeline throughput: TFRecord read + image decode + research/slim preprocessing + batching, against
the training step it has to feed.

    python benchmarks/input_pipeline.py [--images 300] [--workers 1 2 4] [--seconds 4] [--rounds 3]

Two pipelines on generated data (smooth random images written as TFRecords by
slimir.datasets.convert_image_folder, read back through get_dataset -> DatasetDataProvider ->
preprocessing -> slim.train.batch):

* imagenet-like: 375x500 JPEGs, vgg_preprocessing for training (random smaller side in [256, 512],
  random 224x224 crop, flip, mean subtraction), batch 32;
* cifar-like: 32x32 PNGs, cifarnet_preprocessing for training (pad 4, random crop, flip, brightness,
  contrast, per-image standardization), batch 32;

each with 1, 2 and 4 preprocessing threads (`num_threads` of slim.train.batch). Beside them the training
step of CifarNet at batch 32 (momentum SGD, inputs fed from memory, so no input cost), CifarNet trained
from the cifar-like pipeline itself (ONNX Runtime spinning as by default, and not spinning as `slimir
train` runs it), and the ratio input images/s / train-step images/s (the pipeline keeps the step busy
when it is >= 1; the target is >= 2).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from machine import cpu_model

import slimir as slim
from slimir.datasets import convert_image_folder, get_dataset
from slimir.nets import nets_factory
from slimir.preprocessing import get_preprocessing

BATCH = 32


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A photo-like uint8 image: low-frequency colour noise, bilinearly enlarged, plus a little grain."""
    from PIL import Image

    small = rng.integers(0, 256, (max(2, h // 32), max(2, w // 32), 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR), np.int16)
    big = big + rng.integers(-12, 13, big.shape, dtype=np.int16)
    return np.clip(big, 0, 255).astype(np.uint8)


def make_dataset(root: str, name: str, n: int, h: int, w: int, fmt: str, classes: int = 5, seed: int = 0) -> str:
    """Write `n` generated images into class folders, convert them to one TFRecord shard; returns its folder."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    src = os.path.join(root, name + "_images")
    for i in range(n):
        d = os.path.join(src, f"class{i % classes}")
        os.makedirs(d, exist_ok=True)
        img = Image.fromarray(smooth_image(rng, h, w))
        if fmt == "jpeg":
            img.save(os.path.join(d, f"{i:05d}.jpg"), quality=90)
        else:
            img.save(os.path.join(d, f"{i:05d}.png"))
    dst = os.path.join(root, name)
    convert_image_folder(src, dst, dataset_name=name, num_shards=1, validation_fraction=0.0)
    return dst


def _pipeline(dataset_dir: str, name: str, preprocessing: str, size: int, workers: int, seed: int = 0):
    dataset = get_dataset(name, "train", dataset_dir)
    provider = slim.data.DatasetDataProvider(dataset, num_readers=1, shuffle=True, seed=seed,
                                             common_queue_capacity=20 * BATCH, common_queue_min=10 * BATCH)
    image, label = provider.get(["image", "label"])
    image = get_preprocessing(preprocessing, is_training=True)(image, size, size)
    return slim.train.batch([image, label], batch_size=BATCH, num_threads=workers, capacity=5 * BATCH)


def input_images_per_s(dataset_dir: str, name: str, preprocessing: str, size: int, workers: int,
                       seconds: float) -> float:
    """Examples per second that the pipeline delivers to sess.run (a cheap reduction of each batch)."""
    with slim.Graph().as_default():
        images, labels = _pipeline(dataset_dir, name, preprocessing, size, workers)
        probe = slim.reduce_sum(images) + slim.to_float(slim.reduce_sum(labels))
        with slim.Session() as sess:
            for _ in range(3):  # compile the probe, start the threads, fill the queue's first batches
                sess.run(probe)
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                sess.run(probe)
                n += BATCH
            return n / (time.perf_counter() - t0)


def _cifarnet_train_op(images, labels):
    network_fn = nets_factory.get_network_fn("cifarnet", num_classes=10, weight_decay=0.004, is_training=True)
    logits, _ = network_fn(images)
    slim.losses.softmax_cross_entropy(logits, slim.one_hot_encoding(labels, 10))
    total = slim.losses.get_total_loss()
    return slim.learning.create_train_op(total, slim.train.MomentumOptimizer(0.01, 0.9))


def _time_steps(train_op, seconds: float, allow_spinning=None) -> float:
    with slim.Session(allow_spinning=allow_spinning) as sess:
        sess.run(slim.global_variables_initializer())
        for _ in range(3):
            sess.run(train_op)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            sess.run(train_op)
            n += BATCH
        return n / (time.perf_counter() - t0)


def train_step_images_per_s(seconds: float) -> float:
    """CifarNet training steps at batch 32 with the inputs fed from memory (one fixed batch)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, BATCH).astype(np.int64)

    def forever():
        while True:
            yield x, y

    with slim.Graph().as_default():
        slim.set_random_seed(0)
        images = slim.placeholder(slim.float32, [BATCH, 32, 32, 3], name="images")
        labels = slim.placeholder(slim.int64, [BATCH], name="labels")
        slim.inputs.bind([images, labels], forever())
        return _time_steps(_cifarnet_train_op(images, labels), seconds)


def pipeline_train_images_per_s(dataset_dir: str, name: str, workers: int, seconds: float,
                                allow_spinning=None) -> float:
    """CifarNet training steps at batch 32 fed by the cifar-like pipeline (`slimir train` runs them with
    allow_spinning=False)."""
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        images, labels = _pipeline(dataset_dir, name, "cifarnet", 32, workers)
        return _time_steps(_cifarnet_train_op(images, labels), seconds, allow_spinning)


def _median(xs: list) -> float:
    return float(np.median(xs))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=300, help="generated images per dataset (default: 300)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="preprocessing threads to try")
    p.add_argument("--seconds", type=float, default=4.0, help="measuring time per figure and round (default: 4)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, interleaved; medians are printed (default: 3)")
    args = p.parse_args(argv)
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before")
    rows = [("imagenet-like: JPEG 375x500 -> vgg 224x224", "benchjpeg", "vgg_16", 224),
            ("cifar-like: PNG 32x32 -> cifarnet 32x32", "benchpng", "cifarnet", 32)]
    with tempfile.TemporaryDirectory(prefix="slimir-input-bench-") as root:
        t0 = time.perf_counter()
        dirs = {"benchjpeg": make_dataset(root, "benchjpeg", args.images, 375, 500, "jpeg"),
                "benchpng": make_dataset(root, "benchpng", args.images, 32, 32, "png")}
        print(f"generated {args.images} 375x500 JPEGs and {args.images} 32x32 PNGs as TFRecords in "
              f"{time.perf_counter() - t0:.1f} s; {args.rounds} rounds of {args.seconds:g} s per figure")
        steps, fed, fed_nospin = [], [], []
        inputs = {(name, w): [] for _, name, _, _ in rows for w in args.workers}
        for _ in range(args.rounds):  # interleaved, so a busy moment of the machine does not hit one figure only
            steps.append(train_step_images_per_s(args.seconds))
            for _, name, prep, size in rows:
                for w in args.workers:
                    inputs[(name, w)].append(input_images_per_s(dirs[name], name, prep, size, w, args.seconds))
            fed.append(pipeline_train_images_per_s(dirs["benchpng"], "benchpng", 1, args.seconds))
            fed_nospin.append(pipeline_train_images_per_s(dirs["benchpng"], "benchpng", 1, args.seconds, False))
        step = _median(steps)
        print(f"\nCifarNet train step, batch {BATCH}, inputs from memory: {step:8.1f} images/s "
              f"(rounds: {', '.join(f'{v:.0f}' for v in steps)})")
        print(f"\n{'pipeline (median of rounds)':44s} {'workers':>7s} {'images/s':>9s} {'/ step':>7s}")
        best_cifar = 0.0
        for label, name, _prep, _size in rows:
            for w in args.workers:
                ips = _median(inputs[(name, w)])
                if name == "benchpng":
                    best_cifar = max(best_cifar, ips)
                ratio = f"{ips / step:6.2f}x" if name == "benchpng" else "      -"  # (vgg feeds bigger nets)
                print(f"{label:44s} {w:7d} {ips:9.1f} {ratio}")
        print()
        for what, xs in (("ORT default, spinning", fed), ("allow_spinning=False, as slimir train", fed_nospin)):
            f = _median(xs)
            print(f"CifarNet trained from the cifar-like pipeline (1 worker, {what}): {f:8.1f} images/s "
                  f"({f / step:.2f}x the step fed from memory; rounds: {', '.join(f'{v:.0f}' for v in xs)})")
        verdict = "meets" if best_cifar >= 2 * step else "misses"
        print(f"cifarnet pipeline / train step: {best_cifar / step:.2f}x ({verdict} the >= 2x target); "
              f"load average {os.getloadavg()[0]:.1f} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
