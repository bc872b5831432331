"""Compile time: building a network's IR plus lowering it to an ONNX ModelProto without weights
(runtime.export.build_model(..., weights=False)), for vgg_16, resnet_v1_152, inception_v3 and for plain
conv chains of growing depth.

    python benchmarks/compile_time.py [--repeats 5] [--depths 100 1000 5000] [--no-optimize] [--profile N]
                                      [--gc-off]

Targets: vgg_16 under 0.5 s; resnet_v1_152 and inception_v3 under 1 s each; the 5000-layer chain at most
6x the 1000-layer one (near-linear growth). `--profile N` runs cProfile on the N-layer chain and prints
the hottest functions. "layers" counts the weight layers (variables named .../weights).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import statistics
import sys
import time

from slimir.runtime.export import build_model

import slimir as slim
from slimir.nets import resnet_v1, vgg

try:  # written alongside this benchmark; the script runs without it
    from slimir.nets import inception_v3
except ImportError:  # pragma: no cover
    inception_v3 = None

VGG_TARGET_S = 0.5
NET_TARGET_S = 1.0
GROWTH_TARGET = 6.0
_GC_OFF = False


def build_vgg16():
    images = slim.placeholder(slim.float32, [None, 224, 224, 3], name="images")
    with slim.arg_scope(vgg.vgg_arg_scope()):
        logits, _ = vgg.vgg_16(images, is_training=False)
    return logits


def build_resnet_v1_152():
    images = slim.placeholder(slim.float32, [None, 224, 224, 3], name="images")
    with slim.arg_scope(resnet_v1.resnet_arg_scope()):
        logits, _ = resnet_v1.resnet_v1_152(images, 1000, is_training=False)
    return logits


def build_inception_v3():
    images = slim.placeholder(slim.float32, [None, 299, 299, 3], name="images")
    with slim.arg_scope(inception_v3.inception_v3_arg_scope()):
        logits, _ = inception_v3.inception_v3(images, 1000, is_training=False)
    return logits


def build_chain(depth: int):
    """`depth` 3x3 convolutions with 8 channels on an 8x8 input, all under one arg_scope."""
    net = slim.placeholder(slim.float32, [None, 8, 8, 8], name="images")
    with slim.arg_scope([slim.conv2d], num_outputs=8, kernel_size=[3, 3], padding="SAME"):
        for i in range(depth):
            net = slim.conv2d(net, scope=f"conv{i + 1}")
    return net


class _GcClock:
    """Seconds the cyclic garbage collector runs (gc.callbacks), and how many generation-2 passes."""

    def __init__(self):
        self.seconds = 0.0
        self.full = 0
        self._t = None

    def __call__(self, phase, info):
        if phase == "start":
            self._t = time.perf_counter()
        elif self._t is not None:
            self.seconds += time.perf_counter() - self._t
            self.full += info.get("generation") == 2
            self._t = None

    def __enter__(self):
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc):
        gc.callbacks.remove(self)


def compile_once(builder, optimize: bool) -> dict:
    """Build and export seconds of one fresh graph, and the garbage collector's share of them.

    The garbage of earlier runs (graphs are cyclic) is collected first, so that a run does not pay for
    collecting its predecessor's graph; the collector stays on during the run, as it is part of the cost.
    """
    gc.collect()
    if _GC_OFF:
        gc.disable()
    try:
        with _GcClock() as clock, slim.Graph().as_default():
            t0 = time.perf_counter()
            out = builder()
            t1 = time.perf_counter()
            model = build_model(out, weights=False, optimize=optimize)
            t2 = time.perf_counter()
            layers = sum(v.op.name.endswith("/weights") for v in slim.global_variables())
    finally:
        gc.enable()
    assert len(model.graph.node) > 0
    return {
        "build": t1 - t0,
        "export": t2 - t1,
        "total": t2 - t0,
        "gc": clock.seconds,
        "gc2": clock.full,
        "layers": layers,
        "nodes": len(model.graph.node),
    }


def measure(builder, repeats: int, optimize: bool) -> dict:
    runs = [compile_once(builder, optimize) for _ in range(repeats)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def profile(builder, optimize: bool, top: int = 25) -> str:
    prof = cProfile.Profile()
    with slim.Graph().as_default():
        prof.enable()
        out = builder()
        build_model(out, weights=False, optimize=optimize)
        prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("cumulative")
    stats.print_stats(top)
    buf.write("\n--- by own time ---\n")
    stats.sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="runs per case; the median is reported")
    p.add_argument("--depths", type=int, nargs="+", default=[100, 1000, 5000])
    p.add_argument("--no-optimize", action="store_true", help="export without the inference pass pipeline")
    p.add_argument("--profile", type=int, default=None, metavar="N", help="cProfile the N-layer chain")
    p.add_argument(
        "--gc-off",
        action="store_true",
        help="diagnostic: disable the cyclic garbage collector while compiling",
    )
    args = p.parse_args(argv)
    global _GC_OFF
    _GC_OFF = args.gc_off
    optimize = not args.no_optimize

    print(
        f"slimir {slim.__version__}, python {sys.version.split()[0]}, optimize={optimize}, gc_off={args.gc_off}, "
        f"median of {args.repeats} runs (export = build_model(..., weights=False))"
    )
    compile_once(lambda: build_chain(10), optimize)  # warm-up: imports, first-call caches

    rows = [("vgg_16", measure(build_vgg16, args.repeats, optimize))]
    nets = [("resnet_v1_152", build_resnet_v1_152)]
    if inception_v3 is not None:
        nets.append(("inception_v3", build_inception_v3))
    else:
        print("inception_v3: slimir.nets.inception_v3 is not available, skipped")
    rows += [(name, measure(builder, args.repeats, optimize)) for name, builder in nets]
    chain = {}
    for d in args.depths:
        reps = args.repeats if d <= 1000 else max(3, args.repeats // 2 + 1)
        chain[d] = measure(lambda d=d: build_chain(d), reps, optimize)
        rows.append((f"conv chain x{d}", chain[d]))

    print(
        f"{'case':18s} {'layers':>6s} {'ONNX nodes':>10s} {'build s':>9s} {'export s':>9s} {'total s':>9s} "
        f"{'ms/layer':>9s} {'gc s':>8s} {'gen2 gcs':>8s}"
    )
    for name, r in rows:
        print(
            f"{name:18s} {r['layers']:6.0f} {r['nodes']:10.0f} {r['build']:9.4f} {r['export']:9.4f} "
            f"{r['total']:9.4f} {1000 * r['total'] / r['layers']:9.3f} {r['gc']:8.4f} {r['gc2']:8.0f}"
        )

    ok = True
    vgg_total = rows[0][1]["total"]
    verdict = "ok" if vgg_total < VGG_TARGET_S else "FAIL"
    ok &= vgg_total < VGG_TARGET_S
    print(f"vgg_16 build+export: {vgg_total:.3f} s (target < {VGG_TARGET_S} s): {verdict}")
    for name, r in rows[1 : 1 + len(nets)]:
        verdict = "ok" if r["total"] < NET_TARGET_S else "FAIL"
        ok &= r["total"] < NET_TARGET_S
        print(f"{name} build+export: {r['total']:.3f} s (target < {NET_TARGET_S} s): {verdict}")
    if 1000 in chain and 5000 in chain:
        a, b = chain[1000], chain[5000]
        ratio = b["total"] / a["total"]
        verdict = "ok" if ratio <= GROWTH_TARGET else "FAIL"
        ok &= ratio <= GROWTH_TARGET
        print(f"growth t(5000)/t(1000): {ratio:.2f}x (target <= {GROWTH_TARGET}x, linear = 5x): {verdict}")
        print(
            f"  without garbage-collector time: {(b['total'] - b['gc']) / (a['total'] - a['gc']):.2f}x; "
            f"build {b['build'] / a['build']:.2f}x, export {b['export'] / a['export']:.2f}x"
        )
    if args.profile:
        print(profile(lambda: build_chain(args.profile), optimize))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
