"""``savedmodel-io fingerprint``: print, recompute, write or verify a SavedModel's fingerprint.pb."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from savedmodel_io.fingerprint import (
    HASH_FIELDS,
    PART_NAMES,
    Fingerprint,
    Verification,
    compute_fingerprint,
    read_fingerprint,
    verify_fingerprint,
    write_fingerprint,
)
from savedmodel_io.cli._links import add_flag as add_links_flag

if TYPE_CHECKING:
    from savedmodel_io.cli._absl import Subparsers

# Exit status of --verify when the model no longer matches its fingerprint.
EXIT_CHANGED = 1


def register(subparsers: Subparsers) -> None:
    """Add the ``fingerprint`` subcommand."""
    p = subparsers.add_parser(
        "fingerprint",
        help="print or verify a SavedModel's fingerprint (fingerprint.pb)",
        description=(
            "Print the fingerprint stored in a SavedModel's fingerprint.pb. --verify recomputes it "
            "(exactly as TensorFlow does) and reports which parts of the model changed, exiting "
            f"with status {EXIT_CHANGED} if any did. --compute prints freshly computed values "
            "instead of the stored ones (for models without fingerprint.pb); --write also saves "
            "them as fingerprint.pb."
        ),
    )
    p.add_argument("--dir", required=True, help="SavedModel directory")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--verify", action="store_true", help="recompute and compare with fingerprint.pb"
    )
    mode.add_argument(
        "--compute", action="store_true", help="print computed values, not stored ones"
    )
    mode.add_argument("--write", action="store_true", help="compute and (re)write fingerprint.pb")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_links_flag(p)
    p.set_defaults(_run=run)


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; returns the exit status."""
    from savedmodel_io.remote import require_local

    require_local(args.dir, "fingerprint")
    links = args.allow_external_links
    if args.verify:
        result = verify_fingerprint(args.dir, allow_external_links=links)
        _print_verification(result, as_json=args.json)
        return 0 if result.ok else EXIT_CHANGED
    if args.write:
        fp = write_fingerprint(args.dir, allow_external_links=links)
    elif args.compute:
        fp = compute_fingerprint(args.dir, allow_external_links=links)
    else:
        fp = read_fingerprint(args.dir, allow_external_links=links)
    _print_fingerprint(fp, as_json=args.json)
    return 0


def _print_fingerprint(fp: Fingerprint, *, as_json: bool) -> None:
    if as_json:
        json.dump(fp.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    lines = [
        str(fp),
        f"  uuid: {fp.uuid}",
        f"  version: {fp.version}",
        f"  singleprint: {fp.singleprint()}",
    ]
    print("\n".join(lines))


def _print_verification(result: Verification, *, as_json: bool) -> None:
    if as_json:
        parts = {
            name: {
                "part": PART_NAMES[name],
                "stored": getattr(result.stored, name),
                "computed": getattr(result.computed, name),
                "ok": name not in result.changed,
            }
            for name in HASH_FIELDS
        }
        out = {
            "ok": result.ok,
            "changed": [PART_NAMES[n] for n in result.changed],
            "fields": parts,
            "stored_version": result.stored.version,
            "computed_version": result.computed.version,
            "notes": list(result.notes),
        }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    width = max(len(n) for n in HASH_FIELDS)
    for name in HASH_FIELDS:
        stored, computed = getattr(result.stored, name), getattr(result.computed, name)
        if name in result.changed:
            print(
                f"{name:<{width}}  CHANGED  stored {stored}, now {computed}  ({PART_NAMES[name]})"
            )
        else:
            print(f"{name:<{width}}  ok       {stored}")
    for note in result.notes:
        print(f"note: {note}")
    if result.ok:
        print("fingerprint: OK (the model matches its fingerprint.pb)")
    else:
        changed = ", ".join(PART_NAMES[n] for n in result.changed)
        print(f"fingerprint: CHANGED since it was saved: {changed}")
