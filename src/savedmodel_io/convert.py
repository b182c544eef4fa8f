"""Move weights between a SavedModel and ``.npz`` / ``.safetensors`` files, by names users know.

A SavedModel stores variables under checkpoint keys such as
``variables/3/.ATTRIBUTES/VARIABLE_VALUE``. Exported files use friendlier names:

* ``names="auto"`` (default): the variable's own name (``conv/kernel``, from the
  SavedObjectGraph's ``SavedVariable.name``) when it names exactly one variable.
  Keras 3 exports store every variable twice (``variables/N`` and
  ``_all_variables/M``); such copies (a layer-qualified name, byte-identical
  data) are exported once. Otherwise the
  shortest object path of the checkpoint's TrackableObjectGraph (``dense/kernel``),
  and the checkpoint key when there is no object graph.
* ``names="path"``: always the shortest object path; ``names="key"``: checkpoint keys.

Importing accepts any of these names (and every other object path of a
variable) and goes through :func:`savedmodel_io.replace.replace_weights`, so
the graph stays byte for byte and every copy of a variable gets the new value.

``.safetensors`` support is the optional extra ``safetensors`` (numpy API only).
String tensors and dtypes a format cannot hold are skipped on export and listed.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from savedmodel_io import dtypes
from savedmodel_io._fsutil import atomic_file, default_file_mode
from savedmodel_io._progress import Progress
from savedmodel_io.errors import (
    CorruptFileError,
    InvalidArgumentError,
    MissingDependencyError,
    NotFoundError,
    SavedModelError,
)
from savedmodel_io.formats import layout
from savedmodel_io.formats.bundle import CheckpointReader, TensorEntry
from savedmodel_io.formats.object_paths import OBJECT_GRAPH_KEY
from savedmodel_io.formats.source import LocalFiles

__all__ = [
    "ExportReport",
    "ImportReport",
    "Mismatch",
    "WeightInfo",
    "export_weights",
    "import_weights",
    "load_weights_file",
    "match_weights",
    "read_weights",
    "weight_table",
]

Naming = Literal["auto", "path", "key"]
FORMATS = ("npz", "safetensors")
# safetensors' dtype table (huggingface/safetensors safetensors/src/tensor.rs, Dtype) as numpy names.
_SAFETENSORS_DTYPES = {
    "bool", "uint8", "int8", "int16", "uint16", "float16", "bfloat16", "int32", "uint32",
    "float32", "float64", "int64", "uint64", "complex64", "float8_e4m3fn", "float8_e5m2",
}


@dataclass(frozen=True)
class WeightInfo:
    """One exported weight: its name, the checkpoint key(s) holding it, dtype and shape."""

    name: str
    keys: tuple[str, ...]
    dtype: str
    shape: tuple[int, ...]
    aliases: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.keys[0]


def _format_of(path: str | os.PathLike[str], fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise InvalidArgumentError(f"unknown weights format {fmt!r} (choose from npz, safetensors)")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix == ".safetensors":
        return "safetensors"
    raise InvalidArgumentError(
        "cannot tell the weights format from the file name (use .npz or .safetensors)", path=str(path)
    )


def _safetensors_numpy() -> Any:
    try:
        import safetensors.numpy as stn
    except ImportError:
        raise MissingDependencyError(
            ".safetensors files need the 'safetensors' package: pip install 'savedmodel-io[safetensors]'"
        ) from None
    return stn


# --------------------------------------------------------------------- naming


def _variable_names(reader: CheckpointReader) -> dict[str, str]:
    """checkpoint key -> SavedVariable.name, when saved_model.pb is next to the checkpoint."""
    try:
        saved = reader.saved_variables()
    except NotFoundError:
        return {}
    return {key: var.name for _path, (key, var) in saved.items() if var.name}


def weight_table(reader_or_path: CheckpointReader | str | os.PathLike[str], *,
                 names: Naming = "auto", allow_external_links: bool = False) -> list[WeightInfo]:
    """Every exportable tensor of a SavedModel or checkpoint, with its export name and aliases.

    ``allow_external_links``: follow symlinks out of the model directory (refused by default).
    """
    if names not in ("auto", "path", "key"):
        raise InvalidArgumentError(f"names must be 'auto', 'path' or 'key', got {names!r}")
    reader = reader_or_path if isinstance(reader_or_path, CheckpointReader) else CheckpointReader(
        reader_or_path, allow_external_links=allow_external_links
    )
    paths: dict[str, list[str]] = {}
    for path, key in reader.object_paths().items():
        paths.setdefault(key, []).append(path)
    keys = [k for k in reader if k != OBJECT_GRAPH_KEY]
    groups: list[list[str]] = [[k] for k in keys]
    var_names = _variable_names(reader) if names == "auto" else {}
    chosen: dict[int, str] = {}
    if names == "auto" and var_names:
        by_name: dict[str, list[str]] = {}
        for k in keys:
            if k in var_names:
                by_name.setdefault(var_names[k], []).append(k)
        grouped: set[str] = set()
        merged: list[list[str]] = []
        for vname, ks in by_name.items():
            # Several keys under one name are merged only when they are byte-identical copies
            # and the name is layer-qualified (Keras' "conv/kernel"): two unnamed tf.Variables
            # ("Variable") with equal initial values stay apart, named by object path.
            if len(ks) == 1 or ("/" in vname and _copies(reader, ks)):
                merged.append(sorted(ks, key=_key_order))
                grouped.update(ks)
        groups = merged + [[k] for k in keys if k not in grouped]
        for i, g in enumerate(groups):
            if g[0] in grouped:
                chosen[i] = var_names[g[0]]
    out_names: list[str] = []
    for i, g in enumerate(groups):
        if i in chosen:
            out_names.append(chosen[i])
        elif names != "key" and paths.get(g[0]):
            out_names.append(paths[g[0]][0])
        else:
            out_names.append(g[0])
    # A variable name may equal another tensor's path: fall back to paths/keys for clashes.
    counts: dict[str, int] = {}
    for n in out_names:
        counts[n] = counts.get(n, 0) + 1
    for i, g in enumerate(groups):
        if counts[out_names[i]] > 1:
            out_names[i] = paths[g[0]][0] if names != "key" and paths.get(g[0]) else g[0]
    table = []
    for name, g in zip(out_names, groups):
        e = reader.entry(g[0])
        aliases = {name, *g}
        for k in g:
            aliases.update(paths.get(k, ()))
            if k in var_names:
                aliases.add(var_names[k])
        table.append(WeightInfo(name, tuple(g), e.dtype_name, tuple(e.shape), tuple(sorted(aliases))))
    if len({w.name for w in table}) != len(table):  # pragma: no cover - keys are unique
        raise CorruptFileError("checkpoint tensors do not have distinct names", path=reader.index_path)
    return sorted(table, key=lambda w: w.name)


def _key_order(key: str) -> tuple[bool, str]:
    """Prefer ``variables/N`` over ``_all_variables/M`` as the copy read on export."""
    return (key.startswith("_"), key)


def _copies(reader: CheckpointReader, keys: list[str]) -> bool:
    """Whether the keys hold the same tensor (same dtype, shape, size and stored CRC32C)."""
    if len(keys) == 1:
        return True
    first: TensorEntry = reader.entry(keys[0])
    for k in keys[1:]:
        e = reader.entry(k)
        if (e.dtype, e.shape, e.size, e.crc32c, bool(e.slices)) != (
            first.dtype, first.shape, first.size, first.crc32c, bool(first.slices)
        ) or first.slices:
            return False
    return True


# --------------------------------------------------------------------- export


def read_weights(path: str | os.PathLike[str], *, names: Naming = "auto",
                 allow_external_links: bool = False) -> dict[str, np.ndarray]:
    """Every tensor of a SavedModel/checkpoint as numpy arrays, keyed by export names."""
    with CheckpointReader(path, allow_external_links=allow_external_links) as reader:
        return {w.name: reader.read(w.key) for w in weight_table(reader, names=names)}


@dataclass
class ExportReport:
    """What :func:`export_weights` wrote and what it left out (with the reason)."""

    path: str
    format: str
    written: list[WeightInfo] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    nbytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "written": [
                {"name": w.name, "dtype": w.dtype, "shape": list(w.shape), "keys": list(w.keys)}
                for w in self.written
            ],
            "skipped": self.skipped,
            "bytes": self.nbytes,
        }

    def __str__(self) -> str:
        lines = [f"wrote {len(self.written)} tensors ({self.nbytes} bytes) to {self.path}"]
        for name, why in self.skipped.items():
            lines.append(f"  skipped {name}: {why}")
        return "\n".join(lines)


def _npz_form(arr: np.ndarray) -> np.ndarray | None:
    """The array as .npz can hold it: strings as fixed-width bytes, ml_dtypes widened."""
    if arr.dtype == object:
        vals = arr.reshape(-1).tolist()
        if not all(isinstance(v, bytes) for v in vals):
            return None
        return np.array(vals, dtype=bytes).reshape(arr.shape) if arr.size else np.zeros(arr.shape, "S1")
    return widen(arr)


def widen(arr: np.ndarray) -> np.ndarray:
    """ml_dtypes arrays (bfloat16, float8, int4...) as float32 / int8 / uint8; others unchanged.

    The plain dtypes hold every value exactly, so ``.npz`` files and JSON can carry them.
    """
    if arr.dtype.isbuiltin != 2:  # not a user-defined numpy scalar type
        return arr
    name = arr.dtype.name
    if name.startswith("uint"):
        return arr.astype(np.uint8)
    if name.startswith("int"):
        return arr.astype(np.int8)
    return arr.astype(np.float32)


def export_weights(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    format: str | None = None,
    names: Naming = "auto",
    quiet: bool = False,
    allow_external_links: bool = False,
) -> ExportReport:
    """Write a SavedModel's (or checkpoint's) tensors to ``.npz`` or ``.safetensors``.

    Names follow ``names`` (see the module docstring); the file's metadata
    (safetensors) or a ``__savedmodel_io__`` entry (npz) records each name's
    checkpoint keys so the mapping is never lost. Writes are atomic.
    ``allow_external_links``: follow symlinks out of the model directory (refused by default).
    """
    fmt = _format_of(out, format)
    if Path(out).is_dir():
        raise InvalidArgumentError("the output is a directory; give a file name", path=str(out))
    stn = _safetensors_numpy() if fmt == "safetensors" else None
    report = ExportReport(str(out), fmt)
    arrays: dict[str, np.ndarray] = {}
    with CheckpointReader(path, allow_external_links=allow_external_links) as reader:
        table = weight_table(reader, names=names)
        total = sum(reader.entry(w.key).size for w in table)
        with Progress(total, "export", quiet=quiet) as bar:
            for w in table:
                entry = reader.entry(w.key)
                if not dtypes.has_numpy_form(entry.dtype):
                    report.skipped[w.name] = f"{w.dtype} tensors have no numpy form"
                    continue
                arr = reader.read(w.key)
                bar.update(entry.size)
                if fmt == "npz":
                    form = _npz_form(arr)
                    if form is None:
                        report.skipped[w.name] = "strings that are not bytes"
                        continue
                    arrays[w.name] = form
                else:
                    if arr.dtype.name not in _SAFETENSORS_DTYPES:
                        report.skipped[w.name] = f"safetensors cannot hold {w.dtype} tensors"
                        continue
                    arrays[w.name] = np.require(arr, requirements="C")  # keeps 0-d arrays 0-d
                report.written.append(w)
    keymap = {w.name: list(w.keys) for w in report.written}
    if fmt == "npz":
        payload: dict[str, Any] = {**arrays, "__savedmodel_io__": np.array(json.dumps(keymap))}
        with atomic_file(out) as f:
            np.savez(f, **payload)
    else:
        assert stn is not None
        meta = {"format": "np", "savedmodel_io.keys": json.dumps(keymap, sort_keys=True)}
        _atomic_save_file(lambda tmp: stn.save_file(arrays, tmp, metadata=meta), out)
    report.nbytes = os.path.getsize(out)
    return report


def _atomic_save_file(write: Any, out: str | os.PathLike[str]) -> None:
    """Run ``write(tmp_path)`` for a temporary sibling of ``out``, then rename it over ``out``."""
    target = Path(out)
    if not target.parent.is_dir():
        raise NotFoundError("directory does not exist", path=str(target.parent))
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------- import


def load_weights_file(path: str | os.PathLike[str], *, format: str | None = None) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` or ``.safetensors`` file by name (never unpickles anything)."""
    fmt = _format_of(path, format)
    p = Path(path)
    if not p.is_file():
        raise NotFoundError("weights file does not exist", path=str(p))
    if fmt == "npz":
        try:
            with np.load(p, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files if k != "__savedmodel_io__"}
        except ValueError as exc:  # object arrays need pickle: refused
            raise CorruptFileError(f"cannot read .npz without unpickling ({exc})", path=str(p)) from None
        except (OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise CorruptFileError(f"not a readable .npz file ({type(exc).__name__}: {exc})",
                                   path=str(p)) from None
    return _load_safetensors(p)


# safetensors dtype codes (huggingface/safetensors safetensors/src/tensor.rs, Dtype) -> numpy
# names; the ml_dtypes ones are looked up on the ml_dtypes module.
_SAFETENSORS_CODES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16",
    "F16": "float16", "U32": "uint32", "I32": "int32", "F32": "float32", "U64": "uint64",
    "I64": "int64", "F64": "float64", "C64": "complex64",
    "BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
}


def _safetensors_dtype(code: str, p: Path) -> np.dtype:
    """numpy dtype of a safetensors dtype code (safetensors' own numpy loader lacks BF16/F8)."""
    name = _SAFETENSORS_CODES.get(code)
    if name is None:
        raise CorruptFileError(f"unsupported safetensors dtype {code!r}", path=str(p))
    if hasattr(np, name):
        dt: np.dtype = np.dtype(name).newbyteorder("<")
        return dt
    ml = dtypes._ml_dtypes()
    if ml is None:
        raise MissingDependencyError(
            f"{p} holds {name} tensors: install the ml_dtypes package (pip install 'savedmodel-io[dtypes]')"
        )
    ml_dt: np.dtype = np.dtype(getattr(ml, name))
    return ml_dt


def _load_safetensors(p: Path) -> dict[str, np.ndarray]:
    """Arrays of a .safetensors file, decoded here so BF16 and F8 tensors load too."""
    _safetensors_numpy()
    from safetensors import SafetensorError, deserialize

    try:
        views = deserialize(p.read_bytes())  # type: ignore[no-untyped-call]
    except (SafetensorError, ValueError, OSError) as exc:
        raise CorruptFileError(f"cannot read .safetensors file ({type(exc).__name__}: {exc})",
                               path=str(p)) from None
    out = {}
    for name, view in views:
        dt = _safetensors_dtype(view["dtype"], p)
        try:
            arr = np.frombuffer(view["data"], dtype=dt).reshape(view["shape"]).copy()
        except ValueError as exc:  # data length and shape disagree
            raise CorruptFileError(f"tensor {name!r}: {exc}", path=str(p)) from None
        out[name] = arr.astype(arr.dtype.newbyteorder("=")) if arr.dtype.byteorder == "<" else arr
    return out


@dataclass(frozen=True)
class Mismatch:
    """A name found in the model whose array does not fit (shape or dtype)."""

    name: str
    model_dtype: str
    model_shape: tuple[int, ...]
    file_dtype: str
    file_shape: tuple[int, ...]
    reason: str


@dataclass
class ImportReport:
    """Which file tensors matched model variables, and which did not."""

    matched: dict[str, tuple[str, ...]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[Mismatch] = field(default_factory=list)
    output: str | None = None
    values: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    # unexpected entries that already carry their reason ("x (did you mean y?)")
    explained: set[str] = field(default_factory=set, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when every file tensor matched and every model tensor was given."""
        return not (self.missing or self.unexpected or self.mismatched)

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "matched": {k: list(v) for k, v in self.matched.items()},
            "missing": self.missing,
            "unexpected": self.unexpected,
            "mismatched": [
                {
                    "name": m.name,
                    "reason": m.reason,
                    "model": {"dtype": m.model_dtype, "shape": list(m.model_shape)},
                    "file": {"dtype": m.file_dtype, "shape": list(m.file_shape)},
                }
                for m in self.mismatched
            ],
        }

    def __str__(self) -> str:
        lines = [
            (f"matched {len(self.matched)}, missing {len(self.missing)}, "
            f"unexpected {len(self.unexpected)}, mismatched {len(self.mismatched)}")
        ]
        for m in self.mismatched:
            lines.append(
                f"  mismatched {m.name}: {m.reason} (model {m.model_dtype}{list(m.model_shape)}, "
                f"file {m.file_dtype}{list(m.file_shape)})"
            )
        for name in self.missing:
            lines.append(f"  missing    {name} (not in the file; keeps its value)")
        for name in self.unexpected:
            why = "" if name in self.explained else " (no such variable in the model)"
            lines.append(f"  unexpected {name}{why}")
        if self.output:
            lines.append(f"wrote {self.output}")
        return "\n".join(lines)


def _fit(arr: np.ndarray, want: np.dtype, shape: tuple[int, ...], cast: bool) -> tuple[np.ndarray | None, str]:
    """The array converted to the variable's dtype, or (None, reason)."""
    if tuple(arr.shape) != shape:
        return None, "shape differs"
    if arr.dtype == want:
        return arr, ""
    if want == object:
        if arr.dtype.kind in ("S", "U"):
            vals = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in arr.reshape(-1).tolist()]
            out = np.empty(len(vals), dtype=object)
            out[:] = vals
            return out.reshape(shape), ""
        return None, "dtype differs"
    if want.isbuiltin == 2 and arr.dtype.kind in "fiu":
        # bfloat16 / float8 / int4 variables are exported widened; come back only if lossless.
        narrowed = arr.astype(want)
        if np.array_equal(narrowed.astype(arr.dtype), arr, equal_nan=arr.dtype.kind == "f"):
            return narrowed, ""
        return None, f"values do not fit {want.name} exactly"
    if cast and np.can_cast(arr.dtype, want, casting="same_kind"):
        return _checked_cast(arr, want)
    return None, "dtype differs" + ("" if cast else " (cast=True converts within a kind)")


def _checked_cast(arr: np.ndarray, want: np.dtype) -> tuple[np.ndarray | None, str]:
    """``arr.astype(want)`` unless it loses more than float rounding: no wrapped ints, no new infs."""
    with np.errstate(all="ignore"):
        out = arr.astype(want)
        if arr.dtype.kind in "biu":
            if not np.array_equal(out.astype(arr.dtype), arr):
                return None, f"values do not fit {want.name} exactly (cast)"
        elif not np.array_equal(np.isfinite(out), np.isfinite(arr)):
            return None, f"values overflow {want.name} (cast)"
    return out, ""


def match_weights(
    model: str | os.PathLike[str],
    weights: Mapping[str, Any],
    *,
    names: Naming = "auto",
    cast: bool = False,
    allow_external_links: bool = False,
) -> ImportReport:
    """Match named arrays to a SavedModel's variables without writing anything.

    A file name may be an export name, an object path, a variable name or a
    checkpoint key; names that resolve to different tensors are reported as
    unexpected (ambiguous) rather than guessed.
    """
    report = ImportReport()
    files = LocalFiles(model, allow_external_links=allow_external_links)
    if not files.exists(layout.VARIABLES_INDEX):
        raise NotFoundError(f"SavedModel has no {layout.VARIABLES_INDEX}", path=str(model))
    with CheckpointReader.from_files(files, layout.VARIABLES_PREFIX) as reader:
        table = weight_table(reader, names=names)
        alias: dict[str, set[int]] = {}
        for i, w in enumerate(table):
            for a in w.aliases:
                alias.setdefault(a, set()).add(i)
        given: set[int] = set()
        for name in sorted(weights):
            hits = alias.get(name) or (alias.get(name[:-2]) if name.endswith(":0") else None)
            if not hits or len(hits) > 1:
                close = difflib.get_close_matches(name, list(alias), n=1)
                why = " (ambiguous)" if hits else (f" (did you mean {close[0]}?)" if close else "")
                report.unexpected.append(name + why)
                if why:
                    report.explained.add(name + why)
                continue
            i = next(iter(hits))
            w = table[i]
            if i in given:
                report.unexpected.append(f"{name} (same variable as another name in the file)")
                report.explained.add(report.unexpected[-1])
                continue
            given.add(i)
            arr = np.asarray(weights[name])
            want = dtypes.to_numpy(reader.entry(w.key).dtype)
            fitted, why = _fit(arr, want, w.shape, cast)
            if fitted is None:
                report.mismatched.append(
                    Mismatch(w.name, w.dtype, w.shape, _dtype_text(arr.dtype), tuple(arr.shape), why)
                )
                continue
            report.matched[w.name] = w.keys
            report.values[w.name] = fitted
        report.missing = [w.name for i, w in enumerate(table) if i not in given]
    return report


def _dtype_text(dt: np.dtype) -> str:
    try:
        return dtypes.python_name(dtypes.from_numpy(dt))
    except SavedModelError:
        return str(dt)


def import_weights(
    model: str | os.PathLike[str],
    weights: str | os.PathLike[str] | Mapping[str, Any],
    out: str | os.PathLike[str],
    *,
    strict: bool = True,
    names: Naming = "auto",
    cast: bool = False,
    overwrite: bool = False,
    allow_external_links: bool = False,
) -> ImportReport:
    """Write a copy of SavedModel ``model`` at ``out`` with weights from a file or mapping.

    ``strict`` (default) refuses to write unless every model tensor is given and
    every given tensor fits; ``strict=False`` writes the ones that fit and keeps
    the rest. Either way the returned report lists matched, missing, unexpected
    and mismatched tensors; a refusal raises InvalidArgumentError carrying it.
    ``allow_external_links``: follow symlinks out of ``model`` (refused by default).
    """
    arrays = weights if isinstance(weights, Mapping) else load_weights_file(weights)
    report = match_weights(model, arrays, names=names, cast=cast,
                           allow_external_links=allow_external_links)
    if strict and not report.ok:
        err = InvalidArgumentError("weights do not match the model (nothing written):\n" + str(report),
                                   path=str(model))
        err.report = report  # type: ignore[attr-defined]
        raise err
    if not report.matched:
        raise InvalidArgumentError("no tensor of the weights matches the model:\n" + str(report),
                                   path=str(model))
    from savedmodel_io.replace import replace_weights

    new = {key: report.values[name] for name, keys in report.matched.items() for key in keys}
    replace_weights(model, out, new, overwrite=overwrite, allow_external_links=allow_external_links)
    report.output = str(out)
    return report
