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
import os
import sys
import time

from slimir.errors import SlimirError
from slimir.nets import nets_factory

from . import flags

EXIT_USAGE = 2


class _Usage(Exception):
    """Bad command-line input: reported as one `slimir: error: ...` line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + message; a single line is easier to read and grep
        raise _Usage(message)


def _net_help() -> str:
    return ", ".join(nets_factory.network_names())


def _add_net_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--num-classes", "--num_classes", dest="num_classes", type=flags.non_negative_int, default=None,
                   metavar="N", help="classes of the logits layer (default: the network's; 0 returns the features "
                                     "before it)")
    p.add_argument("--image-size", "--image_size", dest="image_size", type=flags.positive_int, default=None,
                   metavar="S", help="input height and width (default: the network's default_image_size)")


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
    demo.add_argument("--max_number_of_steps", "--steps", dest="max_number_of_steps", type=flags.positive_int,
                      default=1500, metavar="N", help="training steps (default: 1500)")
    demo.add_argument("--batch_size", type=flags.positive_int, default=64, metavar="N",
                      help="examples per step (default: 64)")
    demo.add_argument("--learning_rate", type=flags.number("positive"), default=1e-3, metavar="LR",
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
    flags.add_flags(tr, flags.TrainFlags)

    ev = sub.add_parser(
        "eval",
        help="accuracy and recall@5 of a checkpoint (research/slim's eval_image_classifier)",
        description="Evaluate a checkpoint of --model_name on a split of --dataset_name with streaming "
        "accuracy and recall@5, as research/slim's eval_image_classifier.py.",
        epilog="networks: " + _net_help(),
    )
    flags.add_flags(ev, flags.EvalFlags)

    ex = sub.add_parser(
        "export",
        help="write a network as an ONNX model (with trained weights from --checkpoint_path)",
        description="Build NET with is_training=False and write it as an ONNX model, with the weights of "
        "--checkpoint_path, or the variables' initial values (drawn with --seed). Both spellings work: "
        "`slimir export NET -o FILE` and research/slim's `--model_name=NET --output_file=FILE`.",
        epilog="networks: " + _net_help(),
    )
    ex.add_argument("net", metavar="NET", nargs="?", default=None, help="network name (or --model_name)")
    flags.add_flags(ex, flags.ExportFlags)

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
        type=flags.positive_int,
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
# Commands


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} KB"


def _shape_str(dims) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def cmd_export(args) -> int:
    import onnx

    from slimir.runtime.checkpoint.assign import resolve_model_path
    from slimir.runtime.inspect import count_parameters
    from slimir.runtime.lowering import DEFAULT_OPSET

    from .image_classifier import export_inference_graph

    name = args.net or args.model_name
    if args.net and args.model_name and args.net != args.model_name:
        raise _Usage(f"two networks given: {args.net!r} and --model_name {args.model_name!r}")
    if not name:
        raise _Usage("give the network: slimir export NET -o FILE, or --model_name=NET --output_file=FILE")
    args.model_name = name
    args.opset = args.opset or DEFAULT_OPSET
    max_opset = onnx.defs.onnx_opset_version()
    if not 13 <= args.opset <= max_opset:
        raise _Usage(f"--opset must be between 13 and {max_opset} (this onnx), got {args.opset}")
    f = flags.flags_from(flags.ExportFlags, args)
    t0 = time.perf_counter()
    model = export_inference_graph(f)
    seconds = time.perf_counter() - t0
    out = f.output_file
    params, _, _ = count_parameters(model)
    size = os.path.getsize(out)
    if f.checkpoint_path:
        weights = f"checkpoint {resolve_model_path(f.checkpoint_path)}"
    else:
        weights = f"initial values (seed {f.seed})"
    print(f"wrote {out} ({size:,} bytes, {_mb(size)}) in {seconds:.1f} s")
    print(f"  network     {name}, is_training={f.is_training}, weights = {weights}")
    print(f"  parameters  {params:,}")
    print(f"  input       {model.graph.input[0].name} {_shape_str(_dims(model.graph.input[0]))}")
    for o in model.graph.output:
        print(f"  output      {o.name} {_shape_str(_dims(o))}")
    print(f"  opset       {f.opset}, IR version {model.ir_version}")
    return 0


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
    from .image_classifier import train_image_classifier

    _setup_logging()
    result = train_image_classifier(flags.flags_from(flags.TrainFlags, args))
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
    from .image_classifier import eval_image_classifier

    _setup_logging()
    r = eval_image_classifier(flags.flags_from(flags.EvalFlags, args))
    _print_eval(args.model_name, args.dataset_name, args.dataset_split_name, r)
    return 0


def _print_eval(model, dataset, split, r) -> None:
    print(f"evaluated {model} on {dataset}/{split}: {r.num_examples} examples, checkpoint {r.checkpoint} "
          f"(global step {r.global_step}), {r.seconds:.1f} s")
    for name, value in r.metrics.items():
        print(f"  {name:12s} {value:.4f}")
    print(f"  event files  {r.eval_dir}")


def cmd_demo(args) -> int:
    from .demo import run_demo

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
    from slimir.runtime.inspect import describe_graph, describe_onnx, format_graph, format_onnx

    target = args.target
    if target in nets_factory.network_names() and not os.path.isfile(target):
        graph, _images, net = nets_factory.build_network(target, args.num_classes, args.image_size,
                                                         args.batch_size)
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
    for name in nets_factory.network_names():
        shape = "x".join(str(d) for d in nets_factory.input_shape(name))
        what = ("generative" if name in nets_factory.generative_map
                else f"num_classes={nets_factory.default_num_classes(name)}")
        print(f"{name:12s} {shape:11s} {what}")
    return 0


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return " ".join(text.split())


def main(argv=None) -> int:
    """Entry point of the `slimir` console script; returns the exit status."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["launch"]:  # `slimir launch -n N -- COMMAND ...` parses its own flags (runtime/launch.py)
        from slimir.runtime.launch import main as launch_main

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
