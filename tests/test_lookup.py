"""Every mapping a user indexes raises NotFoundError (also a KeyError) naming what exists."""

from __future__ import annotations

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io.errors import NotFoundError
from savedmodel_io.writer import Model, save


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    m = Model()
    w = m.variable("dense/kernel", np.ones((3, 2), np.float32))
    f = m.function("__call__", {"x": ("float32", (None, 3))})
    f.outputs({"y": f.matmul(f.inputs["x"], f.read(w))})
    m.signature("serving_default", f)
    return save(tmp_path_factory.mktemp("lookup") / "m", m)


def _lookups(path):
    m = savedmodel_io.load(path)
    mg = m.meta_graph()
    sig = m.signatures["serving_default"]
    og = mg.object_graph
    return {
        "signature": (m.signatures, "serving_defualt", "serving_default"),
        "input": (sig.inputs, "xx", "x"),
        "output": (sig.outputs, "yy", "y"),
        "function": (mg.functions, "nope", next(iter(mg.functions))),
        "concrete function": (og.concrete_functions, "nope", next(iter(og.concrete_functions))),
        "object function": (og.functions(), "__cal__", "__call__"),
        "child": (og.root.children, "dense_", "dense"),
        "read_signatures": (savedmodel_io.read_signatures(path), "serving", "serving_default"),
        "variable": (m.variables, "dense/kernl", "dense/kernel"),
    }


@pytest.mark.parametrize("what", [
    "signature", "input", "output", "function", "concrete function", "object function", "child",
    "read_signatures", "variable"])
def test_missing_name_lists_what_is_there(model, what):
    mapping, missing, present = _lookups(model)[what]
    with pytest.raises(NotFoundError) as info:
        mapping[missing]
    assert isinstance(info.value, KeyError)
    assert present in str(info.value)  # listed as available or suggested
    assert mapping.get(missing) is None and missing not in mapping and present in mapping


def test_meta_graph_by_tags_lists_the_tag_sets(model):
    with pytest.raises(KeyError, match="available tag-sets: 'serve'"):
        savedmodel_io.load(model)["gpu"]


def test_signature_message_suggests(model):
    want = r"available: __saved_model_init_op, serving_default\); did you mean serving_default\?"
    with pytest.raises(NotFoundError, match=want):
        savedmodel_io.load(model).signatures["serving_defualt"]


def test_tensor_spec_repr_shows_the_shape_attribute(model):
    spec = savedmodel_io.load(model).signatures["serving_default"].inputs["x"]
    assert spec.shape == (None, 3)
    assert "shape=(None, 3)" in repr(spec)


def test_signature_defaults(model):
    sig = savedmodel_io.load(model).signatures["serving_default"]
    with pytest.raises(NotFoundError, match=r"no default 'x' in signature 'serving_default' \(available: none\)"):
        sig.defaults["x"]
