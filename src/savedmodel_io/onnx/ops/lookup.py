"""Lookup tables: LookupTableFind as ``ai.onnx.ml`` LabelEncoder over the table's contents.

The table is read after the model's init op ran (the numpy runtime fills it from its
initializer or vocabulary file), so the exported graph holds a snapshot; signatures
that change a table are refused by the walker. Size and export of a table fold to
constants on their own (their kernels run on the constant table handle).
ONNX: onnx/onnx docs/Operators-ml.md (LabelEncoder, ai.onnx.ml opset 2+: string,
int64 and float keys and values, a default for misses).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from savedmodel_io.graph.variables import Handle
from savedmodel_io.onnx._graph import ExportError, Val
from savedmodel_io.onnx.ops._registry import STATE, converter, inexpressible
from savedmodel_io.onnx.ops._util import cast, scalar

_KEY_ATTR = {"O": "keys_strings", "i": "keys_int64s", "u": "keys_int64s", "f": "keys_floats"}
_VALUE_ATTR = {"O": ("values_strings", "default_string"), "i": ("values_int64s", "default_int64"),
               "f": ("values_floats", "default_float")}


def _table(cx: Any, node: Any, v: Val) -> Any:
    h = v.const
    if not isinstance(h, Handle) or h.kind != "table":
        raise ExportError("the table handle is computed at run time")
    t = cx.session.resources.get(h.name)
    if t is None:
        raise ExportError(f"table {h.name!r} does not exist")
    return t


def _attr_values(dtype: np.dtype, values: list[Any]) -> list[Any]:
    if dtype.kind == "O":
        return [bytes(v) for v in values]
    if dtype.kind in "iu":
        return [int(v) for v in values]
    return [float(v) for v in values]


def _encode(g: Any, keys: Val, table_keys: list[Any], key_dtype: np.dtype, values: np.ndarray,
            default: Any) -> Val:
    """LabelEncoder from ``keys`` to scalar ``values`` (int64 / float32 / string), ``default`` on a miss."""
    kattr = _KEY_ATTR[key_dtype.kind]
    vattr, dattr = _VALUE_ATTR[values.dtype.kind]
    return g.op1("LabelEncoder", keys, domain="ai.onnx.ml", **{
        kattr: _attr_values(key_dtype, table_keys),
        vattr: _attr_values(values.dtype, list(values.reshape(-1))),
        dattr: _attr_values(values.dtype, [default])[0]})


@converter("LookupTableFindV2", "LookupTableFind", onnx="ai.onnx.ml LabelEncoder (+ Gather for other value types)")
def find(cx, node, ins):
    g = cx.g
    table = _table(cx, node, ins[0])
    keys, default = ins[1], ins[2]
    if not default.is_const:
        raise ExportError("the default value is computed at run time")
    if not table.data:
        return g.op1("Expand", default, g.op1("Shape", keys)) if not table.value_shape else \
            _rows(g, keys, np.zeros((0, *table.value_shape), table.value_dtype), default.const, [])
    kdt = np.dtype(table.key_dtype)
    if kdt.kind not in "Oiuf" or (kdt.kind == "f" and kdt.itemsize != 4):
        raise ExportError(f"LabelEncoder has no {kdt} keys")
    if kdt.kind in "iu":
        keys, kdt = cast(g, keys, np.int64), np.dtype(np.int64)
    table_keys = list(table.data)
    vdt = np.dtype(table.value_dtype)
    rows = [np.asarray(table.data[k], vdt) for k in table_keys]
    values = np.stack(rows) if rows else np.zeros((0, *table.value_shape), vdt)
    d = np.asarray(default.const, vdt)
    direct = not table.value_shape and d.size == 1 and vdt in (np.dtype(np.int64), np.dtype(np.float32), np.dtype(object))
    if direct:
        return _encode(g, keys, table_keys, kdt, values, d.reshape(-1)[0])
    return _rows(g, keys, values, d, table_keys, kdt)


def _rows(g: Any, keys: Val, values: np.ndarray, default: np.ndarray, table_keys: list[Any],
          kdt: np.dtype | None = None) -> Val:
    """Values of any dtype or shape: keys -> row index (missing -> the default row) -> Gather."""
    n = len(table_keys)
    if default.shape != values.shape[1:]:
        if default.size != 1:
            raise ExportError("a default value of another shape than the table's values")
        default = np.full(values.shape[1:], default.reshape(-1)[0], values.dtype)
    rows = g.const(np.concatenate([values, default[None]]))
    if n:
        idx = _encode(g, keys, table_keys, kdt, np.arange(n, dtype=np.int64), n)
    else:
        idx = g.op1("Expand", scalar(g, 0, np.int64), g.op1("Shape", keys))
    return g.op1("Gather", rows, idx, axis=0)


@converter("HashTable", "HashTableV2", "MutableHashTable", "MutableHashTableV2", "MutableHashTableOfTensors",
           "MutableHashTableOfTensorsV2", "LookupTableSize", "LookupTableSizeV2", "LookupTableExport",
           "LookupTableExportV2", onnx="(folded: the table's contents after the init op)")
def table_state(cx, node, ins):
    raise ExportError("reads a table through a handle computed at run time")


inexpressible(STATE, "LookupTableInsert", "LookupTableInsertV2", "LookupTableImport", "LookupTableImportV2",
              "LookupTableRemoveV2", "InitializeTable", "InitializeTableV2", "InitializeTableFromTextFile",
              "InitializeTableFromTextFileV2")
inexpressible("hash tables created or filled while running: an ONNX graph holds no mutable table",
              "AnonymousHashTable", "AnonymousMutableDenseHashTable", "AnonymousMutableHashTable",
              "AnonymousMutableHashTableOfTensors", "MutableDenseHashTable", "MutableDenseHashTableV2")
