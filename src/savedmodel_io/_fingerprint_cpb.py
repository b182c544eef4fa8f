"""Fingerprints of chunked SavedModels (``saved_model.cpb``), computed from chunks like TensorFlow.

TensorFlow does not hash the reassembled SavedModel here (tensorflow/tensorflow
``tensorflow/cc/saved_model/fingerprinting_utils.cc``, ``CreateFingerprintDefCpb``,
producer 2). Instead:

* ``saved_model_checksum``: a FingerprintCat64 chain over Fingerprint64 of every
  chunk the root's chunked fields point to (depth first, in metadata order; the
  root chunk itself is not included), combined with Fingerprint64 of an empty
  SavedModel.
* graph / signatures / object graph: a "pruned" SavedModel is merged from only
  the chunked fields whose tags lead towards ``meta_graphs[0].graph_def``,
  ``.signature_def`` or ``.object_graph_def``; its part is hashed as serialized,
  and combined with the hashes of the raw chunks stored at or below that part.
  The graph is *not* regularized, and each signature's hash also takes the hash
  of all signature chunks.

The quirks of TF's code are kept on purpose (a chunked field whose tag is a
prefix of several parts is merged once per part; the signature chunks are
hashed again for every signature), since the result must equal TensorFlow's.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import message as _message
from google.protobuf.message import DecodeError

from savedmodel_io.errors import CorruptFileError, FormatError, LimitExceededError
from savedmodel_io.formats.chunks import ChunkedFile, walk
from savedmodel_io.formats.source import ModelFiles
from savedmodel_io.hashing.farmhash import fingerprint64, fingerprint_cat64
from savedmodel_io.proto import ChunkedMessage, FieldIndex, SavedModel
from savedmodel_io.proto.deterministic import deterministic_buffer, serialize_deterministic

__all__ = ["fingerprint_chunked"]


def _tags(*steps: tuple[str, int]) -> tuple[FieldIndex, ...]:
    out = []
    for kind, value in steps:
        tag = FieldIndex()
        setattr(tag, kind, value)
        out.append(tag)
    return tuple(out)


# SavedModel.meta_graphs[0].graph_def / .signature_def / .object_graph_def
GRAPH_DEF_TAGS = _tags(("field", 2), ("index", 0), ("field", 2))
SIGNATURE_DEF_TAGS = _tags(("field", 2), ("index", 0), ("field", 5))
OBJECT_GRAPH_TAGS = _tags(("field", 2), ("index", 0), ("field", 7))


def fingerprint_chunked(files: ModelFiles, name: str) -> tuple[int, int, int, int]:
    """``(saved_model_checksum, graph_def_program_hash, signature_def_hash, saved_object_graph_hash)``
    of ``.cpb`` file ``name`` of a model's files."""
    with ChunkedFile(files.path(name), file=files.open(name)) as f:
        return _Hasher(f).run()


class _Hasher:
    """One fingerprint computation over an open ``.cpb``."""

    def __init__(self, f: ChunkedFile) -> None:
        self.f = f
        self.path = f.path

    def chunk(self, index: int) -> bytes:
        return self.f.chunk(index)

    def run(self) -> tuple[int, int, int, int]:
        root = self.f.metadata.message
        empty = SavedModel()
        checksum = self.hash_fields(root, (), empty)
        checksum = fingerprint_cat64(checksum, fingerprint64(serialize_deterministic(empty)))

        pruned, _ = _prune(root, (GRAPH_DEF_TAGS, SIGNATURE_DEF_TAGS, OBJECT_GRAPH_TAGS), self.path)
        saved_model = self.f.merge(SavedModel(), message=pruned)
        if not saved_model.meta_graphs:
            raise FormatError("chunked SavedModel has no MetaGraphDef", path=self.path)
        meta = saved_model.meta_graphs[0]

        graph_hash = self.hash_message(meta.graph_def, root, GRAPH_DEF_TAGS)
        signature_hash = 0
        for key in sorted(meta.signature_def, key=lambda k: k.encode("utf-8")):
            sig = meta.signature_def[key]
            pair = fingerprint_cat64(
                fingerprint64(key.encode("utf-8")), fingerprint64(serialize_deterministic(sig))
            )
            signature_hash = fingerprint_cat64(signature_hash, pair)
            copy = type(sig)()
            copy.CopyFrom(sig)
            entry = self.hash_fields(root, SIGNATURE_DEF_TAGS, copy)
            signature_hash = fingerprint_cat64(signature_hash, entry)
        object_hash = self.hash_message(meta.object_graph_def, root, OBJECT_GRAPH_TAGS)
        return checksum, graph_hash, signature_hash, object_hash

    def hash_message(self, message: _message.Message, root: ChunkedMessage,
                     tags: Sequence[FieldIndex]) -> int:
        """Hash of a merged part combined with the hashes of its raw chunks (TF's HashMessage)."""
        whole = fingerprint64(deterministic_buffer(message))
        return fingerprint_cat64(whole, self.hash_fields(root, tags, message))

    def hash_fields(
        self, cm: ChunkedMessage, tags: Sequence[FieldIndex], merged: _message.Message,
        depth: int = 0
    ) -> int:
        """TF's HashFields: chain the hashes of chunks found at (or under) the field tag ``tags``."""
        if depth > 200:
            raise CorruptFileError("chunk tree is nested too deeply", path=self.path)
        result = 0
        want = len(tags)
        for cf in cm.chunked_fields:
            child = cf.message
            matches = _tag_matches(cf.field_tag, tags, self.path)
            has_chunk = child.HasField("chunk_index")
            if has_chunk and matches == want:
                part = fingerprint64(self.chunk(child.chunk_index))
            elif matches == want:
                part = self.hash_fields(child, tags, merged, depth + 1)
            elif has_chunk and matches == len(cf.field_tag):
                # The chunk holds an ancestor of the part: TF parses it over the part's
                # ancestor message (replacing it) and keeps looking below.
                try:
                    merged = walk(merged, cf.field_tag)
                except CorruptFileError as exc:
                    raise CorruptFileError(
                        f"{exc} (a chunk above a fingerprinted part; TensorFlow fails here too)",
                        path=self.path,
                        where="ChunkMetadata",
                    ) from None
                try:
                    merged.ParseFromString(self.chunk(child.chunk_index))
                except DecodeError:
                    # TF ignores ParseFromString's result here. An empty tag (a chunk merged
                    # into its parent, which show and load accept) reaches this branch with
                    # the part itself, e.g. SavedModel bytes over a GraphDef: hashing goes on.
                    pass
                part = self.hash_fields(child, tags, merged, depth + 1)
            elif matches == len(cf.field_tag):
                part = 0
                for sub in child.chunked_fields:
                    sub_hash = self.hash_fields(sub.message, tags, merged, depth + 1)
                    result = fingerprint_cat64(result, sub_hash)
                continue
            else:
                continue
            result = fingerprint_cat64(result, part)
        return result


def _tag_matches(a: Sequence[FieldIndex], b: Sequence[FieldIndex], path: str) -> int:
    """How many leading steps of chunked-field tag ``a`` equal the target tag ``b`` (TF's fieldTagMatches)."""
    matches = 0
    for x, y in zip(a, b):
        kind = y.WhichOneof("kind")
        if kind is None:
            raise CorruptFileError("encountered an unknown field_tag kind", path=path)
        if kind == "map_key":
            member = y.map_key.WhichOneof("type")
            if member is None:
                raise CorruptFileError("encountered an unknown field_tag.map_key type", path=path)
            same = (
                x.WhichOneof("kind") == "map_key"
                and x.map_key.WhichOneof("type") == member
                and getattr(x.map_key, member) == getattr(y.map_key, member)
            )
        else:
            same = x.WhichOneof("kind") == kind and getattr(x, kind) == getattr(y, kind)
        if not same:
            break
        matches += 1
    return matches


# TF copies a chunked field once per part its tag leads to, so nested empty tags grow the pruned
# tree threefold per level; real files stay far below this.
MAX_PRUNED_FIELDS = 1_000_000


def _prune(
    cm: ChunkedMessage, targets: Sequence[Sequence[FieldIndex]], path: str, depth: int = 0
) -> tuple[ChunkedMessage, int]:
    """TF's PruneChunkedMessage: keep chunked fields whose tag is a prefix of a target (once per target).

    Returns the pruned tree and how many chunked fields it holds.
    """
    if depth > 200:
        raise CorruptFileError("chunk tree is nested too deeply", path=path)
    out = ChunkedMessage()
    if cm.HasField("chunk_index"):
        out.chunk_index = cm.chunk_index
    total = 0
    for cf in cm.chunked_fields:
        hits = sum(
            _tag_matches(cf.field_tag, target, path) == len(cf.field_tag) for target in targets
        )
        if not hits:
            continue
        child, size = _prune(cf.message, targets, path, depth + 1)
        total += hits * (1 + size)
        if total > MAX_PRUNED_FIELDS:
            raise LimitExceededError(
                f"the pruned chunk tree would hold more than {MAX_PRUNED_FIELDS} chunked fields "
                "(fields whose tag is a prefix of several fingerprinted parts are repeated)",
                path=path,
                where="ChunkMetadata",
            )
        for _ in range(hits):
            kept = out.chunked_fields.add()
            kept.field_tag.extend(cf.field_tag)
            kept.message.CopyFrom(child)
    return out, total
