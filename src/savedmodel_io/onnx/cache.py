"""The CLI's on-disk cache of exported signatures: ``run --backend onnxruntime`` converts once.

Files live under ``$XDG_CACHE_HOME/savedmodel_io/onnx`` (``~/.cache/savedmodel_io/onnx``
without it), named ``<fingerprint>-<tags>-<signature>-<opset>-<exporter version>.onnx``.
The fingerprint is the model's own (``savedmodel_io.fingerprint``: the hashes of
saved_model.pb and of the checkpoint index), so an edited model or new variables
make a new entry. Files are written atomically; one that onnxruntime cannot load is
exported again.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from savedmodel_io.errors import SavedModelError

__all__ = ["DiskCache", "default_dir"]


def default_dir() -> Path:
    """``$XDG_CACHE_HOME/savedmodel_io/onnx``, or ``~/.cache/savedmodel_io/onnx``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "savedmodel_io" / "onnx"


def model_key(export_dir: Path) -> str:
    """A short hex key of a SavedModel directory's contents (its fingerprint)."""
    from savedmodel_io.fingerprint import compute_fingerprint
    from savedmodel_io.formats.layout import SAVED_MODEL_PBTXT, VARIABLES_INDEX

    fp = compute_fingerprint(export_dir, uuid="")
    text = f"{fp.saved_model_checksum}/{fp.singleprint()}"
    if fp.saved_model_checksum == 0:  # saved_model.pbtxt: TensorFlow fingerprints nothing
        h = hashlib.sha256()
        for name in (SAVED_MODEL_PBTXT, VARIABLES_INDEX):
            f = export_dir / name
            if f.is_file():
                h.update(f.read_bytes())
        text += h.hexdigest()
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _safe(text: str) -> str:
    return urllib.parse.quote(text, safe="") or "_"


class DiskCache:
    """Exported signatures kept as .onnx files (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_dir()

    def path_for(self, meta_graph: Any, signature: str, opset: int | None,
                 input_shapes: Mapping[str, Sequence[int | None]] | None = None) -> Path | None:
        """The cache file of a signature (exported with ``input_shapes``), or None for models
        without a local directory."""
        from savedmodel_io.onnx._opsets import DEFAULT_OPSET, EXPORTER_VERSION

        model = meta_graph.model
        if model is None or hasattr(model, "url") or not Path(model.path).is_dir():
            return None
        tags = ",".join(sorted(meta_graph.tag_set))
        shapes = "" if not input_shapes else "-" + _safe(";".join(
            f"{k}=" + ",".join("?" if d is None else str(d) for d in dims) for k, dims in sorted(input_shapes.items())))
        name = (f"{model_key(Path(model.path))}-{_safe(tags)}-{_safe(signature)}{shapes}-"
                f"{opset or DEFAULT_OPSET}-{EXPORTER_VERSION}.onnx")
        return self.directory / name

    def session(self, meta_graph: Any, signature: str, opset: int | None,
                input_shapes: Mapping[str, Sequence[int | None]] | None = None) -> Any:
        """An InferenceSession of the signature, from the cache file or freshly exported.

        A cache hit imports onnxruntime only: the onnx package (about a second to import with
        ml_dtypes 0.7) is needed only to export.
        """
        from savedmodel_io.onnx.backend import new_session, session_of

        path = self.path_for(meta_graph, signature, opset, input_shapes)
        if path is not None and path.is_file():
            try:
                return new_session(str(path))
            except Exception:  # noqa: BLE001 - a damaged cache file is exported again
                pass
        from savedmodel_io.onnx._export import export_parts
        from savedmodel_io.onnx._model import fill_initializers, write_parts

        proto, tensors = export_parts(meta_graph, signature, opset, complex_pairs=True, input_shapes=input_shapes,
                                      bfloat16_as_float32=True)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_parts(proto, tensors, path)
                return new_session(str(path))
            except (OSError, SavedModelError):
                pass  # an unwritable cache directory only costs the next run an export
        fill_initializers(proto, tensors)
        return session_of(proto)
