"""``savedmodel-io verify``: check every hash and file of a SavedModel (savedmodel_io.verify)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from savedmodel_io.cli._links import add_flag as add_links_flag
from savedmodel_io.integrity import verify

if TYPE_CHECKING:
    from savedmodel_io.cli._absl import Subparsers


def register(subparsers: Subparsers) -> None:
    """Add the ``verify`` subcommand."""
    p = subparsers.add_parser(
        "verify",
        help="check every hash of a SavedModel: fingerprint, tensor CRC32Cs, .cpb chunks, assets",
        description=(
            "Check a SavedModel's integrity in one pass: fingerprint.pb (recomputed and "
            "compared, when present), the checkpoint index and every tensor's CRC32C (which "
            "fingerprint.pb does not cover), every saved_model.cpb chunk hash, and every asset "
            "file. Prints one line per finding. Exit status: 0 all good, 1 problems found or "
            "the model cannot be read, 2 bad usage."
        ),
    )
    p.add_argument("--dir", required=True, help="SavedModel directory")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_links_flag(p)
    p.set_defaults(_run=run)


def run(args: argparse.Namespace) -> int:
    """Print the report; 1 when it names a problem."""
    report = verify(args.dir, allow_external_links=args.allow_external_links)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(report)
    return 0 if report.ok else 1
