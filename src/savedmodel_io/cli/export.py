"""``savedmodel-io export``: variables to .npz / .safetensors by friendly names, or a signature to ONNX."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.cli._links import add_flag as add_links_flag

if TYPE_CHECKING:
    from savedmodel_io.cli._absl import Subparsers

__all__ = ["register", "run"]


def register(subparsers: Subparsers) -> None:
    """Add the ``export`` subcommand."""
    p = subparsers.add_parser(
        "export",
        help="write the variables to .npz or .safetensors, or a signature to ONNX",
        description=(
            "Write every variable of a SavedModel (or checkpoint) to an .npz or .safetensors file. "
            "Tensors are named by variable name (conv/kernel) when unambiguous, else by object "
            "path (dense/kernel); copies of one variable (Keras 3 exports) are written once. "
            "With --format onnx, write one signature as an ONNX model instead (no TensorFlow; "
            "needs the onnx package): --check lists the nodes ONNX cannot express and writes nothing."
        ),
    )
    p.add_argument("--dir", required=True, help="SavedModel directory or checkpoint prefix")
    p.add_argument("--format", choices=["npz", "safetensors", "onnx"],
                   help="what to write to --output (or give --npz / --safetensors OUT)")
    p.add_argument("--output", metavar="OUT", help="the file to write (with --format)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--npz", metavar="OUT", help="write this .npz file")
    out.add_argument("--safetensors", metavar="OUT", help="write this .safetensors file")
    p.add_argument("--names", choices=["auto", "path", "key"], default="auto",
                   help="auto: variable names else object paths; path: object paths; key: checkpoint keys")
    p.add_argument("--tag_set", default=None,
                   help="onnx: comma-separated tags of the meta graph (default: 'serve' or the only one)")
    p.add_argument("--signature_def", default="serving_default", help="onnx: the signature to export")
    p.add_argument("--opset", type=int, default=None, help="onnx: the ONNX opset (default: 20)")
    p.add_argument("--check", action="store_true",
                   help="onnx: list the nodes ONNX cannot express and exit (status 1 if any)")
    p.add_argument("--complex_pairs", action="store_true",
                   help="onnx: give complex inputs and outputs as float tensors with a trailing axis of 2 "
                        "(real, imaginary) instead of refusing them")
    p.add_argument("--bfloat16_as_float32", action="store_true",
                   help="onnx: give bfloat16 inputs and outputs as float32 (cast at the graph's edge), "
                        "which onnxruntime's Python API can feed")
    p.add_argument("--input_shape", action="append", default=[], metavar="KEY=DIMS",
                   help="onnx: the shape of input KEY, dims separated by commas, ? for an unknown dim, "
                        "nothing after = for a scalar (x=?,224,224,3): needed for inputs of unknown rank, "
                        "and fixes dims the signature leaves unknown; repeat for each input")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_links_flag(p)
    p.set_defaults(_run=run)


def run(args: argparse.Namespace) -> int:
    """Export and print what was written (and skipped, or what ONNX cannot express)."""
    fmt, target = _target(args)
    if fmt == "onnx":
        return _onnx(args, target)
    for flag in ("check", "complex_pairs", "input_shape", "bfloat16_as_float32"):
        if getattr(args, flag):
            raise InvalidArgumentError(f"--{flag} applies to --format onnx")
    assert target is not None
    # Imported here: an ONNX export needs neither (convert brings the npz/safetensors writers).
    from savedmodel_io import convert
    from savedmodel_io.cli._progress import Progress

    with Progress(None, "export", quiet=args.quiet) as bar:
        report = convert.export_weights(args.dir, target, format=fmt, names=args.names,
                                        progress=bar.callback,
                                        allow_external_links=args.allow_external_links)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(str(report) + "\n")
    return 0


def _target(args: argparse.Namespace) -> tuple[str, str | None]:
    """(format, output file) from --format/--output or --npz/--safetensors."""
    if args.npz or args.safetensors:
        fmt = "npz" if args.npz else "safetensors"
        if args.format not in (None, fmt) or args.output:
            raise InvalidArgumentError(f"--{fmt} OUT cannot be combined with --format/--output")
        return fmt, args.npz or args.safetensors
    if args.format is None:
        raise InvalidArgumentError("give --format (npz, safetensors or onnx) and --output, "
                                   "or --npz OUT / --safetensors OUT")
    if not args.output and not (args.format == "onnx" and args.check):
        raise InvalidArgumentError(f"--format {args.format} needs --output OUT")
    return args.format, args.output


def input_shapes(flags: list[str]) -> dict[str, list[int | None]] | None:
    """``--input_shape KEY=DIMS`` flags as ``input_shapes`` (None when there are none)."""
    shapes: dict[str, list[int | None]] = {}
    for flag in flags:
        key, eq, dims = flag.partition("=")
        if not eq or not key:
            raise InvalidArgumentError(f"--input_shape takes KEY=DIMS (x=?,3), got {flag!r}")
        if key in shapes:
            raise InvalidArgumentError(f"--input_shape gives input {key!r} twice")
        out: list[int | None] = []
        for d in filter(None, (t.strip() for t in dims.split(","))) if dims.strip() else ():
            if d in ("?", "-1"):
                out.append(None)
            elif d.isdigit():
                out.append(int(d))
            else:
                raise InvalidArgumentError(f"--input_shape {flag!r}: a dim is an integer >= 0 or ?, got {d!r}")
        shapes[key] = out
    return shapes or None


def _onnx(args: argparse.Namespace, target: str | None) -> int:
    from savedmodel_io.model import load
    from savedmodel_io.onnx import check

    shapes = input_shapes(args.input_shape)
    model = load(args.dir, allow_external_links=args.allow_external_links)
    mg = model.meta_graph(args.tag_set)
    if args.check:
        problems = check(mg, args.signature_def, opset=args.opset, complex_pairs=args.complex_pairs,
                         input_shapes=shapes, bfloat16_as_float32=args.bfloat16_as_float32)
        if args.json:
            print(json.dumps({"signature": args.signature_def, "unsupported": [
                {"op": p.op, "node": p.node, "function": p.function, "reason": p.reason}
                for p in problems]}, indent=1))
        elif not problems:
            print(f"Signature '{args.signature_def}' can be exported to ONNX.")
        else:
            ops = sorted({p.op for p in problems})
            print(f"Signature '{args.signature_def}' has {len(problems)} node(s) ONNX cannot express "
                  f"({', '.join(ops)}):")
            for p in problems:
                print(f"  {p.op}: node '{p.node}' in {p.function}: {p.reason}")
        return 1 if problems else 0
    assert target is not None
    from savedmodel_io.onnx._export import export_parts
    from savedmodel_io.onnx._model import write_parts

    # What export() then save() write, with the weights streamed from their arrays to the file.
    proto, tensors = export_parts(mg, args.signature_def, opset=args.opset, complex_pairs=args.complex_pairs,
                                  input_shapes=shapes, bfloat16_as_float32=args.bfloat16_as_float32)
    write_parts(proto, tensors, target)
    report = {"signature": args.signature_def, "output": target, "opset": proto.opset_import[0].version,
              "nodes": len(proto.graph.node),
              "inputs": [i.name for i in proto.graph.input], "outputs": [o.name for o in proto.graph.output]}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"Wrote signature '{args.signature_def}' to {target}: {report['nodes']} ONNX nodes, "
              f"opset {report['opset']}; inputs {', '.join(report['inputs']) or 'none'}; "
              f"outputs {', '.join(report['outputs']) or 'none'}")
    return 0
