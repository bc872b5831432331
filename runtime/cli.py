"""The `slimir` command: research/slim's image-classifier jobs, and export / inspection of networks.

slimir demo                                    train + evaluate + export LeNet on the embedded digits
slimir train --model_name=lenet --dataset_name=digits --train_dir=DIR [--max_number_of_steps N ...]
slimir eval --model_name=lenet --dataset_name=digits --checkpoint_path=DIR|CKPT [--eval_dir DIR ...]
slimir export --model_name=NET --output_file=FILE [--dataset_name D --checkpoint_path CKPT ...]
slimir export NET -o FILE [--num-classes N] [--image-size S] [--batch-size B] [--opset 18]
slimir inspect NET | model.onnx [--num-classes N] [--image-size S] [--nodes]
slimir list
"""

from __future__ import annotations

import argparse
import inspect as _pyinspect
import math
import os
import sys
import time

from slimir.errors import SlimirError

EXIT_USAGE = 2
_CHANNELS = {"lenet": 1}  # input channels per network (3, RGB, for the others)


class _Usage(Exception):
    """Bad command-line input: reported as one `slimir: error: ...` line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + message; a single line is easier to read and grep
        raise _Usage(message)


def _positive(what: str):
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
        return value

    return parse


def _non_negative(what: str):
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
        return value

    return parse


def _networks() -> dict:
    """Every network by name: the classifiers of nets_factory.networks_map and its generative_map."""
    from slimir.nets import nets_factory

    return {**nets_factory.networks_map, **nets_factory.generative_map}


def _net_help() -> str:
    return ", ".join(sorted(_networks()))


def _add_net_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--num-classes",
        "--num_classes",
        dest="num_classes",
        type=_non_negative("--num-classes"),
        default=None,
        metavar="N",
        help="classes of the logits layer (default: the network's; 0 returns the features before it)",
    )
    p.add_argument(
        "--image-size",
        "--image_size",
        dest="image_size",
        type=_positive("--image-size"),
        default=None,
        metavar="S",
        help="input height and width (default: the network's default_image_size)",
    )


def _float(kind: str):
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


def _add_switch(p: argparse.ArgumentParser, name: str, default: bool, text: str) -> None:
    """A boolean flag spelt as absl (research/slim's scripts) accepts it: --NAME, --NAME=true|false, --noNAME."""
    p.add_argument(f"--{name}", nargs="?", const=True, default=default, type=_switch_value, metavar="BOOL",
                   help=text)
    p.add_argument(f"--no{name}", dest=name, action="store_false", help=argparse.SUPPRESS)


def _add_flags(p: argparse.ArgumentParser, table) -> None:
    """Add research/slim-style flags from (name, type, default, help) rows; type 'bool' is a switch."""
    for name, kind, default, text in table:
        if kind == "bool":
            _add_switch(p, name, default, text)
            continue
        types = {"int+": _positive(name), "int0": _non_negative(name), "float": _float("any"),
                 "float+": _float("positive"), "float0": _float("non_negative"), "str": str}
        p.add_argument(f"--{name}", type=types[kind], default=default,
                       metavar=name.upper() if kind == "str" else "N", help=text)


_DATA_FLAGS = [
    ("model_name", "str", None, "network to use (see `slimir list`)"),
    ("dataset_name", "str", None, "digits (embedded, no download), mnist, cifar10, flowers or imagenet"),
    ("dataset_dir", "str", None, "folder of the dataset's files (default: the dataset's own; digits needs none)"),
    ("labels_offset", "int0", 0, "subtracted from the labels (1 for VGG/ResNet on ImageNet's 1001 classes)"),
    ("preprocessing_name", "str", None, "preprocessing to use (default: --model_name)"),
    ("use_grayscale", "bool", False, "convert the images to one grayscale channel"),
    ("device", "str", None, "cpu or cuda (default: cuda when available, else cpu)"),
]

_TRAIN_FLAGS = [
    ("train_dir", "str", None, "folder for the checkpoints and TensorBoard event files (required)"),
    ("dataset_split_name", "str", "train", "split to train on (default: train)"),
    ("batch_size", "int+", 32, "examples per step (default: 32)"),
    ("train_image_size", "int+", None, "input height and width (default: the network's default_image_size)"),
    ("max_number_of_steps", "int+", None, "stop at this global step"),
    ("num_epochs", "int+", None, "stop after this many passes over the data"),
    ("num_readers", "int+", 4, "parallel readers of the dataset's files (default: 4)"),
    ("num_preprocessing_threads", "int+", 4, "threads that preprocess and batch (default: 4)"),
    ("log_every_n_steps", "int+", 10, "log the loss every N steps (default: 10)"),
    ("save_summaries_secs", "float0", 600, "write summaries every N seconds (default: 600)"),
    ("save_interval_secs", "float0", 600, "save a checkpoint every N seconds (default: 600)"),
    ("weight_decay", "float0", 0.00004, "L2 weight decay of the model weights (default: 0.00004)"),
    ("optimizer", "str", "rmsprop",
     "adadelta, adagrad, adam, ftrl, momentum, rmsprop or sgd (default: rmsprop)"),
    ("adadelta_rho", "float0", 0.95, "Adadelta's decay rho (default: 0.95)"),
    ("adagrad_initial_accumulator_value", "float0", 0.1, "AdaGrad's initial accumulator (default: 0.1)"),
    ("adam_beta1", "float", 0.9, "Adam's beta1 (default: 0.9)"),
    ("adam_beta2", "float", 0.999, "Adam's beta2 (default: 0.999)"),
    ("opt_epsilon", "float+", 1.0, "epsilon of Adadelta, Adam and RMSProp (default: 1.0)"),
    ("ftrl_learning_rate_power", "float", -0.5, "FTRL's learning rate power, <= 0 (default: -0.5)"),
    ("ftrl_initial_accumulator_value", "float0", 0.1, "FTRL's initial accumulator (default: 0.1)"),
    ("ftrl_l1", "float0", 0.0, "FTRL's L1 regularization strength (default: 0)"),
    ("ftrl_l2", "float0", 0.0, "FTRL's L2 regularization strength (default: 0)"),
    ("momentum", "float0", 0.9, "momentum of the Momentum optimizer (default: 0.9)"),
    ("rmsprop_momentum", "float0", 0.9, "RMSProp's momentum (default: 0.9)"),
    ("rmsprop_decay", "float0", 0.9, "RMSProp's decay (default: 0.9)"),
    ("learning_rate", "float+", 0.01, "initial learning rate (default: 0.01)"),
    ("learning_rate_decay_type", "str", "exponential", "exponential, fixed or polynomial (default: exponential)"),
    ("learning_rate_decay_factor", "float+", 0.94, "exponential decay factor (default: 0.94)"),
    ("num_epochs_per_decay", "float+", 2.0, "epochs per decay step (default: 2.0)"),
    ("end_learning_rate", "float0", 0.0001, "polynomial decay's final rate (default: 0.0001)"),
    ("label_smoothing", "float0", 0.0, "label smoothing of the cross entropy (default: 0)"),
    ("moving_average_decay", "float+", None, ("keep exponential moving averages of the model variables with this "
                                              "decay (saved as <var>/ExponentialMovingAverage; default: none)")),
    ("checkpoint_path", "str", None, "checkpoint (file or folder) to fine-tune from"),
    ("checkpoint_exclude_scopes", "str", None, "comma-separated scopes not restored from --checkpoint_path"),
    ("trainable_scopes", "str", None, "comma-separated scopes to train (default: all trainable variables)"),
    ("ignore_missing_vars", "bool", False, "skip variables missing from --checkpoint_path"),
    ("skip_corrupt", "bool", False, "skip corrupt records (with a warning) instead of stopping"),
    ("seed", "int0", 0, "random seed of the weights, the shuffling and the augmentation (default: 0)"),
    # research/slim's distributed flags, mapped onto `slimir launch -n N -- slimir train ... --sync_replicas`
    ("sync_replicas", "bool", False, "synchronous data-parallel training over the processes of `slimir launch -n N` "
     "(required when N > 1: asynchronous training is not supported)"),
    ("worker_replicas", "int+", None, "processes training together; must equal slimir launch's -n (default: it)"),
    ("task", "int0", None, "this process's task index; must equal its MPI rank (default: the rank)"),
    ("replicas_to_aggregate", "int+", None, "replicas averaged per step; must equal the number of processes "
     "(default: it; no backup workers)"),
    ("num_ps_tasks", "int0", 0, "parameter servers: not supported, must be 0 (default: 0)"),
    ("master", "str", "", "TensorFlow master: not used; leave it out (the MPI world is the cluster)"),
    ("num_clones", "int+", 1, "model_deploy clones in one process: only 1 (one process per device instead)"),
    ("clone_on_cpu", "bool", False, "train on the CPU (as --device cpu)"),
]

_EVAL_FLAGS = [
    ("checkpoint_path", "str", None, "a checkpoint, or a folder (its latest; with --loop: each new one) (required)"),
    ("eval_dir", "str", None, "folder for the evaluation's event files (default: CHECKPOINT_DIR/eval)"),
    ("dataset_split_name", "str", "test", "split to evaluate (default: test)"),
    ("batch_size", "int+", 100, "examples per batch (default: 100)"),
    ("max_num_batches", "int+", None, "evaluate this many batches only (default: the whole split)"),
    ("eval_image_size", "int+", None, "input height and width (default: the network's default_image_size)"),
    ("num_preprocessing_threads", "int+", 4, "threads that preprocess and batch (default: 4)"),
    ("moving_average_decay", "float+", None, ("evaluate the moving averages of the model variables (a checkpoint "
                                              "trained with --moving_average_decay; default: the variables "
                                              "themselves)")),
    ("loop", "bool", False, "keep evaluating each new checkpoint of the --checkpoint_path folder"),
    ("eval_interval_secs", "float0", 60, "with --loop: seconds between evaluations (default: 60)"),
    ("max_number_of_evaluations", "int+", None, "with --loop: stop after this many evaluations"),
    ("timeout", "float0", None, "with --loop: stop after waiting this many seconds for a new checkpoint"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="slimir",
        description="Train, evaluate and export image classifiers (research/slim's jobs), export slimir "
        "networks to ONNX and inspect networks or ONNX files.",
        epilog="networks: " + _net_help(),
    )
    from slimir import __version__

    parser.add_argument("--version", action="version", version=f"slimir {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="train, evaluate and export LeNet on the embedded digits (the README's first command)",
        description="Train LeNet on the handwritten digits scikit-learn ships (no download), evaluate it on the "
        "held-out test split and export it to ONNX; prints where everything went.",
    )
    demo.add_argument("--train_dir", "--logdir", dest="train_dir", default=None, metavar="DIR",
                      help="checkpoints, event files and the ONNX model (default: a new temporary folder)")
    demo.add_argument("--max_number_of_steps", "--steps", dest="max_number_of_steps", type=_positive("--steps"),
                      default=1500, metavar="N", help="training steps (default: 1500)")
    demo.add_argument("--batch_size", type=_positive("--batch_size"), default=64, metavar="N",
                      help="examples per step (default: 64)")
    demo.add_argument("--learning_rate", type=_float("positive"), default=1e-3, metavar="LR",
                      help="Adam's learning rate (default: 0.001)")
    demo.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available, else cpu)")

    tr = sub.add_parser(
        "train",
        help="train a network on a dataset (research/slim's train_image_classifier)",
        description="Train --model_name on --dataset_name into --train_dir, as research/slim's "
        "train_image_classifier.py: dataset -> provider -> preprocessing -> batch -> network -> softmax "
        "cross entropy -> optimizer -> learning.train.",
        epilog="networks: " + _net_help(),
    )
    _add_flags(tr, _DATA_FLAGS + _TRAIN_FLAGS)

    ev = sub.add_parser(
        "eval",
        help="accuracy and recall@5 of a checkpoint (research/slim's eval_image_classifier)",
        description="Evaluate a checkpoint of --model_name on a split of --dataset_name with streaming "
        "accuracy and recall@5, as research/slim's eval_image_classifier.py.",
        epilog="networks: " + _net_help(),
    )
    _add_flags(ev, _DATA_FLAGS + _EVAL_FLAGS)

    ex = sub.add_parser(
        "export",
        help="write a network as an ONNX model (with trained weights from --checkpoint_path)",
        description="Build NET with is_training=False and write it as an ONNX model, with the weights of "
        "--checkpoint_path, or the variables' initial values (drawn with --seed). Both spellings work: "
        "`slimir export NET -o FILE` and research/slim's `--model_name=NET --output_file=FILE`.",
        epilog="networks: " + _net_help(),
    )
    ex.add_argument("net", metavar="NET", nargs="?", default=None, help="network name (or --model_name)")
    ex.add_argument("--model_name", default=None, metavar="NET", help="network name (see the list below)")
    ex.add_argument("-o", "--output", "--output_file", dest="output", required=True, metavar="FILE.onnx",
                    help="where to write the model")
    _add_net_options(ex)
    ex.add_argument(
        "--batch-size",
        "--batch_size",
        dest="batch_size",
        type=_positive("--batch-size"),
        default=None,
        metavar="B",
        help="a fixed batch size (default: a dynamic 'batch' dimension)",
    )
    ex.add_argument("--dataset_name", default=None, metavar="NAME",
                    help="gives the class count and image channels (digits, mnist, cifar10, flowers, imagenet)")
    ex.add_argument("--dataset_dir", default=None, metavar="DIR",
                    help="with a --dataset_name converted from an image folder: its folder (gives the class count)")
    ex.add_argument("--labels_offset", type=_non_negative("--labels_offset"), default=0, metavar="N",
                    help="classes of --dataset_name not in the logits (1 for VGG/ResNet on imagenet)")
    _add_switch(ex, "is_training", False, "build the training-mode graph (dropout, batch statistics)")
    _add_switch(ex, "use_grayscale", False, "one input channel")
    ex.add_argument("--checkpoint_path", default=None, metavar="CKPT",
                    help="checkpoint (file or folder: its latest) whose weights are exported")
    ex.add_argument(
        "--opset", type=_positive("--opset"), default=None, metavar="N", help="ONNX opset (default: 18)"
    )
    ex.add_argument("--optimize", action=argparse.BooleanOptionalAction, default=True,
                    help="run the inference pass pipeline (default: --optimize)")
    ex.add_argument("--target", choices=["onnx", "onnxruntime", "onnxruntime-native"], default="onnx",
                    help="onnx: portable (default); onnxruntime: with ORT's FusedConv; onnxruntime-native: "
                         "ORT's full optimiser for this CPU (fastest, runs only on CPUs of this kind)")
    ex.add_argument(
        "--seed",
        type=_non_negative("--seed"),
        default=0,
        metavar="N",
        help="graph random seed the initial weights are drawn with (default: 0, reproducible)",
    )

    ins = sub.add_parser(
        "inspect",
        help="print layers, shapes, parameter counts and FLOPs",
        description="Print the layers, output shapes, parameter counts and FLOPs of a network "
        "(built, not exported) or of an ONNX file.",
        epilog="networks: " + _net_help(),
    )
    ins.add_argument("target", metavar="NET|FILE.onnx", help="a network name or an ONNX file")
    _add_net_options(ins)
    ins.add_argument(
        "--batch-size",
        "--batch_size",
        dest="batch_size",
        type=_positive("--batch-size"),
        default=None,
        metavar="B",
        help="build with a fixed batch size (default: unknown, FLOPs are then per example)",
    )
    ins.add_argument("--nodes", action="store_true", help="one row per IR node instead of per layer")
    ins.add_argument(
        "--passes",
        action="store_true",
        help="also run the export pass pipeline and print what each pass changed",
    )

    sub.add_parser("list", help="list the networks", description="List the networks slimir can build.")
    return parser


# ------------------------------------------------------------------------------------------
# Building a network


def _default_num_classes(func) -> int:
    try:
        default = _pyinspect.signature(func).parameters["num_classes"].default
    except (KeyError, TypeError, ValueError):
        return 1000
    return default if isinstance(default, int) else 1000


def build_network(
    name: str,
    num_classes: int | None = None,
    image_size: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
):
    """(graph, images placeholder, output tensor) for network `name`, built with is_training=False.

    `seed` is the graph's random seed: variables initialise to the same values in every build.
    """
    import slimir as slim
    from slimir.nets import nets_factory

    networks = _networks()
    if name not in networks:
        raise _Usage(f"unknown network {name!r} (choose from {_net_help()})")
    func = networks[name]
    if num_classes is None:
        num_classes = _default_num_classes(func)
    shape = nets_factory.input_shape(name, image_size, _CHANNELS.get(name, 3))
    graph = slim.Graph()
    with graph.as_default():
        if seed is not None:
            slim.set_random_seed(seed)
        images = slim.placeholder(slim.float32, [batch_size] + shape, name="images")
        if name in nets_factory.generative_map:
            network_fn = nets_factory.get_generative_network_fn(name, is_training=False)
        else:
            network_fn = nets_factory.get_network_fn(name, num_classes, is_training=False)
        net, _ = network_fn(images)
    return graph, images, net


# ------------------------------------------------------------------------------------------
# Commands


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} KB"


def _shape_str(dims) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def cmd_export(args) -> int:
    import onnx

    from .image_classifier import ExportFlags, export_inference_graph
    from .inspect import count_parameters
    from .lowering import DEFAULT_OPSET

    name = args.net or args.model_name
    if args.net and args.model_name and args.net != args.model_name:
        raise _Usage(f"two networks given: {args.net!r} and --model_name {args.model_name!r}")
    if not name:
        raise _Usage("give the network: slimir export NET -o FILE, or --model_name=NET --output_file=FILE")
    opset = args.opset or DEFAULT_OPSET
    max_opset = onnx.defs.onnx_opset_version()
    if not 13 <= opset <= max_opset:
        raise _Usage(f"--opset must be between 13 and {max_opset} (this onnx), got {opset}")
    flags = ExportFlags(model_name=name, output_file=args.output, is_training=args.is_training,
                        image_size=args.image_size, batch_size=args.batch_size, dataset_name=args.dataset_name,
                        dataset_dir=args.dataset_dir,
                        num_classes=args.num_classes, labels_offset=args.labels_offset,
                        use_grayscale=args.use_grayscale, checkpoint_path=args.checkpoint_path,
                        optimize=args.optimize, target=args.target, opset=opset, seed=args.seed)
    t0 = time.perf_counter()
    model = export_inference_graph(flags)
    seconds = time.perf_counter() - t0
    out = args.output
    params, _, _ = count_parameters(model)
    size = os.path.getsize(out)
    if args.checkpoint_path:
        from .checkpoint.assign import resolve_model_path

        weights = f"checkpoint {resolve_model_path(args.checkpoint_path)}"
    else:
        weights = f"initial values (seed {args.seed})"
    print(f"wrote {out} ({size:,} bytes, {_mb(size)}) in {seconds:.1f} s")
    print(f"  network     {name}, is_training={args.is_training}, weights = {weights}")
    print(f"  parameters  {params:,}")
    print(f"  input       {model.graph.input[0].name} {_shape_str(_dims(model.graph.input[0]))}")
    for o in model.graph.output:
        print(f"  output      {o.name} {_shape_str(_dims(o))}")
    print(f"  opset       {opset}, IR version {model.ir_version}")
    return 0


def _require(args, *names) -> None:
    for n in names:
        if getattr(args, n) in (None, ""):
            raise _Usage(f"the following arguments are required: --{n}")


def _setup_logging() -> None:
    import logging

    logger = logging.getLogger("slimir")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)


def cmd_train(args) -> int:
    from .image_classifier import TrainFlags, flags_from, train_image_classifier

    _require(args, "train_dir", "model_name", "dataset_name")
    _setup_logging()
    result = train_image_classifier(flags_from(TrainFlags, args))
    if result.is_chief:  # data-parallel: the chief reports for every rank
        _print_train(args.model_name, args.dataset_name, args.dataset_split_name, result)
    return 0


def _print_train(model, dataset, split, r) -> None:
    loss = "-" if r.loss is None else f"{r.loss:.4f}"
    where = f" on {r.num_replicas} replicas (data-parallel)" if getattr(r, "num_replicas", 1) > 1 else ""
    print(f"trained {model} on {dataset}/{split} ({r.num_samples} examples){where}: global step {r.global_step}, "
          f"loss {loss}, {r.seconds:.1f} s")
    print(f"  checkpoint   {r.checkpoint}")
    print(f"  TensorBoard  tensorboard --logdir {r.train_dir}")
    if r.skipped_records:
        print(f"  skipped      {r.skipped_records} corrupt record(s) (--skip_corrupt)")


def cmd_eval(args) -> int:
    from .image_classifier import EvalFlags, eval_image_classifier, flags_from

    _require(args, "checkpoint_path", "model_name", "dataset_name")
    _setup_logging()
    r = eval_image_classifier(flags_from(EvalFlags, args))
    _print_eval(args.model_name, args.dataset_name, args.dataset_split_name, r)
    return 0


def _print_eval(model, dataset, split, r) -> None:
    print(f"evaluated {model} on {dataset}/{split}: {r.num_examples} examples, checkpoint {r.checkpoint} "
          f"(global step {r.global_step}), {r.seconds:.1f} s")
    for name, value in r.metrics.items():
        print(f"  {name:12s} {value:.4f}")
    print(f"  event files  {r.eval_dir}")


def cmd_demo(args) -> int:
    from .image_classifier import run_demo

    _setup_logging()
    run_demo(train_dir=args.train_dir, steps=args.max_number_of_steps, batch_size=args.batch_size,
             learning_rate=args.learning_rate, device=args.device)
    return 0


def _dims(value_info) -> list:
    out = []
    for d in value_info.type.tensor_type.shape.dim:
        out.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or None))
    return out


def cmd_inspect(args) -> int:
    from .inspect import describe_graph, describe_onnx, format_graph, format_onnx

    target = args.target
    networks = _networks()
    if target in networks and not os.path.isfile(target):
        graph, _images, net = build_network(target, args.num_classes, args.image_size, args.batch_size)
        report = describe_graph(net)
        print(f"network {target} (is_training=False)")
        print(format_graph(report, by="node" if args.nodes else "layer"))
        if args.passes:
            from slimir.passes import optimize_for_inference

            print("\nexport pass pipeline:")
            for r in optimize_for_inference(graph, [net]):
                print(str(r))
        return 0
    if os.path.isfile(target):
        for flag, value in (
            ("--num-classes", args.num_classes),
            ("--image-size", args.image_size),
            ("--batch-size", args.batch_size),
        ):
            if value is not None:
                raise _Usage(f"{flag} applies to a network name, not to an ONNX file ({target})")
        print(format_onnx(describe_onnx(target)))
        return 0
    if target.lower().endswith(".onnx") or os.sep in target:
        raise _Usage(f"no such file: {target}")
    raise _Usage(f"unknown network {target!r} (choose from {_net_help()}) and no such file")


def cmd_list(args) -> int:
    from slimir.nets import nets_factory

    for name, func in sorted(_networks().items()):
        shape = "x".join(str(d) for d in nets_factory.input_shape(name, channels=_CHANNELS.get(name, 3)))
        what = ("generative" if name in nets_factory.generative_map
                else f"num_classes={_default_num_classes(func)}")
        print(f"{name:12s} {shape:11s} {what}")
    return 0


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return " ".join(text.split())


def main(argv=None) -> int:
    """Entry point of the `slimir` console script; returns the exit status."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["launch"]:  # `slimir launch -n N -- COMMAND ...` parses its own flags (runtime/launch.py)
        from .launch import main as launch_main

        return launch_main(args_in[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        handler = {"export": cmd_export, "inspect": cmd_inspect, "list": cmd_list, "train": cmd_train,
                   "eval": cmd_eval, "demo": cmd_demo}[args.command]
        return handler(args)
    except _Usage as e:
        print(f"slimir: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except SlimirError as e:  # bad shapes/sizes for the network, unreadable model, ...
        if not getattr(e, "quiet", False):  # quiet: a data-parallel worker whose chief reports the same error
            print(f"slimir: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"slimir: error: {where}{e.strerror or _one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("slimir: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a slimir bug: still one line, the traceback on request
        if os.environ.get("SLIMIR_DEBUG"):
            raise
        print(
            f"slimir: error: internal error ({type(e).__name__}: {_one_line(e)}); "
            "set SLIMIR_DEBUG=1 for the traceback",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
