"""``savedmodel-io graph``: draw the graph behind a signature (or one library function)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from savedmodel_io import graphviz
from savedmodel_io._fsutil import atomic_file
from savedmodel_io.cli._progress import busy
from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.model import load, normalize_tags
from savedmodel_io.cli._links import add_flag as add_links_flag

if TYPE_CHECKING:
    from savedmodel_io.cli._absl import Subparsers

__all__ = ["register", "run"]

_EPILOG = """\
examples:
  savedmodel-io graph --dir /tmp/model --format svg --output model.svg
  savedmodel-io graph --dir /tmp/model --signature_def serving_default --collapse 2 --format png --output m.png
  savedmodel-io graph --dir /tmp/model --function __inference___call___5210 > f.dot

SVG and PNG need Graphviz's 'dot' program; DOT text needs nothing."""


def register(subparsers: Subparsers) -> None:
    """Add the ``graph`` subcommand."""
    p = subparsers.add_parser(
        "graph",
        help="draw a signature's graph (calls followed into the function library)",
        description=(
            "Draw the graph behind a signature, following (Stateful)PartitionedCall into the "
            "function library (one cluster per function body). Boxes show the op, its name, "
            "the variables and constants it reads and its output shapes."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dir", required=True, help="SavedModel directory")
    p.add_argument("--tag_set", help="tag-set of the meta graph, comma-separated (default: serve)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--signature_def", help="signature key (default: serving_default)")
    what.add_argument("--function", help="draw this library function instead of a signature")
    p.add_argument("--format", choices=graphviz.FORMATS, default="dot", help="output format")
    p.add_argument("--output", "-o", help="write here instead of standard output")
    p.add_argument(
        "--collapse", type=int, metavar="N",
        help="merge ops that share N name-scope levels into one box (e.g. one box per Keras layer)",
    )
    p.add_argument(
        "--max-nodes", type=int, default=1500, metavar="N",
        help="collapse name scopes automatically when the picture has more boxes (0: never)",
    )
    p.add_argument("--no-expand", action="store_true", help="draw calls as single boxes")
    p.add_argument(
        "--no-fold", action="store_true",
        help="draw variables, constants and Identity ops as boxes of their own",
    )
    p.add_argument("--rankdir", choices=["TB", "LR", "BT", "RL"], default="TB",
                   help="layout direction (TB: top to bottom)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON summary (boxes, edges, clusters, ops) instead of a picture")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    add_links_flag(p)
    p.set_defaults(_run=run)


def run(args: argparse.Namespace) -> int:
    """Draw the picture and write it."""
    if args.collapse is not None and args.collapse < 1:
        raise InvalidArgumentError("--collapse must be at least 1")
    if args.max_nodes < 0:
        raise InvalidArgumentError("--max-nodes must be 0 or more")
    model = load(args.dir, allow_external_links=args.allow_external_links)
    mg = model.meta_graph(normalize_tags(args.tag_set) if args.tag_set else None)
    opts: dict[str, Any] = {
        "expand": not args.no_expand,
        "fold": not args.no_fold,
        "collapse": args.collapse,
        "max_nodes": args.max_nodes or None,
    }
    if args.function:
        pic = graphviz.function_picture(mg, args.function, **opts)
    else:
        pic = graphviz.signature_picture(mg, args.signature_def or "serving_default", **opts)
    if args.json:
        doc = {
            "title": pic.title,
            "boxes": len(pic.nodes),
            "edges": len(pic.edges),
            "clusters": [c.label for c in pic.clusters.values()],
            "ops": pic.ops(),
        }
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    with busy(f"graphviz ({len(pic.nodes)} boxes)", quiet=args.quiet or args.format == "dot"):
        data = graphviz.render(graphviz.to_dot(pic, rankdir=args.rankdir), args.format)
    if args.output:
        with atomic_file(args.output) as f:
            f.write(data)
    elif args.format == "dot":
        sys.stdout.write(data.decode("utf-8"))
    elif sys.stdout.isatty():
        raise InvalidArgumentError(
            f"refusing to write {args.format.upper()} bytes to a terminal; use --output FILE"
        )
    else:
        sys.stdout.buffer.write(data)
    return 0
