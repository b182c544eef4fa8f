"""Replace variable values in an existing SavedModel, without TensorFlow.

The graph, signatures, object graph and assets are kept byte for byte; only
``variables/`` is rewritten (one shard, the same checkpoint keys) and
``fingerprint.pb`` recomputed. Variables are named by checkpoint key
(``dense/kernel/.ATTRIBUTES/VARIABLE_VALUE``), by object path (``dense/kernel``,
any path from the root, e.g. Keras' ``_all_variables/3``) or by variable name
(``SavedVariable.name``, e.g. ``conv1/kernel``; a trailing ``:0`` is accepted; a
name shared by copies of one variable, as in Keras 3 exports, replaces every copy).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from savedmodel_io._fsutil import atomic_directory, recover
from savedmodel_io.errors import InvalidArgumentError, NotFoundError
from savedmodel_io.formats import bundle, layout, saved_model_file
from savedmodel_io.formats.names import NameTable
from savedmodel_io.formats.source import LocalFiles
from savedmodel_io.writer import OBJECT_GRAPH_KEY, PathLike, write_fingerprint

__all__ = ["replace_weights", "variable_names"]


def variable_names(path: PathLike, *, allow_external_links: bool = False) -> dict[str, list[str]]:
    """For a SavedModel directory: checkpoint key -> every name ``replace_weights`` accepts.

    Names come from ``savedmodel_io.formats.names`` (the one naming table): the key, the
    natural name, every object path, and the variable's own name, also where that name
    covers several copies of the variable (Keras 3: ``conv1/kernel`` sets both copies).
    ``allow_external_links``: follow symlinks out of the model directory (refused by default).
    """
    files = LocalFiles(path, allow_external_links=allow_external_links)
    with _open_variables(files) as reader:
        table = NameTable(reader, saved_model_file.read(files))
        return {k: table.names_of(k) for k in sorted(reader) if k != OBJECT_GRAPH_KEY}


def _resolve(name: str, table: NameTable, reader: Any, where: str) -> tuple[str, ...]:
    """Checkpoint keys ``name`` stands for.

    Several keys are accepted only when they are copies of one variable: Keras 3 exports
    keep every variable twice, under ``variables/N`` and ``_all_variables/M``, with one
    variable name. Beyond the index check (same dtype, shape, size, CRC32C) the stored
    values are compared before anything is written.
    """
    keys = table.resolve(name)
    if len(keys) > 1 and not all(np.array_equal(reader.read(keys[0]), reader.read(k))
                                 for k in keys[1:]):
        raise InvalidArgumentError(
            f"{name!r} names several variables ({', '.join(keys)}); "
            "use an object path or checkpoint key",
            path=where,
        )
    return keys


def _checked(name: str, key: str, value: Any, entry: Any, where: str) -> np.ndarray:
    want = entry.dtype
    if want is None:
        raise InvalidArgumentError(f"variable {name!r} ({key}) is a {entry.dtype_name} tensor, "
                                   "which has no numpy value to replace", path=where)
    if isinstance(value, np.ndarray) or np.isscalar(value) and hasattr(value, "dtype"):
        arr = np.asarray(value)
        if arr.dtype != want:
            raise InvalidArgumentError(
                f"variable {name!r} ({key}) is {want}, the new value is {arr.dtype}",
                path=where,
            )
    else:
        try:
            arr = np.asarray(value, dtype=want)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"variable {name!r} ({key}): value is not convertible to {want} ({exc})",
                path=where,
            ) from None
    if tuple(arr.shape) != tuple(entry.shape):
        raise InvalidArgumentError(
            f"variable {name!r} ({key}) has shape {list(entry.shape)}, "
            f"the new value has shape {list(arr.shape)}",
            path=where,
        )
    return arr


def _check_object_graph_unchanged(reader: Any, value: Any, where: str) -> None:
    """Accept the stored object graph given back unchanged (``variables --npz`` dumps include
    it); refuse any other value: it describes the model's structure, not a weight."""
    stored = reader.read(OBJECT_GRAPH_KEY).reshape(-1)[0]
    given = np.asarray(value).reshape(-1)
    ok = given.size == 1 and isinstance(given[0], (bytes, np.bytes_)) and \
        bytes(given[0]).rstrip(b"\0") == bytes(stored).rstrip(b"\0")  # numpy 'S' drops NULs
    if not ok:
        raise InvalidArgumentError(
            f"{OBJECT_GRAPH_KEY} describes the model's objects and cannot be replaced",
            path=where)


def _open_variables(files: LocalFiles) -> bundle.CheckpointReader:
    """The model's ``variables/`` bundle (NotFoundError if it has none)."""
    if not files.exists(layout.VARIABLES_INDEX):
        raise NotFoundError(f"SavedModel has no {layout.VARIABLES_INDEX}", path=files.location)
    return bundle.CheckpointReader.from_files(files, layout.VARIABLES_PREFIX)


def _copy_tree(src: Path, dst: Path, skip: set[Path], link: bool, model: LocalFiles) -> None:
    """Copy (or hard-link) ``src`` into ``dst``; symbolic links are recreated, not followed.

    Except links out of the model when ``model`` allows them: what they lead to is copied,
    so the copy does not depend on a store elsewhere (e.g. a Hugging Face cache's blobs).
    """
    for root, dirs, files in os.walk(src):
        rel = Path(root).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in [d for d in dirs if (Path(root) / d).is_symlink()] + files:
            s = Path(root) / name
            if s in skip:
                continue
            d = dst / rel / name
            if s.is_symlink() and model.allow_external_links and not model.model_root.contains(s):
                if s.is_dir():
                    shutil.copytree(s, d)
                else:
                    shutil.copy2(s, d)
                continue
            if s.is_symlink():
                # Never read through a link (it may point outside the model): keep it a link.
                os.symlink(os.readlink(s), d)
                continue
            if link:
                try:
                    os.link(s, d)
                    continue
                except OSError:
                    pass
            shutil.copy2(s, d)


def replace_weights(
    src: PathLike,
    dst: PathLike,
    weights: Mapping[str, Any],
    *,
    overwrite: bool = False,
    link: bool = False,
    allow_external_links: bool = False,
) -> Path:
    """Write a copy of SavedModel ``src`` at ``dst`` with some variables set to new values.

    ``weights`` maps variable names (checkpoint key, object path or variable name)
    to arrays of exactly the variable's shape and dtype; every other variable keeps
    its value. Unchanged files are copied (``link=True``: hard-linked where the
    file system allows). ``dst`` may equal ``src`` with ``overwrite=True``.
    ``allow_external_links``: read (and copy the content of) files that symlinks lead to
    outside ``src``; refused by default, and such links are then never followed.
    """
    src_dir = Path(src)
    recover(dst)  # an in-place replacement killed between its renames: the source comes back
    model = LocalFiles(src_dir, allow_external_links=allow_external_links)
    saved_model_file.find(model)  # NotFoundError unless a saved_model.{pb,pbtxt,cpb} is here
    dst_dir = Path(dst)
    if dst_dir.resolve() != src_dir.resolve() and dst_dir.resolve().is_relative_to(
            src_dir.resolve()):
        raise InvalidArgumentError("the new model cannot be written inside the source model",
                                   path=dst_dir)
    var_dir = src_dir / layout.VARIABLES_DIR
    with _open_variables(model) as reader:
        where = reader.index_path
        table = NameTable(reader, saved_model_file.read(model))
        new: dict[str, np.ndarray] = {}
        for name, value in weights.items():
            if name == OBJECT_GRAPH_KEY:
                _check_object_graph_unchanged(reader, value, where)
                continue
            keys = _resolve(name, table, reader, where)
            arr = _checked(name, keys[0], value, reader.entry(keys[0]), where)
            for key in keys:
                if key in new:
                    raise InvalidArgumentError(f"variable {key} is given twice (as {name!r})",
                                               path=where)
                new[key] = arr
        skip = {p for p in var_dir.iterdir() if p.name.startswith(layout.VARIABLES_FILENAME + ".")}
        skip.add(src_dir / layout.FINGERPRINT)
        with atomic_directory(dst, overwrite=overwrite, parents=True) as tmp:
            _copy_tree(src_dir, tmp, skip, link, model)
            # In the source's data order, so unchanged tensors land at the same offsets: an
            # unchanged replacement of a TF-made model is byte-identical to it.
            values = {k: new[k] if k in new else reader.read(k, zero_copy=True)
                      for k in reader.data_order()}
            (tmp / layout.VARIABLES_DIR).mkdir(exist_ok=True)
            bundle.write_checkpoint(str(tmp / layout.VARIABLES_PREFIX), values)
            if os.path.lexists(src_dir / layout.FINGERPRINT):  # only whether it was there
                write_fingerprint(tmp)
    return Path(dst)
