"""Regexes for the string kernels: RE2 when ``google-re2`` is installed, else a guarded ``re``.

TensorFlow's regex ops use RE2, whose matching time is linear in the input. Python's
``re`` backtracks: ``(a|a)*b`` on 40 bytes never ends, and ``\\s+$`` is quadratic in
the string length. With the ``re2`` module (``pip install google-re2``, part of the
``fast`` extra) patterns run on RE2 itself, exactly as in TensorFlow. Without it a
pattern runs on ``re`` only if it cannot backtrack exponentially (no quantified group
holding a quantifier or an alternation, no backreference or lookaround; RE2 has
neither of the latter) and if its worst case on the given strings, estimated as
``(len + 1) ** k`` for ``k`` quantifiers in sequence (one more when searching), stays
within RE_BUDGET; anything else raises UnsupportedOpError asking for google-re2.

Rewrites follow RE2, which TensorFlow calls without checking them (tensorflow/tensorflow
tensorflow/core/kernels/regex_replace_op.cc: ``RE2::Replace`` / ``RE2::GlobalReplace``):
``\\0``..``\\9`` insert a group, ``\\\\`` a backslash. A rewrite naming a group the
pattern lacks replaces nothing (the input comes back unchanged). Any other backslash is an
invalid escape: a single replace then replaces nothing, a global replace writes each match's
rewrite up to the bad escape (RE2's ``Rewrite`` stops there and GlobalReplace ignores the
failure). A global replace skips an empty match where the previous match ended or inside a
UTF-8 character, as ``RE2::GlobalReplace`` does. (On the ``re`` fallback ``.`` and classes
match single bytes, where RE2 matches UTF-8 characters.)
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from savedmodel_io.errors import UnsupportedOpError
from savedmodel_io.graph.ops._util import bad

try:
    _re2_module: Any = importlib.import_module("re2")  # google-re2 (the `fast` extra)
except ImportError:
    _re2_module = None

__all__ = ["RE_BUDGET", "Regex", "Rewrite", "compile_regex", "parse_rewrite", "replace"]

# Worst-case backtracking steps allowed per kernel call on the ``re`` fallback (a few seconds).
RE_BUDGET = 4e9

_INSTALL = "install google-re2 (pip install 'savedmodel-io[fast]') to run it with RE2, as TensorFlow does"

# Parse-tree ops that RE2 does not have: TensorFlow would refuse these patterns too.
_NOT_RE2 = {
    "GROUPREF": "a backreference",
    "GROUPREF_IGNORE": "a backreference",
    "GROUPREF_LOC_IGNORE": "a backreference",
    "GROUPREF_UNI_IGNORE": "a backreference",
    "GROUPREF_EXISTS": "a conditional group",
    "ASSERT": "a lookaround",
    "ASSERT_NOT": "a lookaround",
    "ATOMIC_GROUP": "an atomic group",
    "POSSESSIVE_REPEAT": "a possessive quantifier",
}
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT")


@dataclass(frozen=True)
class Regex:
    """A compiled pattern and, on the ``re`` fallback, its backtracking degree (None: RE2)."""

    rx: Any
    degree: int | None
    pattern: bytes

    @property
    def groups(self) -> int:
        """Number of capturing groups."""
        return int(self.rx.groups)

    def check_cost(self, node: Any, texts: Iterable[bytes], search: bool) -> None:
        """UnsupportedOpError if ``re`` could take too long on ``texts`` (RE2 is always linear)."""
        if self.degree is None:
            return
        k = self.degree + (1 if search else 0)
        total = 0.0
        for t in texts:
            total += math.exp(min(k * math.log(len(t) + 1), 700.0))
            if total > RE_BUDGET:
                raise UnsupportedOpError(
                    f"regex {self.pattern!r} could backtrack for too long on these strings "
                    f"with Python's re (about {len(t) + 1}^{k} steps); {_INSTALL}",
                    where=node.where)


def compile_regex(node: Any, pattern: Any) -> Regex:
    """``pattern`` compiled with RE2 if available, else with ``re`` after the safety checks."""
    if not isinstance(pattern, bytes):
        raise bad(node, f"the regex must be a string, got {type(pattern).__name__}")
    if _re2_module is not None:
        return Regex(_compile_re2(node, pattern), None, pattern)
    try:
        rx = re.compile(pattern)
        degree = _degree(_parse(pattern), pattern)
    except re.error as exc:
        raise bad(node, f"invalid regex {pattern!r}: {exc}") from None
    except RecursionError:
        raise bad(node, f"invalid regex {pattern!r}: nested too deeply") from None
    except _NotRE2 as exc:
        raise bad(node, f"invalid regex {pattern!r}: {exc}") from None
    except _Refused as exc:
        raise UnsupportedOpError(f"regex {pattern!r} {exc}", where=node.where) from None
    return Regex(rx, degree, pattern)


def _compile_re2(node: Any, pattern: bytes) -> Any:
    options = _re2_module.Options()
    options.log_errors = False  # RE2 would also print every bad pattern to stderr
    try:
        return _re2_module.compile(pattern, options)
    except _re2_module.error as exc:
        msg = exc.args[0] if exc.args else exc
        text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
        raise bad(node, f"invalid regex {pattern!r}: {text}") from None


class _Refused(Exception):
    """A pattern the ``re`` fallback will not run (the message says why)."""


class _NotRE2(Exception):
    """A pattern using ``re`` syntax that RE2, hence TensorFlow, rejects."""


def _parse(pattern: bytes) -> Any:
    try:
        parser = importlib.import_module("re._parser")  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        parser = importlib.import_module("sre_parse")
    return parser.parse(pattern)


def _degree(items: Any, pattern: bytes) -> int:
    """How many unbounded choices backtracking may nest (the exponent of the worst case)."""
    total = 0
    for op, av in items:
        name = str(op)
        if name in _NOT_RE2:
            raise _NotRE2(f"{_NOT_RE2[name]}, which RE2 (TensorFlow's regex engine) does not support")
        if name in _REPEATS:
            _, hi, sub = av
            inner = _degree(sub, pattern)
            if hi > 1 and _has_choice(sub):
                raise _Refused("has a quantified group that holds a quantifier or an alternation, "
                               f"which Python's re can take exponential time on; {_INSTALL}")
            total += 1 if hi > 1 else inner
        elif name == "SUBPATTERN":
            total += _degree(av[-1], pattern)
        elif name == "BRANCH":
            total += max(_degree(b, pattern) for b in av[1])
    return total


def _has_choice(items: Any) -> bool:
    """Whether a parse tree holds a quantifier or an alternation."""
    for op, av in items:
        name = str(op)
        if name in _REPEATS or name == "BRANCH":
            return True
        if name == "SUBPATTERN" and _has_choice(av[-1]):
            return True
    return False


@dataclass(frozen=True)
class Rewrite:
    """An RE2 rewrite string as RE2 reads it (re2/re2.cc: MaxSubmatch and Rewrite)."""

    parts: tuple[bytes | int, ...]  # literal pieces and group numbers, up to a bad escape
    complete: bool  # False: a backslash not followed by a digit or a backslash cut it short
    max_group: int  # the highest group a backslash-digit names anywhere in it (MaxSubmatch)


def parse_rewrite(node: Any, rewrite: Any) -> Rewrite:
    """Read an RE2 rewrite; never an error (TF does not check rewrites), only a non-string is."""
    if not isinstance(rewrite, bytes):
        raise bad(node, f"the rewrite must be a string, got {type(rewrite).__name__}")
    parts: list[bytes | int] = []
    lit = bytearray()
    complete = True
    i = 0
    while i < len(rewrite):
        c = rewrite[i:i + 1]
        if c != b"\\":
            lit += c
            i += 1
            continue
        nxt = rewrite[i + 1:i + 2]
        if nxt == b"\\":
            lit += b"\\"
        elif nxt.isdigit():
            parts += [bytes(lit), int(nxt)]
            lit.clear()
        else:
            complete = False
            break
        i += 2
    parts.append(bytes(lit))
    digits = [int(m) for m in re.findall(rb"\\(?:\\|(\d))", rewrite) if m]
    return Rewrite(tuple(p for p in parts if p != b""), complete, max(digits, default=0))


def replace(regex: Regex, rewrite: Rewrite, text: bytes, first_only: bool) -> bytes:
    """``text`` with matches replaced by ``rewrite`` (RE2::Replace / GlobalReplace)."""
    if rewrite.max_group > regex.groups or (first_only and not rewrite.complete):
        return text  # RE2 replaces nothing
    parts = rewrite.parts
    out: list[bytes] = []
    pos, last_end = 0, -1
    for m in regex.rx.finditer(text):
        start, end = m.span()
        if start == end and (start == last_end or _inside_utf8_char(text, start)):
            continue  # RE2 steps over a whole character after an empty match
        out.append(text[pos:start])
        out.extend(p if isinstance(p, bytes) else (m.group(p) or b"") for p in parts)
        pos = last_end = end
        if first_only:
            break
    out.append(text[pos:])
    return b"".join(out)


def _inside_utf8_char(text: bytes, i: int) -> bool:
    """Whether offset ``i`` falls inside a valid multi-byte UTF-8 character of ``text``."""
    if not 0 < i < len(text) or not 0x80 <= text[i] < 0xC0:
        return False
    for j in range(i - 1, max(i - 4, -1), -1):
        lead = text[j]
        if lead < 0x80 or lead >= 0xF8:
            return False
        if lead >= 0xC0:
            n = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
            try:
                text[j:j + n].decode("utf-8")
            except UnicodeDecodeError:
                return False
            return i < j + n
    return False
