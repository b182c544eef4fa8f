"""Lookup tables: HashTableV2 / MutableHashTableV2 and their init, find, size, import, export.

A table lives in the Session's resources under its shared name (or node name),
so the init op and later signature runs see the same table. Text-file
initialisation follows tf.lookup.TextFileInitializer: key/value index -2 is the
whole line, -1 the line number, otherwise a column split on ``delimiter``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io._fsutil import ModelRoot, read_regular
from savedmodel_io.errors import NotFoundError, UnsupportedFormatError, UnsupportedOpError
from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, np_dtype
from savedmodel_io.graph.variables import Handle

WHOLE_LINE = -2
LINE_NUMBER = -1
MAX_VOCAB_BYTES = 1 << 31


class Table:
    """A hash table resource."""

    def __init__(self, key_dtype: np.dtype, value_dtype: np.dtype, value_shape: tuple[int, ...] = ()) -> None:
        self.key_dtype = key_dtype
        self.value_dtype = value_dtype
        self.value_shape = value_shape  # non-empty for MutableHashTableOfTensors
        self.data: dict[Any, Any] = {}
        self.initialized = False
        # A MutableDenseHashTable's reserved keys, which no entry may use.
        self.reserved: dict[Any, str] = {}

    def check_keys(self, node, keys: np.ndarray) -> None:
        """Refuse a dense table's empty_key / deleted_key (tensorflow/core/kernels/lookup_table_op.cc)."""
        if not self.reserved:
            return
        for k in keys.reshape(-1):
            what = self.reserved.get(_key(k))
            if what is not None:
                raise bad(node, f"Using the {what} as a table key is not allowed")


def _key(v) -> Any:
    return bytes(v) if isinstance(v, (bytes, np.bytes_)) else v.item() if isinstance(v, np.generic) else v


def _value_shape(node) -> tuple[int, ...]:
    """The value_shape attr of a MutableHashTableOfTensors (() for scalar-valued tables)."""
    shape = node.attr.get("value_shape")
    dims = getattr(shape, "dim", None)
    if dims is not None:
        return tuple(int(d.size) for d in dims)
    return tuple(int(d) for d in shape) if shape is not None else ()


@kernel("HashTableV2", "MutableHashTableV2", "HashTable", "MutableHashTable",
        "MutableHashTableOfTensorsV2", "MutableHashTableOfTensors", "MutableDenseHashTableV2",
        "MutableDenseHashTable")
def hash_table(node, inputs, ctx):
    shared = node.attr["shared_name"].decode("utf-8", "replace")
    name = shared or f"{node.body}/{node.name}"
    res = ctx.session.resources
    if name not in res:
        res[name] = _new_table(node, inputs)
    return Handle("table", name)


@kernel("AnonymousHashTable", "AnonymousMutableHashTable", "AnonymousMutableHashTableOfTensors",
        "AnonymousMutableDenseHashTable")
def anonymous_hash_table(node, inputs, ctx):
    # A new table each run, owned by its handle (TensorFlow frees it with the handle).
    return _new_table(node, inputs)


def _new_table(node, inputs) -> Table:
    t = Table(np_dtype(node.attr["key_dtype"]), np_dtype(node.attr["value_dtype"]), _value_shape(node))
    if "DenseHashTable" in node.op:
        # The keys a dense table reserves for its empty and deleted buckets.
        for what, value in zip(("empty_key", "deleted_key"), inputs):
            v = np.asarray(value)
            if v.size != 1:
                raise bad(node, f"{what} must be a scalar key, got shape {list(v.shape)}")
            t.reserved[_key(v.reshape(-1)[0])] = what
        if len(t.reserved) < len(inputs):
            raise bad(node, "Empty and deleted keys must have different values")
        t.initialized = True
    return t


def _table(node, ctx, h) -> Table:
    if isinstance(h, Table):  # an anonymous table is its own handle
        return h
    if not isinstance(h, Handle) or h.kind != "table":
        raise bad(node, f"expected a table handle, got {type(h).__name__}")
    t = ctx.session.resources.get(h.name)
    if t is None:
        raise NotFoundError(f"table {h.name!r} does not exist", where=node.where)
    return t


def _fill(node, t: Table, keys: np.ndarray, values: np.ndarray) -> None:
    if keys.shape[:1] != values.shape[:1]:
        raise bad(node, f"{keys.shape[0]} keys but {values.shape[0]} values")
    for k, v in zip(keys.reshape(-1), values.reshape(len(keys.reshape(-1)), *values.shape[keys.ndim:])):
        t.data[_key(k)] = v if isinstance(v, np.ndarray) and v.ndim else _key(v)


@kernel("InitializeTableV2", "InitializeTable", per_element=True)
def initialize_table(node, inputs, ctx):
    t = _table(node, ctx, inputs[0])
    if not t.initialized:
        _fill(node, t, np.asarray(inputs[1]), np.asarray(inputs[2]))
        t.initialized = True
    return []


def _column(node, line: bytes, lineno: int, index: int, delim: bytes, dtype: np.dtype, path: str):
    if index == WHOLE_LINE:
        raw = line
    elif index == LINE_NUMBER:
        return lineno
    else:
        cols = line.split(delim) if delim else line.split()
        if index >= len(cols):
            raise bad(node, f"{path} line {lineno + 1}: column {index} is missing")
        raw = cols[index]
    if dtype == object:
        return raw
    try:
        return int(raw) if dtype.kind in "iu" else float(raw)
    except ValueError:
        raise bad(node, f"{path} line {lineno + 1}: {raw!r} is not a number") from None


@kernel("InitializeTableFromTextFileV2", "InitializeTableFromTextFile")
def initialize_from_text(node, inputs, ctx):
    t = _table(node, ctx, inputs[0])
    if t.initialized:
        return []
    raw_path = np.asarray(inputs[1]).item()
    path = raw_path.decode("utf-8", "replace") if isinstance(raw_path, bytes) else str(raw_path)
    key_index = int(node.attr.get("key_index", WHOLE_LINE))
    value_index = int(node.attr.get("value_index", LINE_NUMBER))
    vocab_size = int(node.attr["vocab_size"])
    delim = node.attr["delimiter"]
    offset = int(node.attr["offset"])
    export_dir = ctx.session.export_dir
    if "://" in path or (export_dir is not None and "://" in str(export_dir)):
        raise UnsupportedFormatError(
            "vocabulary files of a model read from a URL are not fetched; download the model "
            "first", path=path, where=node.where)
    # The path is a tensor: a hostile graph could name any file and return its lines, so it
    # must resolve inside the model directory. Regular files only (a FIFO or /dev/zero named
    # by the graph must not hang or exhaust us).
    root = None if export_dir is None else ModelRoot(
        export_dir, allow_external_links=ctx.session.allow_external_links)
    lines = read_regular(path, limit=MAX_VOCAB_BYTES, what="vocabulary file", root=root).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    lines = [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]
    if vocab_size >= 0:
        if len(lines) < vocab_size:
            raise bad(node, f"{path} has {len(lines)} lines, vocab_size is {vocab_size}")
        lines = lines[:vocab_size]
    for i, line in enumerate(lines):
        k = _column(node, line, i + offset, key_index, delim, t.key_dtype, path)
        v = _column(node, line, i + offset, value_index, delim, t.value_dtype, path)
        if k in t.data:
            raise bad(node, f"{path}: duplicate key {k!r} on line {i + 1}")
        t.data[k] = v
    t.initialized = True
    return []


@kernel("LookupTableFindV2", "LookupTableFind", per_element=True)
def find(node, inputs, ctx):
    t = _table(node, ctx, inputs[0])
    keys = np.asarray(inputs[1])
    t.check_keys(node, keys)
    default = np.asarray(inputs[2])
    flat = keys.reshape(-1)
    data = t.data
    if t.value_shape:
        return _find_tensors(node, t, keys, default)
    if default.ndim == 0 or default.size == 1:
        d = _key(default.reshape(-1)[0])
        vals = [data.get(_key(k), d) for k in flat]
        out = np.empty(len(vals), dtype=t.value_dtype) if t.value_dtype == object else None
        if out is not None:
            out[:] = vals
        else:
            out = np.array(vals, dtype=t.value_dtype)
        return out.reshape(keys.shape)
    dflat = np.broadcast_to(default, keys.shape).reshape(-1)
    out = np.empty(flat.shape, dtype=t.value_dtype)
    for i, k in enumerate(flat):
        out[i] = data.get(_key(k), dflat[i])
    return out.reshape(keys.shape)


def _find_tensors(node, t: Table, keys: np.ndarray, default: np.ndarray) -> np.ndarray:
    """Find in a table of tensor values: keys.shape + value_shape, default of value_shape per miss."""
    if default.shape != t.value_shape:
        raise bad(node, f"default value of shape {default.shape} does not match value_shape {t.value_shape}")
    out = np.empty((keys.size, *t.value_shape), dtype=t.value_dtype)
    for i, k in enumerate(keys.reshape(-1)):
        out[i] = t.data.get(_key(k), default)
    return out.reshape(*keys.shape, *t.value_shape)


@kernel("LookupTableSizeV2", "LookupTableSize")
def size(node, inputs, ctx):
    return np.array(len(_table(node, ctx, inputs[0]).data), np.int64)


@kernel("LookupTableImportV2", "LookupTableImport", per_element=True)
def import_(node, inputs, ctx):
    t = _table(node, ctx, inputs[0])
    t.data = {}
    _fill(node, t, np.asarray(inputs[1]), np.asarray(inputs[2]))
    t.initialized = True
    return []


@kernel("LookupTableInsertV2", "LookupTableInsert", per_element=True)
def insert(node, inputs, ctx):
    t = _table(node, ctx, inputs[0])
    t.check_keys(node, np.asarray(inputs[1]))
    _fill(node, t, np.asarray(inputs[1]), np.asarray(inputs[2]))
    return []


@kernel("LookupTableRemoveV2", per_element=True)
def remove(node, inputs, ctx):
    t = _table(node, ctx, inputs[0])
    t.check_keys(node, np.asarray(inputs[1]))
    for k in np.asarray(inputs[1]).reshape(-1):
        t.data.pop(_key(k), None)
    return []


@kernel("LookupTableExportV2", "LookupTableExport")
def export(node, inputs, ctx):
    t = _table(node, ctx, inputs[0])
    if t.reserved:
        # TensorFlow exports a dense table's whole bucket array, laid out by its own hash.
        raise UnsupportedOpError("exporting a MutableDenseHashTable (its bucket layout) is not "
                                 "supported", where=node.where)
    keys = np.empty(len(t.data), dtype=t.key_dtype)
    keys[:] = list(t.data.keys())
    vals = list(t.data.values())
    if t.value_shape:
        values = np.empty((len(vals), *t.value_shape), dtype=t.value_dtype)
        for i, v in enumerate(vals):
            values[i] = v
    elif t.value_dtype == object:
        values = np.empty(len(vals), dtype=object)
        values[:] = vals
    else:
        values = np.array(vals, dtype=t.value_dtype)
    return [keys, values]
