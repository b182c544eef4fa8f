"""``savedmodel-io show``: saved_model_cli's ``show`` with byte-identical output, plus ``--json``.

This module parses the flags and dispatches; saved_model_cli's text is made by
:mod:`savedmodel_io.cli._show_text`, the JSON document by :mod:`savedmodel_io.cli._show_json`.
Both are written to stdout as they are produced, never joined into one string first.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from savedmodel_io.cli._absl import BoolFlag, accept_saved_model_cli_flags
from savedmodel_io.cli._show_json import render_json, write_json
from savedmodel_io.cli._show_text import custom_ops, render, render_into
from savedmodel_io.model import load
from savedmodel_io.cli._links import add_flag as add_links_flag

if TYPE_CHECKING:
    from savedmodel_io.cli._absl import Subparsers

__all__ = ["custom_ops", "register", "render", "render_json", "run"]

_HELP = """\
Usage examples:
To show all tag-sets in a SavedModel:
$savedmodel-io show --dir /tmp/saved_model

To show all available SignatureDef keys in a MetaGraphDef specified by its tag-set:
$savedmodel-io show --dir /tmp/saved_model --tag_set serve

For a MetaGraphDef with multiple tags in the tag-set, all tags must be passed in, separated by ',':
$savedmodel-io show --dir /tmp/saved_model --tag_set serve,gpu

To show all inputs and outputs TensorInfo for a specific SignatureDef specified by the SignatureDef key in a MetaGraph.
$savedmodel-io show --dir /tmp/saved_model --tag_set serve --signature_def serving_default

To show all ops in a MetaGraph.
$savedmodel-io show --dir /tmp/saved_model --tag_set serve --list_ops

To show all available information in the SavedModel:
$savedmodel-io show --dir /tmp/saved_model --all

Add --json for the same information as one JSON document."""

def register(subparsers: Subparsers) -> None:
    """Add the ``show`` parser (same flags as ``saved_model_cli show``)."""
    p = subparsers.add_parser(
        "show",
        help="show tag-sets, signatures, ops and functions (saved_model_cli show)",
        description=_HELP,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("--dir", "-dir", required=True, help="Directory containing the SavedModel.")
    p.add_argument(
        "--all", "-all", "--noall", "-noall", action=BoolFlag,
        help="If set, outputs all available information in the given SavedModel.",
    )
    p.add_argument(
        "--tag_set", "-tag_set", default=None,
        help="Comma-separated set of tags that identify variant graphs in the SavedModel.",
    )
    p.add_argument(
        "--signature_def", "-signature_def", default=None,
        help="Specifies a SignatureDef (by key) within the SavedModel to display input(s) and "
        "output(s) for.",
    )
    p.add_argument(
        "--list_ops", "-list_ops", "--nolist_ops", "-nolist_ops", action=BoolFlag,
        help="If set, will output ops used by a MetaGraphDef specified by tag_set.",
    )
    p.add_argument(
        "--json", action="store_true", help="print the same information as one JSON document"
    )
    accept_saved_model_cli_flags(p)
    add_links_flag(p)
    p.set_defaults(_run=run)


def run(args: argparse.Namespace) -> int:
    """Print what saved_model_cli show would print for these flags (or JSON), as it is made."""
    model = load(args.dir, allow_external_links=args.allow_external_links)
    flags = dict(all=args.all, tag_set=args.tag_set, signature_def=args.signature_def,
                 list_ops=args.list_ops)
    if args.json:
        write_json(sys.stdout.write, model, **flags)
    else:
        # What was rendered before an error is printed too, as saved_model_cli does (e.g. the
        # --list_ops line before an unknown --signature_def).
        render_into(_Printer(), model, **flags)
    sys.stdout.flush()
    return 0


class _Printer:
    """The text sink of ``render_into`` that writes each piece to stdout at once."""

    def append(self, text: str) -> None:
        sys.stdout.write(text)
