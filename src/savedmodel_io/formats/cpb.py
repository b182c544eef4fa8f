"""``saved_model.pb`` or ``saved_model.cpb``: which one to read, and writing the right one.

TensorFlow's rule (tensorflow/tools/proto_splitter/cc/util.cc ``OnlyContainsPb``, used by
``Merger::Read`` and the fingerprinting code): a SavedModel directory's proto is the chunked
``saved_model.cpb`` when that file exists, else ``saved_model.pb``. TensorFlow's splitter writes
``.cpb`` only when something was actually split, otherwise a plain ``.pb``
(split.py ``ComposableSplitter.write``).

Writing never holds a second copy of the model's big tensors: ``.pb`` and ``.cpb`` alike are
written from a list of parts in which large ``tensor_content`` values are read from the model
one at a time (see :mod:`savedmodel_io.formats.splitter`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from savedmodel_io._fsutil import atomic_file, fsync_dir
from savedmodel_io.errors import InvalidArgumentError, LimitExceededError, NotFoundError
from savedmodel_io.formats import chunks, layout
from savedmodel_io.formats.source import LocalFiles, ModelFiles
from savedmodel_io.formats.splitter import MAX_SIZE, PROTOBUF_LIMIT, Prepared, resolve
from savedmodel_io.proto import SavedModel

__all__ = [
    "SAVED_MODEL_CPB",
    "SAVED_MODEL_PB",
    "read_saved_model_cpb",
    "saved_model_proto_path",
    "write_saved_model_file",
]

PathLike = Union[str, "os.PathLike[str]"]

SAVED_MODEL_PB = layout.SAVED_MODEL_PB
SAVED_MODEL_CPB = layout.SAVED_MODEL_CPB


def saved_model_proto_path(export_dir: PathLike) -> Path | None:
    """``saved_model.cpb`` if present (TF's Merger rule), else ``saved_model.pb``, else None."""
    files = LocalFiles(export_dir)
    name = layout.saved_model_file(files.exists, layout.BINARY_FILES)
    return None if name is None else Path(export_dir) / name


# MetaGraphDef fields whose chunks a signatures-only read skips: graph_def (2) and
# object_graph_def (7) (tensorflow/core/protobuf/meta_graph.proto).
_HEAVY_META_GRAPH_FIELDS = (2, 7)
_META_GRAPHS = 2


def _outside_graphs(tag: chunks.TagPath) -> bool:
    """False for chunked fields at or below ``meta_graphs[i].graph_def/object_graph_def``."""
    return not (len(tag) >= 3 and tag[0] == _META_GRAPHS and tag[2] in _HEAVY_META_GRAPH_FIELDS)


def read_saved_model_cpb(
    path: PathLike | ModelFiles,
    *,
    name: str = SAVED_MODEL_CPB,
    verify_hashes: bool = True,
    signatures_only: bool = False,
    allow_external_links: bool = False,
) -> SavedModel:
    """Read a ``saved_model.cpb`` (a file, a SavedModel directory holding one, or file ``name``
    of a ModelFiles).

    ``signatures_only`` skips the chunks of the graphs and the object graph (the tensors of a
    big model): enough for ``meta_info_def`` and ``signature_def``, much cheaper. The file
    must resolve inside its directory unless ``allow_external_links``.
    """
    if isinstance(path, ModelFiles):
        files = path
    elif os.path.isdir(path):
        files = LocalFiles(path, allow_external_links=allow_external_links)
    else:
        directory, name = os.path.split(os.fspath(path))
        files = LocalFiles(directory, allow_external_links=allow_external_links)
    if not files.exists(name):
        raise NotFoundError(f"no {SAVED_MODEL_CPB} here", path=files.path(name))
    with chunks.ChunkedFile(files.path(name), verify_hashes=verify_hashes,
                            file=files.open(name)) as f:
        tree = chunks.prune(f.metadata.message, _outside_graphs) if signatures_only else None
        return f.merge(SavedModel(), tree)


def write_saved_model_file(
    export_dir: PathLike,
    saved_model: SavedModel,
    *,
    image_format: bool | None = None,
    max_size: int = MAX_SIZE,
    compression: str = "brotli",
) -> Path:
    """Write ``saved_model`` into ``export_dir`` as ``saved_model.pb`` or ``saved_model.cpb``.

    ``image_format``: ``False`` always writes ``.pb`` (LimitExceededError when the proto would
    reach protobuf's 2 GiB limit); ``True`` splits like TensorFlow's
    ``SaveOptions(experimental_image_format=True)`` with chunks under ``max_size`` (TF's 1 GiB
    by default) and writes ``.cpb``, or ``.pb`` when nothing needed splitting; ``None`` (the
    default) writes ``.pb`` unless the proto would reach 2 GiB, then ``.cpb``. The file is
    written atomically and the other of the two names is removed, so the directory never
    holds a stale twin. Returns the path written.
    """
    d = Path(export_dir)
    if not d.is_dir():
        raise NotFoundError("directory does not exist", path=d)
    if image_format not in (None, True, False):
        raise InvalidArgumentError(f"image_format must be True, False or None, got {image_format!r}")
    prepared = Prepared(saved_model)  # one pass over the tensors, shared by both paths
    parts = prepared.parts()
    size = sum(len(p) if isinstance(p, bytes) else p.size for p in parts)
    if image_format is None:
        image_format = size > PROTOBUF_LIMIT
    if image_format:
        del parts
        split = prepared.split(max_size)
        if split.is_split:
            target = d / SAVED_MODEL_CPB
            chunks.write_chunked(target, split.records(), split.message, compression=compression)
            _remove(d / SAVED_MODEL_PB)
            return target
        parts = split.records_of_base()  # nothing moved: chunk 0 is the whole model
    if size > PROTOBUF_LIMIT:
        raise LimitExceededError(
            f"the SavedModel proto is {size} bytes, over protobuf's 2 GiB limit; "
            "write it with image_format=True (saved_model.cpb)",
            path=d / SAVED_MODEL_PB,
        )
    target = d / SAVED_MODEL_PB
    with atomic_file(target) as f:
        for piece in resolve(parts):
            f.write(piece)
            del piece
    _remove(d / SAVED_MODEL_CPB)
    return target


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    fsync_dir(path.parent)
