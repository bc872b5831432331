"""The `slimir` command: export a network of slimir.nets to ONNX, or inspect a network or an ONNX file.

slimir export vgg_16 -o vgg16.onnx [--num-classes N] [--image-size S] [--batch-size B] [--opset 18]
slimir inspect vgg_16 | model.onnx [--num-classes N] [--image-size S] [--nodes]
"""

from __future__ import annotations

import argparse
import inspect as _pyinspect
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
    from slimir.nets import nets_factory

    return nets_factory.networks_map


def _net_help() -> str:
    return ", ".join(sorted(_networks()))


def _add_net_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--num-classes",
        type=_non_negative("--num-classes"),
        default=None,
        metavar="N",
        help="classes of the logits layer (default: the network's; 0 returns the features before it)",
    )
    p.add_argument(
        "--image-size",
        type=_positive("--image-size"),
        default=None,
        metavar="S",
        help="input height and width (default: the network's default_image_size)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="slimir",
        description="Export slimir networks to ONNX and inspect networks or ONNX files.",
        epilog="networks: " + _net_help(),
    )
    from slimir import __version__

    parser.add_argument("--version", action="version", version=f"slimir {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ex = sub.add_parser(
        "export",
        help="build a network (is_training=False) and write it as an ONNX model",
        description="Build NET with is_training=False and write it as an ONNX model whose weights "
        "are the variables' initial values (drawn with --seed).",
        epilog="networks: " + _net_help(),
    )
    ex.add_argument("net", metavar="NET", help="network name (see the list below)")
    ex.add_argument("-o", "--output", required=True, metavar="FILE.onnx", help="where to write the model")
    _add_net_options(ex)
    ex.add_argument(
        "--batch-size",
        type=_positive("--batch-size"),
        default=None,
        metavar="B",
        help="a fixed batch size (default: a dynamic 'batch' dimension)",
    )
    ex.add_argument(
        "--opset", type=_positive("--opset"), default=None, metavar="N", help="ONNX opset (default: 18)"
    )
    ex.add_argument("--no-optimize", action="store_true", help="skip the inference pass pipeline")
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

    networks = nets_factory.networks_map
    if name not in networks:
        raise _Usage(f"unknown network {name!r} (choose from {_net_help()})")
    func = networks[name]
    if num_classes is None:
        num_classes = _default_num_classes(func)
    size = image_size or getattr(func, "default_image_size", 224)
    channels = _CHANNELS.get(name, 3)
    graph = slim.Graph()
    with graph.as_default():
        if seed is not None:
            slim.set_random_seed(seed)
        images = slim.placeholder(slim.float32, [batch_size, size, size, channels], name="images")
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

    from .export import export_onnx
    from .inspect import count_parameters
    from .lowering import DEFAULT_OPSET

    opset = args.opset or DEFAULT_OPSET
    max_opset = onnx.defs.onnx_opset_version()
    if not 13 <= opset <= max_opset:
        raise _Usage(f"--opset must be between 13 and {max_opset} (this onnx), got {opset}")
    out = args.output
    if os.path.isdir(out):
        raise _Usage(f"-o {out}: is a directory, give a file name")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise _Usage(f"-o {out}: the folder {parent} does not exist")
    t0 = time.perf_counter()
    _graph, _images, net = build_network(
        args.net, args.num_classes, args.image_size, args.batch_size, args.seed
    )
    model = export_onnx(net, out, opset=opset, optimize=not args.no_optimize, target=args.target)
    seconds = time.perf_counter() - t0
    params, _, _ = count_parameters(model)
    size = os.path.getsize(out)
    print(f"wrote {out} ({size:,} bytes, {_mb(size)}) in {seconds:.1f} s")
    print(f"  network     {args.net}, is_training=False, weights = initial values (seed {args.seed})")
    print(f"  parameters  {params:,}")
    print(f"  input       {model.graph.input[0].name} {_shape_str(_dims(model.graph.input[0]))}")
    for o in model.graph.output:
        print(f"  output      {o.name} {_shape_str(_dims(o))}")
    print(f"  opset       {opset}, IR version {model.ir_version}")
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
    for name, func in sorted(_networks().items()):
        size = getattr(func, "default_image_size", "?")
        shape = f"{size}x{size}x{_CHANNELS.get(name, 3)}"
        print(f"{name:12s} {shape:11s} num_classes={_default_num_classes(func)}")
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
        handler = {"export": cmd_export, "inspect": cmd_inspect, "list": cmd_list}[args.command]
        return handler(args)
    except _Usage as e:
        print(f"slimir: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except SlimirError as e:  # bad shapes/sizes for the network, unreadable model, ...
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
