"""``savedmodel-io import-weights``: a copy of a SavedModel with weights from .npz / .safetensors."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from savedmodel_io import convert
from savedmodel_io.cli._progress import busy
from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.cli._links import add_flag as add_links_flag

if TYPE_CHECKING:
    from savedmodel_io.cli._absl import Subparsers

__all__ = ["register", "run"]


def register(subparsers: Subparsers) -> None:
    """Add the ``import-weights`` subcommand."""
    p = subparsers.add_parser(
        "import-weights",
        help="copy a SavedModel with its variables taken from an .npz / .safetensors file",
        description=(
            "Write a copy of the SavedModel at --out whose variables come from --from (an .npz or "
            ".safetensors file named like 'savedmodel-io export' writes, by variable names, object "
            "paths or checkpoint keys). The graph and signatures are kept byte for byte. Prints "
            "matched, missing, unexpected and mismatched (shape, dtype) tensors; by default nothing "
            "is written unless everything matches (--partial writes what fits)."
        ),
    )
    p.add_argument("--dir", required=True, help="the SavedModel to copy")
    p.add_argument("--from", dest="source", required=True, metavar="FILE",
                   help="weights file (.npz or .safetensors)")
    p.add_argument("--out", help="directory of the new SavedModel (omit with --dry-run)")
    p.add_argument("--partial", action="store_true",
                   help="write the tensors that fit even if some are missing, unexpected or mismatched")
    p.add_argument("--cast", action="store_true",
                   help="convert dtypes within a kind (e.g. float64 -> float32)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out if it is a SavedModel (anything else is refused)")
    p.add_argument("--dry-run", action="store_true", help="only print the match report")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    add_links_flag(p)
    p.set_defaults(_run=run)


def _print(report: convert.ImportReport, as_json: bool) -> None:
    if as_json:
        json.dump(report.to_dict(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(str(report) + "\n")


def run(args: argparse.Namespace) -> int:
    """Match, report, then write (unless --dry-run or a strict mismatch)."""
    arrays = convert.load_weights_file(args.source)
    if args.dry_run:
        report = convert.match_weights(args.dir, arrays, cast=args.cast,
                                       allow_external_links=args.allow_external_links)
        _print(report, args.json)
        return 0 if report.ok else 3
    if not args.out:
        raise InvalidArgumentError("--out is required (or use --dry-run)")
    try:
        with busy("import-weights", quiet=args.quiet):
            report = convert.import_weights(args.dir, arrays, args.out, strict=not args.partial,
                                            cast=args.cast, overwrite=args.overwrite,
                                            allow_external_links=args.allow_external_links)
    except InvalidArgumentError as exc:
        found = getattr(exc, "report", None)
        if found is None:
            raise
        _print(found, args.json)
        sys.stderr.write("savedmodel-io import-weights: nothing written; --partial writes the "
                         "tensors that fit\n")
        return 3
    _print(report, args.json)
    return 0
