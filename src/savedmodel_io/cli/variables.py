"""``savedmodel-io variables``: list a checkpoint's tensors, print one, or dump them to .npz."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from savedmodel_io import dtypes
from savedmodel_io.cli._links import add_flag as add_links_flag
from savedmodel_io.formats import npz
from savedmodel_io.formats.bundle import CheckpointReader, TensorEntry
from savedmodel_io.formats.names import NameTable, TensorName

if TYPE_CHECKING:
    from savedmodel_io.cli._absl import Subparsers


def register(subparsers: Subparsers) -> None:
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


def _describe(entry: TensorEntry, names: TensorName | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": entry.key, "dtype": entry.dtype_name, "shape": list(entry.shape)}
    if names is not None:
        if names.path is not None:
            out["object_path"] = names.path
        out["natural_name"] = names.name
    if entry.slices:
        out["slices"] = len(entry.slices)
    return out


def _table(rows: list[list[str]]) -> str:
    """Rows of cells as text, every column but the last padded to its widest cell."""
    widths = [max((len(r[i]) for r in rows if i < len(r) - 1), default=0)
              for i in range(max((len(r) for r in rows), default=0))]
    lines = ("  ".join(c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r))
             for r in rows)
    return "".join(line.rstrip() + "\n" for line in lines)


def _jsonable(arr: np.ndarray) -> Any:
    if arr.dtype == object:
        return np.vectorize(_bytes_json, otypes=[object])(arr).tolist() if arr.size else arr.tolist()
    if arr.dtype.kind == "c":
        return [[float(x.real), float(x.imag)] for x in arr.reshape(-1)]
    return dtypes.widen(arr).tolist()


def _bytes_json(b: bytes) -> Any:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(b).decode("ascii")}


def _names_by_key(reader: CheckpointReader) -> dict[str, TensorName]:
    """Checkpoint key -> its names. Reads the object graph entry: over HTTP that is a request
    of its own (72 KB for MobileNetV2), so only output that shows the names asks."""
    return NameTable(reader).by_key


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
            npz.write(args.npz, {key: value})
        if args.json:
            doc = _describe(entry, _names_by_key(reader).get(key))
            doc["value"] = _jsonable(value)
            json.dump(doc, out, indent=1)
            out.write("\n")
        elif not args.npz:
            out.write(f"{key} {entry.dtype_name} {list(entry.shape)}\n")
            with np.printoptions(threshold=1000):
                out.write(f"{value!r}\n")
        return 0
    if args.npz:
        npz.write(args.npz, reader.read_all())
        if not args.json:
            return 0
    by_key = _names_by_key(reader)
    rows = [_describe(e, by_key.get(e.key)) for e in reader.entries()]
    if args.json:
        json.dump(rows, out, indent=1)
        out.write("\n")
    else:
        cells = []
        for r, e in zip(rows, reader.entries()):
            natural = r.get("natural_name", r["name"])
            cells.append([
                r["name"], r["dtype"], str(r["shape"]),
                f"<- {natural}" if natural != r["name"] else "",
                "" if dtypes.has_numpy_form(e.dtype_enum) else "(no numpy form)",
            ])
        out.write(_table(cells))
    return 0
