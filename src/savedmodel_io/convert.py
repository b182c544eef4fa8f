"""Move weights between a SavedModel and ``.npz`` / ``.safetensors`` files, by names users know.

A SavedModel stores variables under checkpoint keys such as
``variables/3/.ATTRIBUTES/VARIABLE_VALUE``. Exported files use friendlier names:

* ``names="auto"`` (default): the natural names of ``savedmodel_io.formats.names`` (the ones
  ``load(d).variables`` lists): the variable's own name (``conv/kernel``) when it names one
  variable, Keras 3's two copies of a variable exported once; else the object path as
  written; else the checkpoint key.
* ``names="path"``: always object paths; ``names="key"``: checkpoint keys.

Importing accepts any of these names (and every other object path of a
variable) and goes through :func:`savedmodel_io.replace.replace_weights`, so
the graph stays byte for byte and every copy of a variable gets the new value.

``.safetensors`` support is the optional extra ``safetensors`` (numpy API only).
String tensors and dtypes a format cannot hold are skipped on export and listed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from savedmodel_io import dtypes
from savedmodel_io._fsutil import atomic_path
from savedmodel_io._progress import ProgressCallback
from savedmodel_io.errors import (
    CorruptFileError,
    InvalidArgumentError,
    MissingDependencyError,
    NotFoundError,
    SavedModelError,
)
from savedmodel_io._lookup import suggest
from savedmodel_io.formats import layout, npz
from savedmodel_io.formats.bundle import CheckpointReader
from savedmodel_io.formats.names import Naming, NameTable
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


def weight_table(reader_or_path: CheckpointReader | str | os.PathLike[str], *,
                 names: Naming = "auto", allow_external_links: bool = False) -> list[WeightInfo]:
    """Every exportable tensor of a SavedModel or checkpoint, with its export name and aliases.

    Names come from ``savedmodel_io.formats.names`` (the one naming table the library uses).
    ``allow_external_links``: follow symlinks out of the model directory (refused by default).
    """
    reader = reader_or_path if isinstance(reader_or_path, CheckpointReader) else CheckpointReader(
        reader_or_path, allow_external_links=allow_external_links
    )
    table = []
    for t in NameTable(reader, naming=names).entries:
        e = reader.entry(t.key)
        table.append(WeightInfo(t.name, t.keys, e.dtype_name, tuple(e.shape), tuple(sorted(t.aliases))))
    return table


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


def export_weights(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    format: str | None = None,
    names: Naming = "auto",
    progress: ProgressCallback | None = None,
    allow_external_links: bool = False,
) -> ExportReport:
    """Write a SavedModel's (or checkpoint's) tensors to ``.npz`` or ``.safetensors``.

    Names follow ``names`` (see the module docstring); the file's metadata
    (safetensors) or a ``__savedmodel_io__`` entry (npz) records each name's
    checkpoint keys so the mapping is never lost. Writes are atomic.
    ``progress(done, total)`` is called after each tensor is read (bytes; nothing is drawn).
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
        done = 0
        for w in table:
            entry = reader.entry(w.key)
            if not dtypes.has_numpy_form(entry.dtype_enum):
                report.skipped[w.name] = f"{w.dtype} tensors have no numpy form"
                continue
            arr = reader.read(w.key)
            done += entry.size
            if progress is not None:
                progress(done, total)
            if fmt == "npz":
                arrays[w.name] = arr
            else:
                if arr.dtype.name not in _SAFETENSORS_DTYPES:
                    report.skipped[w.name] = f"safetensors cannot hold {w.dtype} tensors"
                    continue
                arrays[w.name] = np.require(arr, requirements="C")  # keeps 0-d arrays 0-d
            report.written.append(w)
    keymap = {w.name: list(w.keys) for w in report.written}
    if fmt == "npz":
        npz.write(out, arrays, keymap)
    else:
        assert stn is not None
        meta = {"format": "np", "savedmodel_io.keys": json.dumps(keymap, sort_keys=True)}
        _save_safetensors(stn, arrays, meta, out)
    report.nbytes = os.path.getsize(out)
    return report


def _save_safetensors(stn: Any, arrays: dict[str, np.ndarray], meta: dict[str, str],
                      out: str | os.PathLike[str]) -> None:
    """Write ``arrays`` to ``out`` atomically; a system error inside safetensors is a WriteError."""
    from safetensors import SafetensorError

    with atomic_path(out) as tmp:
        try:
            stn.save_file(arrays, tmp, metadata=meta)
        except SafetensorError as exc:
            # safetensors reports an OS failure only as text, ending "(os error 28)".
            code = re.search(r"\(os error (\d+)\)", str(exc))
            if code is None:
                raise InvalidArgumentError(f"safetensors cannot write these tensors ({exc})",
                                           path=str(out)) from None
            errno_ = int(code.group(1))
            raise OSError(errno_, os.strerror(errno_), os.fspath(tmp)) from None


# --------------------------------------------------------------------- import


def load_weights_file(path: str | os.PathLike[str], *, format: str | None = None) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` or ``.safetensors`` file by name (never unpickles anything)."""
    fmt = _format_of(path, format)
    p = Path(path)
    if not p.is_file():
        raise NotFoundError("weights file does not exist", path=str(p))
    if fmt == "npz":
        return npz.read(p)
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
    """``arr`` cast by the library's one rule (``dtypes.safe_cast``), or (None, why not)."""
    try:
        return dtypes.safe_cast(arr, want), ""
    except InvalidArgumentError as exc:
        return None, f"{exc.message} (cast)"


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
                close = suggest(name, alias, n=1)
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
            want = reader.entry(w.key).dtype
            fitted, why = (None, f"{w.dtype} tensors have no numpy form") if want is None else \
                _fit(arr, want, w.shape, cast)
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
