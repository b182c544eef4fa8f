"""Which TensorBundle a path names: a SavedModel or ``variables/`` directory, a checkpoint
directory (and its ``checkpoint`` state file), a prefix, an ``.index`` file, or a URL."""

from __future__ import annotations

import os
import re

from savedmodel_io._fsutil import ALLOW_EXTERNAL_LINKS
from savedmodel_io.errors import InvalidArgumentError, NotFoundError, OutsideModelError
from savedmodel_io.formats import layout
from savedmodel_io.formats.source import ModelFiles, is_url, open_files

__all__ = ["checkpoint_prefix", "latest_from_state", "locate_checkpoint"]

MAX_STATE_BYTES = 16 << 20  # a `checkpoint` state file lists a few prefixes (text proto)


def checkpoint_prefix(path: str | os.PathLike[str], *, allow_external_links: bool = False) -> str:
    """The bundle prefix for a SavedModel dir, a ``variables/`` dir, a checkpoint dir, an index file, or a prefix."""
    files, prefix = locate_checkpoint(path, allow_external_links=allow_external_links)
    return files.path(prefix)


def locate_checkpoint(
    path: str | os.PathLike[str], *, allow_external_links: bool = False
) -> tuple[ModelFiles, str]:
    """(the files of the bundle's directory, the bundle prefix as a name in it) for ``path``.

    For a directory (a SavedModel, ``variables/`` or checkpoint directory) that directory
    holds the files, so a symlinked ``variables/`` is a link out of it; for a prefix or
    ``.index`` file, the directory holding it. A URL is a prefix, an index, or a directory
    holding ``variables/variables.index``.
    """
    if is_url(path):
        return _locate_url(str(path))
    p = os.fspath(path)
    directory, base = os.path.split(p)
    parent = open_files(directory, allow_external_links=allow_external_links)
    if base.endswith(layout.INDEX_SUFFIX) and parent.exists(base):
        return parent, base[: -len(layout.INDEX_SUFFIX)]
    if base and parent.exists(layout.index_filename(base)):
        return parent, base
    if os.path.isdir(p):
        files = open_files(p, allow_external_links=allow_external_links)
        for candidate in (layout.VARIABLES_PREFIX, layout.VARIABLES_DIR):
            if files.exists(layout.index_filename(candidate)):
                return files, candidate
        ignored = ""
        state = layout.CHECKPOINT_STATE  # tf.train.CheckpointManager's state file (text proto)
        if files.exists(state, "checkpoint state file"):
            name = latest_from_state(
                files.read_all(state, limit=MAX_STATE_BYTES, what="checkpoint state file"))
            if name is not None:
                candidate = os.path.relpath(name, p) if os.path.isabs(name) else name
                try:
                    if files.exists(layout.index_filename(candidate)):
                        return files, candidate
                except OutsideModelError:
                    # Not probed (that would tell whether a file exists elsewhere): the
                    # listing below decides, and its error says why the state was not used.
                    ignored = (f"; the checkpoint state file names {name}, outside this "
                               f"directory (pass {ALLOW_EXTERNAL_LINKS} to follow it)")
        found = [f for f in files.list() or [] if f.endswith(layout.INDEX_SUFFIX)]
        if len(found) == 1:
            return files, found[0][: -len(layout.INDEX_SUFFIX)]
        if len(found) > 1:
            raise InvalidArgumentError(
                f"several checkpoints in this directory ({', '.join(found)}): pass a prefix{ignored}",
                path=p,
            )
        if ignored:
            raise OutsideModelError(f"no checkpoint here{ignored}", path=p)
    raise NotFoundError(
        "no checkpoint here: expected a SavedModel directory, a variables/ directory, "
        "a checkpoint prefix or a .index file",
        path=p,
    )


def _locate_url(url: str) -> tuple[ModelFiles, str]:
    """A bundle at a URL: HTTP cannot list, so the usual places are asked for (HEAD requests)."""
    url = url.rstrip("/")
    parent, base = url.rsplit("/", 1)
    if base.endswith(layout.INDEX_SUFFIX):
        return open_files(parent), base[: -len(layout.INDEX_SUFFIX)]
    files = open_files(url)
    for candidate in (layout.VARIABLES_PREFIX, layout.VARIABLES_DIR):
        if files.exists(layout.index_filename(candidate)):
            return files, candidate
    above = open_files(parent)
    if above.exists(layout.index_filename(base)):
        return above, base
    raise NotFoundError(f"no checkpoint here (no {layout.VARIABLES_INDEX})", path=url)


_STATE_PATH = re.compile(rb"""^\s*model_checkpoint_path\s*:\s*(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')""", re.M)
_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))", re.S)
_SIMPLE_ESCAPES = {b"a": b"\a", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v",
                   b"\\": b"\\", b"'": b"'", b'"': b'"', b"?": b"?"}


def latest_from_state(text: bytes) -> str | None:
    """``model_checkpoint_path`` of a CheckpointState text proto, unescaped, or None."""
    m = _STATE_PATH.search(text)
    if m is None:
        return None
    raw = m.group(1) if m.group(1) is not None else m.group(2)
    try:
        return _unescape_text_string(raw).decode("utf-8", errors="surrogateescape")
    except ValueError:
        return None


def _unescape_text_string(raw: bytes) -> bytes:
    """Undo text-format string escapes (C style: ``\\n``, ``\\"``, octal ``\\NNN``, ``\\xHH``, ``\\uHHHH``).

    Rules of protobuf's text format (protocolbuffers/protobuf python/google/protobuf/text_encoding.py,
    CUnescape). TF writes the ``checkpoint`` state file in that format (tensorflow/tensorflow
    tensorflow/python/checkpoint/checkpoint_management.py): ``"``, ``\\`` and control characters
    escaped, UTF-8 as is; other writers may escape non-ASCII bytes in octal or hex.
    """

    def one(m: re.Match[bytes]) -> bytes:
        octal, hex2, u4, u8, other = m.groups()
        if octal is not None:
            return bytes([int(octal, 8) & 0xFF])
        if hex2 is not None:
            return bytes([int(hex2, 16)])
        if u4 is not None or u8 is not None:
            return chr(int(u4 or u8, 16)).encode("utf-8", errors="surrogatepass")
        if other in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[other]
        raise ValueError(f"unknown escape \\{other!r} in text-format string")

    return _ESCAPE.sub(one, raw)
