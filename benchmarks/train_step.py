"""Training-step time of slimir on ONNX Runtime against PyTorch eager (issue 4, "Performance").

One training step = forward + loss + backward + optimiser update, at batch 32, float32:

  * lenet: slim.nets.lenet (28x28x1, 10 classes, is_training=True, so its dropout is active);
  * cifarnet: the VGG-style CIFAR net the issue defines for this benchmark (not TF-Slim's cifarnet):
    [conv3x3 64]x2, pool, [conv3x3 128]x2, pool, [conv3x3 256]x3, pool, fc 512, fc 10 on 32x32x3,
    relu, SAME padding, max_pool2d 2x2, written with slim layers;

loss slim.losses.sparse_softmax_cross_entropy, optimiser slim.train.MomentumOptimizer(0.01, 0.9),
train op slim.learning.create_train_op. slimir's row times `sess.run(train_op, feed)` of a
slim.Session(intra_op_num_threads=T): the whole step is ONE ONNX model run by ONNX Runtime with IO
binding. PyTorch eager (when torch imports) runs the same architecture with the same initial weights
(NCHW, SGD momentum 0.9, zero_grad(set_to_none=True)); before timing, the losses of two steps on the same
batch are compared with slimir's (cifarnet; lenet's dropout masks differ between the two, so it is not).
onnxruntime-training and TF-Slim/TensorFlow are reported as "not installed" with the issue's reference
figures when they cannot be imported (this script does not drive them).

Each runtime lives in its own child process (spawned), so that its peak RSS (resource.getrusage
ru_maxrss, which includes the interpreter, the imports and compilation) is its own. The parent runs
`--rounds` rounds; in each, every runtime does `--steps` timed steps, starting at a rotating runtime
(round-robin), so drift of the shared machine hits them alike. Reported per runtime: median, p10 and min
ms/step over all timed steps, the ratios, achieved GFLOP/s (3x the forward FLOPs of slimir's op FLOP
rules, runtime.inspect.describe_graph, over the median), the peak RSS, and the machine's numpy 2048^3
float32 matmul GFLOP/s (measured at the start and at the end, with T BLAS threads).

Then (unless --no-profile) slimir's step of the nets in --profile-nets (default cifarnet) is profiled
with ONNX Runtime's profiler (SessionOptions.enable_profiling on the compiled model the Session holds):
time per op type, the top-20 nodes, time per part of the step (forward conv, dX, dW, ReLU/pool backward,
update, ...) and per conv layer, the Transposes (what each is, as ONNX Runtime actually ran them), and a
structure check against the recommendations of shared/notes/training-step-on-ort.md. PyTorch's step is
profiled with torch.profiler beside it.

    python benchmarks/train_step.py [--nets lenet cifarnet] [--steps N] [--rounds R] [--threads T]
                                    [--device cpu|cuda] [--warmup W] [--no-torch] [--no-profile]
                                    [--profile-nets NET ...] [--profile-runs N] [--json PATH]

Target (issue 4): slimir's step at most 0.85x onnxruntime-training's on both nets (reference: 36 ms
lenet, 255 ms cifarnet, onnxruntime-training 1.19.2 on this machine class with 2 threads).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict

BATCH = 32
CLASSES = 10
LR = 0.01
MOMENTUM = 0.9
SEED = 1234
TARGET = 0.85  # slimir / onnxruntime-training
NETS = {"lenet": (28, 1), "cifarnet": (32, 3)}  # name -> (height = width, channels)
DEFAULT_STEPS = {"lenet": 30, "cifarnet": 10}
# The issue's reference figures (ms/step, batch 32, 2 threads, this machine class).
REFERENCE = {
    "ort-training": ("onnxruntime-training 1.19.2", {"lenet": 36.0, "cifarnet": 255.0}),
    "torch": ("PyTorch 2.13 eager", {"lenet": 19.4, "cifarnet": 150.0}),
    "tf-slim": ("TF-Slim on TensorFlow 2.21 CPU", {"lenet": 15.9, "cifarnet": 132.0}),
}
CIFAR_SPEC = [(64, 2), (128, 2), (256, 3)]  # (channels, convs) per block, each block then max-pooled

from machine import cpu_model, numpy_matmul_gflops, ort_matmul_gflops, percentile, set_thread_env


# ------------------------------------------------------------------------------------------
# Arguments, environment, machine


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps per runtime per round (default: lenet 30, cifarnet 10)")
    p.add_argument("--rounds", type=int, default=7, help="round-robin rounds (default 7)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per runtime after compilation")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads of every runtime (default 2)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cuda: ONNX Runtime's CUDAExecutionProvider (skipped with a message when absent)")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it imports")
    p.add_argument("--wait-quiet", type=float, default=30.0,
                   help="before each round, wait up to this many seconds until other processes use less than "
                        f"{QUIET_CORES} cores (0: do not wait)")
    p.add_argument("--no-profile", action="store_true", help="skip the profiles")
    p.add_argument("--profile-nets", nargs="+", default=["cifarnet"], choices=list(NETS))
    p.add_argument("--profile-runs", type=int, default=10, help="profiled steps (after 2 unrecorded ones)")
    p.add_argument("--what-if", action="store_true",
                   help="also time the proposed lowering changes, prototyped as graph surgery on slimir's compiled "
                        "step, for the --profile-nets (measurement only)")
    p.add_argument("--what-if-rounds", type=int, default=20, help="rounds of the what-if comparison")
    p.add_argument("--what-if-steps", type=int, default=3, help="timed steps per variant per what-if round")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    for k in ("steps", "rounds", "threads", "profile_runs"):
        v = getattr(args, k)
        if v is not None and v < 1:
            p.error(f"--{k.replace('_', '-')} must be >= 1")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    return args


def git_revision() -> str:
    """The checkout's commit (and whether slimir/, passes/ or runtime/ differ from it)."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "slimir", "passes", "runtime"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        return rev + (" (slimir/passes/runtime modified)" if dirty else "")
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
    import numpy as np

    hw, c = NETS[net]
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((BATCH, hw, hw, c)).astype(np.float32)
    y = rng.integers(0, CLASSES, BATCH).astype(np.int64)
    return x, y


# ------------------------------------------------------------------------------------------
# slimir


def slimir_cifarnet(images, num_classes: int = CLASSES, scope: str = "cifarnet"):
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


def slimir_logits(net: str, images):
    from slimir.nets import lenet

    if net == "lenet":
        logits, _ = lenet.lenet(images, num_classes=CLASSES, is_training=True)
        return logits
    return slimir_cifarnet(images)


class SlimirRunner:
    def __init__(self, net: str, threads: int, device: str):
        from slimir.runtime.inspect import describe_graph

        import slimir as slim

        hw, c = NETS[net]
        self.net = net
        self.graph = slim.Graph()
        with self.graph.as_default():
            slim.set_random_seed(SEED)
            self.images = slim.placeholder(slim.float32, [BATCH, hw, hw, c], name="images")
            self.labels = slim.placeholder(slim.int64, [BATCH], name="labels")
            logits = slimir_logits(net, self.images)
            slim.losses.sparse_softmax_cross_entropy(logits, self.labels)
            total_loss = slim.losses.get_total_loss()
            optimizer = slim.train.MomentumOptimizer(learning_rate=LR, momentum=MOMENTUM)
            self.train_op = slim.learning.create_train_op(total_loss, optimizer)
            self.fwd_flops = describe_graph(logits).total_flops
            self.sess = slim.Session(graph=self.graph, device=device, intra_op_num_threads=threads)
            self.sess.run(slim.global_variables_initializer())
            self.model_vars = {v.op.name: v for v in slim.get_model_variables()}
        x, y = batch_for(net)
        self.feed = {self.images: x, self.labels: y}
        self.threads = threads
        self.first_step_s = None  # the first sess.run of the train op lowers and compiles it

    def weights(self) -> dict:
        return {k: self.sess.variable_value(v).copy() for k, v in self.model_vars.items()}

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
# PyTorch


def torch_module(net: str):
    import torch
    from torch import nn

    if net == "lenet":
        class LeNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
                self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
                self.pool = nn.MaxPool2d(2, 2)
                self.fc3 = nn.Linear(7 * 7 * 64, 1024)
                self.drop = nn.Dropout(0.5)
                self.fc4 = nn.Linear(1024, CLASSES)

            def forward(self, x):
                x = self.pool(torch.relu(self.conv1(x)))
                x = self.pool(torch.relu(self.conv2(x)))
                x = torch.flatten(x, 1)
                return self.fc4(self.drop(torch.relu(self.fc3(x))))

        return LeNet()

    layers = []
    cin = 3
    for channels, convs in CIFAR_SPEC:
        for _ in range(convs):
            layers += [nn.Conv2d(cin, channels, 3, padding=1), nn.ReLU(inplace=False)]
            cin = channels
        layers.append(nn.MaxPool2d(2, 2))
    layers += [nn.Flatten(), nn.Linear(4 * 4 * 256, 512), nn.ReLU(), nn.Linear(512, CLASSES)]
    return nn.Sequential(*layers)


def torch_load(model, net: str, values: dict) -> None:
    """slimir's (TF-layout) weights into the NCHW module: HWIO -> OIHW, [in, out] -> [out, in]; the first
    fc's rows permuted from TF-Slim's NHWC flatten order (h, w, c) to NCHW's (c, h, w)."""
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
    convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
    fcs = [m for m in model if isinstance(m, torch.nn.Linear)]
    names = [f"cifarnet/conv{b}/conv{b}_{i}" for b, (_, n) in enumerate(CIFAR_SPEC, 1) for i in range(1, n + 1)]
    for m, name in zip(convs, names):
        set_(m, conv(values[name + "/weights"]), values[name + "/biases"])
    set_(fcs[0], flat_fc(values["cifarnet/fc4/weights"], 4, 256), values["cifarnet/fc4/biases"])
    set_(fcs[1], fc(values["cifarnet/fc5/weights"]), values["cifarnet/fc5/biases"])


class TorchRunner:
    def __init__(self, net: str, threads: int, device: str):
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(SEED)
        self.torch = torch
        self.dev = torch.device("cuda" if device == "cuda" else "cpu")
        self.net = net
        self.model = torch_module(net).to(self.dev).train()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        x, y = batch_for(net)
        self.x, self.y = self._tensors(x, y)

    def _tensors(self, x, y):
        t = self.torch
        return (t.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(self.dev), t.from_numpy(y).to(self.dev))

    def load(self, values: dict) -> None:
        torch_load(self.model, self.net, values)
        self.model.to(self.dev)
        self.opt = self.torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(self, x=None, y=None) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(self.x if x is None else x), self.y if y is None else y)
        loss.backward()
        self.opt.step()
        return float(loss.item())  # .item() synchronises on CUDA


# ------------------------------------------------------------------------------------------
# Child process: one runtime, one net


def worker(conn, runtime: str, net: str, threads: int, device: str) -> None:
    import resource

    try:
        import numpy as np  # noqa: F401  (counted in the baseline)

        if runtime == "slimir":
            import onnxruntime  # noqa: F401

            import slimir  # noqa: F401
        else:
            import torch  # noqa: F401
        base = {"rss_kib": rss_kib(), "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
        t0 = time.perf_counter()
        r = SlimirRunner(net, threads, device) if runtime == "slimir" else TorchRunner(net, threads, device)
        info = {"build_s": time.perf_counter() - t0, "base": base}
        if runtime == "slimir":
            info["fwd_flops"] = r.fwd_flops
        conn.send(("ready", info))
    except Exception as e:  # noqa: BLE001
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    while True:
        cmd, arg = conn.recv()
        try:
            if cmd == "stop":
                conn.send(("ok", None))
                return
            if cmd == "weights":
                conn.send(("ok", r.weights()))
            elif cmd == "load":
                r.load(arg)
                conn.send(("ok", None))
            elif cmd == "check":  # two steps from the initial weights and zero momenta: the two losses
                conn.send(("ok", [r.step(), r.step()]))
            elif cmd == "time":
                times = []
                for _ in range(arg):
                    t0 = time.perf_counter()
                    r.step()
                    times.append(time.perf_counter() - t0)
                conn.send(("ok", times))
            elif cmd == "mem":
                conn.send(("ok", {"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                  "rss_kib": rss_kib(), "first_step_s": getattr(r, "first_step_s", None)}))
            elif cmd == "whatif":
                conn.send(("ok", what_if_slimir(r, **arg)))
            elif cmd == "profile":
                fn = profile_slimir if runtime == "slimir" else profile_torch
                conn.send(("ok", fn(r, **arg)))
            else:
                conn.send(("error", f"unknown command {cmd}"))
        except Exception as e:  # noqa: BLE001
            import traceback

            conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))


class Child:
    def __init__(self, ctx, runtime: str, net: str, threads: int, device: str):
        self.runtime = runtime
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=worker, args=(child_conn, runtime, net, threads, device), daemon=True)
        self.proc.start()
        child_conn.close()
        self.info = None
        self.error = None
        self.times: list = []
        self.segments: list = []  # (other processes' CPU in cores, [seconds per step]) per timed segment

    def wait_ready(self) -> bool:
        status, payload = self.conn.recv()
        if status == "ready":
            self.info = payload
            return True
        self.error = payload
        self.proc.join(5)
        return False

    def call(self, cmd: str, arg=None):
        self.conn.send((cmd, arg))
        status, payload = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"{self.runtime}: {payload}")
        return payload

    def stop(self) -> None:
        try:
            self.call("stop")
        except (OSError, EOFError, RuntimeError) as e:
            print(f"({self.runtime} child did not stop cleanly: {e})")
        self.proc.join(10)


# ------------------------------------------------------------------------------------------
# Profiles


def _layer_of(name: str) -> str:
    """The conv/pool/fc layer a node of the step belongs to (from slimir's scope names), or ''."""
    m = re.search(r"(conv\d+/conv\d+_\d+|LeNet/conv\d+|pool\d+|fc\d+)", name)
    return m.group(1).replace("LeNet/", "") if m else ""


def _part_of(name: str, op: str) -> str:
    """Which part of the training step a node computes (from slimir's node names)."""
    if "Momentum/" in name or "/update_" in name or "global_step" in name.lower():
        return "optimizer update"
    if "Conv2DBackpropFilter" in name:
        return "conv dW"
    if "Conv2DBackpropInput" in name:
        return "conv dX"
    if "Relu_grad" in name:
        return "ReLU backward"
    if "MaxPool_grad" in name:
        return "max-pool backward"
    if "BiasAdd_grad" in name:
        return "bias grad (ReduceSum)"
    if name.startswith("gradients/") and re.search(r"/fc\d|MatMul_grad|fully_connected", name):
        return "fc backward"
    if name.startswith("gradients/"):
        return "other backward (loss, flatten, dropout)"
    if re.search(r"xentropy|softmax|sparse_softmax|loss", name, re.IGNORECASE):
        return "loss forward"
    if op in ("Conv", "FusedConv") or "Conv2D" in name:
        return "conv forward (+bias+relu)"
    if "MaxPool" in name or op == "MaxPool":
        return "max-pool forward"
    if re.search(r"/fc\d|LeNet/fc", name):
        return "fc forward"
    return "other forward"


def _transpose_kind(perm: list, src: str, graph_inputs: set) -> str:
    if src in graph_inputs and perm == [3, 2, 0, 1]:
        return "weight HWIO->OIHW reorder (per step, on the variable)"
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
    """What the lowered step contains, against the notes' recommendations."""
    nodes = list(model.graph.node)
    inputs = {i.name for i in model.graph.input}
    producers = {o: n for n in nodes for o in n.output}
    st: dict = {"op_counts": Counter(n.op_type for n in nodes), "n_nodes": len(nodes)}
    tr = []
    for n in nodes:
        if n.op_type == "Transpose":
            perm = list(_attrs(n).get("perm", []))
            tr.append((n.name, perm, _transpose_kind(perm, n.input[0], inputs)))
    st["transposes"] = tr
    layers = defaultdict(lambda: Counter())
    for n in nodes:
        lay = _layer_of(n.name)
        if lay.startswith("conv"):
            layers[lay][(_part_of(n.name, n.op_type), n.op_type)] += 1
    st["conv_layers"] = {k: dict(v) for k, v in layers.items()}
    # ReLU mask form, pooling backward form, duplicated MaxPools
    st["relu_mask"] = {
        "Where": sum(1 for n in nodes if n.op_type == "Where" and "Relu_grad" in n.name),
        "Mul(Cast(Greater))": sum(1 for n in nodes if n.op_type == "Cast" and "Relu_grad" in n.name),
        "ReluGrad-side transposes": sum(1 for n in nodes if n.op_type == "Transpose" and "Relu_grad" in n.name),
    }
    pools = [n for n in nodes if n.op_type == "MaxPool"]
    st["maxpool"] = {
        "forward MaxPool": sum(1 for n in pools if not n.name.startswith("gradients/")),
        "MaxPool recomputed in backward (with Indices)": sum(1 for n in pools if n.name.startswith("gradients/")),
        "MaxUnpool": sum(1 for n in nodes if n.op_type == "MaxUnpool"),
        "ScatterElements (pool backward)": sum(1 for n in nodes if n.op_type == "ScatterElements"
                                               and "MaxPool_grad" in n.name),
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
        if n.op_type in ("ConvTranspose", "Conv") and "Conv2DBackpropInput" in n.name:
            dx[_layer_of(n.name)] = n.op_type
    st["dx_form"] = dx
    dw = {}
    for lay, c in layers.items():
        g = c.get(("conv dW", "Gemm"), 0)
        cc = c.get(("conv dW", "Concat"), 0)
        sl = c.get(("conv dW", "Slice"), 0)
        dw[lay] = f"{sl} Slice, {g} Gemm, {cc} Concat" + (" (per-tap Gemm)" if g > 1 else " (im2col: one Gemm)"
                                                           if g == 1 else "")
    st["dw_form"] = dw
    if ort_model is not None:
        on = list(ort_model.graph.node)
        oin = {i.name for i in ort_model.graph.input}
        st["ort_op_counts"] = Counter(n.op_type for n in on)
        st["ort_transposes"] = [(n.name, list(_attrs(n).get("perm", [])),
                                 _transpose_kind(list(_attrs(n).get("perm", [])), n.input[0], oin))
                                for n in on if n.op_type == "Transpose"]
        st["ort_fusedconv"] = sum(1 for n in on if n.op_type == "FusedConv")
    return st


def profile_slimir(r: SlimirRunner, runs: int, threads: int) -> dict:
    """ONNX Runtime's profiler on the Session's compiled train-step model, same options (threads,
    sequential, ORT_ENABLE_ALL), fed the current variables and the batch; plus the Python-side overhead of
    sess.run (its median against a bare run_with_iobinding of the same model)."""
    import onnx
    import onnxruntime as ort

    comp = r.compiled()
    model = comp.lowered.model
    inputs = r.ort_inputs()
    tmp = tempfile.mkdtemp(prefix="slimir_train_prof_")
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tmp, "step")
    so.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
    providers = comp.sess.get_providers()
    psess = ort.InferenceSession(model.SerializeToString(), so, providers=providers)
    warm = 2
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
    for n in (ort_model or model).graph.node:
        if n.op_type == "Transpose":
            kind = _transpose_kind(list(_attrs(n).get("perm", [])), n.input[0], oin)
            tr_time[kind][0] += per_node.get(n.name, 0.0)
            tr_time[kind][1] += 1
    # Python/IO-binding overhead of sess.run: interleave sess.run and a bare run_with_iobinding
    binding = comp.sess.io_binding()
    for name, v in inputs.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(v))
    for name in comp.output_names:
        binding.bind_output(name)
    bare, full = [], []
    for _ in range(max(5, runs)):
        t0 = time.perf_counter()
        comp.sess.run_with_iobinding(binding)
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        r.step()
        full.append(time.perf_counter() - t0)
    return {
        "runs": len(kept),
        "model_run_ms": median([(b - a) / 1000.0 for a, b in spans]),
        "kernel_sum_ms": sum(per_node.values()),
        "by_op": {k: v for k, v in sorted(by_op.items(), key=lambda kv: -kv[1][0])},
        "top": sorted(((ms, name, node_op[name]) for name, ms in per_node.items()), reverse=True)[:20],
        "by_part": dict(sorted(by_part.items(), key=lambda kv: -kv[1])),
        "by_layer": {k: dict(v) for k, v in sorted(by_layer.items())},
        "transposes_time": {k: v for k, v in tr_time.items()},
        "structure": _jsonable_structure(analyse_structure(model, ort_model)),
        "bare_run_ms": median(bare) * 1e3,
        "sess_run_ms": median(full) * 1e3,
        "providers": providers,
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


def print_profile(net: str, p: dict, tp: dict | None, slim_median_ms: float) -> list:
    lines = []
    w = lines.append
    w(f"\n=== Profile of slimir's {net} step (ONNX Runtime profiler, {p['runs']} steps, {p['providers'][0]}) ===")
    w(f"model_run {p['model_run_ms']:.1f} ms/step (profiled), sum of node kernel times {p['kernel_sum_ms']:.1f} ms; "
      f"bare run_with_iobinding {p['bare_run_ms']:.1f} ms vs sess.run {p['sess_run_ms']:.1f} ms "
      f"(Python + binding overhead {p['sess_run_ms'] - p['bare_run_ms']:+.1f} ms); timed median {slim_median_ms:.1f} ms")
    st = p["structure"]
    w(f"lowered model: {st['n_nodes']} nodes; ONNX Runtime ran "
      f"{sum(st.get('ort_op_counts', {}).values()) or '?'} nodes after its own rewrites")
    w("\nper op type (ms/step, nodes, % of kernel time):")
    tot = p["kernel_sum_ms"] or 1.0
    for op, (ms, n) in p["by_op"].items():
        w(f"  {op:<22}{ms:8.2f}  {n:4d}  {100 * ms / tot:5.1f}%")
    w("\nper part of the step (ms/step):")
    for part, ms in p["by_part"].items():
        w(f"  {part:<40}{ms:8.2f}  {100 * ms / tot:5.1f}%")
    w("\nper conv layer (ms/step): forward | dX | dW | ReLU bwd | bias grad")
    for lay, parts in p["by_layer"].items():
        if not lay.startswith("conv"):
            continue
        w(f"  {lay:<16}{parts.get('conv forward (+bias+relu)', 0):7.2f} {parts.get('conv dX', 0):7.2f} "
          f"{parts.get('conv dW', 0):7.2f} {parts.get('ReLU backward', 0):7.2f} "
          f"{parts.get('bias grad (ReduceSum)', 0):7.2f}   dX={st['dx_form'].get(lay, '-')}; "
          f"dW={st['dw_form'].get(lay, '-')}")
    w("\ntop-20 nodes (ms/step):")
    for ms, name, op in p["top"]:
        w(f"  {ms:7.2f}  {op:<16}{name}")
    w("\nTransposes (as ONNX Runtime ran them; count, ms/step):")
    for kind, (ms, n) in sorted(p["transposes_time"].items(), key=lambda kv: -kv[1][0]):
        w(f"  {n:3d}  {ms:7.2f}  {kind}")
    w(f"  (in slimir's lowered model: {len(st['transposes'])} Transposes; "
      + ", ".join(f"{k}: {v}" for k, v in Counter(k for _, _, k in st["transposes"]).items()) + ")")
    w("\nstructure vs shared/notes/training-step-on-ort.md:")
    w(f"  ReLU mask: {st['relu_mask']}; masks applied on the full-size tensor after the pool backward: "
      f"{st['relu_mask_on_full_size_after_unpool']}")
    w(f"  MaxPool: {st['maxpool']}")
    w(f"  dX: {st['dx_form']}")
    w(f"  FusedConv nodes in the graph ORT ran: {st.get('ort_fusedconv', '?')}; "
      f"ORT op counts: {st.get('ort_op_counts')}")
    if tp:
        w(f"\nPyTorch eager {net} step, torch.profiler self CPU time (ms/step, calls/step; "
          f"sum {tp['self_sum_ms']:.1f} ms):")
        for ms, key, n in tp["top"]:
            w(f"  {ms:7.2f}  {n:4d}  {key}")
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    set_thread_env(args.threads)
    import multiprocessing as mp

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
    else:
        try:
            import torch

            versions["torch"] = torch.__version__
            have["torch"] = None
            if args.device == "cuda" and not torch.cuda.is_available():
                have["torch"] = "no CUDA in this torch"
        except ImportError:
            have["torch"] = "not installed"
    try:
        import onnxruntime.training  # noqa: F401

        have["ort-training"] = "installed, but this benchmark does not drive its API"
    except ImportError:
        have["ort-training"] = "not installed"
    try:
        import tensorflow  # noqa: F401

        have["tf-slim"] = "installed, but this benchmark does not drive TF-Slim"
    except ImportError:
        have["tf-slim"] = "not installed"

    started = datetime.datetime.now().astimezone()
    print(f"train_step.py  {started:%Y-%m-%d %H:%M %Z}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs; {platform.platform()}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + f"; slimir at {git_revision()}")
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"batch {BATCH}, float32, {args.threads} threads, device {args.device}; SGD momentum {MOMENTUM}, "
          f"lr {LR}; rounds {args.rounds}, warm-up {args.warmup}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in loadavg())}")
    sgemm0 = numpy_matmul_gflops()
    ortmm0 = ort_matmul_gflops(args.threads)
    print(f"2048^3 float32 matmul, {args.threads} threads, best of 7: numpy {sgemm0:.0f} GFLOP/s, "
          f"ONNX Runtime MatMul {ortmm0:.0f} GFLOP/s")

    ctx = mp.get_context("spawn")
    results: dict = {"started": started.isoformat(), "machine": cpu_model(), "cpus": os.cpu_count(),
                     "versions": versions, "revision": git_revision(), "args": vars(args), "sgemm_start": sgemm0, "nets": {},
                     "load_start": loadavg()}
    report_lines: list = []
    for net in args.nets:
        steps = args.steps or DEFAULT_STEPS[net]
        runtimes = ["slimir"] + (["torch"] if have["torch"] is None else [])
        children = {}
        for rt in runtimes:  # one at a time: compilation does not overlap
            c = Child(ctx, rt, net, args.threads, args.device)
            if c.wait_ready():
                children[rt] = c
            else:
                print(f"[{net}] {rt} failed to start: {c.error}")
        if "slimir" not in children:
            continue
        res = results["nets"][net] = {"steps": steps, "runtimes": {}}
        fwd = children["slimir"].info["fwd_flops"]
        res["fwd_flops"] = fwd
        print(f"\n[{net}] forward {fwd / 1e9:.3f} GFLOP (slimir op rules), step = 3x = {3 * fwd / 1e9:.2f} GFLOP")
        # same initial weights (before slimir's first step), zero momenta, same batch: two steps' losses agree
        if "torch" in children:
            children["torch"].call("load", children["slimir"].call("weights"))
            ls = children["slimir"].call("check")
            lt = children["torch"].call("check")
            if net == "lenet":
                note = "not compared (dropout masks differ)"
            else:
                ok = all(abs(a - b) <= 1e-4 * max(1.0, abs(b)) for a, b in zip(ls, lt))
                note = "agree (rtol 1e-4)" if ok else "DIFFER"
            res["loss_check"] = {"slimir": ls, "torch": lt, "verdict": note}
            print(f"[{net}] losses of 2 steps from the same weights: slimir {ls[0]:.6f} {ls[1]:.6f}, "
                  f"torch {lt[0]:.6f} {lt[1]:.6f}: {note}")
        for c in children.values():
            c.call("time", max(1, args.warmup))
        first = children["slimir"].call("mem")["first_step_s"]
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
                "median_ms": median(t), "p10_ms": percentile(t, 10), "min_ms": min(t), "n": len(t),
                "clean_median_ms": median(clean) if clean else None, "clean_n": len(clean),
                "segments_other_cores": [round(o, 3) for o, _ in c.segments],
                "round_medians_ms": [median(t[i:i + steps]) for i in range(0, len(t), steps)],
                "peak_rss_mib": mem["maxrss_kib"] / 1024, "base_rss_mib": base["rss_kib"] / 1024,
                "end_rss_mib": mem["rss_kib"] / 1024, "build_s": c.info["build_s"],
            }
        res["load_per_round"] = loads
        if not args.no_profile and net in args.profile_nets:
            try:
                res["profile_slimir"] = children["slimir"].call(
                    "profile", {"runs": args.profile_runs, "threads": args.threads})
            except Exception as e:  # noqa: BLE001
                print(f"[{net}] slimir profile failed: {e}")
            if "torch" in children:
                try:
                    res["profile_torch"] = children["torch"].call(
                        "profile", {"runs": args.profile_runs, "threads": args.threads})
                except Exception as e:  # noqa: BLE001
                    print(f"[{net}] torch profile failed: {e}")
        if args.what_if and net in args.profile_nets:
            try:
                res["what_if"] = children["slimir"].call(
                    "whatif", {"rounds": args.what_if_rounds, "steps": args.what_if_steps, "threads": args.threads})
            except Exception as e:  # noqa: BLE001
                print(f"[{net}] what-if failed: {e}")
        for c in children.values():
            c.stop()

    sgemm1 = numpy_matmul_gflops()
    ortmm1 = ort_matmul_gflops(args.threads)
    results["sgemm_end"] = sgemm1
    results["ort_matmul_start"], results["ort_matmul_end"] = ortmm0, ortmm1
    results["load_end"] = loadavg()

    # ---- table
    out = []
    w = out.append
    w("")
    w(f"Training step, batch {BATCH}, float32, {args.threads} threads ({args.device}); ms/step over "
      f"{args.rounds} interleaved rounds; ratios use the median (p10 in brackets)")
    w(f"2048^3 float32 matmul: numpy {sgemm0:.0f} / {sgemm1:.0f} GFLOP/s, ONNX Runtime {ortmm0:.0f} / {ortmm1:.0f} "
      f"GFLOP/s (start / end, best of 7); load average "
      f"{results['load_start'][0]:.2f} at start, {results['load_end'][0]:.2f} at end")
    hdr = (f"{'net':<9}{'runtime':<28}{'median':>8}{'p10':>8}{'min':>8}{'quiet med (n)':>15}  {'/ort-train ref':>14}"
           f"  {'/torch same run':>22}  {'GFLOP/s':>11}  {'RSS MiB: peak (+) end':>22}")
    w(hdr)
    w("-" * len(hdr))

    def qmed(r):
        return f"{r['clean_median_ms']:.1f} ({r['clean_n']})" if r.get("clean_median_ms") else "- (0)"

    for net, res in results["nets"].items():
        rts = res["runtimes"]
        ref_ort = REFERENCE["ort-training"][1][net]
        tor = rts.get("torch")
        step_flops = 3 * res["fwd_flops"]
        for rt, lab in (("slimir", "slimir (ORT " + versions["onnxruntime"] + ")"),
                        ("torch", "PyTorch " + versions.get("torch", "") + " eager")):
            if rt not in rts:
                continue
            r = rts[rt]
            vs_ort = f"{r['median_ms'] / ref_ort:.2f} ({r['p10_ms'] / ref_ort:.2f})"
            vs_t = (f"{r['median_ms'] / tor['median_ms']:.2f} ({r['p10_ms'] / tor['p10_ms']:.2f}) "
                    f"[{median([a / b for a, b in zip(r['round_medians_ms'], tor['round_medians_ms'])]):.2f}]"
                    if tor else "n/a")
            gf = f"{step_flops / r['median_ms'] / 1e6:.0f} ({step_flops / r['p10_ms'] / 1e6:.0f})"
            mem = f"{r['peak_rss_mib']:.0f} (+{r['peak_rss_mib'] - r['base_rss_mib']:.0f}) {r['end_rss_mib']:.0f}"
            w(f"{net:<9}{lab:<28}{fmt_ms(r['median_ms'])}{fmt_ms(r['p10_ms'])}{fmt_ms(r['min_ms'])}{qmed(r):>15}"
              f"  {vs_ort:>14}  {vs_t:>22}  {gf:>11}  {mem:>22}")
            w(f"{'':<9}{'':<28}  {args.device}: {r['median_ms']:.2f} ms/step, {BATCH / r['median_ms'] * 1e3:.0f} "
              f"images/s, {step_flops / r['median_ms'] / 1e9:.4f} TFLOP/s (3x forward FLOPs / median)")
        if have["torch"] is not None:
            w(f"{net:<9}{'PyTorch eager':<28}  {have['torch']}; reference {REFERENCE['torch'][1][net]} ms")
        for key in ("ort-training", "tf-slim"):
            label, refs = REFERENCE[key]
            w(f"{net:<9}{key:<28}  {have[key]}; reference ({label}): {refs[net]} ms")
        sl = rts["slimir"]
        ratio = sl["median_ms"] / ref_ort
        quiet = f", {sl['clean_median_ms'] / ref_ort:.2f} quiet median" if sl.get("clean_median_ms") else ""
        w(f"{'':<9}target slimir <= {TARGET} x ort-training = {TARGET * ref_ort:.1f} ms: {ratio:.2f} median "
          f"-> {'MET' if ratio <= TARGET else 'NOT MET'} ({sl['p10_ms'] / ref_ort:.2f} p10{quiet}); slimir (median) / "
          f"PyTorch ref {sl['median_ms'] / REFERENCE['torch'][1][net]:.2f}, / TF-Slim ref "
          f"{sl['median_ms'] / REFERENCE['tf-slim'][1][net]:.2f}; the step at the matmul rate would take "
          f"{step_flops / (max(sgemm0, sgemm1) * 1e9) * 1e3:.1f} ms at numpy's, "
          f"{step_flops / (max(ortmm0, ortmm1) * 1e9) * 1e3:.1f} ms at ORT MatMul's")
        res["target_ratio_median"] = ratio
    w(f"quiet med = median over the timed segments during which other processes used < {QUIET_CORES} cores "
      "(/proc/stat minus our processes), n = steps; /torch: median/median (p10/p10) [median of the per-round "
      "ratios]; GFLOP/s = 3x forward FLOPs / median (p10)")
    w("RSS: peak = ru_maxrss (resource.getrusage) of the runtime's own child process, read right after its timed "
      "steps (interpreter, imports, graph build and compilation included); (+x) = above its RSS after the "
      "imports; end = its VmRSS then (steady state). tracemalloc is not used: ONNX Runtime's and torch's tensors "
      "are native allocations it cannot see")
    for net, res in results["nets"].items():
        if "profile_slimir" in res:
            out.extend(print_profile(net, res["profile_slimir"], res.get("profile_torch"),
                                     res["runtimes"]["slimir"]["median_ms"]))
        if "what_if" in res:
            out.extend(print_what_if(net, res["what_if"]))
    report_lines.extend(out)
    print("\n".join(report_lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
