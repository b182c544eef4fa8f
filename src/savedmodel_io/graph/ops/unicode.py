"""Unicode ops: decode to code points (with byte offsets), encode, transcode, script of a code point.

TensorFlow runs these on ICU converters (tensorflow/tensorflow
tensorflow/core/kernels/unicode_ops.cc). We decode with Python's codecs, whose UTF-8,
UTF-16 and UTF-32 decoders report malformed input in the same units as ICU's (one
replacement per maximal ill-formed subsequence, a lone surrogate, a truncated unit), and
keep ICU's rules on top: ``errors`` (strict / replace / ignore), ``replacement_char``,
``replace_control_characters`` (code points up to U+001F count as malformed). Supported
input encodings: UTF-8, UTF-16 and UTF-32 (big- or little-endian, or with a byte-order
mark and big-endian by default, as ICU), ISO-8859-1 and US-ASCII; TensorFlow's other ICU
converters (legacy code pages, CJK encodings) are refused by name. Output encodings are
TF's three: UTF-8, UTF-16-BE, UTF-32-BE.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import numpy as np

from savedmodel_io.errors import UnsupportedOpError
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import attr_str, bad, np_dtype

_MAX_CODE_POINT = 0x10FFFF
_REPLACEMENT = 0xFFFD

# A malformed run of n bytes decodes to the lone surrogate U+DC00 + n: no codec used here
# decodes well-formed input to a surrogate, so the marker cannot be mistaken for text.
_MARK = 0xDC00
_HANDLER = "savedmodel_io.unicode_ops"


def _mark_malformed(exc: UnicodeDecodeError) -> tuple[str, int]:
    return chr(_MARK + exc.end - exc.start), exc.end


codecs.register_error(_HANDLER, _mark_malformed)


@dataclass(frozen=True)
class _Encoding:
    codec: str  # Python codec of the byte order used when no byte-order mark says otherwise
    unit: int  # bytes per code unit
    boms: tuple[tuple[bytes, str], ...] = ()  # byte-order marks and the codec each selects


_U16 = ((b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"))
_U32 = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"))

# ICU converter names (matched as ICU matches aliases: case, "-", "_" and " " ignored).
_ENCODINGS = {
    "utf8": _Encoding("utf-8", 1),
    "utf16be": _Encoding("utf-16-be", 2), "utf16le": _Encoding("utf-16-le", 2),
    "utf16": _Encoding("utf-16-be", 2, _U16),
    "utf32be": _Encoding("utf-32-be", 4), "utf32le": _Encoding("utf-32-le", 4),
    "utf32": _Encoding("utf-32-be", 4, _U32),
    **dict.fromkeys(("iso88591", "latin1", "l1"), _Encoding("latin-1", 1)),
    **dict.fromkeys(("usascii", "ascii", "us"), _Encoding("ascii", 1)),
}
_OUTPUT_ENCODINGS = ("UTF-8", "UTF-16-BE", "UTF-32-BE")


def _input_encoding(node) -> _Encoding:
    name = attr_str(node, "input_encoding")
    enc = _ENCODINGS.get("".join(c for c in name.lower() if c not in "-_ "))
    if enc is None:
        raise UnsupportedOpError(
            f"input encoding {name!r} is not supported (UTF-8, UTF-16, UTF-32, ISO-8859-1 "
            "and US-ASCII are)", where=node.where)
    return enc


def _output_encoding(node) -> str:
    name = attr_str(node, "output_encoding")
    if name not in _OUTPUT_ENCODINGS:
        raise bad(node, f"output_encoding {name!r} is not one of {', '.join(_OUTPUT_ENCODINGS)}")
    return name


@dataclass(frozen=True)
class _Errors:
    """How malformed input is handled (ICU's ErrorOptions in unicode_ops.cc)."""

    policy: str  # strict, replace or ignore
    subst: int
    control: bool  # code points <= U+001F count as malformed


def _errors(node) -> _Errors:
    policy = attr_str(node, "errors")
    if policy not in ("strict", "replace", "ignore"):
        raise bad(node, "errors policy must be one of 'strict', 'replace', or 'ignore'")
    subst = int(node.attr["replacement_char"])
    if not 0 <= subst <= _MAX_CODE_POINT:
        raise bad(node, "replacement_char out of unicode codepoint range")
    return _Errors(policy, subst, bool(node.attr.get("replace_control_characters", False)))


def _code_points(data: bytes, enc: _Encoding) -> list[tuple[int, int, bool]]:
    """(code point, bytes it took, malformed) for each character of ``data``.

    A malformed run comes back as (U+FFFD, its length, True); a byte-order mark is
    counted in the bytes of the character after it.
    """
    codec, skip = enc.codec, 0
    for bom, which in enc.boms:
        if data.startswith(bom):
            codec, skip = which, len(bom)
            break
    out = []
    for ch in data[skip:].decode(codec, _HANDLER):
        cp = ord(ch)
        if _MARK < cp < _MARK + 0x400:
            out.append((_REPLACEMENT, cp - _MARK, True))
        else:
            size = len(ch.encode("utf-8")) if enc.unit == 1 and codec == "utf-8" else \
                enc.unit * (2 if enc.unit == 2 and cp > 0xFFFF else 1)
            out.append((cp, size, False))
    if skip and out:
        cp, size, err = out[0]
        out[0] = (cp, size + skip, err)
    elif skip:  # ICU reads a lone byte-order mark as U+FFFF (ucnv_getNextUChar's end marker)
        out.append((0xFFFF, skip, False))
    return out


@kernel("UnicodeDecode", "UnicodeDecodeWithOffsets", per_element=True)
def decode(node, inputs, ctx):
    enc, opts = _input_encoding(node), _errors(node)
    split_type = np_dtype(node.attr["Tsplits"])
    strings = np.asarray(inputs[0], dtype=object).reshape(-1)
    splits, values, starts = [0], [], []
    malformed = False
    for v in strings.tolist():
        offset = 0
        for cp, size, err in _code_points(v, enc):
            malformed |= err
            if err or (opts.control and cp <= 0x1F):
                if opts.policy == "ignore":
                    offset += size
                    continue
                cp = opts.subst
            values.append(cp)
            starts.append(offset)
            offset += size
        splits.append(len(values))
    if malformed and opts.policy == "strict":
        raise bad(node, "Invalid formatting on input string")
    out = [np.array(splits, split_type), np.array(values, np.int32)]
    if node.op == "UnicodeDecodeWithOffsets":
        out.append(np.array(starts, split_type))
    return out


def _utf16_units(cps: list[int]) -> list[int]:
    """ICU's UnicodeString of ``cps``: UTF-16 code units (a surrogate code point stays lone)."""
    units = []
    for cp in cps:
        if cp > 0xFFFF:
            cp -= 0x10000
            units += [0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)]
        else:
            units.append(cp)
    return units


def _encode_units(units: list[int], encoding: str) -> bytes:
    """UTF-16 code units written as ICU's Encode in unicode_ops.cc writes them."""
    if encoding == "UTF-16-BE":
        return b"".join(u.to_bytes(2, "big") for u in units)
    cps, i = [], 0
    while i < len(units):  # pair surrogates; a lone one stays a (surrogate) code point
        u = units[i]
        if 0xD800 <= u < 0xDC00 and i + 1 < len(units) and 0xDC00 <= units[i + 1] < 0xE000:
            cps.append(0x10000 + ((u - 0xD800) << 10) + units[i + 1] - 0xDC00)
            i += 2
            continue
        cps.append(u)
        i += 1
    if encoding == "UTF-32-BE":
        return b"".join(cp.to_bytes(4, "big") for cp in cps)
    # UnicodeString::toUTF8String writes a lone surrogate as U+FFFD.
    return "".join(chr(_REPLACEMENT if 0xD800 <= cp < 0xE000 else cp) for cp in cps).encode("utf-8")


@kernel("UnicodeTranscode", per_element=True)
def transcode(node, inputs, ctx):
    enc, opts, out_enc = _input_encoding(node), _errors(node), _output_encoding(node)
    strings = np.asarray(inputs[0], dtype=object)
    out = np.empty(strings.shape, dtype=object)
    flagged = False
    for idx in np.ndindex(strings.shape):
        cps = []
        for cp, _, err in _code_points(strings[idx], enc):
            if err or (opts.control and cp <= 0x1F):
                flagged = True  # control characters too, unlike UnicodeDecode
                if opts.policy == "ignore":
                    continue
                cp = opts.subst
            cps.append(cp)
        out[idx] = _encode_units(_utf16_units(cps), out_enc)
    if flagged and opts.policy == "strict":
        raise bad(node, "Invalid formatting on input string")
    return out


@kernel("UnicodeEncode", per_element=True)
def encode(node, inputs, ctx):
    opts, out_enc = _errors(node), _output_encoding(node)
    values = np.asarray(inputs[0]).reshape(-1).tolist()
    splits = np.asarray(inputs[1]).reshape(-1).tolist()
    # tensorflow/tensorflow tensorflow/core/kernels/unicode_ops.cc (UnicodeEncodeOp).
    if not splits:
        raise bad(node, f"Input_splits should contain elements, but given input_values has "
                        f"{len(values)} elements")
    if splits[0] != 0:
        raise bad(node, "First value in input_splits must be zero.")
    if any(b < a for a, b in zip(splits, splits[1:])):
        raise bad(node, "Values in input_splits must be equal or in ascending order.")
    if splits[-1] != len(values):
        raise bad(node, "Last value in input_splits must be equal to length of input_tensor.")
    out = np.empty(len(splits) - 1, dtype=object)
    idx = 0
    for row, end in enumerate(splits[1:]):
        cps = []
        while idx < end:
            cp = values[idx]
            idx += 1
            if not 0 <= cp <= _MAX_CODE_POINT or 0xD800 <= cp < 0xE000:
                if opts.policy == "strict":
                    raise bad(node, "Code point is out of range for Unicode, or is a surrogate.")
                if opts.policy == "ignore":
                    continue
                cp = opts.subst
            cps.append(cp)
        out[row] = _encode_units(_utf16_units(cps), out_enc)
    return out


_SCRIPTS: tuple[np.ndarray, np.ndarray] | None = None


def _script_table() -> tuple[np.ndarray, np.ndarray]:
    """Run starts and their script codes (parsed once from _unicode_scripts)."""
    global _SCRIPTS
    if _SCRIPTS is None:
        from savedmodel_io.graph.ops._unicode_scripts import RUNS

        pairs = [p.split(",") for p in RUNS.split()]
        _SCRIPTS = (np.array([int(s, 16) for s, _ in pairs], np.int64),
                    np.array([int(c) for _, c in pairs], np.int32))
    return _SCRIPTS


@kernel("UnicodeScript")
def script(node, inputs, ctx):
    # uscript_getScript (tensorflow/tensorflow tensorflow/core/kernels/unicode_script_op.cc);
    # code points outside Unicode give -1 (USCRIPT_INVALID_CODE).
    cps = np.asarray(inputs[0]).astype(np.int64)
    starts, codes = _script_table()
    pos = np.searchsorted(starts, np.clip(cps, 0, _MAX_CODE_POINT), side="right") - 1
    return np.where((cps < 0) | (cps > _MAX_CODE_POINT), -1, codes[pos]).astype(np.int32)
