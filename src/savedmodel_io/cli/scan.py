"""``savedmodel-io scan``: report ops that touch files, the network or run code.

Output follows ``saved_model_cli scan`` (one line per meta graph, sets printed
sorted), followed by where each op is used. Unlike ``saved_model_cli``, which
always exits 0, the exit status says what was found:

* 0 - no denylisted ops;
* 1 - the model could not be read (the error is printed);
* 2 - bad command line;
* 3 - denylisted ops were found.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from savedmodel_io.cli._absl import accept_saved_model_cli_flags
from savedmodel_io.scan import (
    CATEGORIES,
    DENYLIST,
    ScanReport,
    parse_denylist,
    scan_saved_model,
)
from savedmodel_io.cli._links import add_flag as add_links_flag

if TYPE_CHECKING:
    from savedmodel_io.cli._absl import Subparsers

EXIT_FOUND = 3
# Occurrences listed per op in text output (--json lists all).
MAX_LOCATIONS = 5


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "scan",
        help="report ops that read or write files, use the network or run code",
        description=(
            "Scan every meta graph (and every function of its library) of a SavedModel for "
            "denylisted ops. Exits 3 when any are found, 0 when none are."
        ),
        epilog=(
            "Examples:\n"
            "  savedmodel-io scan --dir /tmp/saved_model\n"
            "  savedmodel-io scan --dir /tmp/saved_model --tag_set serve --json\n"
            "  savedmodel-io scan --dir /tmp/saved_model --op_denylist ReadFile,WriteFile\n"
            "  savedmodel-io scan --list_denylist"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dir", help="directory containing the SavedModel to scan")
    p.add_argument(
        "--tag_set",
        help="scan only the meta graph with this comma-separated tag-set (all tags)",
    )
    p.add_argument(
        "--op_denylist",
        help=(
            "comma-separated ops to look for instead of the default list; '' is the empty list "
            "(every occurrence is reported, the model's own saver included)"
        ),
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--list_denylist", action="store_true", help="print the default denylist and exit"
    )
    accept_saved_model_cli_flags(p)
    add_links_flag(p)
    p.set_defaults(_run=run, _parser=p)


def _set_text(ops: Iterable[str]) -> str:
    """A Python-set look like saved_model_cli's, but sorted so output is stable."""
    return "{" + ", ".join(repr(op) for op in sorted(ops)) + "}"


def format_report(report: ScanReport) -> str:
    lines = []
    for mg in report.meta_graphs:
        tags = repr(list(mg.tags))
        if mg.found:
            lines.append(
                f"MetaGraph with tag set {tags} contains the following denylisted ops: "
                f"{_set_text(mg.found)}"
            )
            for op in mg.ops:
                where = mg.found[op]
                cat = DENYLIST.get(op)
                why = f" ({CATEGORIES[cat]})" if cat else ""
                shown = "; ".join(str(o) for o in where[:MAX_LOCATIONS])
                more = f"; and {len(where) - MAX_LOCATIONS} more" if len(where) > MAX_LOCATIONS else ""
                lines.append(f"  {op}{why}: {shown}{more}")
        elif report.default_denylist:
            lines.append(
                f"MetaGraph with tag set {tags} does not contain the default denylisted ops "
                f"({len(report.denylist)} ops; see --list_denylist)"
            )
        else:
            lines.append(
                f"MetaGraph with tag set {tags} does not contain the default denylisted ops: "
                f"{_set_text(report.denylist)}"
            )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.list_denylist:
        for op in sorted(DENYLIST, key=lambda o: (DENYLIST[o], o)):
            print(f"{op}\t{DENYLIST[op]}\t{CATEGORIES[DENYLIST[op]]}")
        return 0
    if not args.dir:
        args._parser.error("--dir is required (or use --list_denylist)")
    from savedmodel_io.remote import require_local

    require_local(args.dir, "scan")
    denylist = None if args.op_denylist is None else parse_denylist(args.op_denylist)
    report = scan_saved_model(args.dir, tag_set=args.tag_set, denylist=denylist,
                              allow_external_links=args.allow_external_links)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_report(report))
    return EXIT_FOUND if report.found else 0
