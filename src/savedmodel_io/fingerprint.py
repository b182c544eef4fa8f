"""SavedModel fingerprints (``fingerprint.pb``): read, compute exactly like TensorFlow, write, verify.

A fingerprint holds five 64-bit FarmHash values. For a ``saved_model.pb``
TensorFlow 2.21 computes them as below (tensorflow/tensorflow
``tensorflow/cc/saved_model/fingerprinting.cc``, ``tensorflow/core/graph/regularization/``;
the producer number 4 and the rest were checked against the 2.21 binary):

* ``saved_model_checksum``: Fingerprint64 of the whole SavedModel, serialized
  deterministically by C++ (see :mod:`savedmodel_io.proto.deterministic`).
* ``graph_def_program_hash``: Fingerprint64 of ``meta_graphs[0].graph_def`` after
  "SimpleDelete": PartitionedCall / StatefulPartitionedCall nodes lose the UID
  suffix of their ``f`` function name and the value of ``config_proto``; string
  ``Const`` nodes lose their value; ``library`` and ``versions`` are emptied.
* ``signature_def_hash``: FingerprintCat64 chain, in key order, of
  Fingerprint64(key) and Fingerprint64(SignatureDef).
* ``saved_object_graph_hash``: FingerprintCat64 chain, in order of the numeric UID
  that ends each concrete function's name, of Fingerprint64(name without the UID)
  and Fingerprint64(SavedConcreteFunction). Object graph nodes are not hashed.
* ``checkpoint_hash``: Fingerprint64 of ``variables/variables.index``, 0 if unreadable.

Chunked models (``saved_model.cpb``) are hashed from their chunks instead
(producer 2); see :mod:`savedmodel_io._fingerprint_cpb`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from savedmodel_io._fsutil import atomic_file
from savedmodel_io.errors import (
    CorruptFileError,
    FormatError,
    NotFoundError,
    SavedModelError,
)
from savedmodel_io.formats import layout, wire
from savedmodel_io.formats.saved_model_file import MAX_PROTO_BYTES, read_named
from savedmodel_io.formats.source import LocalFiles, ModelFiles
from savedmodel_io.formats.sstable import MAX_TABLE_BYTES
from savedmodel_io.hashing.farmhash import fingerprint64, fingerprint_cat64
from savedmodel_io.proto import FingerprintDef, GraphDef, SavedModel, parse_message
from savedmodel_io.proto.deterministic import deterministic_buffer, serialize_deterministic

__all__ = [
    "FINGERPRINT_FILENAME",
    "HASH_FIELDS",
    "PART_NAMES",
    "PRODUCER_CHUNKED",
    "PRODUCER_NO_BINARY",
    "PRODUCER_PB",
    "Fingerprint",
    "Verification",
    "checkpoint_hash",
    "compute_fingerprint",
    "fingerprint_saved_model",
    "new_uuid",
    "read_fingerprint",
    "regularize_graph_def",
    "saved_object_graph_hash",
    "signature_def_hash",
    "suffix_uid",
    "verify_fingerprint",
    "write_fingerprint",
]

FINGERPRINT_FILENAME = layout.FINGERPRINT
# VersionDef.producer that TensorFlow 2.21 writes for saved_model.pb / saved_model.cpb.
PRODUCER_PB = 4
PRODUCER_CHUNKED = 2
# TensorFlow 2.21 writes producer 5 (and only a uuid) when it finds neither
# saved_model.pb nor saved_model.cpb, e.g. for a saved_model.pbtxt-only directory.
PRODUCER_NO_BINARY = 5

# A fingerprint.pb is about 60 bytes; anything this big is not one.
_MAX_FINGERPRINT_BYTES = 1 << 20

HASH_FIELDS = (
    "saved_model_checksum",
    "graph_def_program_hash",
    "signature_def_hash",
    "saved_object_graph_hash",
    "checkpoint_hash",
)
# What each hash covers, for reports.
PART_NAMES = {
    "saved_model_checksum": "whole SavedModel proto",
    "graph_def_program_hash": "graph",
    "signature_def_hash": "signatures",
    "saved_object_graph_hash": "object graph (concrete functions)",
    "checkpoint_hash": "checkpoint index (variables)",
}


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """The values of a FingerprintDef, like ``tf.saved_model.experimental.Fingerprint``.

    Equality compares the five hashes only (as TensorFlow does), not the uuid
    or the producer version.
    """

    saved_model_checksum: int
    graph_def_program_hash: int
    signature_def_hash: int
    saved_object_graph_hash: int
    checkpoint_hash: int
    version: int
    uuid: str = ""
    proto: FingerprintDef = field(default_factory=FingerprintDef, repr=False)

    @classmethod
    def from_proto(cls, proto: FingerprintDef | bytes) -> Fingerprint:
        """Build from a FingerprintDef (ours) or its serialized bytes."""
        if isinstance(proto, (bytes, bytearray, memoryview)):
            proto = parse_message(FingerprintDef, bytes(proto))
        return cls(
            saved_model_checksum=proto.saved_model_checksum,
            graph_def_program_hash=proto.graph_def_program_hash,
            signature_def_hash=proto.signature_def_hash,
            saved_object_graph_hash=proto.saved_object_graph_hash,
            checkpoint_hash=proto.checkpoint_hash,
            version=proto.version.producer,
            uuid=proto.uuid,
            proto=proto,
        )

    def to_proto(self) -> FingerprintDef:
        """A FingerprintDef with these values (field order and content as TensorFlow writes it)."""
        p = FingerprintDef()
        for name in HASH_FIELDS:
            setattr(p, name, getattr(self, name))
        p.version.producer = self.version
        if self.uuid:
            p.uuid = self.uuid
        return p

    def to_bytes(self) -> bytes:
        """The serialized FingerprintDef (the contents of fingerprint.pb)."""
        data: bytes = self.to_proto().SerializeToString()
        return data

    def singleprint(self) -> str:
        """TensorFlow's canonical ID: ``graph/signatures/object_graph/checkpoint`` hashes joined by '/'."""
        return "/".join(
            str(v)
            for v in (
                self.graph_def_program_hash,
                self.signature_def_hash,
                self.saved_object_graph_hash,
                self.checkpoint_hash,
            )
        )

    def as_dict(self) -> dict[str, int | str]:
        """The values as a plain dict (JSON-friendly)."""
        d: dict[str, int | str] = {name: getattr(self, name) for name in HASH_FIELDS}
        d["version"] = self.version
        d["uuid"] = self.uuid
        d["singleprint"] = self.singleprint()
        return d

    def changed_fields(self, other: Fingerprint) -> list[str]:
        """Names of the hash fields whose values differ from ``other``'s."""
        return [n for n in HASH_FIELDS if getattr(self, n) != getattr(other, n)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (Fingerprint, FingerprintDef)):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in HASH_FIELDS)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, n) for n in HASH_FIELDS))

    def __str__(self) -> str:
        lines = ["SavedModel Fingerprint"]
        lines += [f"  {n}: {getattr(self, n)}" for n in HASH_FIELDS]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- reading


def read_fingerprint(
    path: str | os.PathLike[str], *, allow_external_links: bool = False
) -> Fingerprint:
    """Read ``fingerprint.pb`` of a SavedModel directory (or the file itself).

    ``allow_external_links``: follow a symlink out of the directory (refused by default).
    """
    p = Path(path)
    file = p / FINGERPRINT_FILENAME if p.is_dir() else p
    files = LocalFiles(file.parent, allow_external_links=allow_external_links)
    if not os.path.lexists(file):
        where = f"SavedModel directory has no {FINGERPRINT_FILENAME}" if p.is_dir() else "no such file"
        raise NotFoundError(where, path=file)
    data = files.read_all(file.name, limit=_MAX_FINGERPRINT_BYTES, what=FINGERPRINT_FILENAME)
    if not data:
        raise CorruptFileError("empty file (a fingerprint.pb holds at least a version)", path=file)
    _check_fingerprint_wire(data, file)
    return Fingerprint.from_proto(parse_message(FingerprintDef, data, path=file))


# FingerprintDef field number -> expected wire type (0 varint, 2 length-delimited).
_FINGERPRINT_WIRE = {1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 2, 7: 2}


def _check_wire(data: bytes, file: Path, expected: dict[int, int]) -> None:
    """Walk the top-level fields of a small message; known fields must have their wire types."""
    try:
        for _ in wire.fields(data, 0, len(data), expected=expected):
            pass
    except wire.WireError as exc:
        raise CorruptFileError(str(exc), path=file) from None


def _check_fingerprint_wire(data: bytes, file: Path) -> None:
    _check_wire(data, file, _FINGERPRINT_WIRE)


# ----------------------------------------------------------------------------- computing


def compute_fingerprint(
    export_dir: str | os.PathLike[str], *, uuid: str | None = None,
    allow_external_links: bool = False,
) -> Fingerprint:
    """Compute the fingerprint of a SavedModel directory exactly as TensorFlow 2.21 does.

    ``uuid`` defaults to a fresh random one in TensorFlow's format (a 128-bit
    number in decimal); pass ``""`` for none. ``allow_external_links``: follow symlinks
    out of the directory (refused by default).
    """
    d = Path(export_dir)
    if not d.is_dir():
        raise NotFoundError("not a directory", path=d)
    if uuid is None:
        uuid = new_uuid()
    files = LocalFiles(d, allow_external_links=allow_external_links)
    # TensorFlow prefers the chunked file when both exist, and fingerprints no text format.
    name = layout.saved_model_file(files.exists, layout.BINARY_FILES)
    if name == layout.SAVED_MODEL_CPB:
        from savedmodel_io._fingerprint_cpb import fingerprint_chunked

        values = fingerprint_chunked(files, name)
        return _make(values, _checkpoint_hash(files), PRODUCER_CHUNKED, uuid)
    if name == layout.SAVED_MODEL_PB:
        saved_model = read_named(files, name)
        return _fingerprint_pb(saved_model, files, uuid=uuid, path=files.path(name), owned=True)
    if files.exists(layout.SAVED_MODEL_PBTXT):
        # TensorFlow's CreateFingerprintDef finds no binary file and returns only a uuid.
        return _make((0, 0, 0, 0), 0, PRODUCER_NO_BINARY, uuid)
    names = ", ".join((layout.SAVED_MODEL_PB, layout.SAVED_MODEL_CPB))
    raise NotFoundError(f"no {names} or {layout.SAVED_MODEL_PBTXT}", path=d)


def fingerprint_saved_model(
    saved_model: SavedModel,
    export_dir: str | os.PathLike[str] | None = None,
    *,
    uuid: str | None = None,
    path: str | os.PathLike[str] | None = None,
    allow_external_links: bool = False,
) -> Fingerprint:
    """Fingerprint an in-memory SavedModel (as if saved to ``export_dir`` as saved_model.pb).

    ``export_dir`` is where ``variables/variables.index`` is looked up (checkpoint
    hash 0 without it). ``saved_model`` is not modified. ``path`` only names the
    source in error messages.
    """
    files = None
    if export_dir is not None:
        files = LocalFiles(export_dir, allow_external_links=allow_external_links)
    return _fingerprint_pb(saved_model, files, uuid=uuid, path=path, owned=False)


def _fingerprint_pb(
    saved_model: SavedModel,
    files: ModelFiles | None,
    *,
    uuid: str | None,
    path: str | os.PathLike[str] | None,
    owned: bool,
) -> Fingerprint:
    """The producer-4 computation; ``owned=True`` lets it edit ``saved_model`` instead of copying."""
    if not saved_model.meta_graphs:
        raise FormatError("SavedModel has no MetaGraphDef", path=path)
    checksum = fingerprint64(deterministic_buffer(saved_model))
    meta = saved_model.meta_graphs[0]
    if owned:
        graph = meta.graph_def  # TF regularizes its own copy in place, too
    else:
        graph = GraphDef()
        graph.CopyFrom(meta.graph_def)
    regularize_graph_def(graph)
    values = (
        checksum,
        fingerprint64(deterministic_buffer(graph)),
        signature_def_hash(meta.signature_def),
        saved_object_graph_hash(meta.object_graph_def, path=path),
    )
    ckpt = _checkpoint_hash(files) if files is not None else 0
    return _make(values, ckpt, PRODUCER_PB, new_uuid() if uuid is None else uuid)


def _make(values: tuple[int, int, int, int], ckpt: int, producer: int, uuid: str) -> Fingerprint:
    proto = _proto_of(uuid, producer)
    names = HASH_FIELDS[:4]
    for name, value in zip(names, values):
        setattr(proto, name, value)
    proto.checkpoint_hash = ckpt
    return Fingerprint.from_proto(proto)


def _proto_of(uuid: str, producer: int) -> FingerprintDef:
    p = FingerprintDef()
    p.version.producer = producer
    if uuid:
        p.uuid = uuid
    return p


def new_uuid() -> str:
    """A random fingerprint uuid in TensorFlow's format: a 128-bit number, at least 20 digits."""
    return f"{secrets.randbits(128):020d}"


def regularize_graph_def(graph: GraphDef) -> None:
    """TensorFlow's ``SimpleDelete``: drop the parts of a GraphDef that vary between identical saves.

    Mutates ``graph`` in place (tensorflow/core/graph/regularization/simple_delete.cc).
    """
    for node in graph.node:
        attrs = node.attr
        if node.op in ("PartitionedCall", "StatefulPartitionedCall"):
            if "f" in attrs:
                name = attrs["f"].func.name
                uid = suffix_uid(name)
                if uid is not None:
                    attrs["f"].func.name = _strip_suffix(name, str(uid))
            if "config_proto" in attrs:
                attrs["config_proto"].s = b""
        is_const = node.op == "Const" and "dtype" in attrs and "value" in attrs
        if is_const and attrs["dtype"].type == 7:  # DT_STRING
            attrs["value"].ClearField("value")
    graph.ClearField("library")
    graph.library.SetInParent()  # C++ mutable_library()->Clear() leaves an empty, present field
    graph.ClearField("versions")
    graph.versions.SetInParent()


def suffix_uid(name: str) -> int | None:
    """The integer after the last '_' of a function name, as TensorFlow's ``GetSuffixUID`` reads it."""
    return _simple_atoi(name.rsplit("_", 1)[-1])


_ASCII_SPACE = " \t\n\v\f\r"


def _simple_atoi(text: str) -> int | None:
    """absl::SimpleAtoi for int64: optional surrounding ASCII whitespace and sign, base 10."""
    t = text.strip(_ASCII_SPACE)
    body = t[1:] if t[:1] in ("+", "-") else t
    if not body or not all("0" <= c <= "9" for c in body):
        return None
    if len(body.lstrip("0")) > 19:  # beyond int64 (and int() refuses very long strings)
        return None
    value = int(t)
    if not -(1 << 63) <= value < (1 << 63):
        return None
    return value


def _strip_suffix(text: str, suffix: str) -> str:
    return text[: -len(suffix)] if suffix and text.endswith(suffix) else text


def signature_def_hash(signature_defs: Mapping[str, Any], *, legacy: bool = False) -> int:
    """Hash of a ``map<string, SignatureDef>`` in key order.

    ``legacy=True`` leaves the keys out, as TensorFlow up to about 2.14 did (its
    fingerprint.pb files also say producer 1).
    """
    result = 0
    for key in sorted(signature_defs, key=lambda k: k.encode("utf-8")):
        if not legacy:
            result = fingerprint_cat64(result, fingerprint64(key.encode("utf-8")))
        body = serialize_deterministic(signature_defs[key])
        result = fingerprint_cat64(result, fingerprint64(body))
    return result


def saved_object_graph_hash(object_graph: Any, *, path: str | os.PathLike[str] | None = None) -> int:
    """Hash of a SavedObjectGraph's concrete functions, ordered by the UID ending their names."""
    by_uid: dict[int, str] = {}
    # Names are visited in sorted order so that duplicate UIDs (never written by
    # TensorFlow) resolve the same way every time; TF keeps whichever its hash map yields first.
    for name in sorted(object_graph.concrete_functions):
        uid = suffix_uid(name)
        if uid is None:
            raise FormatError(
                f"concrete function name {name!r} does not end in an integer UID "
                "(TensorFlow cannot fingerprint this model either)",
                path=path,
            )
        by_uid.setdefault(uid, name)
    result = 0
    for uid in sorted(by_uid):
        name = by_uid[uid]
        result = fingerprint_cat64(
            result, fingerprint64(_strip_suffix(name, str(uid)).encode("utf-8"))
        )
        body = serialize_deterministic(object_graph.concrete_functions[name])
        result = fingerprint_cat64(result, fingerprint64(body))
    return result


def checkpoint_hash(
    export_dir: str | os.PathLike[str], *, allow_external_links: bool = False
) -> int:
    """Fingerprint64 of ``variables/variables.index``; 0 when it is missing or unreadable (as in TF).

    A FIFO, device or symlink loop there raises CorruptFileError (TF would hang or exhaust
    memory reading it), an index over MAX_TABLE_BYTES LimitExceededError, a link out of the
    directory OutsideModelError (unless ``allow_external_links``).
    """
    return _checkpoint_hash(LocalFiles(export_dir, allow_external_links=allow_external_links))


def _checkpoint_hash(files: ModelFiles) -> int:
    try:
        data = files.read_all(layout.VARIABLES_INDEX, limit=MAX_TABLE_BYTES, what="checkpoint index")
    except NotFoundError:  # missing, a directory, or no permission
        return 0
    return fingerprint64(data)


# ----------------------------------------------------------------------------- writing


def write_fingerprint(
    export_dir: str | os.PathLike[str], fingerprint: Fingerprint | None = None, *,
    allow_external_links: bool = False,
) -> Fingerprint:
    """Write ``fingerprint.pb`` into a SavedModel directory (atomically); computes it unless given."""
    if fingerprint is None:
        fingerprint = compute_fingerprint(export_dir, allow_external_links=allow_external_links)
    with atomic_file(Path(export_dir) / FINGERPRINT_FILENAME) as f:
        f.write(fingerprint.to_bytes())
    return fingerprint


# ----------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class Verification:
    """Result of comparing a stored fingerprint.pb with a fresh computation."""

    stored: Fingerprint
    computed: Fingerprint
    changed: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every hash still matches."""
        return not self.changed


def verify_fingerprint(
    export_dir: str | os.PathLike[str], *, allow_external_links: bool = False
) -> Verification:
    """Recompute a SavedModel's fingerprint and report which stored hashes no longer match."""
    d = Path(export_dir)
    files = LocalFiles(d, allow_external_links=allow_external_links)
    stored = read_fingerprint(d, allow_external_links=allow_external_links)
    computed = compute_fingerprint(d, uuid="", allow_external_links=allow_external_links)
    changed = computed.changed_fields(stored)
    notes: list[str] = []
    if stored.version != computed.version:
        notes.append(
            f"stored fingerprint has producer {stored.version}, recomputed with producer "
            f"{computed.version}"
        )
    if changed and stored.version <= 1 and computed.version == PRODUCER_PB:
        changed = _accept_legacy(files, stored, changed, notes)
    return Verification(stored, computed, tuple(changed), tuple(notes))


def _accept_legacy(
    files: ModelFiles, stored: Fingerprint, changed: list[str], notes: list[str]
) -> list[str]:
    """Producer-1 files (TF <= 2.14): keys were not part of the signature hash; checksum was of the file."""
    pb = layout.SAVED_MODEL_PB
    try:
        sm = read_named(files, pb)
    except SavedModelError:
        return changed
    result = list(changed)
    legacy_sig = sm.meta_graphs and (
        signature_def_hash(sm.meta_graphs[0].signature_def, legacy=True)
        == stored.signature_def_hash
    )
    if "signature_def_hash" in result and legacy_sig:
        result.remove("signature_def_hash")
        notes.append("signature_def_hash matches the producer-1 algorithm (keys not hashed)")
    data = files.read_all(pb, limit=MAX_PROTO_BYTES)
    file_sum = fingerprint64(data) == stored.saved_model_checksum
    if "saved_model_checksum" in result and file_sum:
        result.remove("saved_model_checksum")
        notes.append("saved_model_checksum matches the file bytes (producer-1 behaviour)")
    return result
