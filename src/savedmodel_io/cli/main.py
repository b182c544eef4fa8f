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

from savedmodel_io.cli._absl import drop_undefok, expand_flagfiles
from savedmodel_io.errors import SavedModelError

# Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ["show", "run", "scan", "variables", "fingerprint"]
COMMANDS += ["graph", "export", "import_weights"]  # ecosystem tools


class _Version(argparse.Action):
    """``--version``: the version and each accelerator's backend (looked up only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        from savedmodel_io._accel import report

        sys.stdout.write(report())
        parser.exit()


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of ``commands`` (default: all); their modules are imported here, not at package import."""
    parser = argparse.ArgumentParser(
        prog="savedmodel-io",
        description="Inspect, run and write TensorFlow SavedModels without TensorFlow.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when a command fails"
    )
    parser.add_argument(
        "--version", action=_Version,
        help="print the version and the backend of each accelerator (CRC32C, HighwayHash, "
        "FarmHash, deterministic serialisation), then exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in commands or COMMANDS:
        importlib.import_module(f"savedmodel_io.cli.{name}").register(sub)
    return parser


def _requested(argv: Sequence[str]) -> list[str] | None:
    """The one subcommand argv names, so only its module is imported (keeps ``show`` quick)."""
    for a in argv:
        if a.replace("-", "_") in COMMANDS:
            return [a.replace("-", "_")]
        if not a.startswith("-"):
            return None  # not a command: the full parser reports it
    return None


def _subparser_actions(parser: argparse.ArgumentParser, words: Sequence[str]) -> list[argparse.Action]:
    """The actions of the subcommand ``words`` names (for ``--undefok``), or the top level's."""
    sub = _requested(words)
    for action in parser._actions:  # noqa: SLF001 - argparse has no public lookup
        if isinstance(action, argparse._SubParsersAction) and sub:  # noqa: SLF001
            name = sub[0].replace("_", "-")
            chosen = action.choices.get(name) or action.choices.get(sub[0])
            if chosen is not None:
                return list(chosen._actions)  # noqa: SLF001
    return list(parser._actions)  # noqa: SLF001


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    words = sys.argv[1:] if argv is None else list(argv)
    try:
        words = expand_flagfiles(words)
    except SavedModelError as exc:
        print(f"savedmodel-io: error: {exc}", file=sys.stderr)
        return 1
    parser = build_parser(_requested(words))
    known = {s for a in _subparser_actions(parser, words) for s in a.option_strings}
    args = parser.parse_args(drop_undefok(words, known))
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
