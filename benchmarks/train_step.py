"""Training-step time of slimir on ONNX Runtime against PyTorch eager and torch.compile (issues 4 and 14).

One training step = forward + loss + backward + optimiser update, float32, on five networks:

  * lenet (28x28x1, batch 32, 10 classes): slimir.nets' lenet through nets_factory (its dropout active);
  * cifarnet (32x32x3, batch 32, 10 classes): the VGG-style net issue 4 defines for this benchmark (not
    TF-Slim's cifarnet): [conv3x3 64]x2, pool, [conv3x3 128]x2, pool, [conv3x3 256]x3, pool, fc 512, fc 10,
    relu, SAME padding, max_pool2d 2x2, written with slim layers ("VGG-mini" in issue 14);
  * mobilenet_v1 (128x128x3, batch 16, 1001 classes): batch norm, relu6, depthwise convolutions, dropout;
  * inception_v1 (112x112x3, batch 16, 1001 classes, global_pool=True since the 7x7 pool needs 224 inputs):
    batch norm without gamma, concatenated branches, dropout;
  * resnet_v1_50 (112x112x3, batch 16, 1001 classes): batch norm with gamma, bottlenecks, stride in the last
    unit of each block as TF-Slim has it.

The four ImageNet-style nets come from slimir.nets.nets_factory.get_network_fn(name, classes,
is_training=True) (weight_decay 0: no regularisation losses), so batch norm runs in training mode (batch
moments, moving averages updated by the train op) and dropout with the net's own keep probability.
Loss slim.losses.sparse_softmax_cross_entropy, optimiser slim.train.MomentumOptimizer(0.01, 0.9), train op
slim.learning.create_train_op. slimir's row times `sess.run(train_op, feed)` of a
slim.Session(intra_op_num_threads=T): the whole step is ONE ONNX model run by ONNX Runtime.

PyTorch runs equivalent NCHW modules written here with the same layers, in the same order, with the same
FLOPs (checked: PyTorch's FlopCounterMode against slimir's conv + matmul FLOPs), SGD momentum 0.9,
zero_grad(set_to_none=True), in-place ReLU/ReLU6 as torchvision has them, BatchNorm2d with TF's epsilon and
momentum = 1 - decay (weight frozen at 1 where TF-Slim has no gamma). TF's 'SAME' padding is reproduced
exactly: where TF pads asymmetrically (stride 2 on even sizes: the odd pixel goes after), max pools use
ceil_mode (no copy) and convolutions an explicit F.pad (mobilenet_v1's four stride-2 depthwise layers and the
3-channel first convolutions; about 1% of PyTorch's mobilenet_v1 step in torch.profiler). slimir's initial
variables (weights, biases, batch-norm beta/gamma/moving statistics) are copied into them: every variable
must map to exactly one PyTorch tensor of the same size. Before timing, two steps from those weights on
the same batch are compared across runtimes, in processes of their own (torch.compile's in its timed one),
with dropout off (slimir's nets built with dropout_keep_prob=1, PyTorch's p = 0): the first loss within
1e-4 relative; the second within 1e-4, or 2e-2 on the batch-norm nets, whose float32 gradients at
initialisation are ill-conditioned (PyTorch's own float32 second loss is 1e-2 from its float64 one on
resnet_v1_50; --check-float64 reports each runtime's distance from PyTorch in float64); and the first update
(lr x gradient) of every trainable tensor within 0.1 of PyTorch eager's, in Frobenius norm
(slimir's are within 2.5e-2 on all five nets; a missing or zero gradient is 1).
"torch.compile" (inductor) is a separate runtime, left out with the reason printed when it fails to compile
or run, and flagged where its losses differ (on the nets with dropout it is compiled twice: with dropout off
for the check, with the net's dropout for the timed steps). Found so: torch 2.13.0+cpu's inductor returns
zero gradients for the convolutions of cifarnet (minimal case: nn.Sequential(Conv2d, ReLU(), MaxPool2d,
Flatten, Linear), loss .sum(): the compiled Conv2d weight gradient is 0).

`--baseline-python PATH` adds the runtime "slimir-base": this same script run by another interpreter whose
environment has another slimir checkout installed, so that two slimir versions and PyTorch are timed in ONE
interleaved run (same batch, same initial weights).

Each runtime lives in its own child process (this script with --child, started with subprocess and talking
over two pipes: JSON headers and numpy .npz payloads, no pickle), so its peak RSS (ru_maxrss: interpreter,
imports, graph build and compilation included, and the initial weights it was sent) is its own. The parent runs `--rounds` rounds; in each,
every runtime does `--steps` timed steps, starting at a rotating runtime (round-robin), so drift of the
shared machine hits them alike. Reported per runtime: median, p10 and min ms/step, spread (median/p10 - 1),
side-by-side ratios (against PyTorch eager, and slimir against slimir-base), achieved GFLOP/s (3x the
forward FLOPs of slimir's op FLOP rules over the median), peak RSS and its ratio to PyTorch's, and the
machine's 2048^3 float32 matmul GFLOP/s (numpy and ONNX Runtime, at the start and at the end).

Then (unless --no-profile) slimir's step (and slimir-base's) of each net in --profile-nets (default: all) is
profiled: ONNX Runtime's profiler on a copy of the Session's own ORT session, same model and options, run
through the Session's own sess.run path; time per op type, per part of the step (conv forward, dX, dW,
depthwise forward/dX/dW, batch-norm forward/backward/moving averages, activations, pooling forward/backward,
optimiser update, layout Transposes, ...), per layer, the top-20 nodes, the Transposes, ORT's run time
beyond its kernels, and the host overhead (wall time of sess.run minus the time spent inside ORT's
run_with_iobinding, measured on the unprofiled session). PyTorch eager's step is profiled with
torch.profiler beside it.

    python benchmarks/train_step.py [--nets NET ...] [--steps N] [--rounds R] [--threads T]
                                    [--device cpu|cuda] [--warmup W] [--no-torch] [--no-compile]
                                    [--baseline-python PATH] [--check-float64] [--wait-quiet S]
                                    [--no-profile] [--profile-nets NET ...] [--profile-runs N]
                                    [--what-if] [--json PATH]

Targets: issue 14: slimir's median step <= 1.0x PyTorch eager's on inception_v1 and resnet_v1_50, <= 1.25x on
lenet, cifarnet and mobilenet_v1, p10-to-median spread within 15%, peak RSS <= 1.5x PyTorch's; issue 4:
slimir at most 0.85x onnxruntime-training's reference (36 ms lenet, 255 ms cifarnet).
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

LR = 0.01
MOMENTUM = 0.9
SEED = 1234
TARGET = 0.85  # issue 4: slimir / onnxruntime-training


@dataclass(frozen=True)
class NetSpec:
    hw: int  # input height = width
    channels: int
    batch: int
    classes: int
    factory: str | None  # name in slimir.nets.nets_factory (None: this script's VGG-mini)
    kwargs: dict = field(default_factory=dict)  # extra arguments of the network function
    keep_prob: float | None = None  # the net's dropout keep probability (None: no dropout)
    steps: int = 10  # default timed steps per runtime per round
    target: float = 1.25  # issue 14: slimir median / PyTorch eager median
    batch_norm: bool = False


NETS = {
    "lenet": NetSpec(28, 1, 32, 10, "lenet", keep_prob=0.5, steps=30),
    "cifarnet": NetSpec(32, 3, 32, 10, None, steps=10),
    "mobilenet_v1": NetSpec(128, 3, 16, 1001, "mobilenet_v1", keep_prob=0.999, steps=10, batch_norm=True),
    "inception_v1": NetSpec(112, 3, 16, 1001, "inception_v1", {"global_pool": True}, keep_prob=0.8, steps=5,
                            target=1.0, batch_norm=True),
    "resnet_v1_50": NetSpec(112, 3, 16, 1001, "resnet_v1_50", steps=5, target=1.0, batch_norm=True),
}
RUNTIMES = ("slimir", "slimir-base", "torch", "torch-compile")
SPREAD_TARGET = 0.15  # issue 14: median / p10 - 1
RSS_TARGET = 1.5  # issue 14: slimir's peak RSS / PyTorch's
# Reference figures, ms/step, 2 threads, this machine class: issue 4 (onnxruntime-training, batch 32) and
# issue 14's table (median, all frameworks in one run, before issue 14's work).
REF_ORT_TRAINING = {"lenet": 36.0, "cifarnet": 255.0}
REF_ISSUE14 = {  # net -> (slimir, PyTorch eager, torch.compile, TF-Slim on TF 2.21)
    "lenet": (33, 21, 30, 21),
    "cifarnet": (402, 230, 234, 193),
    "mobilenet_v1": (606, 257, 269, 189),
    "inception_v1": (1403, 1154, 987, 719),
    "resnet_v1_50": (984, 697, 656, 588),
}
CIFAR_SPEC = [(64, 2), (128, 2), (256, 3)]  # (channels, convs) per block, each block then max-pooled
MOBILENET_DEFS = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512)] + [(1, 512)] * 5 + [(2, 1024), (1, 1024)]
INCEPTION_MODULES = {  # end point: (branch_0 1x1, branch_1 (1x1, 3x3), branch_2 (1x1, 3x3), branch_3 pool + 1x1)
    "Mixed_3b": (64, (96, 128), (16, 32), 32),
    "Mixed_3c": (128, (128, 192), (32, 96), 64),
    "Mixed_4b": (192, (96, 208), (16, 48), 64),
    "Mixed_4c": (160, (112, 224), (24, 64), 64),
    "Mixed_4d": (128, (128, 256), (24, 64), 64),
    "Mixed_4e": (112, (144, 288), (32, 64), 64),
    "Mixed_4f": (256, (160, 320), (32, 128), 128),
    "Mixed_5b": (256, (160, 320), (32, 128), 128),
    "Mixed_5c": (384, (192, 384), (48, 128), 128),
}
RESNET50_BLOCKS = [(3, 64), (4, 128), (6, 256), (3, 512)]  # (units, bottleneck depth); stride 2 in the last unit of 1-3

from machine import cpu_model, numpy_matmul_gflops, ort_matmul_gflops, percentile, set_thread_env


# ------------------------------------------------------------------------------------------
# Arguments, environment, machine


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps per runtime per round (default: " +
                        ", ".join(f"{k} {v.steps}" for k, v in NETS.items()) + ")")
    p.add_argument("--rounds", type=int, default=7, help="round-robin rounds (default 7)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per runtime after compilation")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads of every runtime (default 2)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cuda: ONNX Runtime's CUDAExecutionProvider (skipped with a message when absent)")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch (eager and compiled) out even when it imports")
    p.add_argument("--no-compile", action="store_true", help="leave the torch.compile runtime out")
    p.add_argument("--baseline-python", default=None, metavar="PATH",
                   help="also time 'slimir-base': this script run by the Python interpreter PATH, whose environment "
                        "has another slimir checkout installed (e.g. /work/base/.venv/bin/python)")
    p.add_argument("--check-float64", action="store_true",
                   help="also run PyTorch's two check steps in float64 and report each runtime's losses' distance "
                        "from them (about a minute per batch-norm net on 2 cores)")
    p.add_argument("--wait-quiet", type=float, default=30.0,
                   help="before each round, wait up to this many seconds until other processes use less than "
                        f"{QUIET_CORES} cores (0: do not wait)")
    p.add_argument("--no-profile", action="store_true", help="skip the profiles")
    p.add_argument("--profile-nets", nargs="+", default=None, choices=list(NETS),
                   help="nets whose step is profiled (default: all of --nets)")
    p.add_argument("--profile-runs", type=int, default=10, help="profiled steps (after 2 unrecorded ones)")
    p.add_argument("--what-if", action="store_true",
                   help="also time the proposed lowering changes, prototyped as graph surgery on slimir's compiled "
                        "step, for the --profile-nets (measurement only; written for cifarnet's layers)")
    p.add_argument("--what-if-rounds", type=int, default=20, help="rounds of the what-if comparison")
    p.add_argument("--what-if-steps", type=int, default=3, help="timed steps per variant per what-if round")
    p.add_argument("--json", default=None, help="also write all results to this JSON file")
    args = p.parse_args(argv)
    for k in ("steps", "rounds", "threads", "profile_runs"):
        v = getattr(args, k)
        if v is not None and v < 1:
            p.error(f"--{k.replace('_', '-')} must be >= 1")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    if args.baseline_python is not None:
        exe = os.path.abspath(os.path.expanduser(args.baseline_python))
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            p.error(f"--baseline-python {args.baseline_python}: not an executable file")
        args.baseline_python = exe
    if args.profile_nets is None:
        args.profile_nets = list(args.nets)
    return args


def git_revision(root: str | None = None, dirty_paths=("slimir", "passes", "runtime")) -> str:
    """The commit of the checkout at `root` (default: this script's), and whether slimir/, passes/ or
    runtime/ differ from it."""
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *dirty_paths], cwd=root,
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        return (rev or "unknown") + (" (slimir/passes/runtime modified)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
QUIET_CORES = 0.25  # a segment is "clean" when other processes used less CPU than this (in cores) during it


def _machine_jiffies() -> tuple:
    """(busy, steal) jiffies of the whole machine since boot (/proc/stat), or (0, 0)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal


def _proc_jiffies(pids) -> int:
    """utime + stime (all threads) of these processes."""
    tot = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            tot += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    return tot


class Contention:
    """CPU that *other* processes used while a segment ran, in cores (machine busy + steal jiffies minus those
    of our own processes), so that a segment disturbed by a shared machine's neighbours can be told apart."""

    def __init__(self, pids):
        self.pids = list(pids)

    def start(self):
        self._t = time.perf_counter()
        self._m = _machine_jiffies()
        self._p = _proc_jiffies(self.pids)

    def stop(self) -> float:
        dt = time.perf_counter() - self._t
        busy, steal = _machine_jiffies()
        own = _proc_jiffies(self.pids) - self._p
        other = (busy - self._m[0]) + (steal - self._m[1]) - own
        return max(0.0, other / _HZ / max(dt, 1e-6))


def wait_quiet(max_wait_s: float, own_pids, window_s: float = 1.0) -> float:
    """Wait (up to max_wait_s) until other processes use less than QUIET_CORES; returns their last usage."""
    meter = Contention(own_pids)
    t_end = time.perf_counter() + max_wait_s
    while True:
        meter.start()
        time.sleep(window_s)
        other = meter.stop()
        if other < QUIET_CORES or time.perf_counter() >= t_end:
            return other


def loadavg() -> tuple:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def median(xs: list) -> float:
    return percentile(xs, 50.0)


def rss_kib() -> int:
    """Current resident set size of this process (VmRSS), KiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0



def batch_for(net: str):
    """The benchmark's fixed batch for `net`: NHWC float32 images and int64 labels (seeded)."""
    import numpy as np

    s = NETS[net]
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((s.batch, s.hw, s.hw, s.channels)).astype(np.float32)
    y = rng.integers(0, s.classes, s.batch).astype(np.int64)
    return x, y


# ------------------------------------------------------------------------------------------
# slimir


def slimir_cifarnet(images, num_classes: int = 10, scope: str = "cifarnet"):
    """The benchmark's VGG-style CIFAR net, TF-Slim style (NHWC, relu, SAME, 2x2 max pools)."""
    import slimir as slim

    with (slim.variable_scope(scope, "cifarnet", [images]), slim.arg_scope([slim.conv2d], padding="SAME"),
          slim.arg_scope([slim.max_pool2d], padding="VALID")):
        net = images
        for b, (channels, convs) in enumerate(CIFAR_SPEC, start=1):
            net = slim.repeat(net, convs, slim.conv2d, channels, [3, 3], scope=f"conv{b}")
            net = slim.max_pool2d(net, [2, 2], 2, scope=f"pool{b}")
        net = slim.flatten(net)
        net = slim.fully_connected(net, 512, scope="fc4")
        return slim.fully_connected(net, num_classes, activation_fn=None, scope="fc5")


def slimir_logits(net: str, images, dropout: bool = True):
    """The logits of `net` in training mode; dropout=False builds the net with dropout_keep_prob=1."""
    s = NETS[net]
    if s.factory is None:
        return slimir_cifarnet(images, s.classes)
    from slimir.nets import nets_factory

    kwargs = dict(s.kwargs)
    if not dropout and s.keep_prob is not None:
        kwargs["dropout_keep_prob"] = 1.0
    logits, _ = nets_factory.get_network_fn(s.factory, s.classes, is_training=True)(images, **kwargs)
    return logits


_CONV_MM_OPS = re.compile(r"conv|matmul|gemm", re.IGNORECASE)


class SlimirRunner:
    def __init__(self, net: str, threads: int, device: str, dropout: bool = True):
        from slimir.runtime.inspect import describe_graph

        import slimir as slim

        s = NETS[net]
        self.net = net
        self.graph = slim.Graph()
        with self.graph.as_default():
            slim.set_random_seed(SEED)
            self.images = slim.placeholder(slim.float32, [s.batch, s.hw, s.hw, s.channels], name="images")
            self.labels = slim.placeholder(slim.int64, [s.batch], name="labels")
            logits = slimir_logits(net, self.images, dropout)
            slim.losses.sparse_softmax_cross_entropy(logits, self.labels)
            total_loss = slim.losses.get_total_loss()
            optimizer = slim.train.MomentumOptimizer(learning_rate=LR, momentum=MOMENTUM)
            self.train_op = slim.learning.create_train_op(total_loss, optimizer)
            rep = describe_graph(logits)
            self.fwd_flops = rep.total_flops
            self.fwd_flops_conv_mm = sum(n.flops for n in rep.nodes if _CONV_MM_OPS.search(n.op))
            self.sess = slim.Session(graph=self.graph, device=device, intra_op_num_threads=threads)
            self.sess.run(slim.global_variables_initializer())
            self.model_vars = {v.op.name: v for v in slim.get_model_variables()}
        x, y = batch_for(net)
        self.feed = {self.images: x, self.labels: y}
        self.threads = threads
        self.first_step_s = None  # the first sess.run of the train op lowers and compiles it

    def weights(self) -> dict:
        """The model variables (weights, biases, batch-norm beta/gamma/moving statistics) by name."""
        return {k: self.sess.variable_value(v).copy() for k, v in self.model_vars.items()}

    def load(self, values: dict) -> None:
        """Set the model variables from `values` (by name; all of them must be there)."""
        missing = sorted(set(self.model_vars) - set(values))
        if missing:
            raise KeyError(f"load: no value for {len(missing)} model variables, e.g. {missing[:3]}")
        for k, v in self.model_vars.items():
            self.sess.set_variable_value(v, values[k])

    def check(self, arg=None) -> dict:
        """Two steps from the current variables on the benchmark's batch: their losses, and with
        arg["updates"] the variables after the first step."""
        l1 = self.step()
        after = self.weights() if arg and arg.get("updates") else None
        return {"losses": [l1, self.step()], "after1": after}

    def step(self, feed=None) -> float:
        if self.first_step_s is None:
            t0 = time.perf_counter()
            loss = float(self.sess.run(self.train_op, feed or self.feed))
            self.first_step_s = time.perf_counter() - t0
            return loss
        return float(self.sess.run(self.train_op, feed or self.feed))

    def compiled(self):
        comps = [c for c in self.sess._cache.values() if c.sess is not None]
        return comps[-1]

    def ort_inputs(self) -> dict:
        comp = self.compiled()
        low = comp.lowered
        out = {}
        for name, t in zip(comp.input_names, low.feeds + low.variables):
            out[name] = self.feed[t] if t in self.feed else self.sess.variable_value(t)
        return out


# ------------------------------------------------------------------------------------------
# PyTorch: the same networks, NCHW, with TF's padding and batch-norm constants


def tf_pads(size: int, k: int, stride: int, padding) -> tuple:
    """(before, after) zero padding of one spatial dimension: TF's 'SAME' (the odd pixel after), 'VALID', or
    an explicit symmetric int (resnet_utils.conv2d_same's explicit pad followed by a 'VALID' conv)."""
    if padding == "VALID":
        return 0, 0
    if isinstance(padding, int):
        return padding, padding
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def _torch_layers():
    """The PyTorch building blocks (defined on first use: importing this script must not import torch)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class TFConv(nn.Module):
        """conv2d [+ batch norm] [+ relu/relu6] of one TF-Slim layer scope. bn = (epsilon, decay, scale) or None;
        biases only without batch norm, as slim.conv2d with normalizer_fn."""

        def __init__(self, scope, cin, cout, k, stride=1, padding="SAME", act="relu", bn=None, depthwise=False):
            super().__init__()
            self.tf_scope = scope
            self.k, self.stride, self.padding, self.act, self.depthwise = k, stride, padding, act, depthwise
            groups = cin if depthwise else 1
            self.conv = nn.Conv2d(cin, cin if depthwise else cout, k, stride, padding=0, groups=groups,
                                  bias=bn is None)
            self.bn = None
            if bn is not None:
                eps, decay, scale = bn
                self.bn = nn.BatchNorm2d(self.conv.out_channels, eps=eps, momentum=1.0 - decay)
                if not scale:  # TF-Slim's batch_norm(scale=False): no gamma, x_hat * 1 + beta
                    self.bn.weight.requires_grad_(False)

        def forward(self, x):
            pt, pb = tf_pads(x.shape[2], self.k, self.stride, self.padding)
            pl, pr = tf_pads(x.shape[3], self.k, self.stride, self.padding)
            if pt == pb and pl == pr:
                x = F.conv2d(x, self.conv.weight, self.conv.bias, self.stride, (pt, pl), 1, self.conv.groups)
            else:  # TF pads the odd pixel after: only an explicit pad reproduces it
                x = F.conv2d(F.pad(x, (pl, pr, pt, pb)), self.conv.weight, self.conv.bias, self.stride, 0, 1,
                             self.conv.groups)
            if self.bn is not None:
                x = self.bn(x)
            if self.act == "relu":
                x = F.relu(x, inplace=True)
            elif self.act == "relu6":
                x = F.relu6(x, inplace=True)
            return x

    class TFMaxPool(nn.Module):
        def __init__(self, k, stride, padding="SAME"):
            super().__init__()
            self.k, self.stride, self.padding = k, stride, padding

        def forward(self, x):
            pt, pb = tf_pads(x.shape[2], self.k, self.stride, self.padding)
            pl, pr = tf_pads(x.shape[3], self.k, self.stride, self.padding)
            if pt == pb and pl == pr:
                return F.max_pool2d(x, self.k, self.stride, (pt, pl))
            if pt == pl == 0:  # TF's odd pixel after: the last window runs off the end (ceil_mode), no copy
                y = F.max_pool2d(x, self.k, self.stride, 0, ceil_mode=True)
                if y.shape[2] == -(-x.shape[2] // self.stride) and y.shape[3] == -(-x.shape[3] // self.stride):
                    return y
            return F.max_pool2d(F.pad(x, (pl, pr, pt, pb), value=float("-inf")), self.k, self.stride)

    class MobileNetV1(nn.Module):
        def __init__(self, classes, keep_prob):
            super().__init__()
            bn = (0.001, 0.9997, True)
            s = "MobilenetV1/"
            layers = [TFConv(s + "Conv2d_0", 3, 32, 3, 2, act="relu6", bn=bn)]
            cin = 32
            for i, (stride, depth) in enumerate(MOBILENET_DEFS, start=1):
                layers.append(TFConv(f"{s}Conv2d_{i}_depthwise", cin, cin, 3, stride, act="relu6", bn=bn,
                                     depthwise=True))
                layers.append(TFConv(f"{s}Conv2d_{i}_pointwise", cin, depth, 1, 1, act="relu6", bn=bn))
                cin = depth
            self.body = nn.Sequential(*layers)
            self.drop = nn.Dropout(1.0 - keep_prob)
            self.logits = TFConv(s + "Logits/Conv2d_1c_1x1", cin, classes, 1, act=None, bn=None)

        def forward(self, x):
            x = self.body(x)
            k = (min(7, x.shape[2]), min(7, x.shape[3]))  # AvgPool_1a, reduced for small inputs; slim's stride 2
            x = F.avg_pool2d(x, k, 2)
            return torch.flatten(self.logits(self.drop(x)), 1)

    class Mixed(nn.Module):
        def __init__(self, scope, cin, spec, bn):
            super().__init__()
            d0, (d1a, d1b), (d2a, d2b), d3 = spec
            second = "Conv2d_0a_3x3" if scope.endswith("Mixed_5b") else "Conv2d_0b_3x3"  # TF-Slim's name there
            self.b0 = TFConv(f"{scope}/Branch_0/Conv2d_0a_1x1", cin, d0, 1, bn=bn)
            self.b1 = nn.Sequential(TFConv(f"{scope}/Branch_1/Conv2d_0a_1x1", cin, d1a, 1, bn=bn),
                                    TFConv(f"{scope}/Branch_1/Conv2d_0b_3x3", d1a, d1b, 3, bn=bn))
            self.b2 = nn.Sequential(TFConv(f"{scope}/Branch_2/Conv2d_0a_1x1", cin, d2a, 1, bn=bn),
                                    TFConv(f"{scope}/Branch_2/{second}", d2a, d2b, 3, bn=bn))
            self.b3 = nn.Sequential(TFMaxPool(3, 1), TFConv(f"{scope}/Branch_3/Conv2d_0b_1x1", cin, d3, 1, bn=bn))
            self.cout = d0 + d1b + d2b + d3

        def forward(self, x):
            return torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x)], 1)

    class InceptionV1(nn.Module):
        def __init__(self, classes, keep_prob):
            super().__init__()
            bn = (0.001, 0.9997, False)  # inception_arg_scope: batch_norm_scale=False
            s = "InceptionV1/"
            layers = [TFConv(s + "Conv2d_1a_7x7", 3, 64, 7, 2, bn=bn), TFMaxPool(3, 2),
                      TFConv(s + "Conv2d_2b_1x1", 64, 64, 1, bn=bn), TFConv(s + "Conv2d_2c_3x3", 64, 192, 3, bn=bn),
                      TFMaxPool(3, 2)]
            cin = 192
            for name in ("Mixed_3b", "Mixed_3c", "MaxPool_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
                         "Mixed_4f", "MaxPool_5a_2x2", "Mixed_5b", "Mixed_5c"):
                if name.startswith("MaxPool"):
                    layers.append(TFMaxPool(3 if name.endswith("3x3") else 2, 2))
                    continue
                m = Mixed(s + name, cin, INCEPTION_MODULES[name], bn)
                layers.append(m)
                cin = m.cout
            self.body = nn.Sequential(*layers)
            self.drop = nn.Dropout(1.0 - keep_prob)
            self.logits = TFConv(s + "Logits/Conv2d_0c_1x1", cin, classes, 1, act=None, bn=None)

        def forward(self, x):
            x = self.body(x).mean((2, 3), keepdim=True)  # global_pool
            return torch.flatten(self.logits(self.drop(x)), 1)

    class Bottleneck(nn.Module):
        def __init__(self, scope, cin, depth, bottleneck, stride, bn):
            super().__init__()
            if cin == depth:
                self.shortcut = TFMaxPool(1, stride) if stride > 1 else nn.Identity()  # resnet_utils.subsample
            else:
                self.shortcut = TFConv(scope + "/shortcut", cin, depth, 1, stride, act=None, bn=bn)
            self.conv1 = TFConv(scope + "/conv1", cin, bottleneck, 1, bn=bn)
            # conv2d_same: SAME at stride 1, else an explicit symmetric pad and a VALID conv
            self.conv2 = TFConv(scope + "/conv2", bottleneck, bottleneck, 3, stride, "SAME" if stride == 1 else 1,
                                bn=bn)
            self.conv3 = TFConv(scope + "/conv3", bottleneck, depth, 1, act=None, bn=bn)

        def forward(self, x):
            return F.relu(self.shortcut(x) + self.conv3(self.conv2(self.conv1(x))), inplace=True)

    class ResNetV1_50(nn.Module):
        def __init__(self, classes):
            super().__init__()
            bn = (1e-5, 0.997, True)
            s = "resnet_v1_50/"
            layers = [TFConv(s + "conv1", 3, 64, 7, 2, 3, bn=bn), TFMaxPool(3, 2)]
            cin = 64
            for b, (units, base) in enumerate(RESNET50_BLOCKS, start=1):
                for u in range(1, units + 1):
                    stride = 2 if (u == units and b < len(RESNET50_BLOCKS)) else 1
                    layers.append(Bottleneck(f"{s}block{b}/unit_{u}/bottleneck_v1", cin, 4 * base, base, stride, bn))
                    cin = 4 * base
            self.body = nn.Sequential(*layers)
            self.logits = TFConv(s + "logits", cin, classes, 1, act=None, bn=None)

        def forward(self, x):
            x = self.body(x).mean((2, 3), keepdim=True)  # pool5
            return torch.flatten(self.logits(x), 1)

    return {"mobilenet_v1": MobileNetV1, "inception_v1": InceptionV1, "resnet_v1_50": ResNetV1_50}


def torch_module(net: str):
    import torch
    from torch import nn

    s = NETS[net]
    if net == "lenet":
        class LeNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
                self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
                self.pool = nn.MaxPool2d(2, 2)
                self.fc3 = nn.Linear(7 * 7 * 64, 1024)
                self.drop = nn.Dropout(1.0 - s.keep_prob)
                self.fc4 = nn.Linear(1024, s.classes)

            def forward(self, x):
                x = self.pool(torch.relu(self.conv1(x)))
                x = self.pool(torch.relu(self.conv2(x)))
                x = torch.flatten(x, 1)
                return self.fc4(self.drop(torch.relu(self.fc3(x))))

        return LeNet()
    if net == "cifarnet":
        layers = []
        cin = 3
        for channels, convs in CIFAR_SPEC:
            for _ in range(convs):
                layers += [nn.Conv2d(cin, channels, 3, padding=1), nn.ReLU(inplace=False)]
                cin = channels
            layers.append(nn.MaxPool2d(2, 2))
        layers += [nn.Flatten(), nn.Linear(4 * 4 * 256, 512), nn.ReLU(), nn.Linear(512, s.classes)]
        return nn.Sequential(*layers)
    cls = _torch_layers()[net]
    return cls(s.classes) if s.keep_prob is None else cls(s.classes, s.keep_prob)


def torch_load(model, net: str, values: dict) -> None:
    """slimir's (TF-layout) variables into the NCHW module: HWIO -> OIHW, depthwise [kh, kw, C, 1] ->
    [C, 1, kh, kw], [in, out] -> [out, in]; the first fc's rows permuted from TF-Slim's NHWC flatten order
    (h, w, c) to NCHW's (c, h, w); batch norm beta/gamma/moving_mean/moving_variance into bias/weight/
    running_mean/running_var. Raises when a variable or a PyTorch tensor is left over."""
    import torch

    def conv(w):
        return torch.from_numpy(w.transpose(3, 2, 0, 1).copy())

    def fc(w):
        return torch.from_numpy(w.T.copy())

    def flat_fc(w, h, c):
        out = w.shape[1]
        return torch.from_numpy(w.reshape(h, h, c, out).transpose(3, 2, 0, 1).reshape(out, c * h * h).copy())

    def set_(layer, w, b):
        with torch.no_grad():
            layer.weight.copy_(w)
            layer.bias.copy_(torch.from_numpy(b.copy()))

    if net == "lenet":
        s = "LeNet/"
        set_(model.conv1, conv(values[s + "conv1/weights"]), values[s + "conv1/biases"])
        set_(model.conv2, conv(values[s + "conv2/weights"]), values[s + "conv2/biases"])
        set_(model.fc3, flat_fc(values[s + "fc3/weights"], 7, 64), values[s + "fc3/biases"])
        set_(model.fc4, fc(values[s + "fc4/weights"]), values[s + "fc4/biases"])
        return
    if net == "cifarnet":
        convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
        fcs = [m for m in model if isinstance(m, torch.nn.Linear)]
        names = [f"cifarnet/conv{b}/conv{b}_{i}" for b, (_, n) in enumerate(CIFAR_SPEC, 1) for i in range(1, n + 1)]
        for m, name in zip(convs, names):
            set_(m, conv(values[name + "/weights"]), values[name + "/biases"])
        set_(fcs[0], flat_fc(values["cifarnet/fc4/weights"], 4, 256), values["cifarnet/fc4/biases"])
        set_(fcs[1], fc(values["cifarnet/fc5/weights"]), values["cifarnet/fc5/biases"])
        return
    used, loaded = set(), set()

    def take(name):
        used.add(name)
        return torch.from_numpy(values[name].copy())

    with torch.no_grad():
        for m in model.modules():
            scope = getattr(m, "tf_scope", None)
            if scope is None:
                continue
            if m.depthwise:
                m.conv.weight.copy_(take(scope + "/depthwise_weights").permute(2, 3, 0, 1))
            else:
                m.conv.weight.copy_(take(scope + "/weights").permute(3, 2, 0, 1))
            loaded.add(id(m.conv.weight))
            if m.conv.bias is not None:
                m.conv.bias.copy_(take(scope + "/biases"))
                loaded.add(id(m.conv.bias))
            if m.bn is not None:
                bn = scope + "/BatchNorm/"
                m.bn.bias.copy_(take(bn + "beta"))
                if bn + "gamma" in values:
                    m.bn.weight.copy_(take(bn + "gamma"))
                else:
                    m.bn.weight.fill_(1.0)
                m.bn.running_mean.copy_(take(bn + "moving_mean"))
                m.bn.running_var.copy_(take(bn + "moving_variance"))
                loaded.update((id(m.bn.bias), id(m.bn.weight)))
    left = sorted(set(values) - used)
    unloaded = [n for n, p in model.named_parameters() if id(p) not in loaded]
    if left or unloaded:
        raise ValueError(f"{net}: the PyTorch module does not match slimir's variables: slimir variables not "
                         f"mapped {left[:5]} ({len(left)}), PyTorch parameters not loaded {unloaded[:5]} "
                         f"({len(unloaded)})")


def torch_export(model, net: str) -> dict:
    """The inverse of torch_load for the trainable tensors: {slimir variable name: numpy array in TF layout}."""
    import torch

    def np_(t):
        return t.detach().cpu().numpy()

    def conv(w):  # OIHW -> HWIO
        return np_(w).transpose(2, 3, 1, 0).copy()

    def flat_fc(w, h, c):  # [out, c*h*w] in (c, h, w) order -> [h*w*c, out] in (h, w, c) order
        out = w.shape[0]
        return np_(w).reshape(out, c, h, h).transpose(2, 3, 1, 0).reshape(h * h * c, out).copy()

    out = {}
    if net == "lenet":
        s = "LeNet/"
        out[s + "conv1/weights"], out[s + "conv1/biases"] = conv(model.conv1.weight), np_(model.conv1.bias).copy()
        out[s + "conv2/weights"], out[s + "conv2/biases"] = conv(model.conv2.weight), np_(model.conv2.bias).copy()
        out[s + "fc3/weights"], out[s + "fc3/biases"] = flat_fc(model.fc3.weight, 7, 64), np_(model.fc3.bias).copy()
        out[s + "fc4/weights"], out[s + "fc4/biases"] = np_(model.fc4.weight).T.copy(), np_(model.fc4.bias).copy()
        return out
    if net == "cifarnet":
        convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
        fcs = [m for m in model if isinstance(m, torch.nn.Linear)]
        names = [f"cifarnet/conv{b}/conv{b}_{i}" for b, (_, n) in enumerate(CIFAR_SPEC, 1) for i in range(1, n + 1)]
        for m, name in zip(convs, names):
            out[name + "/weights"], out[name + "/biases"] = conv(m.weight), np_(m.bias).copy()
        out["cifarnet/fc4/weights"] = flat_fc(fcs[0].weight, 4, 256)
        out["cifarnet/fc4/biases"] = np_(fcs[0].bias).copy()
        out["cifarnet/fc5/weights"], out["cifarnet/fc5/biases"] = np_(fcs[1].weight).T.copy(), np_(fcs[1].bias).copy()
        return out
    for m in model.modules():
        scope = getattr(m, "tf_scope", None)
        if scope is None:
            continue
        if m.depthwise:  # [C, 1, kh, kw] -> [kh, kw, C, 1]
            out[scope + "/depthwise_weights"] = np_(m.conv.weight).transpose(2, 3, 0, 1).copy()
        else:
            out[scope + "/weights"] = conv(m.conv.weight)
        if m.conv.bias is not None:
            out[scope + "/biases"] = np_(m.conv.bias).copy()
        if m.bn is not None:
            out[scope + "/BatchNorm/beta"] = np_(m.bn.bias).copy()
            if m.bn.weight.requires_grad:
                out[scope + "/BatchNorm/gamma"] = np_(m.bn.weight).copy()
    return out


class TorchRunner:
    def __init__(self, net: str, threads: int, device: str, compile_: bool = False):
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(SEED)
        self.torch = torch
        self.dev = torch.device("cuda" if device == "cuda" else "cpu")
        self.net = net
        self.model = torch_module(net).to(self.dev).train()
        x, y = batch_for(net)
        self.x, self.y = self._tensors(x, y)
        self.fwd_flops_conv_mm = None
        if not compile_:  # PyTorch's own count of the forward's conv + matmul FLOPs, against slimir's
            from torch.utils.flop_counter import FlopCounterMode

            state = {k: v.clone() for k, v in self.model.state_dict().items()}
            with torch.no_grad(), FlopCounterMode(display=False) as fc:
                self.model(self.x)
            self.fwd_flops_conv_mm = int(fc.get_total_flops())
            self.model.load_state_dict(state)  # (the forward moved the batch-norm running statistics)
        self.compiled = compile_
        self.fwd = torch.compile(self.model) if compile_ else self.model
        self._new_optimizer()
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def _new_optimizer(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = self.torch.optim.SGD(params, lr=LR, momentum=MOMENTUM)

    def _tensors(self, x, y):
        t = self.torch
        return (t.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(self.dev), t.from_numpy(y).to(self.dev))

    def load(self, values: dict) -> None:
        torch_load(self.model, self.net, values)
        self.model.to(self.dev)
        self._new_optimizer()

    def check(self, arg=None) -> dict:
        """Two steps from the current weights, with dropout off (p = 0) when arg["dropout_off"]: their losses,
        and with arg["updates"] the trainable tensors after the first step (TF layout, slimir's names); the
        weights, batch-norm statistics and optimiser are restored afterwards. (A compiled module with dropout
        is compiled twice: with p = 0 here, with its p in the timed steps.)"""
        drops = [m for m in self.model.modules() if isinstance(m, self.torch.nn.Dropout)]
        off = bool(arg and arg.get("dropout_off")) and any(m.p > 0 for m in drops)
        state = {k: v.clone() for k, v in self.model.state_dict().items()}
        ps = [m.p for m in drops]
        if off:
            for m in drops:
                m.p = 0.0
        try:
            l1 = self.step()
            after = torch_export(self.model, self.net) if arg and arg.get("updates") else None
            losses = [l1, self.step()]
        finally:
            for m, p in zip(drops, ps):
                m.p = p
            self.model.load_state_dict(state)
            self._new_optimizer()
        return {"losses": losses, "after1": after}

    def truth(self, arg=None) -> list:
        """check()'s two steps in float64 on a copy of the module (dropout off when arg["dropout_off"]): the
        reference against which float32 losses of ill-conditioned steps (batch norm at init) are judged."""
        import copy

        torch = self.torch
        model = copy.deepcopy(self.model).to(torch.float64).train()
        if arg and arg.get("dropout_off"):
            for m in model.modules():
                if isinstance(m, torch.nn.Dropout):
                    m.p = 0.0
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=LR, momentum=MOMENTUM)
        x = self.x.to(torch.float64)
        losses = []
        for _ in range(2):
            opt.zero_grad(set_to_none=True)
            loss = self.loss_fn(model(x), self.y)
            loss.backward()
            opt.step()
            losses.append(float(loss.item()))
        return losses

    def step(self, x=None, y=None) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.fwd(self.x if x is None else x), self.y if y is None else y)
        loss.backward()
        self.opt.step()
        return float(loss.item())  # .item() synchronises on CUDA


# ------------------------------------------------------------------------------------------
# Child processes: one runtime, one net; messages over two pipes (JSON header + .npz arrays, no pickle)


def _encode(obj, arrays: dict):
    import numpy as np

    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__ndarray__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {str(k): _encode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays) for v in obj]
    return obj


def _decode(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__ndarray__"}:
            return arrays[obj["__ndarray__"]]
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def send_msg(f, obj) -> None:
    import numpy as np

    arrays: dict = {}
    head = json.dumps(_encode(obj, arrays)).encode()
    blob = b""
    if arrays:
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        blob = buf.getvalue()
    f.write(struct.pack("<QQ", len(head), len(blob)))
    f.write(head)
    f.write(blob)
    f.flush()


def _read_exact(f, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = f.read(n - len(out))
        if not chunk:
            raise EOFError("the other process closed its pipe")
        out += chunk
    return bytes(out)


def recv_msg(f):
    import numpy as np

    n_head, n_blob = struct.unpack("<QQ", _read_exact(f, 16))
    head = json.loads(_read_exact(f, n_head))
    arrays = {}
    if n_blob:
        with np.load(io.BytesIO(_read_exact(f, n_blob)), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    return _decode(head, arrays)


def _slimir_facts() -> dict:
    """Where the imported slimir lives, its checkout's commit, and the versions around it."""
    import numpy
    import onnxruntime

    import slimir

    root = os.path.dirname(os.path.dirname(os.path.abspath(slimir.__file__)))
    return {"slimir_root": root, "revision": git_revision(root), "python": platform.python_version(),
            "executable": sys.executable, "numpy": numpy.__version__, "onnxruntime": onnxruntime.__version__}


def worker(rf, wf, runtime: str, net: str, threads: int, device: str, dropout: bool = True) -> None:
    import resource

    kind = "slimir" if runtime.startswith("slimir") else "torch"
    try:
        import numpy as np  # noqa: F401  (counted in the baseline)

        if kind == "slimir":
            import onnxruntime  # noqa: F401

            import slimir  # noqa: F401
        else:
            if runtime == "torch-compile":
                os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")  # no pool of compile workers
            import torch
        base = {"rss_kib": rss_kib(), "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
        t0 = time.perf_counter()
        if kind == "slimir":
            r = SlimirRunner(net, threads, device, dropout=dropout)
        else:
            r = TorchRunner(net, threads, device, compile_=(runtime == "torch-compile"))
        info = {"build_s": time.perf_counter() - t0, "base": base}
        if kind == "slimir":
            info.update(fwd_flops=r.fwd_flops, fwd_flops_conv_mm=r.fwd_flops_conv_mm, facts=_slimir_facts())
        else:
            import torch

            info.update(fwd_flops_conv_mm=r.fwd_flops_conv_mm,
                        facts={"torch": torch.__version__, "python": platform.python_version()})
        send_msg(wf, ["ready", info])
    except Exception as e:  # noqa: BLE001
        import traceback

        send_msg(wf, ["error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"])
        return
    while True:
        try:
            cmd, arg = recv_msg(rf)
        except EOFError:
            return
        try:
            if cmd == "stop":
                send_msg(wf, ["ok", None])
                return
            if cmd == "weights":
                send_msg(wf, ["ok", r.weights()])
            elif cmd == "load":
                r.load(arg)
                send_msg(wf, ["ok", None])
            elif cmd == "check":
                send_msg(wf, ["ok", r.check(arg)])
            elif cmd == "truth":
                send_msg(wf, ["ok", r.truth(arg)])
            elif cmd == "time":
                times = []
                for _ in range(arg):
                    t0 = time.perf_counter()
                    r.step()
                    times.append(time.perf_counter() - t0)
                send_msg(wf, ["ok", times])
            elif cmd == "mem":
                send_msg(wf, ["ok", {"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                     "rss_kib": rss_kib(), "first_step_s": getattr(r, "first_step_s", None)}])
            elif cmd == "whatif":
                send_msg(wf, ["ok", what_if_slimir(r, **arg)])
            elif cmd == "profile":
                fn = profile_slimir if kind == "slimir" else profile_torch
                send_msg(wf, ["ok", fn(r, **arg)])
            else:
                send_msg(wf, ["error", f"unknown command {cmd}"])
        except Exception as e:  # noqa: BLE001
            import traceback

            send_msg(wf, ["error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"])


def child_main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    set_thread_env(spec["threads"])
    with os.fdopen(spec["rfd"], "rb") as rf, os.fdopen(spec["wfd"], "wb") as wf:
        worker(rf, wf, spec["runtime"], spec["net"], spec["threads"], spec["device"], spec.get("dropout", True))
    return 0


class Child:
    """One runtime's process: this script with --child, run by `python` (default: this interpreter)."""

    def __init__(self, runtime: str, net: str, threads: int, device: str, python: str | None = None,
                 dropout: bool = True):
        self.runtime = runtime
        p_read, c_write = os.pipe()  # child -> parent
        c_read, p_write = os.pipe()  # parent -> child
        spec = {"runtime": runtime, "net": net, "threads": threads, "device": device, "dropout": dropout,
                "rfd": c_read, "wfd": c_write}
        self.proc = subprocess.Popen([python or sys.executable, os.path.abspath(__file__), "--child",
                                      json.dumps(spec)], pass_fds=(c_read, c_write), close_fds=True)
        os.close(c_read)
        os.close(c_write)
        self.rf = os.fdopen(p_read, "rb")
        self.wf = os.fdopen(p_write, "wb")
        self.info = None
        self.error = None
        self.times: list = []
        self.segments: list = []  # (other processes' CPU in cores, [seconds per step]) per timed segment

    def _recv(self):
        try:
            return recv_msg(self.rf)
        except EOFError:
            rc = self.proc.wait(30)
            raise RuntimeError(f"{self.runtime}: its process ended (exit status {rc})") from None

    def wait_ready(self) -> bool:
        try:
            status, payload = self._recv()
        except RuntimeError as e:
            self.error = str(e)
            return False
        if status == "ready":
            self.info = payload
            return True
        self.error = payload
        self.stop()
        return False

    def call(self, cmd: str, arg=None):
        send_msg(self.wf, [cmd, arg])
        status, payload = self._recv()
        if status != "ok":
            raise RuntimeError(f"{self.runtime}: {payload}")
        return payload

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                send_msg(self.wf, ["stop", None])
                self._recv()
            except (OSError, EOFError, RuntimeError, ValueError):
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                print(f"({self.runtime} child did not stop; killing pid {self.proc.pid})")
                self.proc.kill()
                self.proc.wait(10)
        for f in (self.rf, self.wf):
            try:
                f.close()
            except OSError:
                pass


# ------------------------------------------------------------------------------------------
# Profiles

_LAYER_RE = re.compile(r"conv\d+(_\d+)?|Conv2d_\w+|shortcut|fc\d+|pool\d+|MaxPool_\w+|AvgPool_\w+|logits")


def _layer_of(name: str) -> str:
    """The layer scope a node of the step belongs to (from slimir's scope names, the net's root scope left
    out: 'conv1/conv1_1', 'Conv2d_3_depthwise', 'Mixed_4b/Branch_1/Conv2d_0b_3x3',
    'block1/unit_2/bottleneck_v1/conv2'), or ''."""
    n = re.sub(r"^(gradients/|Momentum/update_)", "", name)
    comps = n.split("/")
    comps = [c for i, c in enumerate(comps) if i == 0 or c != comps[i - 1]]  # MobilenetV1/MobilenetV1/...
    last = max((i for i, c in enumerate(comps) if _LAYER_RE.fullmatch(c)), default=None)
    if last is None:
        return ""
    first = 1 if last > 0 and not _LAYER_RE.fullmatch(comps[0]) else 0
    return "/".join(comps[first:last + 1])


# (regex on the node name, part): the first match wins; Transposes are one part whatever their scope.
_PART_RULES = [
    (r"Momentum/|/update_|global_step|GradientDescent/|Adam/|RMSProp/", "optimizer update"),
    (r"AssignMovingAvg", "batch-norm moving averages"),
    (r"DepthwiseConv2dNativeBackpropFilter", "depthwise dW"),
    (r"DepthwiseConv2dNativeBackpropInput", "depthwise dX"),
    (r"Conv2DBackpropFilter", "conv dW"),
    (r"Conv2DBackpropInput", "conv dX"),
    (r"BatchNorm[^/]*_grad", "batch-norm backward"),
    (r"(Relu6?|Elu|Sigmoid|Tanh)_grad", "activation backward"),
    (r"(MaxPool|AvgPool|pool\d*|global_pool)_grad|MaxPoolGrad", "pooling backward"),
    (r"BiasAdd_grad", "bias grad (ReduceSum)"),
    (r"^gradients/.*(/fc\d|MatMul_grad|fully_connected)", "fc backward"),
    (r"^gradients/", "other backward (loss, concat, add, dropout, flatten)"),
    (r"(?i)xentropy|softmax|loss", "loss forward"),
    (r"/depthwise(/|:|$)", "depthwise forward"),
    (r"BatchNorm", "batch-norm forward"),
]
_PART_RULES = [(re.compile(p), part) for p, part in _PART_RULES]
CONV_PARTS = ("conv forward", "conv dX", "conv dW", "depthwise forward", "depthwise dX", "depthwise dW")


def _part_of(name: str, op: str) -> str:
    """Which part of the training step a node computes (from slimir's node names and the op type)."""
    if op == "Transpose":
        return "layout transposes"
    for rx, part in _PART_RULES:
        if rx.search(name):
            return part
    if op in ("Conv", "FusedConv", "NchwcConv") or "Conv2D" in name:
        return "conv forward"
    if op in ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool") or re.search(
            r"MaxPool|AvgPool|/pool\d|global_pool", name):
        return "pooling forward"
    if op in ("Relu", "Clip") or re.search(r"/Relu6?(:|$)", name):
        return "activation forward"
    if re.search(r"/fc\d|LeNet/fc", name):
        return "fc forward"
    return "other forward (concat, add, pad, dropout, flatten)"


def _transpose_kind(perm: list, src: str, graph_inputs: set, producers: dict | None = None) -> str:
    if src in graph_inputs and perm == [3, 2, 0, 1]:
        return "weight HWIO->OIHW reorder (per step, on the variable)"
    p = (producers or {}).get(src)
    if p is not None and p.op_type == "Reshape" and p.input[0] in graph_inputs and perm == [3, 2, 0, 1]:
        return "depthwise weight reorder (per step, on the variable)"
    if src in graph_inputs and perm == [0, 3, 1, 2]:
        return "input batch NHWC->NCHW"
    if perm == [1, 0, 2, 3]:
        return "dW operand [N,C,H,W]->[C,N,H,W]"
    if perm in ([0, 2, 3, 1], [0, 3, 1, 2]):
        return "activation layout NCHW<->NHWC"
    if len(perm) == 2:
        return "2-D transpose"
    return f"other perm {perm}"


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}




def analyse_structure(model, ort_model=None) -> dict:
    """What the lowered step contains, against the recommendations of shared/notes/training-step-on-ort.md."""
    nodes = list(model.graph.node)
    inputs = {i.name for i in model.graph.input}
    producers = {o: n for n in nodes for o in n.output}
    st: dict = {"op_counts": Counter(n.op_type for n in nodes), "n_nodes": len(nodes)}
    tr = []
    for n in nodes:
        if n.op_type == "Transpose":
            perm = list(_attrs(n).get("perm", []))
            tr.append((n.name, perm, _transpose_kind(perm, n.input[0], inputs, producers)))
    st["transposes"] = tr
    layers = defaultdict(lambda: Counter())
    conv_layers = set()
    for n in nodes:
        lay = _layer_of(n.name)
        part = _part_of(n.name, n.op_type)
        if lay:
            layers[lay][(part, n.op_type)] += 1
            if part in CONV_PARTS:
                conv_layers.add(lay)
    st["conv_layers"] = {k: dict(v) for k, v in layers.items() if k in conv_layers}
    # ReLU mask form, pooling backward form, duplicated MaxPools
    st["relu_mask"] = {
        "Where": sum(1 for n in nodes if n.op_type == "Where" and re.search(r"Relu6?_grad", n.name)),
        "Mul(Cast(Greater))": sum(1 for n in nodes if n.op_type == "Cast" and re.search(r"Relu6?_grad", n.name)),
        "ReluGrad-side transposes": sum(1 for n in nodes if n.op_type == "Transpose"
                                        and re.search(r"Relu6?_grad", n.name)),
    }
    pools = [n for n in nodes if n.op_type == "MaxPool"]
    st["maxpool"] = {
        "forward MaxPool": sum(1 for n in pools if not n.name.startswith("gradients/")),
        "forward MaxPool with Indices": sum(1 for n in pools if not n.name.startswith("gradients/")
                                            and len(n.output) > 1 and n.output[1]),
        "MaxPool recomputed in backward": sum(1 for n in pools if n.name.startswith("gradients/")),
        "MaxUnpool": sum(1 for n in nodes if n.op_type == "MaxUnpool"),
        "ScatterElements (pool backward)": sum(1 for n in nodes if n.op_type == "ScatterElements"
                                               and "MaxPool" in n.name),
    }
    # mask applied before or after the pool backward: does the ReLU mask's Mul read the pool grad's output?
    after = 0
    for n in nodes:
        if n.op_type == "Mul" and "Relu_grad" in n.name:
            for i in n.input:
                p = producers.get(i)
                while p is not None and p.op_type in ("Transpose", "Reshape"):
                    p = producers.get(p.input[0])
                if p is not None and "MaxPool_grad" in p.name:
                    after += 1
    st["relu_mask_on_full_size_after_unpool"] = after
    dx = {}
    for n in nodes:
        if n.op_type in ("ConvTranspose", "Conv") and "BackpropInput" in n.name:
            dx[_layer_of(n.name)] = n.op_type
    st["dx_form"] = dx
    dw = {}
    for lay, c in layers.items():
        if lay not in conv_layers:
            continue
        g = sum(v for (part, op), v in c.items() if part in ("conv dW", "depthwise dW") and op in ("Gemm", "MatMul"))
        cc = sum(v for (part, op), v in c.items() if part in ("conv dW", "depthwise dW") and op == "Concat")
        sl = sum(v for (part, op), v in c.items() if part in ("conv dW", "depthwise dW") and op == "Slice")
        cv = sum(v for (part, op), v in c.items() if part in ("conv dW", "depthwise dW") and op == "Conv")
        form = f"{sl} Slice, {g} Gemm, {cc} Concat" + (f", {cv} Conv" if cv else "")
        dw[lay] = form + (" (per-tap Gemm)" if g > 1 else " (im2col: one Gemm)" if g == 1 else "")
    st["dw_form"] = dw
    if ort_model is not None:
        on = list(ort_model.graph.node)
        oin = {i.name for i in ort_model.graph.input}
        oprod = {o: n for n in on for o in n.output}
        st["ort_op_counts"] = Counter(n.op_type for n in on)
        st["ort_transposes"] = [(n.name, list(_attrs(n).get("perm", [])),
                                 _transpose_kind(list(_attrs(n).get("perm", [])), n.input[0], oin, oprod))
                                for n in on if n.op_type == "Transpose"]
        st["ort_fusedconv"] = sum(1 for n in on if n.op_type == "FusedConv")
    return st


# Session config keys copied from the Session's ORT session to the profiled copy (where set there)
_ORT_CONFIG_KEYS = (
    "session.intra_op.allow_spinning", "session.inter_op.allow_spinning", "session.force_spinning_stop",
    "session.disable_prepacking", "session.use_env_allocators", "session.set_denormal_as_zero",
    "session.intra_op_thread_affinities", "session.dynamic_block_base", "session.disable_cpu_ep_fallback",
    "session.use_device_allocator_for_initializers", "session.disable_aot_function_inlining",
    "session.graph_optimizations_loop_level", "optimization.disable_specified_optimizers",
    "session.disable_quant_qdq", "session.enable_quant_qdq_cleanup", "session.qdqisint8allowed",
    "session.x64quantprecision", "session.minimal_build_optimizations", "session.load_model_format",
    "session.save_model_format", "session.memory.enable_memory_arena_shrinkage",
)


def _config_entry(so, key: str) -> str | None:
    """A session config entry of `so`, or None where it is not set (ORT raises then)."""
    try:
        return so.get_session_config_entry(key)
    except (RuntimeError, KeyError, ValueError):
        return None


def _clone_session_options(src, threads: int):
    """A new SessionOptions with the settings of `src` (an ORT session's options)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    for attr in ("intra_op_num_threads", "inter_op_num_threads", "execution_mode", "execution_order",
                 "graph_optimization_level", "enable_cpu_mem_arena", "enable_mem_pattern", "enable_mem_reuse",
                 "use_deterministic_compute", "log_severity_level"):
        try:
            setattr(so, attr, getattr(src, attr))
        except (AttributeError, TypeError, RuntimeError):
            pass
    copied = {}
    for key in _ORT_CONFIG_KEYS:
        v = _config_entry(src, key)
        if v is not None:
            so.add_session_config_entry(key, v)
            copied[key] = v
    if not so.intra_op_num_threads:
        so.intra_op_num_threads = threads
    return so, copied


def _profiled_session(comp, threads: int, tmp: str):
    """An ORT session of the compiled step's model with the Session's options and profiling on."""
    import onnxruntime as ort

    so, copied = _clone_session_options(comp.sess.get_session_options(), threads)
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tmp, "step")
    so.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
    providers = comp.sess.get_providers()
    data = comp.lowered.model.SerializeToString()
    try:
        from slimir.runtime import session as session_mod

        disabled = getattr(session_mod, "REDUNDANT_ORT_OPTIMIZERS", None)
    except ImportError:
        disabled = None
    kw = {"disabled_optimizers": disabled} if disabled else {}
    return ort.InferenceSession(data, so, providers=providers, **kw), so, copied, providers


def _host_overhead(r: SlimirRunner, runs: int) -> dict:
    """Per step on the Session's own (unprofiled) ORT session: wall time of r.step() (sess.run + float) and
    the time inside ORT's run_with_iobinding / run, timed by wrapping the ORT session's methods."""
    comp = r.compiled()
    s = comp.sess
    inner: list = []
    wrapped = []
    for meth in ("run_with_iobinding", "run"):
        real = getattr(s, meth)

        def timed(*a, _real=real, **k):
            t0 = time.perf_counter()
            try:
                return _real(*a, **k)
            finally:
                inner.append(time.perf_counter() - t0)

        setattr(s, meth, timed)
        wrapped.append(meth)
    walls, ins = [], []
    try:
        for _ in range(max(5, runs)):
            n0 = len(inner)
            t0 = time.perf_counter()
            r.step()
            walls.append(time.perf_counter() - t0)
            ins.append(sum(inner[n0:]))
    finally:
        for meth in wrapped:
            try:
                delattr(s, meth)
            except AttributeError:
                pass
    host = [w - i for w, i in zip(walls, ins)]
    return {"sess_run_ms": median(walls) * 1e3, "ort_run_ms": median(ins) * 1e3,
            "host_ms": median(host) * 1e3, "host_p90_ms": percentile(host, 90) * 1e3,
            "host_max_ms": max(host) * 1e3, "runs": len(walls)}


def profile_slimir(r: SlimirRunner, runs: int, threads: int) -> dict:
    """ONNX Runtime's profiler on a copy of the Session's ORT session (same model, options, disabled
    optimisers), put in the Session's place so that the profiled steps take the Session's own sess.run path
    (falls back to plain InferenceSession.run on r.ort_inputs() when the Session did not call it); plus the
    host overhead of sess.run, measured on the unprofiled session."""
    import onnx

    host = _host_overhead(r, runs)
    comp = r.compiled()
    model = comp.lowered.model
    tmp = tempfile.mkdtemp(prefix="slimir_train_prof_")
    psess, so, copied, providers = _profiled_session(comp, threads, tmp)
    warm = 2
    via = "sess.run (the Session's own path)"
    real = comp.sess
    try:
        comp.sess = psess
        for _ in range(warm + runs):
            r.step()
    finally:
        comp.sess = real
    path = psess.end_profiling()
    with open(path) as f:
        events = json.load(f)
    runs_ev = sorted([e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"],
                     key=lambda e: e["ts"])
    if len(runs_ev) < warm + runs:  # the Session did not run the swapped session: run it directly
        via = "InferenceSession.run on the Session's inputs (fallback)"
        psess, so, copied, providers = _profiled_session(comp, threads, tmp)
        inputs = r.ort_inputs()
        for _ in range(warm + runs):
            psess.run(None, inputs)
        path = psess.end_profiling()
        with open(path) as f:
            events = json.load(f)
        runs_ev = sorted([e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"],
                         key=lambda e: e["ts"])
    kept = runs_ev[warm:]
    spans = [(e["ts"], e["ts"] + e["dur"]) for e in kept]
    per_node: dict = defaultdict(float)
    node_op: dict = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        ts = e["ts"]
        if not any(a <= ts <= b for a, b in spans):
            continue
        name = e["name"][: -len("_kernel_time")]
        per_node[name] += e["dur"] / 1000.0 / len(kept)
        node_op[name] = e.get("args", {}).get("op_name", "?")
    try:
        ort_model = onnx.load(so.optimized_model_filepath)
    except Exception:  # noqa: BLE001
        ort_model = None
    shutil.rmtree(tmp, ignore_errors=True)  # (ORT's profile and optimised model: read, not kept)
    by_op: dict = defaultdict(lambda: [0.0, 0])
    by_part: dict = defaultdict(float)
    by_layer: dict = defaultdict(lambda: defaultdict(float))
    for name, ms in per_node.items():
        op = node_op[name]
        by_op[op][0] += ms
        by_op[op][1] += 1
        part = _part_of(name, op)
        by_part[part] += ms
        lay = _layer_of(name)
        if lay:
            by_layer[lay][part] += ms
    # Transposes as ORT ran them, with their time
    oin = {i.name for i in (ort_model or model).graph.input}
    tr_time: dict = defaultdict(lambda: [0.0, 0])
    oprod = {o: n for n in (ort_model or model).graph.node for o in n.output}
    for n in (ort_model or model).graph.node:
        if n.op_type == "Transpose":
            kind = _transpose_kind(list(_attrs(n).get("perm", [])), n.input[0], oin, oprod)
            tr_time[kind][0] += per_node.get(n.name, 0.0)
            tr_time[kind][1] += 1
    model_run = median([(b - a) / 1000.0 for a, b in spans])
    kernel_sum = sum(per_node.values())
    return {
        "runs": len(kept),
        "via": via,
        "model_run_ms": model_run,
        "kernel_sum_ms": kernel_sum,
        "by_op": {k: v for k, v in sorted(by_op.items(), key=lambda kv: -kv[1][0])},
        "top": sorted(((ms, name, node_op[name]) for name, ms in per_node.items()), reverse=True)[:20],
        "by_part": dict(sorted(by_part.items(), key=lambda kv: -kv[1])),
        "by_layer": {k: dict(v) for k, v in sorted(by_layer.items())},
        "transposes_time": {k: v for k, v in tr_time.items()},
        "structure": _jsonable_structure(analyse_structure(model, ort_model)),
        "host": host,
        "bare_run_ms": host["ort_run_ms"],  # (names of the earlier versions of this script)
        "sess_run_ms": host["sess_run_ms"],
        "providers": providers,
        "session_config": copied,
    }


def _jsonable_structure(st: dict) -> dict:
    out = dict(st)
    for k in ("op_counts", "ort_op_counts"):
        if k in out:
            out[k] = dict(out[k].most_common())
    out["conv_layers"] = {lay: {f"{p} / {op}": n for (p, op), n in c.items()} for lay, c in st["conv_layers"].items()}
    return out


def profile_torch(r: TorchRunner, runs: int, threads: int) -> dict:
    from torch.profiler import ProfilerActivity, profile

    for _ in range(2):
        r.step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(runs):
            r.step()
    rows = []
    for ev in prof.key_averages():
        rows.append((ev.self_cpu_time_total / 1000.0 / runs, ev.key, ev.count // runs))
    rows.sort(reverse=True)
    return {"runs": runs, "top": rows[:12], "self_sum_ms": sum(x[0] for x in rows)}


# ------------------------------------------------------------------------------------------
# What-if: the proposed lowering changes prototyped as ONNX graph surgery on slimir's compiled step
#
# Measurement only (nothing here changes slimir): each variant rewrites a copy of the ModelProto the Session
# compiled, is checked against the unmodified model's outputs (loss, new parameters and momenta) on the same
# inputs, and is timed against it in one process, round-robin, with plain InferenceSession.run.


class _Surgery:
    def __init__(self, model, feeds: dict):
        import copy

        self.m = copy.deepcopy(model)
        self.g = self.m.graph
        self.feeds = dict(feeds)
        self._n = 0

    def uid(self, p: str) -> str:
        self._n += 1
        return f"whatif/{p}_{self._n}"

    def const(self, arr) -> str:
        import numpy as np
        from onnx import numpy_helper

        name = self.uid("c")
        self.g.initializer.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def rename_uses(self, old: str, new: str) -> None:
        for n in self.g.node:
            for i, x in enumerate(n.input):
                if x == old:
                    n.input[i] = new

    def producers(self) -> dict:
        return {o: n for n in self.g.node for o in n.output}

    def dce(self) -> None:
        need = {o.name for o in self.g.output}
        keep = []
        for n in reversed(list(self.g.node)):
            if any(o in need for o in n.output):
                keep.append(n)
                need.update(n.input)
        keep.reverse()
        del self.g.node[:]
        self.g.node.extend(keep)

    def insert_before(self, index: int, nodes: list) -> None:
        for k, n in enumerate(nodes):
            self.g.node.insert(index + k, n)


def _wi_weights_oihw(s: _Surgery) -> str:
    """Conv weights kept in OIHW in ORT (fed transposed here): no per-step HWIO->OIHW Transposes for the
    forward and dX; the dW pays one 2-D [kh*kw, Co*Ci] -> [Co*Ci, kh*kw] Transpose instead (added as an
    extra output, as a canonical-OIHW lowering would produce it from per-tap Gemm(dY, X_tap, transB) results)."""
    import numpy as np
    from onnx import TensorProto, helper

    ins = {i.name for i in s.g.input}
    made, drop = {}, []
    for n in s.g.node:
        if n.op_type == "Transpose" and n.input[0] in ins and list(_attrs(n).get("perm", [])) == [3, 2, 0, 1]:
            w = n.input[0]
            if w not in made:
                made[w] = w + "__oihw"
                arr = np.ascontiguousarray(s.feeds[w].transpose(3, 2, 0, 1))
                s.feeds[made[w]] = arr
                s.g.input.append(helper.make_tensor_value_info(made[w], TensorProto.FLOAT, list(arr.shape)))
            s.rename_uses(n.output[0], made[w])
            drop.append(n)
    for n in drop:
        s.g.node.remove(n)
    outputs = {o for n in s.g.node for o in n.output}
    added = 0
    for w in made:  # the layer's dW (HWIO) as [kh*kw, Ci*Co] -> [Ci*Co, kh*kw]: what a 2-D dW reorder costs
        kh, kw = s.feeds[w].shape[:2]
        dw = "gradients/" + w.rsplit("/", 1)[0] + "/Conv2D_grad/Conv2DBackpropFilter:0"
        if dw not in outputs:
            continue
        r, t = s.uid("dw_taps"), s.uid("dw_oihw")
        s.g.node.extend([helper.make_node("Reshape", [dw, s.const(np.array([kh * kw, -1], np.int64))], [r]),
                         helper.make_node("Transpose", [r], [t], perm=[1, 0])])
        s.g.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, [None, None]))
        added += 1
    return f"{len(drop)} HWIO->OIHW Transposes removed ({len(made)} weights fed OIHW), {added} 2-D dW Transposes added"


def _wi_pool_unpool(s: _Surgery) -> str:
    """Max-pool backward as MaxUnpool(dP * [P > 0], Indices of the forward MaxPool): no recomputed MaxPool, no
    ConstantOfShape + ScatterElements, and the ReLU mask on the pooled side instead of the full-size tensor
    (exact: the gradient only reaches the argmax, where relu's output is the pooled value)."""
    import numpy as np
    from onnx import TensorProto, helper

    prod = s.producers()
    done = 0
    for sc in [n for n in s.g.node if n.op_type == "ScatterElements" and "MaxPool_grad" in n.name]:
        grad_out = sc.name.rsplit("/", 1)[0] + ":0"
        if not any(grad_out in n.input for n in s.g.node):
            continue
        dp = prod[sc.input[2]].input[0]
        rec = prod[prod[sc.input[1]].input[0]]
        x = rec.input[0]
        fwd = next(n for n in s.g.node if n.op_type == "MaxPool" and n.input[0] == x and n is not rec)
        if len(fwd.output) == 1:
            fwd.output.append(s.uid("indices"))
        a = _attrs(fwd)
        shp, gt, cm, dpm, unp = (s.uid(k) for k in ("shape", "gt", "mask", "dpm", "unpool"))
        new = [helper.make_node("Shape", [x], [shp]),
               helper.make_node("Greater", [fwd.output[0], s.const(np.array(0, np.float32))], [gt]),
               helper.make_node("Cast", [gt], [cm], to=TensorProto.FLOAT),
               helper.make_node("Mul", [dp, cm], [dpm]),
               helper.make_node("MaxUnpool", [dpm, fwd.output[1], shp], [unp], kernel_shape=a["kernel_shape"],
                                strides=a.get("strides", a["kernel_shape"]))]
        s.insert_before(min(i for i, n in enumerate(s.g.node) if grad_out in n.input), new)
        s.rename_uses(grad_out, unp)
        for n in list(s.g.node):
            if n.op_type == "Mul" and "Relu_grad" in n.name and unp in n.input:
                s.rename_uses(n.output[0], unp)
        done += 1
    s.dce()
    return f"{done} max-pool backwards -> MaxPool(Indices) + pooled-side mask + MaxUnpool"


def _wi_flipped_dx(s: _Surgery, min_hw: int = 256) -> str:
    """dX of stride-1 convolutions whose dY has H*W >= min_hw as Conv(dY, flipped [Ci, Co, kh, kw] weights)
    instead of ConvTranspose (the notes' per-layer choice); the flipped weights come from HWIO by a tap
    reversal and a 2-D Transpose, or from OIHW by Transpose [1,0,2,3] and a reversing Slice."""
    import numpy as np
    import onnx
    from onnx import helper

    inferred = onnx.shape_inference.infer_shapes(s.m)
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in list(inferred.graph.value_info) + list(inferred.graph.input)}
    prod = s.producers()
    done = 0
    for n in list(s.g.node):
        if n.op_type != "ConvTranspose" or list(_attrs(n).get("strides", [1, 1])) != [1, 1]:
            continue
        dy = n.input[0]
        shp = shapes.get(dy, [])
        if len(shp) != 4 or shp[2] * shp[3] < min_hw:
            continue
        p = prod.get(n.input[1])
        t, wf = s.uid("t"), s.uid("wflip")
        if p is not None and p.op_type == "Transpose":  # HWIO variable
            w = p.input[0]
            kh, kw, ci, co = s.feeds[w].shape
            r, fl = s.uid("r"), s.uid("flip")
            new = [helper.make_node("Reshape", [w, s.const(np.array([kh * kw, ci * co], np.int64))], [r]),
                   helper.make_node("Slice", [r, s.const(np.array([-1], np.int64)),
                                              s.const(np.array([-(2 ** 62)], np.int64)),
                                              s.const(np.array([0], np.int64)), s.const(np.array([-1], np.int64))],
                                    [fl]),
                   helper.make_node("Transpose", [fl], [t], perm=[1, 0]),
                   helper.make_node("Reshape", [t, s.const(np.array([ci, co, kh, kw], np.int64))], [wf])]
        else:  # OIHW graph input
            new = [helper.make_node("Transpose", [n.input[1]], [t], perm=[1, 0, 2, 3]),
                   helper.make_node("Slice", [t, s.const(np.array([-1, -1], np.int64)),
                                              s.const(np.array([-(2 ** 62)] * 2, np.int64)),
                                              s.const(np.array([2, 3], np.int64)),
                                              s.const(np.array([-1, -1], np.int64))], [wf])]
        a = _attrs(n)
        conv = helper.make_node("Conv", [dy, wf], list(n.output), name=n.name + "_as_flipped_conv",
                                kernel_shape=a["kernel_shape"], pads=a.get("pads", [0, 0, 0, 0]),
                                strides=[1, 1], dilations=a.get("dilations", [1, 1]))
        i = list(s.g.node).index(n)
        s.g.node.remove(n)
        s.insert_before(i, new + [conv])
        done += 1
    s.dce()
    return f"{done} ConvTranspose dX -> flipped-weight Conv (dY H*W >= {min_hw})"


def _wi_bias_grad(s: _Surgery) -> str:
    """Conv bias gradient as ReduceSum over the contiguous inner axes of the [C,N,H,W] copy of dY that the
    dW already makes, instead of ReduceSum over axes (0, 2, 3) of NCHW."""
    import numpy as np

    done = 0
    for n in list(s.g.node):
        if n.op_type != "ReduceSum" or "BiasAdd_grad" not in n.name:
            continue
        tr = [p for p in s.g.node if p.op_type == "Transpose" and "Conv2DBackpropFilter" in p.name
              and p.input[0] == n.input[0] and list(_attrs(p).get("perm", [])) == [1, 0, 2, 3]]
        if not tr:
            continue
        n.input[0] = tr[0].output[0]
        n.input[1] = s.const(np.array([1, 2, 3], np.int64))
        s.g.node.remove(n)
        s.g.node.insert(list(s.g.node).index(tr[0]) + 1, n)
        done += 1
    return f"{done} bias gradients from the [C,N,H,W] dY"


WHAT_IF = {
    "weights OIHW in ORT": [_wi_weights_oihw],
    "MaxPool Indices+MaxUnpool": [_wi_pool_unpool],
    "flipped-Conv dX (HW>=256)": [_wi_flipped_dx],
    "bias grad from dW's dY^T": [_wi_bias_grad],
    # flipped dX first: it reads the HWIO Transposes and the static shapes the other rewrites remove
    "all of the above": [_wi_flipped_dx, _wi_weights_oihw, _wi_pool_unpool, _wi_bias_grad],
}


def what_if_slimir(r: SlimirRunner, rounds: int, steps: int, threads: int) -> dict:
    import numpy as np
    import onnxruntime as ort

    comp = r.compiled()
    providers = comp.sess.get_providers()
    feeds0 = r.ort_inputs()

    def session(model):
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = threads
        return ort.InferenceSession(model.SerializeToString(), so, providers=providers)

    variants = {"base (slimir's model)": (session(comp.lowered.model), dict(feeds0), "")}
    for name, fns in WHAT_IF.items():
        s = _Surgery(comp.lowered.model, feeds0)
        notes = "; ".join(fn(s) for fn in fns)
        sess = session(s.m)
        variants[name] = (sess, {i.name: s.feeds[i.name] for i in sess.get_inputs()}, notes)
    base_sess, base_feeds, _ = variants["base (slimir's model)"]
    names = [o.name for o in base_sess.get_outputs()]
    ref = dict(zip(names, base_sess.run(None, base_feeds)))
    out: dict = {}
    for k, (sess, feeds, notes) in variants.items():
        if sess is base_sess:  # (a second run of a seeded random op would draw new numbers)
            out[k] = {"notes": notes, "max_rel_diff": 0.0, "times": []}
            continue
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))  # first run: same draws
        worst = 0.0
        for nme, v in ref.items():
            if v.dtype.kind == "f":
                worst = max(worst, float(np.abs(got[nme].astype(np.float64) - v).max() / max(1e-30, np.abs(v).max())))
        out[k] = {"notes": notes, "max_rel_diff": worst, "times": []}
    keys = list(variants)
    meter = Contention([os.getpid()])
    for rnd in range(rounds):
        for i in range(len(keys)):
            k = keys[(rnd + i) % len(keys)]
            sess, feeds, _ = variants[k]
            time.sleep(0.02)  # let the previous session's spinning workers park
            sess.run(None, feeds)
            meter.start()
            seg = []
            for _ in range(steps):
                t0 = time.perf_counter()
                sess.run(None, feeds)
                seg.append((time.perf_counter() - t0) * 1e3)
            out[k]["times"].extend(seg)
            out[k].setdefault("segments", []).append((meter.stop(), seg))
    return out


def print_what_if(net: str, w: dict) -> list:
    """Per variant: median and p10 over all its steps, and the saving as the median over rounds of
    (base's segment median - the variant's segment median in the same round), with its 25-75% range: pairs
    taken seconds apart cancel most of the drift of a shared machine."""
    lines = [(f"\n=== What-if on slimir's {net} step: proposed lowering changes as graph surgery (ORT run only, "
              "interleaved; saving = base - variant, paired per round) ===")]
    b = w["base (slimir's model)"]
    base_rounds = [median(seg) for _, seg in b["segments"]]
    for k, v in w.items():
        t = v["times"]
        diffs = [bm - median(seg) for bm, (_, seg) in zip(base_rounds, v["segments"])]
        v["paired_saving_ms"] = median(diffs)
        lines.append(f"  {k:<28} median {median(t):6.1f}  p10 {percentile(t, 10):6.1f}   saves {median(diffs):+5.1f} ms "
                     f"paired median [{percentile(diffs, 25):+5.1f}, {percentile(diffs, 75):+5.1f}]"
                     f" (all-steps medians: {median(b['times']) - median(t):+5.1f})   outputs vs base "
                     f"{v['max_rel_diff']:.1e}" + (f"\n  {'':<28} {v['notes']}" if v["notes"] else ""))
    return lines




# ------------------------------------------------------------------------------------------
# Reporting


def fmt_ms(x) -> str:
    return f"{x:8.1f}" if x is not None else "     n/a"


_LAYER_COLS = [("fwd", ("conv forward", "depthwise forward")), ("dX", ("conv dX", "depthwise dX")),
               ("dW", ("conv dW", "depthwise dW")), ("BN fwd", ("batch-norm forward",)),
               ("BN bwd", ("batch-norm backward",)), ("act bwd", ("activation backward",)),
               ("bias", ("bias grad (ReduceSum)",)), ("transp", ("layout transposes",))]


def print_profile(net: str, p: dict, tp: dict | None, timed_median_ms: float | None, label: str = "slimir") -> list:
    lines = []
    w = lines.append
    h = p.get("host", {})
    w(f"\n=== Profile of {label}'s {net} step (ONNX Runtime profiler, {p['runs']} steps through {p.get('via', '?')}, "
      f"{p['providers'][0]}) ===")
    w(f"ORT model_run {p['model_run_ms']:.1f} ms/step (profiled), node kernel times {p['kernel_sum_ms']:.1f} ms, "
      f"ORT's run beyond its kernels {p['model_run_ms'] - p['kernel_sum_ms']:+.1f} ms")
    if h:
        w(f"unprofiled, {h['runs']} steps: sess.run wall {h['sess_run_ms']:.1f} ms, inside ORT's run "
          f"{h['ort_run_ms']:.1f} ms, host overhead (wall - ORT) median {h['host_ms']:.2f} ms, p90 "
          f"{h['host_p90_ms']:.2f}, max {h['host_max_ms']:.2f}; timed median "
          + (f"{timed_median_ms:.1f} ms" if timed_median_ms else "n/a"))
    st = p["structure"]
    w(f"lowered model: {st['n_nodes']} nodes; ONNX Runtime ran "
      f"{sum(st.get('ort_op_counts', {}).values()) or '?'} nodes after its own rewrites"
      + (f"; session config {p['session_config']}" if p.get("session_config") else ""))
    tot = p["kernel_sum_ms"] or 1.0
    w("\nper part of the step (ms/step, % of kernel time):")
    for part, ms in p["by_part"].items():
        w(f"  {part:<52}{ms:8.2f}  {100 * ms / tot:5.1f}%")
    w(f"  {'(ORT run beyond kernel times)':<52}{p['model_run_ms'] - p['kernel_sum_ms']:8.2f}")
    if h:
        w(f"  {'(host overhead: sess.run wall - ORT run)':<52}{h['host_ms']:8.2f}")
    w("\nper op type (ms/step, nodes, % of kernel time), top 15:")
    for op, (ms, n) in list(p["by_op"].items())[:15]:
        w(f"  {op:<22}{ms:8.2f}  {n:4d}  {100 * ms / tot:5.1f}%")
    layers = [(sum(parts.values()), lay, parts) for lay, parts in p["by_layer"].items()]
    layers.sort(reverse=True)
    conv = [x for x in layers if any(x[2].get(k, 0) for k in CONV_PARTS)]
    shown = conv[:15]
    w(f"\nper conv layer (ms/step), the {len(shown)} slowest of {len(conv)}: "
      + " | ".join(c for c, _ in _LAYER_COLS) + " | total; dX form; dW form")
    for total, lay, parts in shown:
        cols = " ".join(f"{sum(parts.get(k, 0) for k in keys):6.2f}" for _, keys in _LAYER_COLS)
        w(f"  {lay:<40}{cols} {total:7.2f}  {st['dx_form'].get(lay, '-')}; {st['dw_form'].get(lay, '-')}")
    if len(conv) > len(shown):
        w(f"  ({len(conv) - len(shown)} more conv layers: {sum(x[0] for x in conv[len(shown):]):.1f} ms)")
    w("\ntop-20 nodes (ms/step):")
    for ms, name, op in p["top"]:
        w(f"  {ms:7.2f}  {op:<16}{name}")
    w("\nTransposes (as ONNX Runtime ran them; count, ms/step):")
    for kind, (ms, n) in sorted(p["transposes_time"].items(), key=lambda kv: -kv[1][0]):
        w(f"  {n:3d}  {ms:7.2f}  {kind}")
    w(f"  (in slimir's lowered model: {len(st['transposes'])} Transposes; "
      + ", ".join(f"{k}: {v}" for k, v in Counter(t[2] for t in st["transposes"]).items()) + ")")
    w("\nstructure vs shared/notes/training-step-on-ort.md:")
    w(f"  ReLU mask: {st['relu_mask']}; masks applied on the full-size tensor after the pool backward: "
      f"{st['relu_mask_on_full_size_after_unpool']}")
    w(f"  MaxPool: {st['maxpool']}")
    w(f"  dX forms: {dict(Counter(st['dx_form'].values()))}; dW forms: {dict(Counter(st['dw_form'].values()))}")
    w(f"  FusedConv nodes in the graph ORT ran: {st.get('ort_fusedconv', '?')}; "
      f"ORT op counts: {st.get('ort_op_counts')}")
    if tp:
        w(f"\nPyTorch eager {net} step, torch.profiler self CPU time (ms/step, calls/step; "
          f"sum {tp['self_sum_ms']:.1f} ms):")
        for ms, key, n in tp["top"]:
            w(f"  {ms:7.2f}  {n:4d}  {key}")
    return lines


def compare_profiles(net: str, profiles: dict) -> list:
    """Per part, side by side: slimir against slimir-base."""
    labels = list(profiles)
    parts = []
    for p in profiles.values():
        parts += [k for k in p["by_part"] if k not in parts]
    lines = [f"\n=== {net}: step by part, " + " vs ".join(labels) + " (ms/step, ORT profiler) ==="]
    lines.append(f"  {'part':<52}" + "".join(f"{lab:>14}" for lab in labels) + f"{'diff':>10}")
    rows = [(k, [p["by_part"].get(k, 0.0) for p in profiles.values()]) for k in parts]
    rows.append(("(ORT run beyond kernel times)", [p["model_run_ms"] - p["kernel_sum_ms"] for p in profiles.values()]))
    rows.append(("(host overhead: sess.run wall - ORT run)", [p.get("host", {}).get("host_ms", 0.0)
                                                              for p in profiles.values()]))
    rows.append(("ORT model_run (profiled)", [p["model_run_ms"] for p in profiles.values()]))
    for k, vals in rows:
        lines.append(f"  {k:<52}" + "".join(f"{v:14.2f}" for v in vals) + f"{vals[0] - vals[-1]:+10.2f}")
    return lines


def runtime_label(rt: str, versions: dict, facts: dict | None) -> str:
    if rt == "slimir":
        return f"slimir {facts.get('revision', '') if facts else ''} (ORT {facts.get('onnxruntime', '?') if facts else '?'})"
    if rt == "slimir-base":
        return f"slimir-base {facts.get('revision', '') if facts else ''} (ORT {facts.get('onnxruntime', '?') if facts else '?'})"
    if rt == "torch":
        return f"PyTorch {versions.get('torch', '')} eager"
    return f"torch.compile {versions.get('torch', '')}"


def ratio(a, b) -> str:
    return f"{a / b:.2f}" if a and b else "-"


def report(results: dict, args, versions: dict) -> list:
    out = []
    w = out.append
    w("")
    w(f"Training step, float32, {args.threads} threads ({args.device}); ms/step over {args.rounds} interleaved "
      "rounds; ratios use the median (p10 in brackets)")
    w(f"2048^3 float32 matmul: numpy {results['sgemm_start']:.0f} / {results['sgemm_end']:.0f} GFLOP/s, ONNX Runtime "
      f"{results['ort_matmul_start']:.0f} / {results['ort_matmul_end']:.0f} GFLOP/s (start / end, best of 7); load "
      f"average {results['load_start'][0]:.2f} at start, {results['load_end'][0]:.2f} at end")
    hdr = (f"{'runtime':<36}{'median':>8}{'p10':>8}{'min':>8}{'spread':>8}{'quiet med (n)':>15}"
           f"{'/torch':>16}{'[rounds]':>9}{'/base':>7}{'GFLOP/s':>9}{'RSS MiB peak (+) end':>24}{'RSS/torch':>10}"
           f"{'losses':>8}")
    for net, res in results["nets"].items():
        s = NETS[net]
        rts = res["runtimes"]
        w("")
        w(f"{net} ({s.hw}x{s.hw}x{s.channels}, batch {s.batch}, {s.classes} classes): forward "
          f"{res['fwd_flops'] / 1e9:.3f} GFLOP (slimir's op rules; conv+matmul {res['fwd_flops_conv_mm'] / 1e9:.3f}"
          + (f", PyTorch FlopCounterMode conv+matmul {res['torch_fwd_flops_conv_mm'] / 1e9:.3f}"
             if res.get("torch_fwd_flops_conv_mm") else "") + "); step = 3x forward")
        w(hdr)
        w("-" * len(hdr))
        tor = rts.get("torch")
        basr = rts.get("slimir-base")
        step_flops = 3 * res["fwd_flops"]
        for rt, r in rts.items():
            vs_t = (f"{r['median_ms'] / tor['median_ms']:.2f} ({r['p10_ms'] / tor['p10_ms']:.2f})"
                    if tor and rt != "torch" else "")
            rounds = (f"[{median([a / b for a, b in zip(r['round_medians_ms'], tor['round_medians_ms'])]):.2f}]"
                      if tor and rt != "torch" else "")
            vs_b = ratio(r["median_ms"], basr["median_ms"]) if basr and rt == "slimir" else ""
            q = f"{r['clean_median_ms']:.1f} ({r['clean_n']})" if r.get("clean_median_ms") else "- (0)"
            gf = f"{step_flops / r['median_ms'] / 1e6:.0f}"
            mem = f"{r['peak_rss_mib']:.0f} (+{r['peak_rss_mib'] - r['base_rss_mib']:.0f}) {r['end_rss_mib']:.0f}"
            rss_t = ratio(r["peak_rss_mib"], tor["peak_rss_mib"]) if tor and rt != "torch" else ""
            ok = {True: "ok", False: "DIFFER", None: "-"}[r.get("loss_check_ok")]
            w(f"{r['label'][:35]:<36}{fmt_ms(r['median_ms'])}{fmt_ms(r['p10_ms'])}{fmt_ms(r['min_ms'])}"
              f"{100 * r['spread']:7.0f}%{q:>15}{vs_t:>16}{rounds:>9}{vs_b:>7}{gf:>9}{mem:>24}{rss_t:>10}{ok:>8}")
        for rt, why in res.get("left_out", {}).items():
            w(f"{rt:<36}left out: {why.splitlines()[0][:160]}")
        lc = res.get("loss_check")
        if lc:
            w("losses of 2 steps from the same weights" + (" (dropout off)" if s.keep_prob else "") + ": "
              + "; ".join(f"{k} " + (" ".join(f"{x:.6f}" for x in v) if v else "n/a")
                          for k, v in lc["losses"].items()) + f" -> {lc['verdict']}")
        ref = REF_ISSUE14[net]
        w(f"reference (issue 14's table, median ms): slimir {ref[0]}, PyTorch eager {ref[1]}, torch.compile {ref[2]}, "
          f"TF-Slim on TF {ref[3]}" + (f"; issue 4: onnxruntime-training {REF_ORT_TRAINING[net]} ms"
                                       if net in REF_ORT_TRAINING else ""))
        sl = rts.get("slimir")
        if sl and tor:
            t_ok = sl["median_ms"] / tor["median_ms"] <= s.target
            s_ok = sl["spread"] <= SPREAD_TARGET
            m_ok = sl["peak_rss_mib"] / tor["peak_rss_mib"] <= RSS_TARGET
            w(f"issue 14 targets: slimir/torch median {sl['median_ms'] / tor['median_ms']:.2f} <= {s.target} "
              f"{'MET' if t_ok else 'NOT MET'}; spread {100 * sl['spread']:.0f}% <= {100 * SPREAD_TARGET:.0f}% "
              f"{'MET' if s_ok else 'NOT MET'}; peak RSS slimir/torch {sl['peak_rss_mib'] / tor['peak_rss_mib']:.2f} "
              f"<= {RSS_TARGET} {'MET' if m_ok else 'NOT MET'}")
            res["targets"] = {"time": t_ok, "spread": s_ok, "rss": m_ok}
        if sl and net in REF_ORT_TRAINING:
            rr = sl["median_ms"] / REF_ORT_TRAINING[net]
            w(f"issue 4 target: slimir <= {TARGET} x onnxruntime-training ref = {TARGET * REF_ORT_TRAINING[net]:.1f} ms: "
              f"{rr:.2f} -> {'MET' if rr <= TARGET else 'NOT MET'}")
        if sl:
            w(f"the step at the matmul rate would take {step_flops / (max(results['sgemm_start'], results['sgemm_end']) * 1e9) * 1e3:.1f} "
              f"ms at numpy's, {step_flops / (max(results['ort_matmul_start'], results['ort_matmul_end']) * 1e9) * 1e3:.1f} "
              f"ms at ORT MatMul's; slimir's first sess.run (lowering + ORT session + one step) "
              f"{res.get('slimir_first_step_s', float('nan')):.1f} s")
    # summary across nets
    w("")
    w("Summary (median ms/step; ratios median/median):")
    cols = ["slimir", "slimir-base", "torch", "torch-compile"]
    hdr = (f"{'net':<14}" + "".join(f"{c:>14}" for c in cols)
           + f"{'slimir/torch':>14}{'base/torch':>12}{'slimir/base':>13}{'spread':>8}{'RSS sl/torch':>14}")
    w(hdr)
    w("-" * len(hdr))
    for net, res in results["nets"].items():
        rts = res["runtimes"]
        med = {c: rts[c]["median_ms"] if c in rts else None for c in cols}
        sl, tor = rts.get("slimir"), rts.get("torch")
        flag = {c: "*" if c in rts and rts[c].get("loss_check_ok") is False else " " for c in cols}
        w(f"{net:<14}" + "".join(f"{med[c]:13.1f}{flag[c]}" if med[c] else f"{'-':>14}" for c in cols)
          + f"{ratio(med['slimir'], med['torch']):>14}{ratio(med['slimir-base'], med['torch']):>12}"
          + f"{ratio(med['slimir'], med['slimir-base']):>13}"
          + (f"{100 * sl['spread']:7.0f}%" if sl else f"{'-':>8}")
          + f"{ratio(sl and sl['peak_rss_mib'], tor and tor['peak_rss_mib']):>14}")
    if any(r.get("loss_check_ok") is False for res in results["nets"].values() for r in res["runtimes"].values()):
        w("* = that runtime's losses or first update DIFFER from PyTorch eager's in the check before timing: it "
          "does not compute the same step")
    w(f"spread = median / p10 - 1; quiet med = median over the timed segments during which other processes used < "
      f"{QUIET_CORES} cores (/proc/stat minus our processes), n = steps; /torch: median/median (p10/p10), "
      "[rounds] = median of the per-round ratios; /base = slimir / slimir-base; GFLOP/s = 3x forward FLOPs / median")
    w("RSS: peak = ru_maxrss (resource.getrusage) of the runtime's own child process, read right after its timed "
      "steps (interpreter, imports, graph build and compilation included); (+x) = above its RSS after the "
      "imports; end = its VmRSS then (steady state)")
    for net, res in results["nets"].items():
        profs = {}
        for rt in ("slimir", "slimir-base"):
            if f"profile_{rt}" in res:
                profs[rt] = res[f"profile_{rt}"]
                out.extend(print_profile(net, profs[rt], res.get("profile_torch") if rt == "slimir" else None,
                                         res["runtimes"].get(rt, {}).get("median_ms"), rt))
        if len(profs) == 2:
            out.extend(compare_profiles(net, profs))
        if "what_if" in res:
            out.extend(print_what_if(net, res["what_if"]))
    return out


def _base_facts(python: str) -> dict:
    """Where the baseline interpreter's slimir lives (and its commit), without importing it here."""
    code = ("import json, os, platform, slimir, onnxruntime; print(json.dumps({'root': os.path.dirname(os.path.dirname("
            "os.path.abspath(slimir.__file__))), 'onnxruntime': onnxruntime.__version__, "
            "'python': platform.python_version()}))")
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                             cwd=os.path.dirname(os.path.abspath(__file__)))  # (as the children: not the repo root)
        facts = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as e:
        raise SystemExit(f"train_step: --baseline-python {python} cannot import slimir and onnxruntime: {e}") from None
    facts["revision"] = git_revision(facts["root"])
    return facts


def _update_diffs(w0: dict, after1: dict) -> dict:
    """Per runtime, how far its first update (initial minus after-one-step values, i.e. lr x the gradient) is
    from the reference's (PyTorch eager where it ran), per trainable tensor: |d - d_ref| / |d_ref| (Frobenius
    norms); the largest, where, and the median."""
    import numpy as np

    ref_rt = "torch" if after1.get("torch") else "slimir"
    ref = after1.get(ref_rt)
    out: dict = {}
    if not ref:
        return out
    for rt, a in after1.items():
        if rt == ref_rt or not a:
            continue
        rel = {}
        for k, r in ref.items():
            if k not in a:
                rel[k] = float("inf")
                continue
            d_ref = w0[k].astype(np.float64) - r
            d = w0[k].astype(np.float64) - a[k]
            rel[k] = float(np.linalg.norm(d - d_ref) / max(float(np.linalg.norm(d_ref)), 1e-30))
        worst = max(rel, key=rel.get)
        out[rt] = {"max": rel[worst], "worst": worst, "median": float(np.median(list(rel.values()))),
                   "tensors": len(rel)}
    return out


def _loss_verdict(losses: dict, batch_norm: bool, truth: list | None = None, updates: dict | None = None) -> dict:
    """Each runtime's two losses against the reference's (PyTorch eager where it ran): the first (the forward
    from the same weights: layers, padding, weight mapping) within LOSS_RTOL; the second (after one update)
    within LOSS_RTOL too, or LOSS_RTOL_BN_STEP2 for batch-norm nets, whose float32 gradients at initialisation
    are ill-conditioned (measured: PyTorch's own float32 gradients differ from float64 by up to 17% per tensor
    on resnet_v1_50, and its second loss by 1e-2 relative; slimir's are as close to float64 as PyTorch's).
    `truth`: PyTorch's float64 losses (--check-float64), reported as each runtime's distance from them.
    `updates`: _update_diffs' result; a runtime whose first update differs from the reference's by more than
    UPDATE_RTOL on any trainable tensor fails too (this catches a wrong gradient that the loss after one step
    of an ill-conditioned net cannot: slimir against PyTorch measured <= 2.5e-2 on every tensor of the five
    nets, while a zero gradient is 1)."""
    ref_rt = "torch" if losses.get("torch") else "slimir"
    ref = losses.get(ref_rt)
    tol = (LOSS_RTOL, LOSS_RTOL_BN_STEP2 if batch_norm else LOSS_RTOL)
    diffs = {}
    bad = []
    for rt, ls in losses.items():
        if rt == ref_rt or not ls or not ref:
            continue
        d = [abs(a - b) / max(1.0, abs(b)) for a, b in zip(ls, ref)]
        diffs[rt] = d
        if any(x > t for x, t in zip(d, tol)):
            bad.append(rt)
    for rt, u in (updates or {}).items():
        if u["max"] > UPDATE_RTOL and rt not in bad:
            bad.append(rt)
    txt = ", ".join(f"{k} {v[0]:.1e} / {v[1]:.1e}" for k, v in diffs.items())
    if not diffs:
        verdict = "not compared"
    else:
        verdict = (f"{'DIFFER (' + ', '.join(bad) + ')' if bad else 'agree'}: relative difference from {ref_rt}, "
                   f"step 1 / step 2: {txt} (tolerances {tol[0]:g} / {tol[1]:g})")
    missing = [rt for rt, ls in losses.items() if not ls]
    if missing:
        verdict += "; not compared: " + ", ".join(missing)
    if updates:
        verdict += (f"; first update vs {ref_rt}'s, worst tensor (tolerance {UPDATE_RTOL:g}): "
                    + ", ".join(f"{k} {u['max']:.1e} ({u['worst']}; median {u['median']:.1e})"
                                for k, u in updates.items()))
    by_rt = {rt: (None if not ls or not ref else rt not in bad) for rt, ls in losses.items()}
    out = {"losses": losses, "reference": ref_rt, "rel_diff": diffs, "tolerances": tol, "ok": not bad,
           "ok_by_runtime": by_rt, "updates": updates or {}, "verdict": verdict}
    if truth:
        out["float64"] = truth
        out["rel_diff_float64"] = {rt: [abs(a - b) / max(1.0, abs(b)) for a, b in zip(ls, truth)]
                                   for rt, ls in losses.items() if ls}
        out["verdict"] += "; from PyTorch float64 (step 1 / step 2): " + ", ".join(
            f"{k} {v[0]:.1e} / {v[1]:.1e}" for k, v in out["rel_diff_float64"].items())
    return out


LOSS_RTOL = 1e-4
LOSS_RTOL_BN_STEP2 = 2e-2
UPDATE_RTOL = 0.1


def run_net(net: str, args, have: dict, results: dict) -> None:
    s = NETS[net]
    steps = args.steps or s.steps
    runtimes = ["slimir"]
    if args.baseline_python:
        runtimes.append("slimir-base")
    if have["torch"] is None:
        runtimes.append("torch")
        if not args.no_compile:
            runtimes.append("torch-compile")
    children: dict = {}
    left_out: dict = {}

    def drop(rt: str, why: str) -> None:
        left_out[rt] = why
        print(f"[{net}] {rt} left out: {why}")
        c = children.pop(rt, None)
        if c is not None:
            c.stop()

    def start(rt: str, dropout: bool = True) -> Child:
        return Child(rt, net, args.threads, args.device,
                     python=args.baseline_python if rt == "slimir-base" else None, dropout=dropout)

    try:
        for rt in runtimes:  # one at a time: the builds do not overlap
            c = start(rt)
            if c.wait_ready():
                children[rt] = c
            else:
                left_out[rt] = c.error
                print(f"[{net}] {rt} failed to start: {c.error}")
        if "slimir" not in children:
            return
        sl = children["slimir"]
        res = results["nets"][net] = {"steps": steps, "runtimes": {}, "left_out": left_out,
                                      "fwd_flops": sl.info["fwd_flops"],
                                      "fwd_flops_conv_mm": sl.info["fwd_flops_conv_mm"]}
        if "torch" in children:
            res["torch_fwd_flops_conv_mm"] = children["torch"].info.get("fwd_flops_conv_mm")
        print(f"\n[{net}] forward {res['fwd_flops'] / 1e9:.3f} GFLOP (slimir op rules; conv+matmul "
              f"{res['fwd_flops_conv_mm'] / 1e9:.3f}"
              + (f", PyTorch FlopCounterMode {res['torch_fwd_flops_conv_mm'] / 1e9:.3f}"
                 if res.get("torch_fwd_flops_conv_mm") else "") + f"), step = 3x = {3 * res['fwd_flops'] / 1e9:.2f} GFLOP")
        # the same initial weights everywhere (slimir's, before its first step), zero momenta, the same batch
        w0 = sl.call("weights")
        for rt in [r for r in children if r != "slimir"]:
            try:
                children[rt].call("load", w0)
            except RuntimeError as e:
                drop(rt, f"could not take slimir's weights: {e}")
        # The check runs in separate processes (slimir's nets built with dropout_keep_prob=1), so that the
        # timed processes' peak RSS holds no copies of weights for it; torch.compile in its timed process
        # (compiling it twice more would take minutes).
        losses: dict = {}
        after1: dict = {}
        truth = None
        check_arg = {"dropout_off": True, "updates": True}
        for rt in list(children):
            try:
                if rt == "torch-compile":
                    got = children[rt].call("check", check_arg)
                else:
                    cc = start(rt, dropout=False)
                    if not cc.wait_ready():
                        raise RuntimeError(cc.error)
                    try:
                        cc.call("load", w0)
                        got = cc.call("check", check_arg)
                        if rt == "torch" and args.check_float64:
                            try:
                                truth = cc.call("truth", {"dropout_off": True})
                            except RuntimeError as e:
                                print(f"[{net}] float64 reference failed: {e}")
                    finally:
                        cc.stop()
                losses[rt], after1[rt] = got["losses"], got["after1"]
            except RuntimeError as e:
                if rt == "torch-compile":
                    drop(rt, f"torch.compile failed: {e}")
                else:
                    losses[rt] = None
                    print(f"[{net}] {rt}: loss check failed: {e}")
        res["loss_check"] = lc = _loss_verdict(losses, s.batch_norm, truth, _update_diffs(w0, after1))
        del after1
        print(f"[{net}] losses of 2 steps from the same weights" + (" (dropout off)" if s.keep_prob else "") + ": "
              + "; ".join(f"{k} " + (" ".join(f"{x:.6f}" for x in v) if v else "n/a") for k, v in losses.items())
              + f": {lc['verdict']}")
        for rt in list(children):
            try:
                t0 = time.perf_counter()
                children[rt].call("time", max(1, args.warmup))
                if rt == "torch-compile":
                    print(f"[{net}] torch-compile warm-up (compilation unless the check compiled it): "
                          f"{time.perf_counter() - t0:.1f} s")
            except RuntimeError as e:
                drop(rt, f"{'torch.compile' if rt == 'torch-compile' else rt} failed in its first steps: {e}")
        if "slimir" not in children:
            return
        first = sl.call("mem")["first_step_s"]
        res["slimir_first_step_s"] = first
        print(f"[{net}] slimir's first sess.run (lowering + ORT session creation + one step): {first:.2f} s")
        loads = []
        order = list(children)
        own = [os.getpid()] + [c.proc.pid for c in children.values()]
        for rnd in range(args.rounds):
            before = wait_quiet(args.wait_quiet, own) if args.wait_quiet > 0 else float("nan")
            segs = []
            for i in range(len(order)):
                c = children[order[(rnd + i) % len(order)]]
                meter = Contention(own)
                meter.start()
                t = c.call("time", steps)
                other = meter.stop()
                c.times.extend(t)
                c.segments.append((other, t))
                segs.append(f"{c.runtime} {median(t) * 1e3:.1f} ({other:.2f})")
            loads.append(loadavg()[0])
            print(f"[{net}] round {rnd + 1}/{args.rounds}: median ms (others' CPU, cores) " + "  ".join(segs)
                  + f"  load {loads[-1]:.2f}" + (f", before {before:.2f}" if args.wait_quiet > 0 else ""))
        for rt, c in children.items():
            mem = c.call("mem")
            base = c.info["base"]
            t = [x * 1e3 for x in c.times]
            clean = [x * 1e3 for o, seg in c.segments if o < QUIET_CORES for x in seg]
            res["runtimes"][rt] = {
                "label": runtime_label(rt, results["versions"], c.info.get("facts")),
                "median_ms": median(t), "p10_ms": percentile(t, 10), "min_ms": min(t), "n": len(t),
                "spread": median(t) / percentile(t, 10) - 1.0,
                "clean_median_ms": median(clean) if clean else None, "clean_n": len(clean),
                "segments_other_cores": [round(o, 3) for o, _ in c.segments],
                "round_medians_ms": [median(t[i:i + steps]) for i in range(0, len(t), steps)],
                "times_ms": t,
                "peak_rss_mib": mem["maxrss_kib"] / 1024, "base_rss_mib": base["rss_kib"] / 1024,
                "end_rss_mib": mem["rss_kib"] / 1024, "build_s": c.info["build_s"], "facts": c.info.get("facts"),
                "loss_check_ok": lc["ok_by_runtime"].get(rt),
            }
        res["load_per_round"] = loads
        if not args.no_profile and net in args.profile_nets:
            for rt in ("slimir", "slimir-base", "torch"):
                if rt not in children:
                    continue
                try:
                    res[f"profile_{rt}"] = children[rt].call(
                        "profile", {"runs": args.profile_runs, "threads": args.threads})
                except RuntimeError as e:
                    print(f"[{net}] {rt} profile failed: {e}")
        if args.what_if and net in args.profile_nets:
            try:
                res["what_if"] = sl.call(
                    "whatif", {"rounds": args.what_if_rounds, "steps": args.what_if_steps, "threads": args.threads})
            except RuntimeError as e:
                print(f"[{net}] what-if failed: {e}")
    finally:
        for c in children.values():
            c.stop()


def main(argv=None) -> int:
    args = parse_args(argv)
    set_thread_env(args.threads)
    import importlib.metadata
    import importlib.util

    import numpy as np  # noqa: F401  (after the thread environment)

    if args.device == "cuda":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            print("train_step: --device cuda skipped: this onnxruntime has no CUDAExecutionProvider "
                  f"(providers: {ort.get_available_providers()}); install onnxruntime-gpu on a CUDA machine")
            return 0

    versions = {"python": platform.python_version()}
    for mod in ("numpy", "onnx", "onnxruntime"):
        versions[mod] = __import__(mod).__version__
    have = {}
    if args.no_torch:
        have["torch"] = "left out (--no-torch)"
    elif importlib.util.find_spec("torch") is None:
        have["torch"] = "not installed"
    else:
        have["torch"] = None
        versions["torch"] = importlib.metadata.version("torch")
    have["ort-training"] = ("installed, but this benchmark does not drive its API"
                            if importlib.util.find_spec("onnxruntime.training") else "not installed")
    have["tf-slim"] = ("installed, but this benchmark does not drive TF-Slim"
                       if importlib.util.find_spec("tensorflow") else "not installed")
    base = _base_facts(args.baseline_python) if args.baseline_python else None

    started = datetime.datetime.now().astimezone()
    print(f"train_step.py  {started:%Y-%m-%d %H:%M %Z}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs; {platform.platform()}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + f"; slimir at {git_revision()}")
    if base:
        print(f"slimir-base: {args.baseline_python}: slimir from {base['root']} at {base['revision']}, "
              f"onnxruntime {base['onnxruntime']}, python {base['python']}")
        if os.path.realpath(base["root"]) == os.path.realpath(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))):
            print("slimir-base: WARNING: the baseline interpreter imports this very checkout")
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"float32, {args.threads} threads, device {args.device}; SGD momentum {MOMENTUM}, lr {LR}; rounds "
          f"{args.rounds}, warm-up {args.warmup}; nets: " + ", ".join(
              f"{n} ({NETS[n].hw}x{NETS[n].hw}x{NETS[n].channels}, batch {NETS[n].batch})" for n in args.nets))
    print("not driven by this script: onnxruntime-training (" + have["ort-training"] + "), TF-Slim/TensorFlow ("
          + have["tf-slim"] + "); PyTorch: " + (have["torch"] or "eager" + ("" if args.no_compile else " + torch.compile")))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in loadavg())}")
    sgemm0 = numpy_matmul_gflops()
    ortmm0 = ort_matmul_gflops(args.threads)
    print(f"2048^3 float32 matmul, {args.threads} threads, best of 7: numpy {sgemm0:.0f} GFLOP/s, "
          f"ONNX Runtime MatMul {ortmm0:.0f} GFLOP/s")

    results: dict = {"started": started.isoformat(), "machine": cpu_model(), "cpus": os.cpu_count(),
                     "versions": versions, "revision": git_revision(), "baseline": base, "have": have,
                     "args": vars(args), "sgemm_start": sgemm0, "ort_matmul_start": ortmm0, "nets": {},
                     "load_start": loadavg()}
    for net in args.nets:
        run_net(net, args, have, results)

    results["sgemm_end"] = numpy_matmul_gflops()
    results["ort_matmul_end"] = ort_matmul_gflops(args.threads)
    results["load_end"] = loadavg()
    print("\n".join(report(results, args, versions)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child_main(sys.argv[2]))
    sys.exit(main())
