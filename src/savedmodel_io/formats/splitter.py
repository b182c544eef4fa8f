"""Split a SavedModel into chunks the way TensorFlow's proto splitter does, and serialize it
without ever holding a second copy of its big tensors.

Policy (facts from tensorflow/tensorflow ``tensorflow/tools/proto_splitter/{split.py,
split_graph_def.py,python/saved_model.py,constants.py}``), with
``max_size`` defaulting to TF's Python ``constants.max_size()`` (1 GiB):

* The SavedModel is chunk 0. If it is at least ``max_size``, ``meta_graphs[0].graph_def`` is split;
  if it is still too big, the whole GraphDef becomes chunk 1.
* A GraphDef at least ``max_size`` splits its node list and its function library (the bigger first,
  the other only if still needed); if still too big, the whole library becomes chunk 1.
* In a node list (``GraphDef.node`` or ``FunctionDef.node_def``): a node over ``max_size`` must be a
  ``Const`` and its value goes to a BYTES chunk (``attr["value"].tensor.tensor_content``); a node
  over ``max_size/3`` becomes a NodeDef chunk leaving an empty placeholder; and whenever the
  running size reaches ``max_size`` a new GraphDef/FunctionDef chunk (empty field tag, merged by
  concatenation) takes the following elements.
* Functions over ``max_size/3`` become FunctionDef chunks; functions over ``max_size`` have their
  ``node_def`` split like a node list; functions are grouped into FunctionDefLibrary chunks.

One deliberate difference from TF: TF moves ``graph_def`` / ``library`` into its own chunk even
when the field is absent, so merging creates an empty one and the round trip is not exact. An
absent field has no bytes to move, so we leave it alone.

Memory: upb's ``ByteSize()`` serializes the whole message (it doubles memory and runs at about
180 MB/s on big tensors), so sizes and serialization go through a *working copy* in which every
large ``tensor_content`` is replaced by a reference to the original tensor. Chunks are written as
lists of parts; the tensor bytes are fetched one at a time while writing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Union

from google.protobuf import message as _message
from google.protobuf.descriptor import FieldDescriptor

from savedmodel_io.formats.varint import encode as _varint
from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.proto import (
    ChunkedMessage,
    ChunkInfo,
    DataType,
    FieldIndex,
    FunctionDef,
    GraphDef,
    NodeDef,
    SavedModel,
    TensorProto,
    is_map,
    is_repeated,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "MAX_SIZE",
    "PROTOBUF_LIMIT",
    "Split",
    "resolve",
    "saved_model_parts",
    "serialized_parts",
    "split_graph_def",
    "Prepared",
    "split_saved_model",
]

#: TF's Python splitter limit (tensorflow/tools/proto_splitter/constants.py: 2**30).
MAX_SIZE = 1 << 30
#: Protobuf cannot serialize or parse a message of 2 GiB or more.
PROTOBUF_LIMIT = (1 << 31) - 1
#: tensor_content at least this big is kept out of the working copy (referenced instead).
SPLICE_THRESHOLD = 1 << 12

# Field numbers (tensorflow/core/{protobuf/saved_model,protobuf/meta_graph,framework/graph,
# framework/function,framework/node_def,framework/attr_value,framework/tensor}.proto).
_SM_META_GRAPHS = 2
_MG_GRAPH_DEF = 2
_GD_NODE, _GD_LIBRARY = 1, 2
_LIB_FUNCTION = 1
_FN_NODE_DEF = 3
_NODE_ATTR = 5
_ATTR_TENSOR = 8
_TENSOR_CONTENT = 4
_TENSOR_KEEP = ("dtype", "tensor_shape", "version_number")

# A path step: (field number, None) for a singular field, (field number, int) for a repeated
# element, (field number, str) for a map entry. Paths end at a TensorProto whose tensor_content
# is held by a _Content.
Selector = int | str | None
Step = tuple[int, Selector]
Path = tuple[Step, ...]
Part = Union[bytes, "_Content"]


class _Content:
    """A tensor_content kept out of the working copy: read from the original model when written."""

    __slots__ = ("size", "tensor")

    def __init__(self, tensor: TensorProto, size: int) -> None:
        self.tensor = tensor
        self.size = size

    def data(self) -> bytes:
        data: bytes = self.tensor.tensor_content
        if len(data) != self.size:
            raise InvalidArgumentError("the model changed while it was being written")
        return data


# ----------------------------------------------------------------------------- wire encoding


def _len_field(number: int, length: int) -> bytes:
    return _varint((number << 3) | 2) + _varint(length)


def _plen(parts: list[Part]) -> int:
    return sum(p.size if isinstance(p, _Content) else len(p) for p in parts)


def _map_key_bytes(key_fd: FieldDescriptor, key: str | bytes | int | bool) -> bytes:
    """Serialized key field (number 1) of a map entry."""
    t = key_fd.type
    if t in (key_fd.TYPE_STRING, key_fd.TYPE_BYTES):
        raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        return b"\x0a" + _varint(len(raw)) + raw
    if t in (key_fd.TYPE_INT32, key_fd.TYPE_INT64, key_fd.TYPE_UINT32, key_fd.TYPE_UINT64,
             key_fd.TYPE_BOOL):
        return b"\x08" + _varint(int(key) & 0xFFFFFFFFFFFFFFFF)
    raise InvalidArgumentError(f"cannot splice map {key_fd.containing_type.full_name}")


# ----------------------------------------------------------------------------- parts serializer


def _group(recs: dict[Path, _Content]) -> dict[int, dict[Selector, dict[Path, _Content]]]:
    """Records grouped by first field, then by selector: {number: {sel: {rest: content}}}."""
    out: dict[int, dict[Selector, dict[Path, _Content]]] = {}
    for path, content in recs.items():
        (number, sel), rest = path[0], path[1:]
        out.setdefault(number, {}).setdefault(sel, {})[rest] = content
    return out


def _only_fields(msg: _message.Message, numbers: set[int]) -> bytes:
    """Deterministic serialization of just the fields ``numbers`` of ``msg``."""
    if not numbers:
        return b""
    tmp = type(msg)()
    tmp.CopyFrom(msg)
    for fd, _ in msg.ListFields():
        if fd.number not in numbers:
            tmp.ClearField(fd.name)
    data: bytes = tmp.SerializeToString(deterministic=True)
    return data


def serialized_parts(msg: _message.Message, recs: dict[Path, _Content]) -> list[Part]:
    """``msg`` serialized (deterministically, fields in number order) with every recorded
    ``tensor_content`` spliced back in; the result is a list of bytes and _Content parts."""
    if not recs:
        return [msg.SerializeToString(deterministic=True)]
    if () in recs:  # msg is the TensorProto itself: its content is field 4
        content = recs[()]
        below = {f.number for f, _ in msg.ListFields() if f.number < _TENSOR_CONTENT}
        above = {f.number for f, _ in msg.ListFields() if f.number > _TENSOR_CONTENT}
        return [_only_fields(msg, below), _len_field(_TENSOR_CONTENT, content.size), content,
                _only_fields(msg, above)]
    grouped = _group(recs)
    present = sorted(f.number for f, _ in msg.ListFields())
    out: list[Part] = []
    plain: set[int] = set()
    numbers: list[int | None] = [*present, None]
    for number in numbers:
        if number is not None and number not in grouped:
            plain.add(number)
            continue
        out.append(_only_fields(msg, plain))
        plain = set()
        if number is not None:
            out.extend(_field_parts(msg, number, grouped[number]))
    return [p for p in out if not isinstance(p, bytes) or p]


def _field_parts(
    msg: _message.Message, number: int, by_sel: dict[Selector, dict[Path, _Content]]
) -> list[Part]:
    fd = msg.DESCRIPTOR.fields_by_number[number]
    container = getattr(msg, fd.name)
    out: list[Part] = []
    if is_map(fd):
        key_fd = fd.message_type.fields_by_number[1]
        for key in sorted(container):
            value = container[key]
            sub = by_sel.get(key)
            vparts = serialized_parts(value, sub) if sub else [
                value.SerializeToString(deterministic=True)]
            head = _map_key_bytes(key_fd, key)
            inner = [head, _len_field(2, _plen(vparts)), *vparts]
            out += [_len_field(number, _plen(inner)), *inner]
        return out
    if is_repeated(fd):
        for i, element in enumerate(container):
            sub = by_sel.get(i)
            eparts = serialized_parts(element, sub) if sub else [
                element.SerializeToString(deterministic=True)]
            out += [_len_field(number, _plen(eparts)), *eparts]
        return out
    sub_parts = serialized_parts(container, by_sel[None])
    return [_len_field(number, _plen(sub_parts)), *sub_parts]


def _size(msg: _message.Message, recs: dict[Path, _Content]) -> int:
    if not recs:
        size: int = msg.ByteSize()
        return size
    return _plen(serialized_parts(msg, recs))


def _under(recs: dict[Path, _Content], prefix: Path) -> dict[Path, _Content]:
    """Records below ``prefix``, relative to it."""
    n = len(prefix)
    return {p[n:]: c for p, c in recs.items() if p[:n] == prefix}


# ----------------------------------------------------------------------------- working copy


def _is_const_with_value(node: NodeDef) -> bool:
    return (node.op == "Const" and "value" in node.attr
            and bool(node.attr["value"].HasField("tensor")))


def _working_copy(root: _message.Message) -> tuple[_message.Message, dict[Path, _Content]]:
    """A copy of ``root`` (SavedModel or GraphDef) without its large tensor contents, and
    where each one belongs."""
    recs: dict[Path, _Content] = {}
    if isinstance(root, SavedModel):
        for m, mg in enumerate(root.meta_graphs):
            if mg.HasField("graph_def"):
                _scan_graph(mg.graph_def, ((_SM_META_GRAPHS, m), (_MG_GRAPH_DEF, None)), recs)
    elif isinstance(root, GraphDef):
        _scan_graph(root, (), recs)
    else:
        raise InvalidArgumentError(
            f"can only split SavedModel or GraphDef, got {type(root).__name__}"
        )
    work = type(root)()
    _copy_except(root, work, _holes(recs))
    return work, recs


def _scan_graph(g: GraphDef, base: Path, recs: dict[Path, _Content]) -> None:
    _scan(g.node, base, _GD_NODE, recs)
    for f, fn in enumerate(g.library.function):
        _scan(fn.node_def, base + ((_GD_LIBRARY, None), (_LIB_FUNCTION, f)), _FN_NODE_DEF, recs)


def _scan(nodes: Iterable[NodeDef], prefix: Path, number: int, recs: dict[Path, _Content]) -> None:
    """Record the large tensor_content of the Const nodes in ``nodes`` (field ``number``)."""
    for i, node in enumerate(nodes):
        if _is_const_with_value(node):
            tensor = node.attr["value"].tensor
            size = len(tensor.tensor_content)  # a transient copy: upb has no cheaper length
            if size >= SPLICE_THRESHOLD:
                path = prefix + ((number, i), (_NODE_ATTR, "value"), (_ATTR_TENSOR, None))
                recs[path] = _Content(tensor, size)


class _Drop:
    """The leaf of a _Holes tree: this TensorProto loses its tensor_content."""


_DROP_CONTENT = _Drop()
# {step: subtree or _DROP_CONTENT}: where the working copy leaves contents out.
_Holes = dict[Step, Union["_Holes", _Drop]]


def _holes(recs: dict[Path, _Content]) -> _Holes:
    """Nested {step: ...} tree of the recorded paths; leaves are _DROP_CONTENT."""
    tree: _Holes = {}
    for path in recs:
        node = tree
        for step in path[:-1]:
            sub = node.setdefault(step, {})
            assert not isinstance(sub, _Drop)  # no recorded path is a prefix of another
            node = sub
        node[path[-1]] = _DROP_CONTENT
    return tree


def _copy_except(src: _message.Message, dst: _message.Message, holes: _Holes | _Drop) -> None:
    """Copy ``src`` into ``dst``; a TensorProto marked _DROP_CONTENT loses its tensor_content."""
    if isinstance(holes, _Drop):
        # Not ListFields(): it would copy the very tensor_content we are leaving out.
        for fd in src.DESCRIPTOR.fields:
            if fd.number == _TENSOR_CONTENT:
                continue
            if fd.message_type is not None and not is_repeated(fd):
                if src.HasField(fd.name):
                    _copy_field(src, dst, fd)
            elif is_repeated(fd) or is_map(fd):
                if len(getattr(src, fd.name)):
                    _copy_field(src, dst, fd)
            elif getattr(src, fd.name) != fd.default_value:
                _copy_field(src, dst, fd)
        return
    by_number: dict[int, dict[Selector, _Holes | _Drop]] = {}
    for (number, sel), sub in holes.items():
        by_number.setdefault(number, {})[sel] = sub
    for fd, _ in src.ListFields():
        sels = by_number.get(fd.number)
        if sels is None:
            _copy_field(src, dst, fd)
            continue
        sc, dc = getattr(src, fd.name), getattr(dst, fd.name)
        if None in sels:
            dc.SetInParent()
            _copy_except(sc, dc, sels[None])
        elif is_map(fd):
            for key in sc:
                if key in sels:
                    _copy_except(sc[key], dc[key], sels[key])
                else:
                    dc[key].CopyFrom(sc[key])
        else:
            for i, element in enumerate(sc):
                new = dc.add()
                if i in sels:
                    _copy_except(element, new, sels[i])
                else:
                    new.CopyFrom(element)


def _copy_field(src: _message.Message, dst: _message.Message, fd: FieldDescriptor) -> None:
    value = getattr(src, fd.name)
    if fd.message_type is not None and (is_repeated(fd) or is_map(fd)):
        getattr(dst, fd.name).MergeFrom(value)
    elif fd.message_type is not None:
        getattr(dst, fd.name).CopyFrom(value)
    elif is_repeated(fd):
        getattr(dst, fd.name).extend(value)
    else:
        setattr(dst, fd.name, value)


# ----------------------------------------------------------------------------- *_val -> bytes

# DataType -> (TensorProto field, little-endian numpy dtype); tensor.proto / types.proto.
_VAL_FIELDS = {
    DataType.DT_FLOAT: ("float_val", "<f4"),
    DataType.DT_DOUBLE: ("double_val", "<f8"),
    DataType.DT_INT32: ("int_val", "<i4"),
    DataType.DT_INT16: ("int_val", "<i2"),
    DataType.DT_INT8: ("int_val", "i1"),
    DataType.DT_UINT8: ("int_val", "u1"),
    DataType.DT_UINT16: ("int_val", "<u2"),
    DataType.DT_INT64: ("int64_val", "<i8"),
    DataType.DT_UINT32: ("uint32_val", "<u4"),
    DataType.DT_UINT64: ("uint64_val", "<u8"),
    DataType.DT_BOOL: ("bool_val", "?"),
    DataType.DT_HALF: ("half_val", "<u2"),
    DataType.DT_BFLOAT16: ("half_val", "<u2"),
    DataType.DT_COMPLEX64: ("scomplex_val", "<f4"),
    DataType.DT_COMPLEX128: ("dcomplex_val", "<f8"),
    DataType.DT_QINT8: ("int_val", "i1"),
    DataType.DT_QUINT8: ("int_val", "u1"),
    DataType.DT_QINT16: ("int_val", "<i2"),
    DataType.DT_QUINT16: ("int_val", "<u2"),
    DataType.DT_QINT32: ("int_val", "<i4"),
}


def _vals_to_bytes(tensor: TensorProto, node_name: str) -> bytes:
    """tensor_content equivalent of a value held in ``*_val`` fields (TF repeats the last value)."""
    import numpy as np

    spec = _VAL_FIELDS.get(tensor.dtype)
    if spec is None:
        raise InvalidArgumentError(
            f"Const node {node_name!r} is too big to store and its dtype "
            f"{DataType.Name(tensor.dtype)} cannot be moved to tensor_content"
        )
    field, dtype = spec
    count = 1
    for dim in tensor.tensor_shape.dim:
        count *= max(dim.size, 0)
    width = 2 if field in ("scomplex_val", "dcomplex_val") else 1  # (real, imag) pairs
    values = np.asarray(getattr(tensor, field), dtype=dtype)
    return _pad_repeating_last(values[: len(values) // width * width].reshape(-1, width), count)


def _pad_repeating_last(values: "np.ndarray", count: int) -> bytes:
    """``count`` rows of ``values``, the last row repeated (zeros if none), like MakeNdarray."""
    import numpy as np

    if len(values) < count:
        fill = values[-1:] if len(values) else np.zeros((1, values.shape[1]), values.dtype)
        values = np.concatenate([values, np.repeat(fill, count - len(values), axis=0)])
    return bytes(values[:count].tobytes())


# ----------------------------------------------------------------------------- policy


class _Chunk:
    """One chunk: a working-copy message (with spliced contents ``recs``) or raw bytes."""

    __slots__ = ("content", "message", "recs")

    def __init__(self, message: _message.Message | None = None,
                 recs: dict[Path, _Content] | None = None,
                 content: bytes | _Content | None = None) -> None:
        self.message = message
        self.recs: dict[Path, _Content] = recs if recs is not None else {}
        self.content: bytes | _Content | None = content

    @property
    def kind(self) -> int:
        return ChunkInfo.MESSAGE if self.message is not None else ChunkInfo.BYTES

    def parts(self) -> list[Part]:
        if self.message is not None:
            return serialized_parts(self.message, self.recs)
        assert self.content is not None  # a chunk holds a message or bytes
        return [self.content]

    def size(self) -> int:
        return _plen(self.parts())


# An element splitter: (message, path, size, its records) -> size moved out of the element.
_Splitter = Callable[[_message.Message, Path, int, dict[Path, _Content]], int]


class _Policy:
    """TF's Python SavedModelSplitter / GraphDefSplitter decisions, on the working copy."""

    def __init__(self, work: SavedModel | GraphDef, recs: dict[Path, _Content],
                 max_size: int) -> None:
        self.work = work
        self.recs = recs  # absolute paths of contents still in the base (the working copy)
        self.max = max_size
        self.base = _Chunk(work)
        self.chunks: list[_Chunk] = [self.base]
        self.fields: list[tuple[Path, _Chunk]] = []

    # -- bookkeeping
    def size(self, msg: _message.Message, path: Path) -> int:
        return _size(msg, _under(self.recs, path))

    def add(self, chunk: _Chunk, tag: Path, index: int | None = None) -> None:
        self.fields.append((tag, chunk))
        if index is None:
            self.chunks.append(chunk)
        else:
            self.chunks.insert(index, chunk)

    def take(self, prefix: Path, rebase: Path = ()) -> dict[Path, _Content]:
        """Remove the records below ``prefix`` and return them relative to ``rebase``."""
        n = len(prefix)
        moved = {p: c for p, c in self.recs.items() if p[:n] == prefix}
        for p in moved:
            del self.recs[p]
        return {rebase + p[n:]: c for p, c in moved.items()}

    def move(self, msg: _message.Message, path: Path, copy_type: type[_message.Message]) -> _Chunk:
        """A chunk holding a copy of ``msg`` (at ``path``) with its records."""
        new = copy_type()
        new.CopyFrom(msg)
        return _Chunk(new, self.take(path))

    # -- SavedModel
    def run(self) -> None:
        work = self.work
        if isinstance(work, GraphDef):
            self.graph_def(work, ())
            return
        if not work.meta_graphs:
            return
        gpath: Path = ((_SM_META_GRAPHS, 0), (_MG_GRAPH_DEF, None))
        if self.size(work, ()) >= self.max:
            self.graph_def(work.meta_graphs[0].graph_def, gpath)
        if self.size(work, ()) >= self.max and work.meta_graphs[0].HasField("graph_def"):
            graph = work.meta_graphs[0].graph_def
            self.add(self.move(graph, gpath, type(graph)), gpath, index=1)
            work.meta_graphs[0].ClearField("graph_def")

    # -- GraphDef
    def graph_def(self, g: GraphDef, path: Path) -> None:
        size = self.size(g, path)
        if size < self.max:
            return
        lib_path = path + ((_GD_LIBRARY, None),)
        lib_size = self.size(g.library, lib_path) if g.HasField("library") else 0
        nodes = size - lib_size
        node_splitters = (self.constant, self.large)
        if lib_size > nodes:
            lib_size -= self.repeated(g.library, lib_path, _LIB_FUNCTION, (self.function,))
            if lib_size + nodes > self.max:
                nodes -= self.repeated(g, path, _GD_NODE, node_splitters)
        else:
            nodes -= self.repeated(g, path, _GD_NODE, node_splitters)
            if lib_size + nodes > self.max:
                lib_size -= self.repeated(g.library, lib_path, _LIB_FUNCTION, (self.function,))
        if self.size(g, path) > self.max and g.HasField("library"):
            # Inserted at 1 so that it merges before the function chunks with the same tag.
            self.add(self.move(g.library, lib_path, type(g.library)), lib_path, index=1)
            g.ClearField("library")

    def repeated(self, parent: _message.Message, path: Path, number: int,
                 splitters: tuple[_Splitter, ...]) -> int:
        """Split the repeated message field ``number`` of ``parent``; returns the size moved."""
        fd = parent.DESCRIPTOR.fields_by_number[number]
        container = getattr(parent, fd.name)
        n_prefix = len(path)
        by_index: dict[int, dict[Path, _Content]] = {}
        for p, c in self.recs.items():
            if p[:n_prefix] == path and len(p) > n_prefix and p[n_prefix][0] == number:
                index = p[n_prefix][1]
                assert isinstance(index, int)  # a repeated field's step selects by position
                by_index.setdefault(index, {})[p[n_prefix + 1 :]] = c
        splits: list[int] = []
        groups: list[_Chunk] = []
        total = diff = 0
        for n in range(len(container)):
            element = container[n]
            epath = path + ((number, n),)
            erecs = by_index.get(n, {})
            size = _size(element, erecs)
            for splitter in splitters:
                d = splitter(element, epath, size, erecs)
                diff += d
                size -= d
            if total + size >= self.max:
                group = _Chunk(type(parent)())
                splits.append(n)
                groups.append(group)
                self.add(group, path)
                diff += total  # TF counts the closed group as moved (split_graph_def.py)
                total = 0
            total += size
        if splits:
            ends = splits[1:] + [len(container)]
            start = splits[0]
            for end, group in zip(ends, groups):
                dst = getattr(group.message, fd.name)
                for n in range(start, end):
                    dst.add().CopyFrom(container[n])
                    group.recs.update(self.take(path + ((number, n),), ((number, n - start),)))
                start = end
            del container[splits[0] :]
        return diff

    # -- element splitters: (message, path, size, its records) -> size moved out
    def constant(self, node: NodeDef, path: Path, size: int, recs: dict[Path, _Content]) -> int:
        if size <= self.max:
            return 0
        if node.op != "Const":
            raise InvalidArgumentError(
                f"node {node.name!r} (op {node.op}) is {size} bytes, over the {self.max}-byte "
                "chunk limit; only Const nodes can be split further"
            )
        if "value" not in node.attr or not node.attr["value"].HasField("tensor"):
            raise InvalidArgumentError(f"Const node {node.name!r} has no tensor value")
        rel: Path = ((_NODE_ATTR, "value"), (_ATTR_TENSOR, None))
        tensor = node.attr["value"].tensor
        content: bytes | _Content
        if rel in recs:
            content = recs.pop(rel)
            del self.recs[path + rel]
            length = content.size
        else:
            content = tensor.tensor_content or _vals_to_bytes(tensor, node.name)
            length = len(content)
        kept = {name: getattr(tensor, name) for name in _TENSOR_KEEP}
        shape = TensorProto()
        shape.tensor_shape.CopyFrom(kept["tensor_shape"])
        tensor.Clear()
        tensor.dtype = kept["dtype"]
        tensor.tensor_shape.CopyFrom(shape.tensor_shape)
        tensor.version_number = kept["version_number"]
        self.add(_Chunk(content=content), path + rel + ((_TENSOR_CONTENT, None),))
        return length

    def large(self, msg: _message.Message, path: Path, size: int,
              recs: dict[Path, _Content]) -> int:
        if size <= self.max // 3:
            return 0
        chunk = self.move(msg, path, type(msg))
        recs.clear()
        msg.Clear()
        self.add(chunk, path)
        return size

    def function(self, fn: FunctionDef, path: Path, size: int, recs: dict[Path, _Content]) -> int:
        moved = 0
        if self.max // 3 < size <= self.max:
            moved += self.large(fn, path, size, recs)
        if size > self.max:
            moved += self.repeated(fn, path, _FN_NODE_DEF, (self.constant, self.large))
        return moved


# ----------------------------------------------------------------------------- public API


def _field_tag(tag: Path) -> list[FieldIndex]:
    out: list[FieldIndex] = []
    for number, sel in tag:
        out.append(FieldIndex(field=number))
        if isinstance(sel, str):
            out.append(FieldIndex(map_key=FieldIndex.MapKey(s=sel)))
        elif sel is not None:
            out.append(FieldIndex(index=sel))
    return out


class Split:
    """The result of :func:`split_saved_model`: chunks (chunk 0 is the SavedModel) and the
    ChunkedMessage tree that puts them back together."""

    def __init__(self, chunks: list[_Chunk], message: ChunkedMessage) -> None:
        self._chunks = chunks
        self.message = message

    @property
    def is_split(self) -> bool:
        """False when nothing had to move out of chunk 0 (TF then writes a plain .pb)."""
        return bool(self.message.chunked_fields)

    def __len__(self) -> int:
        return len(self._chunks)

    def chunk_sizes(self) -> list[int]:
        """Serialized size of every chunk, in chunk order."""
        return [c.size() for c in self._chunks]

    def records_of_base(self) -> list[Part]:
        """Parts of chunk 0 (the whole model when nothing was split)."""
        return self._chunks[0].parts()

    def records(self) -> Iterator[tuple[int, list[bytes]]]:
        """(ChunkInfo type, list of byte parts) for each chunk, produced one at a time."""
        for chunk in self._chunks:
            parts = [p.data() if isinstance(p, _Content) else p for p in chunk.parts()]
            yield chunk.kind, parts
            del parts


def split_saved_model(saved_model: SavedModel, *, max_size: int = MAX_SIZE) -> Split:
    """Plan the chunks of ``saved_model`` for a ``.cpb``; the model itself is not modified."""
    return _split(saved_model, max_size)


def split_graph_def(graph_def: GraphDef, *, max_size: int = MAX_SIZE) -> Split:
    """Plan the chunks of a GraphDef (TF's GraphDefSplitter as the root splitter)."""
    return _split(graph_def, max_size)


class Prepared:
    """A model's working copy (large tensor contents by reference), built once and used both
    for its exact serialized size / parts and, optionally afterwards, for splitting."""

    def __init__(self, root: _message.Message) -> None:
        self.work, self.recs = _working_copy(root)
        self._split_done = False

    def parts(self) -> list[Part]:
        """The whole model serialized (deterministically) as parts."""
        if self._split_done:
            raise InvalidArgumentError("the working copy was consumed by split()")
        return serialized_parts(self.work, self.recs)

    def split(self, max_size: int = MAX_SIZE) -> Split:
        """Split the working copy (it is modified: call parts() before, not after)."""
        self._split_done = True
        return _split_work(self.work, self.recs, max_size)


def _split(root: _message.Message, max_size: int) -> Split:
    work, recs = _working_copy(root)
    return _split_work(work, recs, max_size)


def _split_work(work: SavedModel | GraphDef, recs: dict[Path, _Content], max_size: int) -> Split:
    if max_size < 3:
        raise InvalidArgumentError(f"max_size must be at least 3 bytes, got {max_size}")
    policy = _Policy(work, recs, max_size)
    policy.run()
    policy.base.recs = policy.recs
    index = {id(c): i for i, c in enumerate(policy.chunks)}
    message = ChunkedMessage(chunk_index=0)
    for tag, chunk in policy.fields:
        message.chunked_fields.add(
            field_tag=_field_tag(tag), message=ChunkedMessage(chunk_index=index[id(chunk)])
        )
    return Split(policy.chunks, message)


def saved_model_parts(saved_model: SavedModel) -> tuple[list[Part], int]:
    """``saved_model`` serialized deterministically as parts (big tensors by reference) and its
    total size, without a second in-memory copy of the tensors."""
    work, recs = _working_copy(saved_model)
    parts = serialized_parts(work, recs)
    return parts, _plen(parts)


def resolve(parts: list[Part]) -> Iterator[bytes]:
    """The bytes of each part (tensor contents are read from the model one at a time)."""
    for p in parts:
        yield p.data() if isinstance(p, _Content) else p
