"""Pictures of SavedModel graphs: Graphviz DOT text (no dependency), SVG/PNG through ``dot``.

A signature's graph in a TF2 SavedModel is a few placeholders and one
``StatefulPartitionedCall``; the real work lives in the function library. The
picture follows every call (``PartitionedCall``, ``StatefulPartitionedCall`` and
ops named after a library function) into the callee and draws its body inside a
cluster, wiring the caller's inputs to the callee's arguments and the callee's
return values to the caller's consumers.

Facts used (tensorflow/tensorflow ``tensorflow/core/framework/function.proto``,
``node_def.proto``): GraphDef inputs are ``node``, ``node:k`` or ``^node``
(control); FunctionDef inputs are ``arg``, ``node:out_arg:k`` or ``^node``; a
FunctionDef's ``ret`` maps output arg names to such references; a
``(Stateful)PartitionedCall`` names its callee in attr ``f`` and its outputs
are ``output:k``, in the callee's output arg order. ``_output_shapes`` attrs
(written by TensorFlow's SavedModel exporter and by our graph builder) give the
labelled shapes.

By default variables, constants and Identity ops are *folded*: a ``Conv2D``
reading ``Conv1/kernel`` through ``ReadVariableOp`` is drawn as one box that
lists the kernel and its shape, the way model viewers show layers. Big graphs
can be collapsed by name scope (``collapse=N`` keeps N scope levels), or
automatically with ``max_nodes``.

The package's rooms: the picture model (:mod:`~savedmodel_io.graphviz.picture`), the
graph walk (:mod:`~savedmodel_io.graphviz.walk`), DOT text
(:mod:`~savedmodel_io.graphviz.dot`) and the ``dot`` subprocess
(:mod:`~savedmodel_io.graphviz.render`); :func:`draw` does all four.
"""

from __future__ import annotations

import os
from typing import Any

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.graphviz.dot import to_dot
from savedmodel_io.graphviz.picture import Picture, PictureNode
from savedmodel_io.graphviz.render import FORMATS, dot_binary, render
from savedmodel_io.graphviz.walk import function_picture, signature_picture

__all__ = [
    "FORMATS",
    "Picture",
    "PictureNode",
    "dot_binary",
    "draw",
    "function_picture",
    "render",
    "signature_picture",
    "to_dot",
]


def draw(
    model: Any,
    *,
    signature: str | None = None,
    function: str | None = None,
    tags: Any = None,
    fmt: str = "dot",
    collapse: int | None = None,
    max_nodes: int | None = 1500,
    expand: bool = True,
    fold: bool = True,
    rankdir: str = "TB",
) -> bytes:
    """Draw a signature (default ``serving_default``) or a library function of a model.

    ``model`` is a path or a loaded :class:`~savedmodel_io.SavedModel`; the result is
    DOT, SVG or PNG bytes.
    """
    if fmt not in FORMATS:
        raise InvalidArgumentError(f"unknown picture format {fmt!r} (choose from {', '.join(FORMATS)})")
    if signature is not None and function is not None:
        raise InvalidArgumentError("pass either a signature or a function, not both")
    if isinstance(model, (str, os.PathLike)):
        from savedmodel_io.model import load

        model = load(model)
    mg = model.meta_graph(tags)
    opts: dict[str, Any] = {"expand": expand, "fold": fold, "collapse": collapse, "max_nodes": max_nodes}
    if function is not None:
        pic = function_picture(mg, function, **opts)
    else:
        pic = signature_picture(mg, signature or "serving_default", **opts)
    return render(to_dot(pic, rankdir=rankdir), fmt)
