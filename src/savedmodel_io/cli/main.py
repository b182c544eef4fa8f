"""Entry point of ``savedmodel-io``: builds the parser and turns library errors into one line.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``; the module's ``run(args) -> int`` is stored as the
parser default ``_run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from savedmodel_io.errors import SavedModelError

# Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ["show", "run", "scan", "variables", "fingerprint", "replace_weights"]
COMMANDS += ["graph", "export", "import_weights"]  # ecosystem tools


def build_parser() -> argparse.ArgumentParser:
    """The full parser; subcommand modules are imported here, not at package import."""
    parser = argparse.ArgumentParser(
        prog="savedmodel-io",
        description="Inspect, run and write TensorFlow SavedModels without TensorFlow.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when a command fails"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"savedmodel_io.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except SavedModelError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"savedmodel-io {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
