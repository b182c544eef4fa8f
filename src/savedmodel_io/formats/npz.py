"""Tensors in ``.npz`` files, written so that reading them back gives the same values.

numpy's format cannot hold everything a checkpoint can, so (``variables --npz``,
``export --npz`` and ``import-weights`` all go through here):

* strings: a fixed-width bytes array (dtype ``S``) drops trailing NUL bytes, on writing and
  on reading. A string tensor none of whose values ends in a NUL byte is written as such an
  array, under its name. Any other one is written as two entries: ``NAME``, every value's
  bytes concatenated in row-major order (``uint8``, 1-D), and
  ``__savedmodel_io__.lengths/NAME``, each value's length in bytes (``int64``, with the
  tensor's shape). :func:`read` joins them back into an ``object`` array of ``bytes``.
* ml_dtypes tensors (bfloat16, float8, int4...) are widened to float32 / int8 / uint8, which
  hold every value exactly (``import-weights`` narrows them back when that is exact).
* names: an entry's name is a zip member name, UTF-8 text of at most 65,535 bytes (with
  ``.npy``). A checkpoint key that is not UTF-8, or longer, is refused with
  InvalidArgumentError before anything is written.

Names starting with ``__savedmodel_io__`` are this library's (metadata, lengths).
"""

from __future__ import annotations

import json
import os
import tokenize
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from savedmodel_io import dtypes
from savedmodel_io._fsutil import atomic_file
from savedmodel_io.errors import (
    CorruptFileError,
    InvalidArgumentError,
    LimitExceededError,
    NotFoundError,
)

__all__ = ["MAX_NAME_BYTES", "METADATA", "check_declared_sizes", "entries", "read", "write"]

METADATA = "__savedmodel_io__"
LENGTHS = METADATA + ".lengths/"
# A zip member name is at most 0xFFFF bytes (its length is a 16-bit field); numpy adds ".npy".
MAX_NAME_BYTES = 0xFFFF - len(".npy")


def _check_name(name: str, entry: str) -> None:
    try:
        size = len(entry.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidArgumentError(
            f"tensor {name!r} cannot be an .npz entry: its name is not UTF-8 text, which zip "
            "member names must be (export by object path with names='path', or pick other "
            "tensors)") from None
    if size > MAX_NAME_BYTES:
        raise InvalidArgumentError(
            f"tensor {name[:60]!r}... cannot be an .npz entry: its name takes {size} bytes, "
            f"a zip member name at most {MAX_NAME_BYTES}")
    if name.startswith(METADATA):
        raise InvalidArgumentError(f"tensor {name!r} cannot be an .npz entry: names starting "
                                   f"with {METADATA} are reserved for this library's metadata")


def _strings(name: str, arr: np.ndarray) -> dict[str, np.ndarray]:
    values = arr.reshape(-1).tolist()
    if not all(isinstance(v, (bytes, np.bytes_)) for v in values):
        raise InvalidArgumentError(f"tensor {name!r}: a string tensor must hold bytes values")
    if not any(v.endswith(b"\0") for v in values):
        fixed = np.array(values, dtype=bytes) if values else np.zeros(0, "S1")
        return {name: fixed.reshape(arr.shape)}
    _check_name(name, LENGTHS + name + ".npy")
    lengths = np.array([len(v) for v in values], dtype=np.int64).reshape(arr.shape)
    data = np.frombuffer(b"".join(values), dtype=np.uint8)
    return {name: data, LENGTHS + name: lengths}


def entries(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ``.npz`` entries that hold ``arrays`` losslessly (see the module docstring)."""
    out: dict[str, np.ndarray] = {}
    for name, arr in arrays.items():
        _check_name(name, name + ".npy")
        if arr.dtype == object:
            out.update(_strings(name, arr))
        else:
            out[name] = dtypes.widen(arr)
    return out


def write(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray],
          metadata: Mapping[str, Any] | None = None) -> None:
    """Write ``arrays`` (and JSON ``metadata`` under ``__savedmodel_io__``) atomically."""
    payload = entries(arrays)  # every name is checked before the file is created
    if metadata is not None:
        payload[METADATA] = np.array(json.dumps(metadata))
    # What np.savez writes (one NAME.npy member per array, zip64, stored), written here: savez
    # takes its own keyword arguments from the same names (a tensor called "allow_pickle"
    # would be dropped).
    with atomic_file(os.path.abspath(path)) as f, zipfile.ZipFile(f, "w") as archive:
        for name, arr in payload.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)


def read(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file by name, strings joined back (never unpickles)."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise NotFoundError("weights file does not exist", path=p)
    check_declared_sizes(p)
    try:
        with np.load(p, allow_pickle=False) as npz:
            raw = {k: npz[k] for k in npz.files if k != METADATA}
    except ValueError as exc:  # object arrays need pickle: refused
        raise CorruptFileError(f"cannot read .npz without unpickling ({exc})", path=p) from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, SyntaxError,
            tokenize.TokenError) as exc:  # numpy's .npy header parser raises the last two
        raise CorruptFileError(f"not a readable .npz file ({type(exc).__name__}: {exc})",
                               path=p) from None
    except MemoryError:
        raise LimitExceededError("the arrays do not fit in memory", path=p) from None
    out = {k: v for k, v in raw.items() if not k.startswith(METADATA)}
    for key, lengths in raw.items():
        if key.startswith(LENGTHS):
            name = key[len(LENGTHS):]
            out[name] = _join(name, out.get(name), lengths, p)
    return out


def _check_npy_size(f: Any, available: int, filename: str, what: str) -> None:
    """Refuse a .npy header that declares more data than ``available`` bytes hold.

    numpy allocates the declared array before reading it, so a few bytes of header
    could otherwise ask for terabytes.
    """
    from numpy.lib import format as npy_format

    try:
        start = f.tell()
        version = npy_format.read_magic(f)
        reader = {(1, 0): npy_format.read_array_header_1_0,
                  (2, 0): npy_format.read_array_header_2_0}.get(version)
        if reader is None:
            return  # other versions: numpy's own checks apply
        shape, _, dtype = reader(f)
        header = f.tell() - start
    except Exception:  # numpy's header parser raises ValueError, SyntaxError, TokenError...
        return  # not a .npy (npz, pickle, damaged): np.load reports it
    if dtype.hasobject:
        return
    declared = dtype.itemsize
    for d in shape:
        declared *= d
    if declared > available - header:
        raise LimitExceededError(
            f"{what} declares {declared} bytes of data (shape {shape}, {dtype}) but holds "
            f"{max(available - header, 0)}", path=filename)


def check_declared_sizes(filename: str) -> None:
    """Declared sizes of a .npy file, or of every .npy member of an .npz, against their data.

    numpy allocates the array a header declares before it reads the data: call this first.
    """
    if zipfile.is_zipfile(filename):
        try:
            with zipfile.ZipFile(filename) as z:
                for info in z.infolist():
                    if info.filename.endswith(".npy"):
                        with z.open(info) as member:
                            _check_npy_size(member, info.file_size, filename, info.filename)
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError):
            return  # reported by np.load or when the member is read
        return
    with open(filename, "rb") as f:
        _check_npy_size(f, os.path.getsize(filename), filename, "array")


def _join(name: str, data: np.ndarray | None, lengths: np.ndarray, path: str) -> np.ndarray:
    """The string tensor stored as concatenated bytes and per-value lengths."""
    if (data is None or data.dtype != np.uint8 or data.ndim != 1 or lengths.dtype.kind not in "iu"
            or (lengths.size and lengths.min() < 0) or int(lengths.sum()) != data.size):
        raise CorruptFileError(f"string tensor {name!r}: its bytes and lengths entries disagree",
                               path=path)
    raw = data.tobytes()
    ends = np.cumsum(lengths.reshape(-1), dtype=np.int64)
    out = np.empty(lengths.size, dtype=object)
    start = 0
    for i, end in enumerate(ends.tolist()):
        out[i] = raw[start:end]
        start = end
    return out.reshape(lengths.shape)
