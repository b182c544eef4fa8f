"""The ONNX mapping registry: TensorFlow op name -> converter.

A converter is ``fn(cx, node, inputs) -> Val | list[Val]``: ``cx`` is the running
:class:`savedmodel_io.onnx._convert.Exporter` (``cx.g`` is the ONNX graph being built),
``node`` the runtime's compiled :class:`savedmodel_io.graph.runtime.Node` (decoded
attrs, resolved inputs), ``inputs`` the :class:`savedmodel_io.onnx._graph.Val` of each
input. Each op family lives in its own module beside the numpy kernels' family
(``graph/ops/<family>.py``) and registers its converters on import. ``layout=True``
marks converters that accept inputs with a pending layout permutation (NCHW data
of an NHWC graph); the others see plain tensors. ``complex=True`` marks converters
that take complex values (held as (real, imaginary) pairs in a trailing axis, see
``complex.py``); an op whose converter is real-only runs on complex values through its
registered complex form, or is refused.
"""

from __future__ import annotations

__all__ = ["COMPLEX_FORMS", "CONVERTERS", "NOT_EXPRESSIBLE", "ComplexForm", "Converter", "complex_form", "converter",
           "get", "get_complex", "inexpressible", "reason", "supported_ops", "writes_state", "STATE"]


from savedmodel_io.onnx.ops._registry import (
    COMPLEX_FORMS,
    CONVERTERS,
    NOT_EXPRESSIBLE,
    STATE,
    ComplexForm,
    Converter,
    complex_form,
    converter,
    inexpressible,
)

_loaded = False


def writes_state(op: str) -> bool:
    """Whether ``op`` changes a variable or table."""
    _load()
    return NOT_EXPRESSIBLE.get(op) == STATE


def reason(op: str) -> str:
    """Why ``op`` has no ONNX mapping."""
    _load()
    return NOT_EXPRESSIBLE.get(op, "no ONNX mapping")


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        # Importing a family module registers its converters (static imports: no computed names).
        from savedmodel_io.onnx.ops import (  # noqa: F401
            array,
            audio,
            colour,
            complex,
            complex_inverse,
            complex_products,
            control,
            ctc,
            conv_pool,
            counting,
            dataflow,
            fft,
            hashing,
            image,
            indexing,
            isotonic,
            linalg,
            lookup,
            losses,
            math,
            ngrams,
            nn,
            quantized,
            resource,
            rnn,
            segment,
            selection,
            sparse,
            special,
            strings,
            tensorarray,
            tensorlist,
        )


def get(op: str) -> Converter | None:
    """The converter registered for ``op``, or None."""
    _load()
    return CONVERTERS.get(op)


def get_complex(op: str) -> ComplexForm | None:
    """How ``op`` (whose converter takes real values only) runs on complex values, or None."""
    _load()
    return COMPLEX_FORMS.get(op)


def supported_ops() -> list[str]:
    """Every op name with an ONNX mapping, sorted."""
    _load()
    return sorted(CONVERTERS)
