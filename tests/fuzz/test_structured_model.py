"""Property test: SavedModels with arbitrary signatures and structured values load and browse.

Hypothesis builds StructuredValue trees (every kind, nested, with odd dtypes and
shapes) and TensorInfos (dense, COO sparse, composite) and puts them where a
TF2 model keeps them: concrete-function signatures and SignatureDefs. Loading,
browsing (`show --all` and friends) and scanning must succeed or raise a library error.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from savedmodel_io.proto import DataType, SavedModel, StructuredValue, TensorInfo

from .harness import check, examples, record
from .targets import TARGETS, available

DTYPES = st.sampled_from(sorted(DataType.values()) + [101, 99, 1000])
NAMES = st.text(alphabet="abcxyz_:0123456789/", max_size=8)
DIM = st.sampled_from([-1, 0, 1, 3, 1 << 40, -7])


def _shape(proto, draw) -> None:
    if draw(st.integers(0, 5)) == 0:
        proto.unknown_rank = True
    # Mostly small ranks; sometimes just past numpy's 64 dims.
    for d in draw(st.lists(DIM, max_size=3) | st.lists(st.just(1), min_size=65, max_size=66)):
        proto.dim.add(size=d, name=draw(st.sampled_from(["", "b"])))


@st.composite
def leaf(draw) -> StructuredValue:
    v = StructuredValue()
    kind = draw(st.sampled_from([
        "none", "float", "int", "string", "bool", "shape", "dtype", "spec", "bounded", "type_spec",
    ]))
    if kind == "none":
        v.none_value.SetInParent()
    elif kind == "float":
        v.float64_value = draw(st.floats())
    elif kind == "int":
        v.int64_value = draw(st.integers(-(1 << 63), (1 << 63) - 1))
    elif kind == "string":
        v.string_value = draw(st.text(max_size=6))
    elif kind == "bool":
        v.bool_value = draw(st.booleans())
    elif kind == "shape":
        _shape(v.tensor_shape_value, draw)
    elif kind == "dtype":
        v.tensor_dtype_value = draw(DTYPES)
    elif kind == "spec":
        v.tensor_spec_value.name = draw(NAMES)
        v.tensor_spec_value.dtype = draw(DTYPES)
        _shape(v.tensor_spec_value.shape, draw)
    elif kind == "bounded":
        b = v.bounded_tensor_spec_value
        b.name = draw(NAMES)
        b.dtype = draw(DTYPES)
        _shape(b.shape, draw)
        if draw(st.booleans()):
            b.minimum.dtype = draw(DTYPES)
            b.minimum.float_val.extend(draw(st.lists(st.floats(width=32), max_size=2)))
    else:
        ts = v.type_spec_value
        ts.type_spec_class = draw(st.integers(0, 20))
        ts.type_spec_class_name = draw(st.sampled_from(["", "RaggedTensorSpec", "Foo"]))
        ts.num_flat_components = draw(st.integers(-1, 5))
    return v


def _wrap(kind: str, children: list[StructuredValue], draw) -> StructuredValue:
    v = StructuredValue()
    if kind == "list":
        v.list_value.values.extend(children)
    elif kind == "tuple":
        v.tuple_value.values.extend(children)
    elif kind == "dict":
        for c in children:
            v.dict_value.fields[draw(st.text(max_size=4))].CopyFrom(c)
    elif kind == "named":
        v.named_tuple_value.name = draw(st.text(max_size=4))
        for c in children:
            v.named_tuple_value.values.add(key=draw(st.text(max_size=3))).value.CopyFrom(c)
    else:  # a type spec holding a structure
        v.type_spec_value.type_spec_class = draw(st.integers(0, 20))
        v.type_spec_value.type_state.tuple_value.values.extend(children)
    return v


@st.composite
def structures(draw, depth: int = 0) -> StructuredValue:
    if depth >= 4 or draw(st.integers(0, 2)) == 0:
        return draw(leaf())
    kind = draw(st.sampled_from(["list", "tuple", "dict", "named", "type_spec"]))
    children = draw(st.lists(structures(depth + 1), max_size=3))
    return _wrap(kind, children, draw)


@st.composite
def tensor_infos(draw) -> TensorInfo:
    info = TensorInfo(dtype=draw(DTYPES))
    kind = draw(st.sampled_from(["name", "coo", "composite", "none"]))
    if kind == "name":
        info.name = draw(NAMES)
    elif kind == "coo":
        info.coo_sparse.values_tensor_name = draw(NAMES)
        info.coo_sparse.indices_tensor_name = draw(NAMES)
    elif kind == "composite":
        info.composite_tensor.type_spec.CopyFrom(draw(structures()).type_spec_value)
        for _ in range(draw(st.integers(0, 2))):
            info.composite_tensor.components.add(name=draw(NAMES), dtype=draw(DTYPES))
    _shape(info.tensor_shape, draw)
    return info


@st.composite
def models(draw) -> bytes:
    sm = SavedModel()
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.extend(draw(st.lists(st.sampled_from(["serve", "train", ""]), max_size=2)))
    og = mg.object_graph_def
    root = og.nodes.add()
    root.user_object.identifier = "_generic_user_object"
    for i in range(draw(st.integers(0, 2))):
        name = f"f{i}"
        cf = og.concrete_functions[name]
        cf.canonicalized_input_signature.CopyFrom(draw(structures()))
        cf.output_signature.CopyFrom(draw(structures()))
        cf.bound_inputs.extend(draw(st.lists(st.integers(-2, 5), max_size=2)))
        node = og.nodes.add()
        node.function.concrete_functions.append(draw(st.sampled_from([name, "missing"])))
        root.children.add(local_name=f"fn{i}", node_id=draw(st.integers(-1, len(og.nodes))))
    for key in draw(st.lists(st.sampled_from(["serving_default", "a", ""]), max_size=2, unique=True)):
        sig = mg.signature_def[key]
        sig.method_name = draw(st.text(max_size=4))
        for j, info in enumerate(draw(st.lists(tensor_infos(), max_size=3))):
            (sig.inputs if j % 2 else sig.outputs)[f"t{j}"].CopyFrom(info)
    return sm.SerializeToString()


@pytest.mark.parametrize("name", ["load_pb", "cli_show", "scan", "read_signatures"])
def test_structured_models(name, fuzz_mode):
    why = available(name)
    if why:
        pytest.skip(why)
    count = 0

    @settings(max_examples=max(20, examples(fuzz_mode) // 2), deadline=None,
              derandomize=fuzz_mode != "slow", database=None)
    @given(models())
    def run(data: bytes) -> None:
        nonlocal count
        count += 1
        check(name, TARGETS[name], data)

    try:
        run()
    finally:
        record(f"{name}_structured", fuzz_mode, count)
