"""The regex patterns a split-and-join can replace: one literal string, or one character class.

``StaticRegexReplace`` / ``RegexReplace`` run RE2. ONNX has no regex replacement, but a
pattern that matches only fixed strings is replaced exactly by splitting at them
(StringSplit) and joining the parts with the rewrite. This module reads such patterns:

* a literal: characters with no regex meaning, and escaped ones (``\\.``, ``\\t``, ``\\x41``);
* a character class: ``[...]`` (not negated) of characters, escapes, ranges ``a-z`` and the
  Perl classes ``\\d \\s \\w``, or one of those Perl classes alone;
* either of them inside one capturing group, ``(...)``, whose submatch is then the whole match.

Anything else (repetition, alternation, groups, anchors, ``.``, flags, Unicode classes) raises
:class:`Unsupported`. RE2's syntax: google/re2 doc/syntax.txt (Perl classes: ``\\d`` is
``[0-9]``, ``\\s`` is ``[\\t\\n\\f\\r ]``, ``\\w`` is ``[0-9A-Za-z_]``; ``]`` first in a class and
``-`` first or last are literal).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Literal", "Unsupported", "parse_pattern"]

MAX_CLASS = 256  # characters in one class: each is one split-and-join in the graph

_PERL = {"d": "0123456789", "s": "\t\n\f\r ",
         "w": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"}
_CONTROL = {"a": "\a", "f": "\f", "t": "\t", "n": "\n", "r": "\r", "v": "\v"}
_META = set(".^$|?*+()[]{}\\")


class Unsupported(ValueError):
    """A pattern (or rewrite) that is not one literal or one character class."""


@dataclass(frozen=True)
class Literal:
    """A fixed string the pattern matches."""

    text: str


def _escape(p: str, i: int, in_class: bool) -> tuple[str, int]:
    """The characters escape ``p[i:]`` (after its backslash) stands for, and where it ends."""
    if i >= len(p):
        raise Unsupported("a trailing backslash")
    c = p[i]
    if c in _CONTROL:
        return _CONTROL[c], i + 1
    if c in _PERL:
        return _PERL[c], i + 1
    if c == "x":
        if p.startswith("{", i + 1):
            end = p.find("}", i + 2)
            digits = p[i + 2:end] if end > 0 else ""
            nxt = end + 1
        else:
            digits, nxt = p[i + 1:i + 3], i + 3
        try:
            code = int(digits, 16)
            if not digits or len(digits) > 8 or code > 0x10FFFF:
                raise ValueError
        except ValueError:
            raise Unsupported(f"a malformed \\x escape at {i - 1}") from None
        return chr(code), nxt
    if not c.isalnum() and c.isascii():  # escaped punctuation is itself
        return c, i + 1
    raise Unsupported(f"the escape \\{c}" + ("" if in_class else " (anchors, Unicode classes, octal and "
                                                               "negated classes have no split form)"))


def _class(p: str, i: int) -> tuple[set[str], int]:
    """The characters of the class starting after ``[`` at ``p[i]``, and where it ends."""
    if p.startswith("^", i):
        raise Unsupported("a negated character class")
    chars: set[str] = set()
    first = True
    while True:
        if i >= len(p):
            raise Unsupported("an unterminated character class")
        c = p[i]
        if c == "]" and not first:
            return chars, i + 1
        first = False
        if c == "[" and p.startswith("[:", i):
            raise Unsupported("a POSIX class inside a character class")
        if c == "\\":
            text, i = _escape(p, i + 1, True)
        else:
            text, i = c, i + 1
        if len(text) == 1 and p.startswith("-", i) and i + 1 < len(p) and p[i + 1] != "]":
            if p[i + 1] == "\\":
                hi, nxt = _escape(p, i + 2, True)
            else:
                hi, nxt = p[i + 1], i + 2
            if len(hi) != 1 or ord(hi) < ord(text):
                raise Unsupported(f"a bad range {text}-{hi}")
            if ord(hi) - ord(text) >= MAX_CLASS:
                raise Unsupported(f"a range of more than {MAX_CLASS} characters")
            chars.update(chr(k) for k in range(ord(text), ord(hi) + 1))
            i = nxt
        else:
            chars.update(text)
        if len(chars) > MAX_CLASS:
            raise Unsupported(f"a class of more than {MAX_CLASS} characters")


def parse_pattern(pattern: str) -> tuple[int, list[Literal]]:
    """(capturing groups, the fixed strings ``pattern`` matches): one string for a literal, one
    per class character (sorted) for a class; raises Unsupported for any other pattern."""
    if pattern.startswith("(") and pattern.endswith(")") and not pattern.startswith("(?"):
        inner = pattern[1:-1]
        if "(" in inner.replace("\\(", "") or ")" in inner.replace("\\)", ""):
            raise Unsupported("nested or several groups")
        return 1, _fixed(inner)
    return 0, _fixed(pattern)


def _fixed(pattern: str) -> list[Literal]:
    if pattern.startswith("["):
        chars, end = _class(pattern, 1)
        if end != len(pattern):
            raise Unsupported("a character class followed by more pattern")
        if not chars:
            raise Unsupported("an empty character class")
        return [Literal(c) for c in sorted(chars)]
    if len(pattern) == 2 and pattern[0] == "\\" and pattern[1] in _PERL:
        return [Literal(c) for c in sorted(_PERL[pattern[1]])]
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            text, i = _escape(pattern, i + 1, False)
            if len(text) > 1:
                raise Unsupported("a Perl class inside a longer pattern")
            out.append(text)
        elif c in _META:
            raise Unsupported(f"{c!r} (only literal strings and single character classes map)")
        else:
            out.append(c)
            i += 1
    if not out:
        raise Unsupported("the empty pattern matches between every character")
    return [Literal("".join(out))]
