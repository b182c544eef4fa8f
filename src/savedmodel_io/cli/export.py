"""``savedmodel-io export``: write a SavedModel's variables to .npz or .safetensors by friendly names."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from savedmodel_io import convert
from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.cli._links import add_flag as add_links_flag
from savedmodel_io.cli._progress import Progress

if TYPE_CHECKING:
    from savedmodel_io.cli._absl import Subparsers

__all__ = ["register", "run"]


def register(subparsers: Subparsers) -> None:
    """Add the ``export`` subcommand."""
    p = subparsers.add_parser(
        "export",
        help="write the variables to .npz or .safetensors, keyed by variable names / object paths",
        description=(
            "Write every variable of a SavedModel (or checkpoint) to an .npz or .safetensors file. "
            "Tensors are named by variable name (conv/kernel) when unambiguous, else by object "
            "path (dense/kernel); copies of one variable (Keras 3 exports) are written once."
        ),
    )
    p.add_argument("--dir", required=True, help="SavedModel directory or checkpoint prefix")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--npz", metavar="OUT", help="write this .npz file")
    out.add_argument("--safetensors", metavar="OUT", help="write this .safetensors file")
    p.add_argument("--names", choices=["auto", "path", "key"], default="auto",
                   help="auto: variable names else object paths; path: object paths; key: checkpoint keys")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_links_flag(p)
    p.set_defaults(_run=run)


def run(args: argparse.Namespace) -> int:
    """Export and print what was written and skipped."""
    target, fmt = (args.npz, "npz") if args.npz else (args.safetensors, "safetensors")
    if not target:
        raise InvalidArgumentError("give --npz OUT or --safetensors OUT")
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
