"""Train a slimir graph through ONNX Runtime's training API (onnxruntime-training 1.19.2, its own profile).

    from slimir.runtime import ort_training
    fwd = ort_training.export_forward(total_loss, session=sess)          # forward + loss, weights inside
    trainer = ort_training.OrtTrainer(fwd, slim.train.AdamWOptimizer(1e-4, 1e-3), '/tmp/artifacts')
    loss = trainer.step({images: x, labels: y})                        # Module + Optimizer, one step
    trainer.to_session(sess)                                           # variables back, scope names kept

or, TF-Slim's way, `slim.learning.train(train_op, logdir, backend='ort-training', optimizer=opt)`.

`export_forward` writes the model `onnxruntime.training.artifacts.generate_artifacts` takes: the graph's
forward pass and loss at opset <= 21 stamped with ONNX IR version <= 10 (what ORT 1.19.2 reads), the
variables as initializers named by their scope names (`LeNet/conv1/weights`: ORT accepts '/' in
parameter names, so the slimir <-> ORT name mapping is the identity; `ort_name`/`slimir_name` are the
documented, reversible mapping), requires_grad = the variables to train, frozen_params = the rest (batch-norm
moving statistics included). Batch-norm moving averages are extra model outputs that the trainer writes
back into the CheckpointState after each step. Training-mode batch norm is never an ONNX
BatchNormalization node here: slimir lowers it to primitive ops (ReduceMean, Sub, Mul, ...), so ORT's
eval model (which turns training_mode off on BatchNormalization nodes) stays valid.

Optimisers map onto ORT's optimizer models exactly: GradientDescentOptimizer -> SGD; AdamOptimizer and
AdamWOptimizer -> ORT's AdamW in its "hf" mode (adam_mode=1: TF's epsilon-hat Adam, bias correction on
the learning rate), with ORT's weight_decay = slimir's weight_decay / learning_rate (ORT multiplies it by
the learning rate and decays after the Adam step; slimir/TF decay before it: the two differ by
lr * weight_decay * step, far below float32 loss tolerances).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx

from slimir.errors import FeedError, InvalidArgumentError, NumericsError, SlimirError
from slimir.ir.graph import Tensor

from .ort_export import (  # noqa: F401
    LOSS_OUTPUT,
    MAX_IR_VERSION,
    MAX_OPSET,
    OUTPUT,
    STAT_SUFFIX,
    ForwardModel,
    _rank1_scalar_where,
    _sum_as_adds,
    export_forward,
    ort_name,
    slimir_name,
    stamp_ir_version,
)
from .training import StepBackend

PROFILE_HINT = ("set up the ort-training profile (scripts/setup-ort-training.sh creates .venv-ort-training with "
                "onnxruntime-training-cpu==1.19.2) and run there")

log = logging.getLogger("slimir")

class OrtTrainingUnavailableError(SlimirError, ImportError):
    """onnxruntime-training is not installed in this environment."""


# ------------------------------------------------------------------------------------------
# Import of the training API without torch


def import_ort_training():
    """(onnxruntime.training.artifacts, onnxruntime.training.api), importable without torch.

    `onnxruntime/training/__init__.py` imports torch-only modules (amp, optim, ORTModule); the artifacts,
    onnxblock and api submodules do not use torch. When torch is missing, the package object is made
    without running that __init__ (its __path__ still points at the installed package), then the
    submodules are imported from the installed files as they are.
    """
    try:
        import onnxruntime
    except ImportError:
        raise OrtTrainingUnavailableError(f"onnxruntime is not installed: {PROFILE_HINT}") from None
    pkg_dir = os.path.join(os.path.dirname(onnxruntime.__file__), "training")
    if not os.path.isdir(os.path.join(pkg_dir, "api")):
        raise OrtTrainingUnavailableError(
            f"this onnxruntime ({onnxruntime.__version__}) has no training API (onnxruntime.training.api): "
            f"{PROFILE_HINT}")
    if "onnxruntime.training" not in sys.modules:
        try:
            importlib.import_module("onnxruntime.training")
        except ImportError as e:
            if "torch" not in str(e):
                raise OrtTrainingUnavailableError(f"onnxruntime.training failed to import: {e}") from None
            for k in [k for k in sys.modules if k.startswith("onnxruntime.training")]:
                del sys.modules[k]  # half-imported leftovers of the failed attempt
            pkg = types.ModuleType("onnxruntime.training")
            pkg.__path__ = [pkg_dir]
            pkg.__package__ = "onnxruntime.training"
            pkg.__file__ = os.path.join(pkg_dir, "__init__.py")
            sys.modules["onnxruntime.training"] = pkg
            onnxruntime.training = pkg
    try:
        artifacts = importlib.import_module("onnxruntime.training.artifacts")
        api = importlib.import_module("onnxruntime.training.api")
    except ImportError as e:
        raise OrtTrainingUnavailableError(f"onnxruntime's training API failed to import: {e}") from None
    return artifacts, api


# ------------------------------------------------------------------------------------------
# Optimisers


@dataclass
class OptimizerSpec:
    """ORT's optimizer for a slimir optimiser: kind 'SGD' or 'AdamW', the learning rate, AdamW's settings."""

    kind: str
    learning_rate: float
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0  # ORT's (multiplied by the learning rate inside ORT)


def optimizer_spec(optimizer) -> OptimizerSpec:
    """Map a slim.train optimiser (or 'sgd'/'adamw') onto ORT's SGD or AdamW; clear error for the others."""
    from slimir import train as slim_train

    if isinstance(optimizer, OptimizerSpec):
        return optimizer
    if isinstance(optimizer, str):
        raise InvalidArgumentError("ort_training: pass a slim.train optimizer (GradientDescentOptimizer, "
                                   "AdamOptimizer, AdamWOptimizer) or an OptimizerSpec, not a string")

    def num(name):
        v = optimizer._hyper[name]
        if callable(v) and not isinstance(v, Tensor):
            v = v()
        if isinstance(v, Tensor):
            if v.op.type == "const":
                return float(np.asarray(v.op.attrs["value"]))
            raise InvalidArgumentError(
                f"ort_training: {type(optimizer).__name__}'s {name} is a tensor ({v.name}); ORT's optimizer "
                "takes a number (use ort_training's lr_scheduler= for a linear schedule)")
        return float(v)

    if type(optimizer) is slim_train.GradientDescentOptimizer:
        return OptimizerSpec("SGD", num("learning_rate"))
    if type(optimizer) in (slim_train.AdamOptimizer, slim_train.AdamWOptimizer):
        lr = num("learning_rate")
        wd = num("weight_decay") if "weight_decay" in optimizer._hyper else 0.0
        if wd and lr == 0:
            raise InvalidArgumentError("ort_training: AdamW with learning_rate 0 cannot express a weight decay in "
                                       "ORT (which scales weight_decay by the learning rate)")
        return OptimizerSpec("AdamW", lr, (num("beta1"), num("beta2")), num("epsilon"), wd / lr if wd else 0.0)
    raise InvalidArgumentError(f"ort_training: ORT's training API has SGD and AdamW only; {type(optimizer).__name__} "
                               "has no ORT equivalent (use GradientDescentOptimizer, AdamOptimizer or "
                               "AdamWOptimizer, or the built-in backend)")


# ------------------------------------------------------------------------------------------
# Artifacts


ARTIFACTS = ("training_model.onnx", "eval_model.onnx", "optimizer_model.onnx", "checkpoint")


def generate_artifacts(fwd: ForwardModel, artifact_dir: str, optimizer) -> dict:
    """Run onnxruntime.training.artifacts.generate_artifacts on `fwd`; returns {artifact: path}.

    Writes training_model.onnx, eval_model.onnx, optimizer_model.onnx and checkpoint into
    `artifact_dir`, each model stamped with IR version <= 10. ORT failures become SlimirErrors.
    """
    artifacts, _ = import_ort_training()
    from onnxruntime.training import onnxblock

    spec = optimizer_spec(optimizer)
    os.makedirs(artifact_dir, exist_ok=True)
    if spec.kind == "SGD":
        block = onnxblock.optim.SGD()
    else:
        block = onnxblock.optim.AdamW(bias_correction=True, betas=tuple(spec.betas), eps=spec.eps,
                                      weight_decay=spec.weight_decay)
    extra = list(fwd.extra_outputs) + list(fwd.stat_outputs)
    kwargs = dict(requires_grad=list(fwd.requires_grad), frozen_params=list(fwd.frozen_params), optimizer=block,
                  artifact_directory=artifact_dir, additional_output_names=extra or None)
    if fwd.builtin_loss:
        kwargs["loss"] = getattr(artifacts.LossType, fwd.builtin_loss)
        kwargs["loss_input_names"] = [fwd.loss_name]
    else:
        kwargs["loss"] = None
        kwargs["loss_input_names"] = [fwd.loss_name]
    try:
        with _captured_stderr() as captured:  # ORT's gradient builder logs every graph transformer at INFO
            artifacts.generate_artifacts(fwd.model, **kwargs)
    except Exception as e:  # ORT raises RuntimeError / its own types
        raise SlimirError(f"ort_training: generate_artifacts failed: {_first_line(e)}") from None
    errors = [ln for ln in captured.text.splitlines() if "[E:" in ln]
    if errors:
        log.warning("ort_training: generate_artifacts reported: %s", errors[0])
    if log.isEnabledFor(logging.DEBUG):
        log.debug("generate_artifacts log:\n%s", captured.text)
    paths = {a: os.path.join(artifact_dir, a) for a in ARTIFACTS}
    for a in ARTIFACTS[:3]:
        m = onnx.load(paths[a])
        before = m.ir_version
        stamp_ir_version(m)
        if m.ir_version != before:
            onnx.save(m, paths[a])
    with open(os.path.join(artifact_dir, "slimir_names.json"), "w") as f:
        json.dump({"parameters": {n: v.op.name for n, v in fwd.variables.items()}, "requires_grad":
                   fwd.requires_grad, "frozen_params": fwd.frozen_params, "inputs": fwd.input_names,
                   "stat_outputs": fwd.stat_outputs, "optimizer": spec.kind}, f, indent=1)
    return paths


class _captured_stderr:
    """Redirect file descriptor 2 (where ORT's C++ logger writes) into a temporary file while active."""

    def __enter__(self):
        import tempfile

        sys.stderr.flush()
        self._tmp = tempfile.TemporaryFile(mode="w+b")
        self._saved = os.dup(2)
        os.dup2(self._tmp.fileno(), 2)
        self.text = ""
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        self.text = self._tmp.read().decode("utf-8", "replace")
        self._tmp.close()
        return False


def _first_line(e: Exception) -> str:
    msg = str(e).strip()
    return msg.splitlines()[0] if msg else type(e).__name__


# ------------------------------------------------------------------------------------------
# Training through onnxruntime.training.api


class OrtTrainer:
    """CheckpointState + Module + Optimizer (+ LinearLRScheduler) over the artifacts of `fwd`.

    step(feeds) runs one training step (forward, backward, optimizer) and returns the loss; the
    moving statistics the step computed are written into the CheckpointState's frozen parameters.
    """

    def __init__(self, fwd: ForwardModel, optimizer, artifact_dir: str, device: str = "cpu",
                 lr_scheduler: tuple | None = None):
        """lr_scheduler: (warmup_step_count, total_step_count) for ORT's LinearLRScheduler."""
        _, api = import_ort_training()
        import onnxruntime

        onnxruntime.set_default_logger_severity(3)  # ORT's optimizer model warns about its own output shape
        self.fwd = fwd
        self.spec = optimizer_spec(optimizer)
        self.paths = generate_artifacts(fwd, artifact_dir, self.spec)
        try:
            self.state = api.CheckpointState.load_checkpoint(self.paths["checkpoint"])
            self.module = api.Module(self.paths["training_model.onnx"], self.state, self.paths["eval_model.onnx"],
                                     device=device)
            self.optimizer = api.Optimizer(self.paths["optimizer_model.onnx"], self.module)
            self.optimizer.set_learning_rate(self.spec.learning_rate)
            self.scheduler = None
            if lr_scheduler is not None:
                warm, total = lr_scheduler
                self.scheduler = api.LinearLRScheduler(self.optimizer, int(warm), int(total),
                                                       self.spec.learning_rate)
        except SlimirError:
            raise
        except Exception as e:
            raise SlimirError(f"ort_training: ONNX Runtime could not load the training artifacts: {_first_line(e)}") \
                from None
        self.input_names = list(self.module.input_names())
        self.output_names = list(self.module.output_names())
        self.global_step = 0
        self.module.train()

    def _inputs(self, feeds) -> list:
        if isinstance(feeds, dict):
            by_name = {}
            for k, v in feeds.items():
                nm = k if isinstance(k, str) else (k.op.name if k.index == 0 else k.name)
                by_name[nm] = v
            missing = [n for n in self.input_names if n not in by_name]
            if missing:
                raise FeedError(f"ort_training: no value fed for the model input(s) {missing} "
                                f"(inputs: {self.input_names})")
            feeds = [by_name[n] for n in self.input_names]
        feeds = list(feeds)
        if len(feeds) != len(self.input_names):
            raise FeedError(f"ort_training: {len(feeds)} values fed for the {len(self.input_names)} inputs "
                            f"{self.input_names}")
        out = []
        by_input = dict(zip(self.fwd.input_names, self.fwd.feeds))
        for n, v in zip(self.input_names, feeds):
            t = by_input.get(n)
            dt = t.dtype.np if t is not None else (np.int64 if n == "labels" else None)
            arr = np.ascontiguousarray(v, dtype=dt)
            if t is not None:
                want = list(t.shape)
                if len(want) != arr.ndim or any(d is not None and d != s for d, s in zip(want, arr.shape)):
                    raise FeedError(f"ort_training: input {n} expects shape {want}, got {list(arr.shape)}")
            out.append(arr)
        return out

    def step(self, feeds) -> float:
        """One training step on `feeds` ({tensor or input name: array} or a list in input order); the loss."""
        args = self._inputs(feeds)
        self.module.train()
        try:
            outs = self.module(*args)
        except Exception as e:
            raise SlimirError(f"ort_training: the training step failed in ONNX Runtime: {_first_line(e)}") from None
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        loss = float(np.asarray(outs[0]).reshape(()))
        if not np.isfinite(loss):
            self.module.lazy_reset_grad()  # drop this step's gradients: the next step starts clean
            raise NumericsError(f"ort_training: the loss is {loss} at step {self.global_step + 1}; the parameters "
                                "were not updated by this step")
        self.optimizer.step()
        self.module.lazy_reset_grad()
        if self.scheduler is not None:
            self.scheduler.step()
        named = dict(zip(self.output_names, outs))
        for out_name, param in self.fwd.stat_outputs.items():
            self.state.parameters[param] = np.ascontiguousarray(named[out_name])
        self.global_step += 1
        return loss

    def evaluate(self, feeds) -> list:
        """The eval model's outputs (loss first) on `feeds`, without a parameter update."""
        args = self._inputs(feeds)
        self.module.eval()
        try:
            outs = self.module(*args)
        finally:
            self.module.train()
        return [np.asarray(o) for o in (outs if isinstance(outs, (list, tuple)) else [outs])]

    def parameters(self) -> dict:
        """{slimir variable name: value} of every parameter in the CheckpointState (copies)."""
        return {slimir_name(n): np.array(self.state.parameters[n].data) for n in self.fwd.variables}

    def to_session(self, sess) -> None:
        """Write the trained parameters (and the global step, if the graph has one) into a slimir Session."""
        for n, v in self.fwd.variables.items():
            sess.set_variable_value(v, self.state.parameters[n].data)
        from slimir.variables import get_global_step

        gs = get_global_step(sess.graph)
        if gs is not None:
            base = sess.variable_value(gs) if sess.is_initialized(gs) else 0
            sess.set_variable_value(gs, np.asarray(int(np.asarray(base)) + self._unsynced_steps(), gs.dtype.np))
            self._synced = self.global_step

    def _unsynced_steps(self) -> int:
        return self.global_step - getattr(self, "_synced", 0)

    def from_session(self, sess) -> None:
        """Load the slimir Session's variable values into the CheckpointState (e.g. after a restore)."""
        for n, v in self.fwd.variables.items():
            self.state.parameters[n] = np.ascontiguousarray(sess.variable_value(v), dtype=v.dtype.np)

    def save_checkpoint(self, path: str, include_optimizer_state: bool = True) -> str:
        """ORT's own checkpoint (parameters, optimizer state, the global step as a property)."""
        _, api = import_ort_training()
        self.state.properties["global_step"] = int(self.global_step)
        api.CheckpointState.save_checkpoint(self.state, path, include_optimizer_state)
        return path

    def export_model_for_inferencing(self, path: str, outputs: list | None = None) -> str:
        """The deployable model (eval graph, parameters as initializers) computing `outputs` (default the
        extra outputs, else the loss)."""
        outputs = list(outputs or self.fwd.extra_outputs or [self.fwd.loss_name])
        try:
            self.module.export_model_for_inferencing(path, outputs)
        except Exception as e:
            raise SlimirError(f"ort_training: export_model_for_inferencing failed: {_first_line(e)}") from None
        return path


def load_checkpoint_parameters(path: str) -> dict:
    """{slimir variable name: value} from an ORT checkpoint (CheckpointState) file."""
    _, api = import_ort_training()
    try:
        state = api.CheckpointState.load_checkpoint(path)
    except Exception as e:
        raise SlimirError(f"ort_training: cannot read the ORT checkpoint {path}: {_first_line(e)}") from None
    return {slimir_name(n): np.array(p.data) for n, p in state.parameters}


# ------------------------------------------------------------------------------------------
# The step backend of slimir's training loop (runtime/training.py)


class OrtTrainingStep(StepBackend):
    """Steps of `slim.learning.train(..., backend='ort-training')`: the train op's loss is exported
    (export_forward) and trained by an OrtTrainer; the loop's checkpoints get the parameters back through
    `sync`. Batches: the loop's `feed_fn` ({tensor or input name: array}), else the graph's input bindings.
    The artifacts go to `<logdir>/ort_training/` (ORT's own `checkpoint_final` too), or to a temporary folder
    removed at the end. Summaries are not written (the Session's values are only synced for checkpoints)."""

    summaries = False

    def __init__(self, optimizer, device: str = "cpu", lr_scheduler: tuple | None = None,
                 step_callback: Callable | None = None, variables_to_train=None):
        self.optimizer, self.device, self.lr_scheduler = optimizer, device, lr_scheduler
        self.step_callback, self.variables_to_train = step_callback, variables_to_train
        self.trainer = None

    def start(self, sess, train_op, step0: int, logdir: str | None) -> None:
        import tempfile

        self.step0 = step0
        self.fwd = export_forward(train_op, session=sess, variables_to_train=self.variables_to_train)
        self.art_dir = os.path.join(logdir, "ort_training") if logdir else tempfile.mkdtemp(prefix="slimir-ort-")
        self.trainer = OrtTrainer(self.fwd, self.optimizer, self.art_dir, device=self.device,
                                  lr_scheduler=self.lr_scheduler)
        self.bindings = train_op.graph.get_collection("input_bindings")

    def step(self, sess, train_op, global_step, kwargs: dict) -> tuple:
        feed_fn = kwargs.get("feed_fn")
        if feed_fn is not None:
            feeds = dict(feed_fn())
        else:
            feeds = {}
            for b in self.bindings:  # OutOfRangeError at the end of the input ends the loop
                feeds.update(_next_feed(b, sess))
        feeds = {t: v for t, v in feeds.items() if isinstance(t, str) or any(t is f for f in self.fwd.feeds)}
        start = time.time()
        loss = self.trainer.step(feeds)
        step = self.step0 + self.trainer.global_step
        kwargs["last_step"], kwargs["last_elapsed"] = step, time.time() - start
        if self.step_callback is not None:
            self.step_callback(step, loss)
        every = kwargs.get("log_every_n_steps") or 0
        if every and step % every == 0 and not kwargs.get("progress"):
            log.info("global step %d: loss = %.4f (ort-training)", step, loss)
        n = kwargs.get("number_of_steps")
        return loss, bool(n is not None and step >= n)

    def sync(self, sess) -> None:
        if self.trainer is not None and self.trainer.global_step:
            self.trainer.to_session(sess)

    def finish(self, sess, logdir: str | None, steps_run: bool) -> None:
        if self.trainer is None:
            return
        if logdir and self.trainer.global_step:
            self.trainer.save_checkpoint(os.path.join(self.art_dir, "checkpoint_final"))
        if not logdir:
            shutil.rmtree(self.art_dir, ignore_errors=True)


def train(train_op, logdir: str | None, optimizer, number_of_steps: int, feed_fn: Callable | None = None,
          session=None, init_fn: Callable | None = None, log_every_n_steps: int = 1, device: str = "cpu",
          lr_scheduler: tuple | None = None, step_callback: Callable | None = None,
          variables_to_train=None, saver=None) -> float | None:
    """Train `train_op` (a create_train_op op, or the loss) through ORT's training API: slimir's training loop
    (`slim.learning.train`) with an OrtTrainingStep; returns the last loss.

    Initial values: `session` (as it is, nothing re-initialised), else a new Session initialised, restored from
    the newest slimir checkpoint in `logdir` or, without one, set up by `init_fn(sess)`. At the end the
    parameters are back in the session and a slimir checkpoint `model.ckpt-<step>.safetensors` (and ORT's
    `ort_training/checkpoint_final`) is in `logdir`. `step_callback(global_step, loss)` follows each step.
    """
    from slimir.variables import get_or_create_global_step

    from .training import train as loop

    if not isinstance(train_op, Tensor):
        raise InvalidArgumentError(f"ort_training.train: train_op must be a tensor, got {train_op!r}")
    if number_of_steps is None or number_of_steps <= 0:
        raise InvalidArgumentError(f"ort_training.train: number_of_steps must be positive, got {number_of_steps}")
    g = train_op.graph
    with g.as_default():
        get_or_create_global_step(g)
    stepper = OrtTrainingStep(optimizer, device=device, lr_scheduler=lr_scheduler, step_callback=step_callback,
                              variables_to_train=variables_to_train)
    as_is = {} if session is None else {"init_op": None, "local_init_op": None}
    return loop(train_op, logdir, number_of_steps=number_of_steps, feed_fn=feed_fn, session=session, init_fn=init_fn,
                log_every_n_steps=log_every_n_steps, saver=saver, backend=stepper, summary_op=None,
                save_interval_secs=0, progress=False, **as_is)


def _next_feed(binding, sess) -> dict:
    """The next batch of an input binding (bindings of slim.data pipelines take the session)."""
    import inspect

    if "session" in inspect.signature(binding.next_feed).parameters:
        return binding.next_feed(sess)
    return binding.next_feed()
