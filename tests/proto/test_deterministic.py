"""serialize_deterministic: C++ protobuf's map order (checked against TF's C++ in test_fingerprint)."""

from __future__ import annotations

import pytest

from savedmodel_io.errors import FormatError
from savedmodel_io.proto import (
    FunctionDef,
    GraphDef,
    NodeDef,
    SavedModel,
    TensorProto,
    deterministic,
)
from savedmodel_io.proto.deterministic import serialize_deterministic


def entry_keys(data: bytes, msg_cls, field: str) -> list:
    """Keys of map ``field`` in the order they appear in ``data``."""
    # Parse entries one by one: a message holding only that map, re-read per entry.
    number = msg_cls.DESCRIPTOR.fields_by_name[field].number
    out, pos = [], 0
    buf = bytearray(data)
    while pos < len(buf):
        tag, body = deterministic._varint(buf, pos, len(buf))
        n, start = deterministic._varint(buf, body, len(buf))
        if tag >> 3 == number:
            m = msg_cls()
            m.ParseFromString(bytes(buf[pos : start + n]))
            out.extend(getattr(m, field).keys())
        pos = start + n
    return out


def test_string_keys_sorted_bytewise():
    n = NodeDef()
    for k in ["b", "aa", "a", "B", "", "é", "\x7f", "中"]:
        n.attr[k].i = 1
    keys = entry_keys(serialize_deterministic(n), NodeDef, "attr")
    assert keys == sorted(keys, key=lambda k: k.encode())
    assert keys[:4] == ["", "B", "a", "aa"]


def test_uint32_keys_sorted_numerically():
    f = FunctionDef()
    for k in [300, 2, 0, 2**32 - 1, 1, 2**31]:
        f.resource_arg_unique_id[k] = k
    data = serialize_deterministic(f)
    assert entry_keys(data, FunctionDef, "resource_arg_unique_id") == [
        0,
        1,
        2,
        300,
        2**31,
        2**32 - 1,
    ]
    back = FunctionDef()
    back.ParseFromString(data)
    assert back == f


def test_nested_maps_sorted_inside_values():
    g = GraphDef()
    node = g.node.add()
    for k in ["z", "m", "a"]:
        node.attr[k].func.attr["y"].i = 1
        node.attr[k].func.attr["x"].i = 2
    data = serialize_deterministic(g)
    back = GraphDef()
    back.ParseFromString(data)
    assert back == g
    # Every "x" entry now precedes its "y" sibling and attr keys are a, m, z.
    assert data.index(b"\n\x01a") < data.index(b"\n\x01m") < data.index(b"\n\x01z")
    assert data.count(b"\n\x01x") == 3
    for start in (data.index(b"\n\x01a"), data.index(b"\n\x01m"), data.index(b"\n\x01z")):
        assert data.index(b"\n\x01x", start) < data.index(b"\n\x01y", start)


def test_length_is_preserved_and_mapless_messages_untouched():
    t = TensorProto(dtype=1, float_val=[1.0, 2.0])
    assert serialize_deterministic(t) == t.SerializeToString(deterministic=True)
    sm = SavedModel()
    mg = sm.meta_graphs.add()
    for k in ["c", "b", "a"]:
        mg.signature_def[k].method_name = k
    assert len(serialize_deterministic(sm)) == sm.ByteSize()


def test_plans_are_cached_and_mapless_types_skip():
    assert deterministic._plan_for(TensorProto.DESCRIPTOR) is None
    plan = deterministic._plan_for(SavedModel.DESCRIPTOR)
    assert plan is deterministic._plan_for(SavedModel.DESCRIPTOR)
    assert plan is not None and 2 in plan.subs  # meta_graphs


def test_malformed_bytes_raise_format_error():
    plan = deterministic._plan_for(NodeDef.DESCRIPTOR)
    with pytest.raises(FormatError):
        deterministic._fix(bytearray(b"\x2a\x10\x0a"), 0, 3, plan)
    with pytest.raises(FormatError):
        deterministic._fix(bytearray(b"\x2a"), 0, 1, plan)
    with pytest.raises(FormatError):
        deterministic._fix(bytearray(b"\x0b"), 0, 1, plan)  # group wire type


# --------------------------------------------------------------------------- C == Python

needs_c = pytest.mark.skipif(deterministic._compiled is None, reason="C accelerator not built")


def random_saved_model(seed: int) -> SavedModel:
    import random

    rnd = random.Random(seed)

    def key() -> str:
        return "".join(rnd.choice("aAbé_0") for _ in range(rnd.randrange(0, 4)))

    sm = SavedModel()
    mg = sm.meta_graphs.add()
    for _ in range(rnd.randrange(0, 6)):
        sig = mg.signature_def[key()]
        for _ in range(rnd.randrange(0, 4)):
            sig.inputs[key()].name = key()
    for _ in range(rnd.randrange(0, 4)):
        node = mg.graph_def.node.add()
        for _ in range(rnd.randrange(0, 5)):
            value = node.attr[key()]
            if rnd.random() < 0.5:
                for _ in range(rnd.randrange(0, 3)):
                    value.func.attr[key()].i = rnd.randrange(-5, 5)
            else:
                value.i = rnd.randrange(-(2**63), 2**63)
    f = mg.graph_def.library.function.add()
    for _ in range(rnd.randrange(0, 6)):
        f.arg_attr[rnd.randrange(0, 2**32)].attr[key()].b = True
        f.resource_arg_unique_id[rnd.randrange(0, 2**32)] = rnd.randrange(0, 2**32)
    for _ in range(rnd.randrange(0, 4)):
        mg.graph_def.debug_info.frames_by_id[rnd.randrange(0, 2**64)].line = 1
    return sm


@needs_c
@pytest.mark.parametrize("seed", range(40))
def test_c_and_python_agree(seed):
    sm = random_saved_model(seed)
    fast = deterministic.deterministic_buffer(sm, accelerated=True)
    slow = deterministic.deterministic_buffer(sm, accelerated=False)
    assert bytes(fast) == bytes(slow)
    back = SavedModel()
    back.ParseFromString(bytes(fast))
    assert back == sm


@needs_c
def test_c_and_python_agree_on_damaged_bytes():
    import random

    rnd = random.Random(11)
    data = random_saved_model(3).SerializeToString(deterministic=True)
    rules, root = deterministic._compiled_plan(SavedModel.DESCRIPTOR)
    plan = deterministic._plan_for(SavedModel.DESCRIPTOR)
    for _ in range(300):
        buf = bytearray(data)
        for _ in range(rnd.randrange(1, 4)):
            buf[rnd.randrange(len(buf))] = rnd.randrange(256)
        cut = buf[: rnd.randrange(len(buf) + 1)] if rnd.random() < 0.3 else buf
        a, b = bytearray(cut), bytearray(cut)
        try:
            deterministic._compiled.sort_maps(a, rules, root)
            fast = bytes(a)
        except ValueError:
            fast = None
        try:
            deterministic._fix(b, 0, len(b), plan)
            slow = bytes(b)
        except FormatError:
            slow = None
        assert fast == slow
