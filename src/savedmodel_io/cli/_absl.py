"""Flag syntax, in one place: absl-style flags for the saved_model_cli commands, and the
spelling rule for every command.

saved_model_cli defines its flags globally with absl, so every subcommand accepts
every flag (``show --dir D --overwrite`` is valid there), booleans come as ``--x`` /
``--nox`` / ``-x`` / ``-nox`` (we also take ``--x=false``, which TF 2.21 refuses), and
``--flagfile=F`` reads more flags from a file. Scripts written for it must keep working
here: the flags a subcommand does not use are accepted and ignored, as TensorFlow ignores
them.

The spelling rule (:func:`normalize`): a long flag is accepted with ``-`` or ``_`` between
its words (``--max-nodes`` and ``--max_nodes``, ``--no-verify`` and ``--no_verify``,
``--tag-set`` and ``--tag_set``); help shows one spelling, saved_model_cli's for its flags
(underscores) and dashes for this tool's own.

Flag names: tensorflow/tensorflow tensorflow/python/tools/saved_model_cli.py
(``flags.DEFINE_*``), TensorFlow 2.21; ``--flagfile`` syntax: abseil-py's flags module.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from savedmodel_io.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from typing import TypeAlias

    #: What each subcommand's ``register(subparsers)`` gets: the main parser's subparsers.
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}

# Every flag of saved_model_cli 2.21 (all subcommands), and abseil's logging flags that its
# command line accepts; True marks booleans.
SAVED_MODEL_CLI_FLAGS: dict[str, bool] = {
    "dir": False, "all": True, "tag_set": False, "signature_def": False, "list_ops": True,
    "inputs": False, "input_exprs": False, "input_examples": False, "outdir": False,
    "overwrite": True, "tf_debug": True, "worker": False, "init_tpu": True, "use_tfrt": True,
    "op_denylist": False, "output_dir": False, "max_workspace_size_bytes": False,
    "precision_mode": False, "minimum_segment_size": False, "convert_tf1_model": True,
    "output_prefix": False, "signature_def_key": False, "checkpoint_path": False,
    "variables_to_feed": False, "target_triple": False, "target_cpu": False, "cpp_class": False,
    "multithreading": False,
    # abseil logging
    "verbosity": False, "v": False, "logtostderr": True, "alsologtostderr": True,
    "log_dir": False, "stderrthreshold": False, "showprefixforinfo": True,
    "only_check_args": True, "undefok": False,
}

MAX_FLAGFILE_BYTES = 1 << 20
MAX_FLAGFILE_DEPTH = 8


class BoolFlag(argparse.Action):
    """An absl-style boolean flag: ``--all`` / ``--noall`` (``--all=false`` and the
    single-dash forms are rewritten to these by :func:`normalize` before parsing)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("default", False)
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    @property
    def flag(self) -> str:
        """The flag's name, without dashes or the ``no`` prefix."""
        return self.option_strings[0].lstrip("-")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 value: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, option_string != f"--no{self.flag}")


def bool_flag(p: argparse.ArgumentParser, name: str, help: str) -> None:
    """Add the absl boolean ``--name`` / ``--noname``."""
    p.add_argument(f"--{name}", f"--no{name}", action=BoolFlag, help=help)


def shown_options(action: argparse.Action) -> list[str]:
    """The spellings help shows: a boolean once as ``--[no]all``, ``--dir`` without its absl
    single-dash twin ``-dir`` (every spelling still works)."""
    if isinstance(action, BoolFlag):
        return [f"--[no]{action.flag}"]
    every = action.option_strings
    return [s for s in every if s.startswith("--") or f"-{s}" not in every]


class FlagHelp(argparse.HelpFormatter):
    """Help that shows each flag once (see :func:`shown_options`)."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if isinstance(action, BoolFlag):
            return shown_options(action)[0]
        every = action.option_strings
        action.option_strings = shown_options(action)
        try:
            return super()._format_action_invocation(action)
        finally:
            action.option_strings = every


def with_flag_help(formatter: type[argparse.HelpFormatter]) -> type[argparse.HelpFormatter]:
    """``formatter`` (e.g. RawTextHelpFormatter) with :class:`FlagHelp`'s boolean flags."""
    if issubclass(formatter, FlagHelp):
        return formatter
    return type(f"FlagHelp{formatter.__name__}", (FlagHelp, formatter), {})


def normalize(argv: Sequence[str], actions: Sequence[argparse.Action]) -> list[str]:
    """Rewrite flags to the spelling the parser defines: ``-`` or ``_`` between words, and
    absl booleans (``-all``, ``-noall``, ``--all=false``) as ``--all`` / ``--noall``.

    Words after ``--`` and values of flags are left alone; unknown flags too (the parser
    reports them).
    """
    known = {s for a in actions for s in a.option_strings}
    bools = {a.flag: a for a in actions if isinstance(a, BoolFlag)}
    takes_value = {s for a in actions if a.nargs != 0 for s in a.option_strings}
    out: list[str] = []
    words = list(argv)
    i = 0
    while i < len(words):
        w = words[i]
        i += 1
        if w == "--":
            out += words[i - 1:]
            break
        if not w.startswith("-") or w == "-":
            out.append(w)
            continue
        name, eq, value = w.lstrip("-").partition("=")
        flag = _spelled(name, known, bools)
        negated = flag not in bools and flag.startswith("no") and flag[2:] in bools
        if flag in bools or negated:
            base = flag[2:] if negated else flag
            on = not negated
            if eq:
                if value.lower() not in _TRUE | _FALSE:
                    raise InvalidArgumentError(f"{w}: expected true or false, got {value!r}")
                on = on == (value.lower() in _TRUE)
            out.append(f"--{base}" if on else f"--no{base}")
            continue
        long = f"--{flag}"
        out.append(long + eq + value if long in known else w)
        if long in takes_value and not eq and i < len(words):
            out.append(words[i])  # the flag's value, taken as it is
            i += 1
    return out


def _spelled(name: str, known: set[str], bools: dict[str, BoolFlag]) -> str:
    """``name`` as the parser spells it, trying '-' and '_' between words."""
    for candidate in (name, name.replace("_", "-"), name.replace("-", "_")):
        if f"--{candidate}" in known or candidate in bools or (
                candidate.startswith("no") and candidate[2:] in bools):
            return candidate
    return name


def accept_saved_model_cli_flags(p: argparse.ArgumentParser) -> None:
    """Accept (and ignore) the saved_model_cli flags ``p`` does not define itself."""
    have = set(p._option_string_actions)  # noqa: SLF001 - argparse has no public lookup
    for name, is_bool in SAVED_MODEL_CLI_FLAGS.items():
        if f"--{name}" in have:
            continue
        dest = f"_ignored_{name}"
        if is_bool:
            p.add_argument(f"--{name}", f"--no{name}", dest=dest, action=BoolFlag,
                           help=argparse.SUPPRESS)
        else:
            p.add_argument(f"--{name}", f"-{name}", dest=dest, default=None,
                           help=argparse.SUPPRESS)


def expand_flagfiles(argv: Sequence[str], depth: int = 0) -> list[str]:
    """Replace ``--flagfile=F`` (or ``--flagfile F``) by the flags in F, one per line.

    Blank lines and lines starting with ``#`` or ``//`` are skipped; flagfiles may name
    other flagfiles (up to a small depth, so a file naming itself is an error, not a hang).
    """
    out: list[str] = []
    words = list(argv)
    i = 0
    while i < len(words):
        w = words[i]
        name, eq, value = w.lstrip("-").partition("=")
        if w.startswith("-") and name == "flagfile":
            if not eq:
                if i + 1 >= len(words):
                    raise InvalidArgumentError("--flagfile needs a file name")
                i += 1
                value = words[i]
            if depth >= MAX_FLAGFILE_DEPTH:
                raise InvalidArgumentError(
                    f"flagfiles nested more than {MAX_FLAGFILE_DEPTH} deep", path=value)
            out += expand_flagfiles(_flagfile_lines(value), depth + 1)
        else:
            out.append(w)
        i += 1
    return out


def _flagfile_lines(path: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FLAGFILE_BYTES + 1)
    except FileNotFoundError:
        raise NotFoundError("no such flagfile", path=path) from None
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read flagfile ({exc.strerror})", path=path) from None
    if len(data) > MAX_FLAGFILE_BYTES:
        raise InvalidArgumentError(f"flagfile is larger than {MAX_FLAGFILE_BYTES} bytes",
                                   path=path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgumentError("flagfile is not UTF-8 text", path=path) from None
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith(("#", "//"))]


def drop_undefok(argv: Sequence[str], known: set[str]) -> list[str]:
    """Remove ``--name[=v]`` / ``--noname`` for the names ``--undefok=a,b`` allows and
    ``known`` (the parser's option strings) does not define, as absl does."""
    ok: set[str] = set()
    for w in argv:
        name, eq, value = w.lstrip("-").partition("=")
        if w.startswith("-") and name == "undefok" and eq:
            ok.update(v.strip() for v in value.split(",") if v.strip())
    if not ok:
        return list(argv)
    out = []
    for w in argv:
        name = w.lstrip("-").partition("=")[0]
        base = name[2:] if name.startswith("no") and name[2:] in ok else name
        if w.startswith("-") and base in ok and f"--{name}" not in known:
            continue
        out.append(w)
    return out
