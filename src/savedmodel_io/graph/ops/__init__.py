"""The kernel registry: TensorFlow op name -> numpy kernel.

A kernel is ``fn(node, inputs, ctx) -> list`` (or one array for single-output ops):
``node`` is a :class:`savedmodel_io.graph.runtime.Node` (decoded attrs in ``node.attr``),
``inputs`` the evaluated input values, ``ctx`` the running
:class:`savedmodel_io.graph.runtime.Context` (variables, tables, function calls).

Kernels run under ``np.errstate(all="ignore")``, which the runtime enters once per run
(float ops give inf/nan silently, as TensorFlow's do), and may compute something once
from their constant inputs through a ``prepare`` hook (see ``_registry.PREPARE``).

Each op family lives in its own module and registers its kernels on import, with
``kernel`` from :mod:`savedmodel_io.graph.ops._registry` (this package imports the
families, on the first lookup, so they must not import it back). What a kernel does
not repeat: how many outputs an op has and their names (the runtime lays them out from
:mod:`savedmodel_io.graph.opdefs`), and attr defaults (the runtime fills every attr a
node leaves out with its OpDef default before any kernel runs).
"""

from __future__ import annotations

from savedmodel_io.graph.ops._registry import KERNELS, PREPARE, Kernel, kernel

__all__ = ["KERNELS", "PREPARE", "Kernel", "kernel", "get", "supported_ops"]

_loaded = False


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        # Importing a family module registers its kernels (static imports: no computed names).
        from savedmodel_io.graph.ops import (  # noqa: F401
            array,
            array_extra,
            array_update,
            audio,
            complex_math,
            control,
            conv_pool,
            counting,
            cross,
            ctc,
            decoding,
            fft,
            image,
            image_boxes,
            image_codec,
            image_color,
            image_sampling,
            indexing,
            json_example,
            linalg,
            lookup,
            losses,
            math,
            math_extra,
            microfrontend,
            nn,
            parsing,
            proto_codec,
            quantize,
            quantized_nn,
            quantized_onednn,
            ragged,
            random,
            resource,
            rnn,
            segment,
            selection,
            sets,
            sparse,
            sparse_matrix,
            sparse_serial,
            special,
            strings,
            tensor_serial,
            tensorarray,
            tensorlist,
            tensormap,
            unicode,
            uniform_quant,
        )


def get(op: str) -> Kernel | None:
    """The kernel registered for ``op``, or None."""
    _load()
    return KERNELS.get(op)


def supported_ops() -> list[str]:
    """Every op name the runtime has a kernel for, sorted."""
    _load()
    return sorted(KERNELS)
