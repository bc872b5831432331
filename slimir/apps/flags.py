"""The flags of research/slim's image-classifier jobs, as dataclasses: the one table of their names, defaults and
help texts. The jobs (apps/image_classifier.py) take these objects; the `slimir` command builds its argparse
options from the same fields (`add_flags`), so the command line and the Python API cannot disagree.

A field declared with `flag(...)` is a command-line option; a flag that is None by default and `required` is
reported as missing by the command line (and by the job, for Python callers).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass

from slimir.errors import InvalidArgumentError


class JobError(InvalidArgumentError):
    """A bad flag value or combination for a classifier job (names the flag)."""


def flag(default, kind: str, text: str, *, required: bool = False, aliases: tuple = ()):
    """A dataclass field that is also a command-line flag.

    kind: 'str', 'int+' (positive), 'int0' (>= 0), 'float', 'float+' (> 0), 'float0' (>= 0), 'bool' (absl's
    --NAME / --NAME=false / --noNAME) or 'bool?' (--NAME / --no-NAME); aliases: other spellings of the option
    (listed before --NAME in messages); required: the command line must give it.
    """
    return dataclasses.field(default=default, metadata={"kind": kind, "help": text, "required": required,
                                                        "aliases": tuple(aliases)})


# ------------------------------------------------------------------------------------------------
# The jobs' flags (research/slim's names and defaults)


@dataclass
class DataFlags:
    """The flags every job that reads a dataset shares."""

    model_name: str | None = flag(None, "str", "network to use (see `slimir list`)", required=True)
    dataset_name: str | None = flag(None, "str", "digits (embedded, no download), mnist, cifar10, flowers or "
                                                 "imagenet", required=True)
    dataset_dir: str | None = flag(None, "str", "folder of the dataset's files (default: the dataset's own; "
                                                "digits needs none)")
    labels_offset: int = flag(0, "int0", "subtracted from the labels (1 for VGG/ResNet on ImageNet's 1001 classes)")
    preprocessing_name: str | None = flag(None, "str", "preprocessing to use (default: --model_name)")
    use_grayscale: bool = flag(False, "bool", "convert the images to one grayscale channel")
    device: str | None = flag(None, "str", "cpu or cuda (default: cuda when available, else cpu)")
    progress: bool | None = None  # a progress bar (default: when stderr is a terminal); not a flag


@dataclass
class TrainFlags(DataFlags):
    """train_image_classifier.py's flags. The distributed ones (sync_replicas ... clone_on_cpu) map onto MPI
    data parallelism under `slimir launch -n N` (see image_classifier._replicas)."""

    train_dir: str | None = flag(None, "str", "folder for the checkpoints and TensorBoard event files (required)",
                                 required=True)
    dataset_split_name: str = flag("train", "str", "split to train on (default: train)")
    batch_size: int = flag(32, "int+", "examples per step (default: 32)")
    train_image_size: int | None = flag(None, "int+", "input height and width (default: the network's "
                                                      "default_image_size)")
    max_number_of_steps: int | None = flag(None, "int+", "stop at this global step")
    num_epochs: int | None = flag(None, "int+", "stop after this many passes over the data")
    num_readers: int = flag(4, "int+", "parallel readers of the dataset's files (default: 4)")
    num_preprocessing_threads: int = flag(4, "int+", "threads that preprocess and batch (default: 4)")
    log_every_n_steps: int = flag(10, "int+", "log the loss every N steps (default: 10)")
    save_summaries_secs: float = flag(600, "float0", "write summaries every N seconds (default: 600)")
    save_interval_secs: float = flag(600, "float0", "save a checkpoint every N seconds (default: 600)")
    weight_decay: float = flag(0.00004, "float0", "L2 weight decay of the model weights (default: 0.00004)")
    optimizer: str = flag("rmsprop", "str", "adadelta, adagrad, adam, ftrl, momentum, rmsprop or sgd "
                                            "(default: rmsprop)")
    adadelta_rho: float = flag(0.95, "float0", "Adadelta's decay rho (default: 0.95)")
    adagrad_initial_accumulator_value: float = flag(0.1, "float0", "AdaGrad's initial accumulator (default: 0.1)")
    adam_beta1: float = flag(0.9, "float", "Adam's beta1 (default: 0.9)")
    adam_beta2: float = flag(0.999, "float", "Adam's beta2 (default: 0.999)")
    opt_epsilon: float = flag(1.0, "float+", "epsilon of Adadelta, Adam and RMSProp (default: 1.0)")
    ftrl_learning_rate_power: float = flag(-0.5, "float", "FTRL's learning rate power, <= 0 (default: -0.5)")
    ftrl_initial_accumulator_value: float = flag(0.1, "float0", "FTRL's initial accumulator (default: 0.1)")
    ftrl_l1: float = flag(0.0, "float0", "FTRL's L1 regularization strength (default: 0)")
    ftrl_l2: float = flag(0.0, "float0", "FTRL's L2 regularization strength (default: 0)")
    momentum: float = flag(0.9, "float0", "momentum of the Momentum optimizer (default: 0.9)")
    rmsprop_momentum: float = flag(0.9, "float0", "RMSProp's momentum (default: 0.9)")
    rmsprop_decay: float = flag(0.9, "float0", "RMSProp's decay (default: 0.9)")
    learning_rate: float = flag(0.01, "float+", "initial learning rate (default: 0.01)")
    learning_rate_decay_type: str = flag("exponential", "str", "exponential, fixed or polynomial "
                                                               "(default: exponential)")
    learning_rate_decay_factor: float = flag(0.94, "float+", "exponential decay factor (default: 0.94)")
    num_epochs_per_decay: float = flag(2.0, "float+", "epochs per decay step (default: 2.0)")
    end_learning_rate: float = flag(0.0001, "float0", "polynomial decay's final rate (default: 0.0001)")
    label_smoothing: float = flag(0.0, "float0", "label smoothing of the cross entropy (default: 0)")
    moving_average_decay: float | None = flag(None, "float+", "keep exponential moving averages of the model "
                                              "variables with this decay (saved as <var>/ExponentialMovingAverage; "
                                              "default: none)")
    checkpoint_path: str | None = flag(None, "str", "checkpoint (file or folder) to fine-tune from")
    checkpoint_exclude_scopes: str | None = flag(None, "str", "comma-separated scopes not restored from "
                                                              "--checkpoint_path")
    trainable_scopes: str | None = flag(None, "str", "comma-separated scopes to train (default: all trainable "
                                                     "variables)")
    ignore_missing_vars: bool = flag(False, "bool", "skip variables missing from --checkpoint_path")
    skip_corrupt: bool = flag(False, "bool", "skip corrupt records (with a warning) instead of stopping")
    seed: int | None = flag(0, "int0", "random seed of the weights, the shuffling and the augmentation (default: 0)")
    # research/slim's distributed flags, mapped onto `slimir launch -n N -- slimir train ... --sync_replicas`
    sync_replicas: bool = flag(False, "bool", "synchronous data-parallel training over the processes of `slimir "
                               "launch -n N` (required when N > 1: asynchronous training is not supported)")
    worker_replicas: int | None = flag(None, "int+", "processes training together; must equal slimir launch's -n "
                                                     "(default: it)")
    task: int | None = flag(None, "int0", "this process's task index; must equal its MPI rank (default: the rank)")
    replicas_to_aggregate: int | None = flag(None, "int+", "replicas averaged per step; must equal the number of "
                                                           "processes (default: it; no backup workers)")
    num_ps_tasks: int = flag(0, "int0", "parameter servers: not supported, must be 0 (default: 0)")
    master: str = flag("", "str", "TensorFlow master: not used; leave it out (the MPI world is the cluster)")
    num_clones: int = flag(1, "int+", "model_deploy clones in one process: only 1 (one process per device instead)")
    clone_on_cpu: bool = flag(False, "bool", "train on the CPU (as --device cpu)")


@dataclass
class EvalFlags(DataFlags):
    """eval_image_classifier.py's flags, plus --loop for evaluation_loop."""

    checkpoint_path: str | None = flag(None, "str", "a checkpoint, or a folder (its latest; with --loop: each new "
                                                    "one) (required)", required=True)
    eval_dir: str | None = flag(None, "str", "folder for the evaluation's event files (default: CHECKPOINT_DIR/eval)")
    dataset_split_name: str = flag("test", "str", "split to evaluate (default: test)")
    batch_size: int = flag(100, "int+", "examples per batch (default: 100)")
    max_num_batches: int | None = flag(None, "int+", "evaluate this many batches only (default: the whole split)")
    eval_image_size: int | None = flag(None, "int+", "input height and width (default: the network's "
                                                     "default_image_size)")
    num_preprocessing_threads: int = flag(4, "int+", "threads that preprocess and batch (default: 4)")
    moving_average_decay: float | None = flag(None, "float+", "evaluate the moving averages of the model variables "
                                              "(a checkpoint trained with --moving_average_decay; default: the "
                                              "variables themselves)")
    loop: bool = flag(False, "bool", "keep evaluating each new checkpoint of the --checkpoint_path folder")
    eval_interval_secs: float = flag(60, "float0", "with --loop: seconds between evaluations (default: 60)")
    max_number_of_evaluations: int | None = flag(None, "int+", "with --loop: stop after this many evaluations")
    timeout: float | None = flag(None, "float0", "with --loop: stop after waiting this many seconds for a new "
                                                 "checkpoint")


@dataclass
class ExportFlags:
    """export_inference_graph.py's flags, plus the trained weights and slimir's export options. The network
    may also be given as `slimir export NET` (the command's positional argument)."""

    model_name: str | None = flag(None, "str", "network name (see the list below)")
    output_file: str | None = flag(None, "str", "where to write the model", required=True,
                                   aliases=("-o", "--output"))
    is_training: bool = flag(False, "bool", "build the training-mode graph (dropout, batch statistics)")
    image_size: int | None = flag(None, "int+", "input height and width (default: the network's "
                                                "default_image_size)", aliases=("--image-size",))
    batch_size: int | None = flag(None, "int+", "a fixed batch size (default: a dynamic 'batch' dimension)",
                                  aliases=("--batch-size",))
    dataset_name: str | None = flag(None, "str", "gives the class count and image channels (digits, mnist, "
                                                 "cifar10, flowers, imagenet)")
    dataset_dir: str | None = flag(None, "str", "with a --dataset_name converted from an image folder: its folder "
                                                "(gives the class count)")
    num_classes: int | None = flag(None, "int0", "classes of the logits layer (default: the network's; 0 returns "
                                                 "the features before it)", aliases=("--num-classes",))
    labels_offset: int = flag(0, "int0", "classes of --dataset_name not in the logits (1 for VGG/ResNet on imagenet)")
    use_grayscale: bool = flag(False, "bool", "one input channel")
    checkpoint_path: str | None = flag(None, "str", "checkpoint (file or folder: its latest) whose weights are "
                                                    "exported")
    optimize: bool = flag(True, "bool?", "run the inference pass pipeline (default: --optimize)")
    target: str = flag("onnx", "str", "onnx: portable (default); onnxruntime: with ORT's FusedConv; "
                                      "onnxruntime-native: ORT's full optimiser for this CPU (fastest, runs only on "
                                      "CPUs of this kind)")
    opset: int | None = flag(None, "int+", "ONNX opset (default: 18)")
    seed: int = flag(0, "int0", "graph random seed the initial weights are drawn with (default: 0, reproducible)")


CHOICES = {"target": ("onnx", "onnxruntime", "onnxruntime-native")}


# ------------------------------------------------------------------------------------------------
# argparse from the dataclasses


def positive_int(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return value


def number(kind: str = "any"):
    """A finite float parser; kind 'positive' or 'non_negative' bounds it."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if kind == "positive" and value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {value:g}")
        if kind == "non_negative" and value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {value:g}")
        return value

    return parse


def _switch_value(text: str) -> bool:
    low = text.lower()
    if low in ("true", "t", "1", "yes"):
        return True
    if low in ("false", "f", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"must be true or false, got {text!r}")


def add_switch(p: argparse.ArgumentParser, name: str, default: bool, text: str) -> None:
    """A boolean flag spelt as absl (research/slim's scripts) accepts it: --NAME, --NAME=true|false, --noNAME."""
    p.add_argument(f"--{name}", nargs="?", const=True, default=default, type=_switch_value, metavar="BOOL",
                   help=text)
    p.add_argument(f"--no{name}", dest=name, action="store_false", help=argparse.SUPPRESS)


_TYPES = {"int+": positive_int, "int0": non_negative_int, "float": number("any"), "float+": number("positive"),
          "float0": number("non_negative"), "str": str}


def add_flags(p: argparse.ArgumentParser, cls) -> None:
    """Add an option for every `flag` field of the dataclass `cls` (its name, aliases, type, default, help)."""
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if "kind" not in meta:
            continue
        kind, text = meta["kind"], meta["help"]
        if kind == "bool":
            add_switch(p, f.name, f.default, text)
        elif kind == "bool?":
            p.add_argument(f"--{f.name}", action=argparse.BooleanOptionalAction, default=f.default, help=text)
        else:
            p.add_argument(*meta["aliases"], f"--{f.name}", dest=f.name, type=_TYPES[kind], default=f.default,
                           required=meta["required"], choices=CHOICES.get(f.name),
                           metavar=f.name.upper() if kind == "str" else "N", help=text)


def missing(flags) -> list:
    """The required flags of a flags object that are not given."""
    return [f.name for f in dataclasses.fields(flags)
            if f.metadata.get("required") and getattr(flags, f.name) in (None, "")]


def check_required(flags) -> None:
    """Raise JobError naming the first required flag that is not given."""
    names = missing(flags)
    if names:
        raise JobError(f"--{names[0]} is required")


def flags_from(cls, namespace):
    """A flags dataclass from an argparse namespace whose dests are the field names."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(namespace).items() if k in names})
