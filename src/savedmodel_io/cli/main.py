"""Entry point of ``savedmodel-io``: builds the parser and turns library errors into one line.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``; the module's ``run(args) -> int`` is stored as the
parser default ``_run``. Flag spellings are normalized first (``_absl.normalize``); an
unknown flag is reported with the subcommand's usage and the closest known flags.

Exit status: 0 success, 1 a failure the command reports (``verify``: problems found),
2 bad usage (unknown flags, missing or malformed arguments), 130 interrupted.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from savedmodel_io._lookup import suggest
from savedmodel_io.cli._terminal import printable, safe_stdout
from savedmodel_io.cli._absl import drop_undefok, expand_flagfiles, normalize, with_flag_help
from savedmodel_io.errors import SavedModelError

# Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ["show", "run", "scan", "variables", "fingerprint", "verify"]
COMMANDS += ["graph", "export", "import_weights"]  # ecosystem tools


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help shows absl booleans once (``--[no]all``) and that takes
    no abbreviated flags (absl does not either: a new flag must not change what an old
    command line means; a typo gets a "did you mean" instead)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["formatter_class"] = with_flag_help(
            kwargs.get("formatter_class", argparse.HelpFormatter))
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


class _Version(argparse.Action):
    """``--version``: the version (``savedmodel_io.__version__``) and the backend of each
    accelerator, as ``savedmodel_io.show_config()`` prints them (looked up only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0,
                         help="print the version and the backend of each accelerator (CRC32C, "
                         "HighwayHash, FarmHash, deterministic serialisation, field census), "
                         "then exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        from savedmodel_io._config import report

        sys.stdout.write(report())
        parser.exit()


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of ``commands`` (default: all); their modules are imported here, not at package import."""
    parser = Parser(
        prog="savedmodel-io",
        description="Inspect, run and write TensorFlow SavedModels without TensorFlow.",
    )
    parser.add_argument("--version", action=_Version)
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when a command fails"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
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


def _subparser(parser: argparse.ArgumentParser, words: Sequence[str]) -> argparse.ArgumentParser | None:
    """The parser of the subcommand ``words`` names, if any."""
    sub = _requested(words)
    for action in parser._actions:  # noqa: SLF001 - argparse has no public lookup
        if isinstance(action, argparse._SubParsersAction) and sub:  # noqa: SLF001
            name = sub[0].replace("_", "-")
            chosen: argparse.ArgumentParser | None = (action.choices.get(name)
                                                      or action.choices.get(sub[0]))
            if chosen is not None:
                return chosen
    return None


def _unrecognized(parser: argparse.ArgumentParser, sub: argparse.ArgumentParser | None,
                  words: Sequence[str]) -> list[str]:
    """Words the parser does not know, found before it checks required flags: a typo such
    as ``--dri`` must be reported as such, not as "--dir is required"."""
    target = sub or parser
    relaxed: list[argparse.Action | argparse._MutuallyExclusiveGroup] = [  # noqa: SLF001
        a for a in target._actions if a.required]  # noqa: SLF001
    relaxed += [g for g in target._mutually_exclusive_groups if g.required]  # noqa: SLF001
    for item in relaxed:
        item.required = False
    try:
        _, extras = parser.parse_known_args(words)
    finally:
        for item in relaxed:
            item.required = True
    return extras


def _report_unrecognized(target: argparse.ArgumentParser, extras: list[str]) -> int:
    """The subcommand's usage, the unknown words, and the closest known flags."""
    known = sorted({s for a in target._actions for s in a.option_strings  # noqa: SLF001
                    if s.startswith("--") and a.help != argparse.SUPPRESS})
    parts = []
    for w in extras:
        close = suggest(w.split("=")[0], known, n=2) if w.startswith("-") else []
        parts.append(f"{w} (did you mean {' or '.join(close)}?)" if close else w)
    target.print_usage(sys.stderr)
    print(f"{target.prog}: error: unrecognized arguments: {', '.join(parts)}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status.

    Without ``argv`` it runs the process's own command line (``savedmodel-io``, ``python -m
    savedmodel_io``), and the process exits when it returns: every object is then frozen out
    of the garbage collector (``gc.freeze``), so that the interpreter's collections at exit do
    not walk the whole heap once more (about 0.1 s after an ONNX export; the memory goes back
    to the system all at once either way).
    """
    if argv is None:
        try:
            return _main(sys.argv[1:])
        finally:
            gc.freeze()
    return _main(list(argv))


def _main(words: list[str]) -> int:
    try:
        words = expand_flagfiles(words)
    except SavedModelError as exc:
        print(f"savedmodel-io: error: {exc}", file=sys.stderr)
        return 1
    parser = build_parser(_requested(words))
    sub = _subparser(parser, words)
    actions = [*parser._actions, *(sub._actions if sub else [])]  # noqa: SLF001
    try:
        words = normalize(words, actions)
    except SavedModelError as exc:
        (sub or parser).print_usage(sys.stderr)
        print(f"{(sub or parser).prog}: error: {exc}", file=sys.stderr)
        return 2
    known = {s for a in (sub._actions if sub else parser._actions) for s in a.option_strings}  # noqa: SLF001
    words = drop_undefok(words, known)
    # (--help and --version stop the parse, so they skip the relaxed look for unknown flags.)
    extras = [] if {"-h", "--help", "--version"} & set(words) else _unrecognized(parser, sub, words)
    if extras:
        return _report_unrecognized(sub or parser, extras)
    args = parser.parse_args(words)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        with safe_stdout():
            return int(args._run(args) or 0)
    except SavedModelError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"savedmodel-io {args.command}: error: {printable(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
