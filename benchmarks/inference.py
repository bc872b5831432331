"""Inference latency of slimir's ONNX exports in ONNX Runtime (issue 3, "Benchmark").

For lenet (batch 32, 28x28x1), cifarnet (batch 32, 32x32x3) and vgg_16 (batch 4, 224x224x3), built with
is_training=False and fixed random weights (slim.set_random_seed; the biases, whose initializers are zeros
or constants, get seeded random values), this measures in one run:

  * slimir's export with optimize=False and optimize=True (runtime.export.build_model, weights embedded),
    each in ONNX Runtime at ORT_ENABLE_BASIC, and optimize=True at ORT_ENABLE_ALL;
  * when torch is importable, the same architecture written in PyTorch with the same weights (checked to
    agree with slimir's outputs, rtol 1e-4, before anything is timed), exported by torch.onnx.export
    (opset 18) and run in ONNX Runtime at ORT_ENABLE_ALL;
  * the achieved GFLOP/s of slimir's optimised export at ORT_ENABLE_ALL next to the machine's measured
    numpy float32 matmul GFLOP/s (2048x2048, best of several).

Latency is the median (and p10) of repeated runs after warm-up; the variants of a net are interleaved
round-robin (each round runs every variant once, starting at a rotating variant) so that drift of a shared
machine hits them alike. The median CPU time of the process per run (all its threads) is printed beside
the wall time: on a machine shared with other processes it is the steadier of the two. Every session is
sequential, with intra_op_num_threads = --threads (default os.cpu_count()) and its intra-op threads not
spinning (--spin turns ONNX Runtime's default spinning back on: a spinning pool of one session slows the
next session's run and the machine's other processes).

    python benchmarks/inference.py [--nets lenet cifarnet vgg_16] [--repeats N] [--threads T] [--quick]
                                   [--device cpu|cuda] [--no-torch] [--extra] [--profile [NET ...]]
                                   [--json PATH]

--extra adds optimize=False/True at ORT_DISABLE_ALL (slimir's passes alone, without ONNX Runtime's).

Targets (issue 3):
  * optimize=True at least 1.3x faster than optimize=False at ORT_ENABLE_BASIC on cifarnet and vgg_16;
  * slimir optimize=True at ORT_ENABLE_ALL no slower than the torch.onnx export (ratio <= 1.0), all nets;
  * vgg_16 reaches >= 90% of the measured numpy matmul GFLOP/s.

FLOPs count a multiply-add as 2 (slimir's op registry rules, via runtime.inspect.describe_graph): the figure
used is describe_graph of the net built with an unknown batch (per example) times the batch. describe_graph
at the fixed batch should give the same; when it does not (as before the rules counted the batch dimension
of conv2d and max_pool), both are printed.

`--profile [NET ...]` (default vgg_16) runs ONNX Runtime's profiler (SessionOptions.enable_profiling) on
slimir's optimize=False and optimize=True exports at ORT_ENABLE_BASIC, optimize=True at ORT_ENABLE_ALL and
the torch.onnx export at ORT_ENABLE_ALL, after the timing, and prints where the time goes by op type, the
slowest nodes, and the op counts of the exported graph and of the graph ONNX Runtime actually ran (after
its own rewrites at that level).

torch is optional: without it the torch.onnx column is left out. Only numpy, onnx, onnxruntime and slimir
are needed otherwise.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Optional

from machine import cpu_model, numpy_matmul_gflops, ort_matmul_gflops, percentile, set_thread_env

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> (batch, height/width, channels, classes)
NETS = {
    "lenet": (32, 28, 1, 10),
    "cifarnet": (32, 32, 3, 10),
    "vgg_16": (4, 224, 3, 1000),
}
# (warm-up runs, timed rounds) per net; --quick uses the second table.
DEFAULT_RUNS = {"lenet": (20, 1000), "cifarnet": (20, 400), "vgg_16": (2, 15)}
QUICK_RUNS = {"lenet": (5, 100), "cifarnet": (5, 40), "vgg_16": (1, 5)}

SPEEDUP_TARGET = 1.3  # optimize=True vs optimize=False at ORT_ENABLE_BASIC (cifarnet, vgg_16)
SPEEDUP_NETS = ("cifarnet", "vgg_16")
TORCH_RATIO_TARGET = 1.0  # slimir / torch.onnx at ORT_ENABLE_ALL (all nets)
PEAK_FRACTION_TARGET = 0.90  # vgg_16 GFLOP/s / numpy matmul GFLOP/s
PEAK_NETS = ("vgg_16",)

RTOL = 1e-4
SEED = 1234


# ------------------------------------------------------------------------------------------
# Setup that must happen before numpy (and its BLAS thread pool) is imported


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS), help="networks to measure")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed rounds per net (default: lenet 1000, cifarnet 400, vgg_16 15)")
    p.add_argument("--warmup", type=int, default=None,
                   help="warm-up runs per variant (default: 20, vgg_16 2)")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads for ONNX Runtime, and numpy/torch threads "
                        "(default: os.cpu_count())")
    p.add_argument("--quick", action="store_true", help="fewer repeats (100 / 40 / 5)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cuda: CUDAExecutionProvider (the run stops with a message when this "
                        "onnxruntime has none)")
    p.add_argument("--extra", action="store_true",
                   help="also time optimize=False and optimize=True at ORT_DISABLE_ALL (what slimir's "
                        "passes are worth without ONNX Runtime's own graph rewrites)")
    p.add_argument("--no-torch", action="store_true", help="leave out the PyTorch comparison")
    p.add_argument("--torch-exporter", choices=("dynamo", "torchscript"), default="dynamo",
                   help="torch.onnx.export(dynamo=True) (default; falls back to the TorchScript exporter "
                        "when it cannot run) or dynamo=False")
    p.add_argument("--profile", nargs="*", default=None, metavar="NET",
                   help="profile slimir's optimised export (and torch's) at ORT_ENABLE_ALL for these nets "
                        "(no name: vgg_16 if measured, else the last net)")
    p.add_argument("--profile-runs", type=int, default=3, help="runs recorded by --profile")
    p.add_argument("--spin", action="store_true",
                   help="let ONNX Runtime's intra-op threads spin between ops (ORT's default; off here: "
                        "see session_options)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--seed", type=int, default=SEED, help="graph-level random seed of the weights")
    args = p.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be >= 1")
    args.threads_given = args.threads is not None
    if args.threads is None:
        args.threads = os.cpu_count() or 1
    if args.profile is not None and not args.profile:
        args.profile = ["vgg_16"] if "vgg_16" in args.nets else [args.nets[-1]]
    return args


# ------------------------------------------------------------------------------------------
# Machine


def load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def openblas_core() -> str:
    """The kernel family numpy's bundled OpenBLAS picked for this CPU (best effort; '' when unknown)."""
    import ctypes
    import glob

    import numpy as np

    libs = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*"))
    for lib in libs:
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for fn in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                   "openblas_get_corename64_", "openblas_get_corename"):
            f = getattr(handle, fn, None)
            if f is not None:
                f.restype = ctypes.c_char_p
                try:
                    return f().decode()
                except Exception:
                    return ""
    return ""


def torch_matmul_gflops(n: int = 2048, tries: int = 7) -> float:
    import torch

    a = torch.randn(n, n)
    b = torch.randn(n, n)
    out = torch.empty(n, n)
    torch.matmul(a, b, out=out)
    best = float("inf")
    for _ in range(tries):
        t0 = time.perf_counter()
        torch.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


# ------------------------------------------------------------------------------------------
# ONNX Runtime


SPIN = False  # ONNX Runtime's session.intra_op.allow_spinning (main() sets it from --spin)


def session_options(threads: int, level: str, profile_prefix: Optional[str] = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    # Spinning worker threads of one session steal the 2 cores from the next session's run (round-robin) and
    # from the other processes of a shared machine: off by default, for every variant alike.
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if SPIN else "0")
    so.log_severity_level = 3
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return so


def make_session(model, threads: int, level: str, providers: list, profile_prefix: Optional[str] = None):
    """An InferenceSession for a ModelProto (serialised in memory) or a path (torch's export, which may keep
    its weights in an external data file beside it)."""
    import onnxruntime as ort

    src = model if isinstance(model, str) else model.SerializeToString()
    return ort.InferenceSession(src, session_options(threads, level, profile_prefix), providers=providers)


@dataclass
class Variant:
    """One thing to time: a session, its feed and a label."""

    key: str
    label: str
    session: object
    feed: dict
    times: list = field(default_factory=list)  # wall seconds per run
    cpu: list = field(default_factory=list)  # CPU seconds of this process (all threads) per run

    def run(self):
        return self.session.run(None, self.feed)


class MatmulProbe:
    """numpy's float32 n x n matmul, timed between the rounds of a net so that it meets the same load."""

    def __init__(self, n: int = 2048):
        import numpy as np

        rng = np.random.default_rng(0)
        self.n = n
        self.a = rng.standard_normal((n, n), dtype=np.float32)
        self.b = rng.standard_normal((n, n), dtype=np.float32)
        self.out = np.empty((n, n), np.float32)
        self.times: list = []
        self.cpu: list = []

    @property
    def flops(self) -> float:
        return 2.0 * self.n ** 3

    def run(self) -> None:
        import numpy as np

        c0 = time.process_time()
        t0 = time.perf_counter()
        np.matmul(self.a, self.b, out=self.out)
        self.times.append(time.perf_counter() - t0)
        self.cpu.append(time.process_time() - c0)


def measure(variants: list, warmup: int, rounds: int, probe: Optional[MatmulProbe] = None,
            probe_samples: int = 20) -> None:
    """Warm every variant up, then `rounds` rounds of one run each, round-robin from a rotating start;
    `probe` runs once every few rounds (about `probe_samples` times in all)."""
    for v in variants:
        for _ in range(warmup):
            v.run()
    n = len(variants)
    every = max(1, rounds // probe_samples)
    for r in range(rounds):
        if probe is not None and r % every == 0:
            probe.run()
        for i in range(n):
            v = variants[(r + i) % n]
            c0 = time.process_time()
            t0 = time.perf_counter()
            v.session.run(None, v.feed)
            v.times.append(time.perf_counter() - t0)
            v.cpu.append(time.process_time() - c0)


# ------------------------------------------------------------------------------------------
# slimir


@dataclass
class SlimirNet:
    name: str
    batch: int
    size: int
    channels: int
    classes: int
    plain: object  # onnx.ModelProto, optimize=False
    optimized: object  # onnx.ModelProto, optimize=True
    native: object  # onnx.ModelProto, optimize=True, target='onnxruntime-native' (ORT's graph for this CPU)
    values: dict  # variable op name -> np.ndarray
    flops: int  # per example x batch
    flops_fixed_batch: int  # describe_graph at the fixed batch, as the registry rules give it
    onnx_flops: int  # describe_onnx of the unoptimised export (Conv/Gemm/MatMul only)
    reports: list
    build_s: float


def build_slimir(name: str, seed: int) -> SlimirNet:
    import numpy as np
    from slimir.runtime import Session
    from slimir.runtime.export import build_model
    from slimir.runtime.inspect import describe_graph, describe_onnx

    import slimir as slim
    from slimir.nets import nets_factory

    batch, size, channels, classes = NETS[name]
    t0 = time.perf_counter()
    with slim.Graph().as_default() as g:
        slim.set_random_seed(seed)
        images = slim.placeholder(slim.float32, [batch, size, size, channels], name="images")
        logits, _ = nets_factory.get_network_fn(name, classes, is_training=False)(images)
        variables = slim.global_variables()
        sess = Session(graph=g)
        sess.initialize(variables)
        # The nets' bias initializers are zeros (vgg, conv layers) or constants: give every bias seeded random
        # values instead, so that the comparison with PyTorch checks the biases too, and no exporter can drop
        # an all-zero bias (torch.onnx's optimiser does) and so time a different computation.
        rng = np.random.default_rng(seed)
        for v in variables:
            if v.op.name.endswith("/biases"):
                sess.set_variable_value(v, rng.uniform(-0.1, 0.1, size=tuple(v.shape)).astype(np.float32))
        values = {v.op.name: sess.variable_value(v) for v in variables}
        flops_fixed = describe_graph(logits).total_flops
        plain = build_model(logits, session=sess, optimize=False)
        reports: list = []
        optimized = build_model(logits, session=sess, optimize=True, reports=reports)
        native = build_model(logits, session=sess, optimize=True, target="onnxruntime-native")
    # FLOPs per example (unknown batch counts as 1 in every rule), times the batch.
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [None, size, size, channels], name="images")
        logits, _ = nets_factory.get_network_fn(name, classes, is_training=False)(images)
        per_example = describe_graph(logits).total_flops
    try:
        onnx_flops = describe_onnx(plain).total_flops
    except Exception:  # informational only
        onnx_flops = 0
    return SlimirNet(name, batch, size, channels, classes, plain, optimized, native, values, per_example * batch,
                     flops_fixed, onnx_flops, reports, time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------
# PyTorch equivalents (built only when torch imports)


def time_torch_cuda(torch, module, x_nchw, warmup: int, runs: int) -> float:
    """Median seconds of the PyTorch module's forward on the GPU (input already on the device)."""
    mod = module.to("cuda").eval()
    x = torch.from_numpy(x_nchw).to("cuda")
    times = []
    with torch.no_grad():
        for i in range(warmup + runs):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            mod(x)
            torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    mod.to("cpu")
    return statistics.median(times)


def torch_module(name: str, classes: int):
    """nn.Module equivalent of slimir's `name` in NCHW, and a function loading slimir's weights into it."""
    import torch
    from torch import nn

    def conv_w(w):  # HWIO -> OIHW
        return torch.from_numpy(w.transpose(3, 2, 0, 1).copy())

    def fc_w(w):  # [in, out] -> [out, in]
        return torch.from_numpy(w.T.copy())

    def flat_fc_w(w, h, wd, c):
        # TF-Slim flattens NHWC, so the rows of the first fc's weights are in (h, w, c) order; the NCHW
        # module flattens (c, h, w): permute the rows instead of transposing the activations.
        out = w.shape[1]
        w = w.reshape(h, wd, c, out).transpose(3, 2, 0, 1).reshape(out, c * h * wd)
        return torch.from_numpy(w.copy())

    def vec(b):
        return torch.from_numpy(b.copy())

    def set_(layer, weight, bias):
        with torch.no_grad():
            layer.weight.copy_(weight)
            layer.bias.copy_(bias)

    if name == "lenet":
        class LeNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
                self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
                self.pool = nn.MaxPool2d(2, 2)
                self.fc3 = nn.Linear(7 * 7 * 64, 1024)
                self.fc4 = nn.Linear(1024, classes)

            def forward(self, x):
                x = self.pool(torch.relu(self.conv1(x)))
                x = self.pool(torch.relu(self.conv2(x)))
                x = torch.flatten(x, 1)
                x = torch.relu(self.fc3(x))
                return self.fc4(x)

        def load(m, v):
            s = "LeNet/"
            set_(m.conv1, conv_w(v[s + "conv1/weights"]), vec(v[s + "conv1/biases"]))
            set_(m.conv2, conv_w(v[s + "conv2/weights"]), vec(v[s + "conv2/biases"]))
            set_(m.fc3, flat_fc_w(v[s + "fc3/weights"], 7, 7, 64), vec(v[s + "fc3/biases"]))
            set_(m.fc4, fc_w(v[s + "fc4/weights"]), vec(v[s + "fc4/biases"]))

        return LeNet(), load

    if name == "cifarnet":
        # TF's lrn: x / (bias + alpha * sum_{|d'-d| <= r} x_d'^2) ** beta, radius r = 4.
        # torch's LocalResponseNorm divides alpha by the window size: size = 2r + 1, alpha = alpha_tf * size.
        radius, alpha_tf, beta, bias = 4, 0.001 / 9.0, 0.75, 1.0
        size = 2 * radius + 1

        class CifarNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 64, 5, padding=2)
                self.conv2 = nn.Conv2d(64, 64, 5, padding=2)
                self.pool = nn.MaxPool2d(2, 2)
                self.lrn = nn.LocalResponseNorm(size, alpha=alpha_tf * size, beta=beta, k=bias)
                self.fc3 = nn.Linear(8 * 8 * 64, 384)
                self.fc4 = nn.Linear(384, 192)
                self.logits = nn.Linear(192, classes)

            def forward(self, x):
                x = self.lrn(self.pool(torch.relu(self.conv1(x))))
                x = self.pool(self.lrn(torch.relu(self.conv2(x))))
                x = torch.flatten(x, 1)
                x = torch.relu(self.fc3(x))
                x = torch.relu(self.fc4(x))
                return self.logits(x)

        def load(m, v):
            s = "CifarNet/"
            set_(m.conv1, conv_w(v[s + "conv1/weights"]), vec(v[s + "conv1/biases"]))
            set_(m.conv2, conv_w(v[s + "conv2/weights"]), vec(v[s + "conv2/biases"]))
            set_(m.fc3, flat_fc_w(v[s + "fc3/weights"], 8, 8, 64), vec(v[s + "fc3/biases"]))
            set_(m.fc4, fc_w(v[s + "fc4/weights"]), vec(v[s + "fc4/biases"]))
            set_(m.logits, fc_w(v[s + "logits/weights"]), vec(v[s + "logits/biases"]))

        return CifarNet(), load

    if name == "vgg_16":
        blocks = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))

        class VGG16(nn.Module):
            def __init__(self):
                super().__init__()
                layers, cin, self.names = [], 3, []
                for b, (reps, width) in enumerate(blocks, start=1):
                    for r in range(1, reps + 1):
                        layers += [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=True)]
                        self.names.append(f"conv{b}/conv{b}_{r}")
                        cin = width
                    layers.append(nn.MaxPool2d(2, 2))
                self.features = nn.Sequential(*layers)
                self.fc6 = nn.Conv2d(512, 4096, 7)  # VALID
                self.fc7 = nn.Conv2d(4096, 4096, 1)
                self.fc8 = nn.Conv2d(4096, classes, 1)

            def forward(self, x):
                x = self.features(x)
                x = torch.relu(self.fc6(x))
                x = torch.relu(self.fc7(x))
                x = self.fc8(x)
                return torch.squeeze(x, (2, 3))

        def load(m, v):
            s = "vgg_16/"
            convs = [layer for layer in m.features if isinstance(layer, nn.Conv2d)]
            for layer, nm in zip(convs, m.names):
                set_(layer, conv_w(v[s + nm + "/weights"]), vec(v[s + nm + "/biases"]))
            for nm in ("fc6", "fc7", "fc8"):
                set_(getattr(m, nm), conv_w(v[s + nm + "/weights"]), vec(v[s + nm + "/biases"]))

        return VGG16(), load

    raise KeyError(name)


def export_torch(module, example, path: str, exporter: str) -> str:
    """torch.onnx.export at opset 18 to `path`; returns the exporter used ('dynamo' or 'torchscript')."""
    import torch

    kw = {"opset_version": 18, "input_names": ["images"], "output_names": ["logits"]}
    if exporter == "dynamo":
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, (example,), path, dynamo=True, external_data=True, verbose=False,
                                  **kw)
            return "dynamo"
        except Exception as e:  # e.g. the new exporter's packages (onnxscript) missing
            first = str(e).splitlines()[0][:150] if str(e) else ""
            print(f"    torch.onnx.export(dynamo=True) failed ({type(e).__name__}: {first}); "
                  "using dynamo=False", flush=True)
    torch.onnx.export(module, (example,), path, dynamo=False, **kw)
    return "torchscript"


# ------------------------------------------------------------------------------------------
# Profiling


def op_counts(model) -> Counter:
    return Counter(n.op_type for n in model.graph.node)


def fmt_counts(c: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def profile_session(model, feed: dict, threads: int, providers: list, runs: int, label: str,
                    level: str = "all") -> dict:
    """Run `model` `runs` times with ORT's profiler; aggregate kernel time per op type and per node."""
    with tempfile.TemporaryDirectory() as d:
        sess = make_session(model, threads, level, providers, profile_prefix=os.path.join(d, "prof"))
        sess.run(None, feed)  # warm-up, recorded too: dropped below by keeping the last `runs` runs
        walls = []
        for _ in range(runs):
            t0 = time.perf_counter()
            sess.run(None, feed)
            walls.append(time.perf_counter() - t0)
        path = sess.end_profiling()
        with open(path) as f:
            events = json.load(f)
    runs_ev = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    keep_from = runs_ev[-runs]["ts"] if len(runs_ev) >= runs else 0
    by_op: dict = defaultdict(float)
    by_node: dict = defaultdict(float)
    node_op: dict = {}
    node_shapes: dict = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time") or e["ts"] < keep_from:
            continue
        op = e.get("args", {}).get("op_name", "?")
        node = e["name"][: -len("_kernel_time")]
        by_op[op] += e["dur"] / 1e3 / runs
        by_node[node] += e["dur"] / 1e3 / runs
        node_op[node] = op
        node_shapes[node] = e.get("args", {}).get("output_type_shape")
    ran = Counter(node_op.values())
    return {"label": label, "wall_ms": statistics.median(walls) * 1e3, "by_op": dict(by_op),
            "by_node": dict(by_node), "node_op": node_op, "node_shapes": node_shapes, "ran_ops": dict(ran)}


def print_profile(p: dict, exported: Counter, top: int = 12) -> None:
    total = sum(p["by_op"].values())
    print(f"  {p['label']}: wall {p['wall_ms']:.1f} ms/run, kernels {total:.1f} ms/run")
    print(f"    exported graph ops: {fmt_counts(exported)}")
    print(f"    ops ONNX Runtime ran (after its own rewrites at this level): "
          f"{fmt_counts(Counter(p['ran_ops']))}")
    print("    time by op type:")
    for op, ms in sorted(p["by_op"].items(), key=lambda kv: -kv[1]):
        print(f"      {op:<22} {ms:9.2f} ms  {100 * ms / total:5.1f}%  ({p['ran_ops'].get(op, 0)} nodes)")
    print(f"    slowest {top} nodes:")
    for node, ms in sorted(p["by_node"].items(), key=lambda kv: -kv[1])[:top]:
        shp = p["node_shapes"].get(node)
        try:
            shp_s = " -> " + "x".join(str(d) for d in next(iter(shp[0].values())))
        except (TypeError, IndexError, KeyError, AttributeError, StopIteration):
            shp_s = ""
        print(f"      {ms:8.2f} ms  {p['node_op'][node]:<16} {node}{shp_s}")


# ------------------------------------------------------------------------------------------
# Main


def fmt_ms(s: float) -> str:
    return f"{s * 1e3:9.2f}"


def main(argv=None) -> int:
    global SPIN
    args = parse_args(argv)
    SPIN = args.spin
    if args.threads_given:
        set_thread_env(args.threads)

    import numpy as np
    import onnx
    import onnxruntime as ort

    import slimir

    providers = ["CPUExecutionProvider"]
    if args.device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            print("--device cuda: this onnxruntime has no CUDAExecutionProvider "
                  f"(available: {', '.join(ort.get_available_providers())}; install onnxruntime-gpu); "
                  "nothing measured.")
            return 0
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]

    torch = None
    torch_note = ""
    if not args.no_torch:
        try:
            import logging

            import torch

            torch.set_num_threads(args.threads)
            logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notices
        except ImportError:
            torch_note = "torch not installed: the torch.onnx comparison is left out"
    else:
        torch_note = "--no-torch: the torch.onnx comparison is left out"

    started = time.perf_counter()
    print(f"slimir inference benchmark  {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical cores; {platform.platform()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, onnx {onnx.__version__}, "
          f"onnxruntime {ort.__version__}, slimir {slimir.__version__}"
          + (f", torch {torch.__version__}" if torch is not None else ""))
    print(f"providers: {providers}; intra_op_num_threads={args.threads}, sequential; "
          f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    if torch_note:
        print(torch_note)

    peak_np = numpy_matmul_gflops()
    peak_ort = ort_matmul_gflops(args.threads, providers)
    peak_torch = torch_matmul_gflops() if torch is not None else None
    core = openblas_core()
    print(f"load average at start: {load_average()} (1, 5, 15 min)")
    print(f"float32 2048x2048 matmul, best of 7: numpy {peak_np:.1f} GFLOP/s (the reference"
          + (f"; OpenBLAS kernels: {core}" if core else "") + "); "
          f"for context: ONNX Runtime MatMul {peak_ort:.1f}"
          + (f", torch {peak_torch:.1f}" if peak_torch is not None else "") + " GFLOP/s")
    print("FLOPs: a multiply-add counts 2 (slimir's registry flops rules), per example x batch\n")

    runs_table = QUICK_RUNS if args.quick else DEFAULT_RUNS
    results = []
    profiles = []
    for name in args.nets:
        warmup, rounds = runs_table[name]
        if args.repeats is not None:
            rounds = args.repeats
        if args.warmup is not None:
            warmup = args.warmup
        print(f"== {name}", flush=True)
        net = build_slimir(name, args.seed)
        batch, size, channels = net.batch, net.size, net.channels
        print(f"  slimir build + 2 exports: {net.build_s:.1f} s; exported ops: "
              f"optimize=False [{fmt_counts(op_counts(net.plain))}]; "
              f"optimize=True [{fmt_counts(op_counts(net.optimized))}]", flush=True)
        rng = np.random.default_rng(args.seed)
        x_nhwc = rng.standard_normal((batch, size, size, channels), dtype=np.float32)
        x_nchw = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))
        feed = {net.plain.graph.input[0].name: x_nhwc}

        t0 = time.perf_counter()
        todo = [("plain_basic", "slimir optimize=False @BASIC", net.plain, "basic"),
                ("opt_basic", "slimir optimize=True  @BASIC", net.optimized, "basic"),
                ("native_basic", "slimir ort-native     @BASIC", net.native, "basic"),
                ("opt_all", "slimir optimize=True  @ALL", net.optimized, "all")]
        if args.extra:
            todo += [("plain_off", "slimir optimize=False @DISABLE", net.plain, "disable"),
                     ("opt_off", "slimir optimize=True  @DISABLE", net.optimized, "disable")]
        variants = [Variant(key, label, make_session(model, args.threads, level, providers), feed)
                    for key, label, model, level in todo]
        ref = variants[0].run()[0]
        for v in variants[1:]:
            got = v.run()[0]
            np.testing.assert_allclose(got, ref, rtol=RTOL, atol=1e-5 * max(1.0, float(np.abs(ref).max())),
                                       err_msg=f"{name}: {v.label} disagrees with optimize=False")
        print(f"  sessions: {time.perf_counter() - t0:.1f} s; optimised outputs agree with optimize=False "
              f"(rtol {RTOL})", flush=True)

        exporter = None
        tmpdir = None
        torch_path = None
        max_diff = None
        torch_cuda_s = None
        if torch is not None:
            t0 = time.perf_counter()
            module, load = torch_module(name, net.classes)
            load(module, net.values)
            module.eval()
            with torch.no_grad():
                eager = module(torch.from_numpy(x_nchw)).numpy()
            atol = 1e-5 * max(1.0, float(np.abs(ref).max()))
            np.testing.assert_allclose(eager, ref, rtol=RTOL, atol=atol,
                                       err_msg=f"{name}: the PyTorch module disagrees with slimir")
            max_diff = float(np.abs(eager - ref).max())
            tmpdir = tempfile.TemporaryDirectory(prefix=f"slimir-bench-{name}-")
            torch_path = os.path.join(tmpdir.name, f"{name}.onnx")
            with torch.no_grad():
                exporter = export_torch(module, torch.from_numpy(x_nchw), torch_path, args.torch_exporter)
            torch_model = onnx.load(torch_path, load_external_data=False)
            tv = Variant("torch_all", "torch.onnx            @ALL",
                         make_session(torch_path, args.threads, "all", providers),
                         {torch_model.graph.input[0].name: x_nchw})
            got = tv.run()[0]
            np.testing.assert_allclose(got, ref, rtol=RTOL, atol=atol,
                                       err_msg=f"{name}: torch.onnx's export disagrees with slimir")
            variants.append(tv)
            print(f"  torch: module == slimir (max |diff| {max_diff:.2e}, rtol {RTOL}); torch.onnx.export "
                  f"({exporter}) ops [{fmt_counts(op_counts(torch_model))}] "
                  f"in {time.perf_counter() - t0:.1f} s",
                  flush=True)
            if args.device == "cuda" and torch.cuda.is_available():
                torch_cuda_s = time_torch_cuda(torch, module, x_nchw, warmup, max(rounds, 10))
            del module

        t0 = time.perf_counter()
        probe = MatmulProbe()
        measure(variants, warmup, rounds, probe)
        print(f"  timed {rounds} round-robin rounds after {warmup} warm-up runs each: "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        med = {v.key: statistics.median(v.times) for v in variants}
        p10 = {v.key: percentile(v.times, 10) for v in variants}
        cpu = {v.key: statistics.median(v.cpu) for v in variants}
        for v in variants:
            print(f"    {v.label:<31} median {fmt_ms(med[v.key])} ms   p10 {fmt_ms(p10[v.key])} ms   "
                  f"CPU time median {fmt_ms(cpu[v.key])} ms")
        through = [(v.label.split("@")[0].strip() + " @ALL", med[v.key]) for v in variants
                   if v.key in ("opt_all", "torch_all")]
        if torch_cuda_s is not None:
            through.append(("PyTorch eager (CUDA)", torch_cuda_s))
        print(f"  throughput ({args.device}, batch {batch}): " + "; ".join(
            f"{lab} {t * 1e3:.2f} ms, {batch / t:.0f} images/s, {net.flops / t / 1e12:.3f} TFLOP/s"
            for lab, t in through))
        speedup = med["plain_basic"] / med["opt_basic"]
        gflops = net.flops / med["opt_all"] / 1e9
        # The matmul reference, taken between this net's rounds: best of the start's 7 and these runs, their
        # median, and per CPU-second of the process x threads (the figure least moved by other processes).
        mm_best = max(peak_np, probe.flops / min(probe.times) / 1e9)
        mm_med = probe.flops / statistics.median(probe.times) / 1e9
        mm_cpu = probe.flops / statistics.median(probe.cpu) / 1e9 * args.threads
        net_best = net.flops / min(next(v for v in variants if v.key == "opt_all").times) / 1e9
        net_cpu = net.flops / cpu["opt_all"] / 1e9 * args.threads
        row = {
            "net": name, "batch": batch, "input": [batch, size, size, channels], "rounds": rounds,
            "warmup": warmup,
            "flops": net.flops, "flops_fixed_batch_describe_graph": net.flops_fixed_batch,
            "flops_describe_onnx": net.onnx_flops,
            "ops_plain": dict(op_counts(net.plain)), "ops_optimized": dict(op_counts(net.optimized)),
            "median_ms": {k: v * 1e3 for k, v in med.items()}, "p10_ms": {k: v * 1e3 for k, v in p10.items()},
            "cpu_median_ms": {k: v * 1e3 for k, v in cpu.items()},
            "all_ms": {v.key: [t * 1e3 for t in v.times] for v in variants},
            "speedup_basic": speedup, "speedup_basic_p10": p10["plain_basic"] / p10["opt_basic"],
            "speedup_basic_cpu": cpu["plain_basic"] / cpu["opt_basic"], "gflops": gflops,
            "gflops_best": net_best, "gflops_cpu": net_cpu, "matmul_gflops_best": mm_best,
            "matmul_gflops_median": mm_med, "matmul_gflops_cpu": mm_cpu, "matmul_samples": len(probe.times),
            "peak_fraction": net_best / mm_best, "peak_fraction_median": gflops / mm_med,
            "peak_fraction_cpu": net_cpu / mm_cpu,
            "torch_exporter": exporter, "torch_max_abs_diff": max_diff,
        }
        row["speedup_native_basic"] = med["plain_basic"] / med["native_basic"]
        row["speedup_native_basic_cpu"] = cpu["plain_basic"] / cpu["native_basic"]
        line = (f"  optimize=True vs False @BASIC: {speedup:.2f}x (p10 {row['speedup_basic_p10']:.2f}x, "
                f"CPU time {row['speedup_basic_cpu']:.2f}x); target='onnxruntime-native' vs optimize=False "
                f"@BASIC: {row['speedup_native_basic']:.2f}x (CPU time {row['speedup_native_basic_cpu']:.2f}x)")
        if "opt_off" in med:
            row["speedup_disable"] = med["plain_off"] / med["opt_off"]
            line += f"; @DISABLE: {row['speedup_disable']:.2f}x"
        if "torch_all" in med:
            row["torch_ratio"] = med["opt_all"] / med["torch_all"]
            row["torch_ratio_p10"] = p10["opt_all"] / p10["torch_all"]
            row["torch_ratio_cpu"] = cpu["opt_all"] / cpu["torch_all"]
            line += (f"; slimir/torch @ALL: {row['torch_ratio']:.3f} (p10 {row['torch_ratio_p10']:.3f}, "
                     f"CPU time {row['torch_ratio_cpu']:.3f})")
        row["gflops_p10"] = net.flops / p10["opt_all"] / 1e9
        print(line)
        print(f"  slimir optimize=True @ALL: {net.flops / 1e9:.3f} GFLOP/batch -> best run {net_best:.1f}, "
              f"median {gflops:.1f}, per CPU-second x {args.threads} {net_cpu:.1f} GFLOP/s; numpy matmul "
              f"between the rounds ({len(probe.times)} runs): best {mm_best:.1f}, median {mm_med:.1f}, "
              f"per CPU-second x {args.threads} {mm_cpu:.1f} GFLOP/s -> {100 * row['peak_fraction']:.0f}% "
              f"best/best, {100 * row['peak_fraction_median']:.0f}% median/median, "
              f"{100 * row['peak_fraction_cpu']:.0f}% CPU/CPU")
        if net.flops_fixed_batch != net.flops:
            print(f"  note: describe_graph at batch {batch} gives {net.flops_fixed_batch / 1e9:.3f} GFLOP, "
                  f"per example x {batch} {net.flops / 1e9:.3f} (used); describe_onnx (Conv/Gemm/MatMul): "
                  f"{net.onnx_flops / 1e9:.3f} GFLOP")
        results.append(row)

        if args.profile and name in args.profile:
            print(f"  -- ONNX Runtime profile ({args.profile_runs} runs each after one warm-up)")
            todo = [(net.plain, feed, "slimir optimize=False @BASIC", "basic", op_counts(net.plain)),
                    (net.optimized, feed, "slimir optimize=True @BASIC", "basic", op_counts(net.optimized)),
                    (net.optimized, feed, "slimir optimize=True @ALL", "all", op_counts(net.optimized))]
            if torch_path is not None:
                todo.append((torch_path, variants[-1].feed, "torch.onnx @ALL", "all",
                             op_counts(onnx.load(torch_path, load_external_data=False))))
            for model, fd, label, level, exported in todo:
                p = profile_session(model, fd, args.threads, providers, args.profile_runs, label, level)
                print_profile(p, exported)
                profiles.append({"net": name, **{k: p[k] for k in ("label", "wall_ms", "by_op", "ran_ops")}})
        for v in variants:
            v.session = None
        if tmpdir is not None:
            tmpdir.cleanup()
        print(flush=True)

    # Summary
    print("== summary (wall ms: median (p10)); ratio = opt=F/opt=T @BASIC, s/t = slimir/torch @ALL, "
          "each also from the median CPU time of the process (cpu)")
    print("GFLOP/s = best run of slimir optimize=True @ALL, np mm = best numpy matmul (2048x2048) of the "
          "start and of the runs between the net's rounds; frac = their ratio (median/median and CPU/CPU "
          "in parentheses)")
    hdr = (f"{'net':<9} {'opt=F@BASIC':>18} {'opt=T@BASIC':>18} {'ratio':>6} {'(cpu)':>6} {'opt=T@ALL':>18} "
           f"{'torch@ALL':>18} {'s/t':>6} {'(cpu)':>6} {'GFLOP/s':>8} {'np mm':>6} {'frac':>5} "
           f"{'(med, cpu)':>11}")
    print(hdr)
    def cell(r, k):
        m, q = r["median_ms"], r["p10_ms"]
        return f"{m[k]:8.2f} ({q[k]:7.2f})" if k in m else f"{'-':>18}"

    for r in results:
        print(f"{r['net']:<9} {cell(r, 'plain_basic')} {cell(r, 'opt_basic')} {r['speedup_basic']:5.2f}x "
              f"{r['speedup_basic_cpu']:5.2f}x {cell(r, 'opt_all')} {cell(r, 'torch_all')} "
              f"{(format(r['torch_ratio'], '6.3f') if 'torch_ratio' in r else '     -')} "
              f"{(format(r['torch_ratio_cpu'], '6.3f') if 'torch_ratio' in r else '     -')} "
              f"{r['gflops_best']:8.1f} {r['matmul_gflops_best']:6.1f} {100 * r['peak_fraction']:4.0f}% "
              f"({100 * r['peak_fraction_median']:3.0f}%, {100 * r['peak_fraction_cpu']:3.0f}%)")
    print("\ntargets:")
    verdicts = []
    for r in results:
        if r["net"] in SPEEDUP_NETS:
            ok = r["speedup_basic"] >= SPEEDUP_TARGET
            verdicts.append(ok)
            miss = 100 * (SPEEDUP_TARGET / r["speedup_basic"] - 1)
            print(f"  {r['net']}: optimize=True/False @BASIC {r['speedup_basic']:.2f}x "
                  f"(>= {SPEEDUP_TARGET}x) {'PASS' if ok else f'MISS by {miss:.0f}%'}"
                  f"  [CPU time: {r['speedup_basic_cpu']:.2f}x]")
            nat = r["speedup_native_basic"]
            print(f"  {r['net']}: target='onnxruntime-native' / optimize=False @BASIC {nat:.2f}x "
                  f"(>= {SPEEDUP_TARGET}x) {'PASS' if nat >= SPEEDUP_TARGET else 'MISS'}"
                  f"  [CPU time: {r['speedup_native_basic_cpu']:.2f}x]")
        if "torch_ratio" in r:
            ok = r["torch_ratio"] <= TORCH_RATIO_TARGET
            slower = 100 * (r["torch_ratio"] - 1)
            verdicts.append(ok)
            print(f"  {r['net']}: slimir/torch.onnx @ALL {r['torch_ratio']:.3f} (<= {TORCH_RATIO_TARGET}) "
                  f"{'PASS' if ok else f'MISS: {slower:.1f}% slower'}"
                  f"  [p10: {r['torch_ratio_p10']:.3f}, CPU time: {r['torch_ratio_cpu']:.3f}]")
        if r["net"] in PEAK_NETS:
            miss = 100 * (PEAK_FRACTION_TARGET - r["peak_fraction"])
            ok = r["peak_fraction"] >= PEAK_FRACTION_TARGET
            verdicts.append(ok)
            print(f"  {r['net']}: {100 * r['peak_fraction']:.0f}% of numpy matmul GFLOP/s, best/best "
                  f"(>= {100 * PEAK_FRACTION_TARGET:.0f}%) "
                  f"{'PASS' if ok else f'MISS by {miss:.0f} points'}  [median/median: "
                  f"{100 * r['peak_fraction_median']:.0f}%, CPU time: {100 * r['peak_fraction_cpu']:.0f}%]")
    if torch is None:
        print(f"  slimir/torch.onnx: not measured ({torch_note})")
    peak_np_end = numpy_matmul_gflops()
    print(f"numpy matmul again at the end: {peak_np_end:.1f} GFLOP/s (start {peak_np:.1f}); "
          f"load average at the end: {load_average()}; total {time.perf_counter() - started:.0f} s")

    if args.json:
        out = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu_model(),
               "cores": os.cpu_count(), "threads": args.threads, "providers": providers,
               "versions": {"python": platform.python_version(), "numpy": np.__version__,
                            "onnx": onnx.__version__, "onnxruntime": ort.__version__,
                            "slimir": slimir.__version__,
                            "torch": torch.__version__ if torch is not None else None},
               "command": " ".join(sys.argv), "numpy_matmul_gflops": [peak_np, peak_np_end],
               "openblas_core": core, "ort_matmul_gflops": peak_ort, "torch_matmul_gflops": peak_torch,
               "results": results,
               "profiles": profiles, "targets_met": all(verdicts) if verdicts else None}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
