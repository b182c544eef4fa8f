"""``savedmodel-io variables``: list a checkpoint's tensors, print one, or dump them to .npz."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from typing import Any

import numpy as np

from savedmodel_io import dtypes
from savedmodel_io._fsutil import atomic_file
from savedmodel_io.errors import NotFoundError
from savedmodel_io.formats.bundle import CheckpointReader, TensorEntry
from savedmodel_io.cli._links import add_flag as add_links_flag


def register(subparsers: Any) -> None:
    """Add the ``variables`` subcommand."""
    p = subparsers.add_parser(
        "variables",
        help="list, print or dump the variables of a SavedModel or checkpoint",
        description=(
            "List the tensors of a TensorBundle checkpoint (a SavedModel's variables/), print one, "
            "or write them to an .npz file. --dir takes a SavedModel directory, a variables/ "
            "directory, a checkpoint directory, or a checkpoint prefix."
        ),
    )
    p.add_argument("--dir", required=True, help="SavedModel directory or checkpoint prefix")
    p.add_argument("--name", help="one tensor: checkpoint key or object path (e.g. dense/kernel)")
    p.add_argument("--npz", metavar="OUT", help="write the tensor(s) to this .npz file")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--no-verify", action="store_true", help="skip CRC32C checks (faster, unsafe)")
    add_links_flag(p)
    p.set_defaults(_run=run)


def _describe(entry: TensorEntry, path: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": entry.key, "dtype": entry.dtype_name, "shape": list(entry.shape)}
    if path is not None:
        out["object_path"] = path
    if entry.slices:
        out["slices"] = len(entry.slices)
    return out


def _jsonable(arr: np.ndarray) -> Any:
    if arr.dtype == object:
        return np.vectorize(_bytes_json, otypes=[object])(arr).tolist() if arr.size else arr.tolist()
    if _is_ml(arr.dtype):
        return _widen(arr).tolist()
    if arr.dtype.kind == "c":
        return [[float(x.real), float(x.imag)] for x in arr.reshape(-1)]
    return arr.tolist()


def _is_ml(dt: np.dtype) -> bool:
    return dt.isbuiltin == 2  # a user-defined scalar type: bfloat16, float8_*, int4, ...


def _widen(arr: np.ndarray) -> np.ndarray:
    """ml_dtypes arrays as float32 / int8 / uint8, which .npz files and JSON can hold."""
    from savedmodel_io.convert import widen

    return widen(arr)


def _bytes_json(b: bytes) -> Any:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(b).decode("ascii")}


def _for_npz(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == object:
        return np.array(arr.tolist(), dtype=bytes) if arr.size else np.zeros(arr.shape, dtype="S1")
    return _widen(arr) if _is_ml(arr.dtype) else arr


def _write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    with atomic_file(os.path.abspath(path)) as f:
        np.savez(f, **{k: _for_npz(v) for k, v in arrays.items()})


def _paths_by_key(reader: CheckpointReader) -> dict[str, str]:
    """Checkpoint key -> object path. Reads the object graph entry: over HTTP that is a
    request of its own (72 KB for MobileNetV2), so only output that shows paths asks."""
    return {key: path for path, key in reader.object_paths().items()}


def run(args: argparse.Namespace) -> int:
    """List, print or dump checkpoint tensors."""
    reader = CheckpointReader(args.dir, verify_checksums=not args.no_verify,
                              allow_external_links=args.allow_external_links)
    out = sys.stdout
    if args.name:
        key = reader.resolve(args.name)
        entry = reader.entry(key)
        value = reader.read(key)
        if args.npz:
            _write_npz(args.npz, {key: value})
        if args.json:
            doc = _describe(entry, _paths_by_key(reader).get(key))
            doc["value"] = _jsonable(value)
            json.dump(doc, out, indent=1)
            out.write("\n")
        elif not args.npz:
            out.write(f"{key} {entry.dtype_name} {list(entry.shape)}\n")
            with np.printoptions(threshold=1000):
                out.write(f"{value!r}\n")
        return 0
    if args.npz:
        _write_npz(args.npz, reader.read_all())
        if not args.json:
            return 0
    by_key = _paths_by_key(reader)
    rows = [_describe(e, by_key.get(e.key)) for e in reader.entries()]
    if args.json:
        json.dump(rows, out, indent=1)
        out.write("\n")
    else:
        width = max((len(r["name"]) for r in rows), default=0)
        for r, e in zip(rows, reader.entries()):
            note = "" if dtypes.has_numpy_form(e.dtype) else "  (no numpy form)"
            path = f"  <- {r['object_path']}" if "object_path" in r else ""
            out.write(f"{r['name']:<{width}}  {r['dtype']:<10} {r['shape']}{path}{note}\n")
    return 0
