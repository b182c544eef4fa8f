"""DecodeProtoV2 and EncodeProto against ``tf.raw_ops``, on a message type given as bytes://.

The descriptor set is binary, which the shared raw_ops oracle cannot carry in an attr, so
this module's own oracle function (same answer form: NodeDef, outputs or error) runs the
cases; the comparison is the harness's.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
from _oracles import ModuleOracle
from _oracles.codec import encode
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from savedmodel_io.proto import Example, Feature

from .raw_ops_harness import Case, check_case

pytestmark = pytest.mark.tf
F = descriptor_pb2.FieldDescriptorProto

SCALAR_TYPES = [("d", F.TYPE_DOUBLE), ("f", F.TYPE_FLOAT), ("i64", F.TYPE_INT64),
                ("u64", F.TYPE_UINT64), ("i32", F.TYPE_INT32), ("fx64", F.TYPE_FIXED64),
                ("fx32", F.TYPE_FIXED32), ("b", F.TYPE_BOOL), ("s", F.TYPE_STRING),
                ("by", F.TYPE_BYTES), ("u32", F.TYPE_UINT32), ("sf32", F.TYPE_SFIXED32),
                ("sf64", F.TYPE_SFIXED64), ("s32", F.TYPE_SINT32), ("s64", F.TYPE_SINT64)]
# The output dtype each field decodes to (the first TF allows), and a wider one where allowed.
OUT = {"d": "float64", "f": "float32", "i64": "int64", "u64": "uint64", "i32": "int32",
       "fx64": "uint64", "fx32": "uint32", "b": "bool", "s": "string", "by": "string",
       "u32": "uint32", "sf32": "int32", "sf64": "int64", "s32": "int32", "s64": "int64",
       "e": "int32", "msg": "string", "dflt": "int32", "sdflt": "string", "fdflt": "float32"}
WIDE = {"f": "float64", "i32": "int64", "fx32": "uint64", "u32": "uint64", "sf32": "int64",
        "s32": "int64"}


def file_set() -> descriptor_pb2.FileDescriptorSet:
    """A proto2 file: every scalar type singular, repeated and packed; enum, message, defaults."""
    fd = descriptor_pb2.FileDescriptorProto(name="t.proto", package="t", syntax="proto2")
    e = fd.enum_type.add(name="Color")
    e.value.add(name="RED", number=0)
    e.value.add(name="BLUE", number=7)
    fd.message_type.add(name="Inner").field.add(name="x", number=1, type=F.TYPE_INT32,
                                                 label=F.LABEL_OPTIONAL)
    m = fd.message_type.add(name="M")
    n = 1
    for name, t in SCALAR_TYPES:
        m.field.add(name=name, number=n, type=t, label=F.LABEL_OPTIONAL)
        m.field.add(name="r" + name, number=n + 1, type=t, label=F.LABEL_REPEATED)
        n += 2
        if t not in (F.TYPE_STRING, F.TYPE_BYTES):
            m.field.add(name="p" + name, number=n, type=t, label=F.LABEL_REPEATED,
                        options=descriptor_pb2.FieldOptions(packed=True))
            n += 1
    for name, t, label, extra in (
            ("e", F.TYPE_ENUM, F.LABEL_OPTIONAL, {"type_name": ".t.Color", "default_value": "BLUE"}),
            ("re", F.TYPE_ENUM, F.LABEL_REPEATED, {"type_name": ".t.Color"}),
            ("msg", F.TYPE_MESSAGE, F.LABEL_OPTIONAL, {"type_name": ".t.Inner"}),
            ("rmsg", F.TYPE_MESSAGE, F.LABEL_REPEATED, {"type_name": ".t.Inner"}),
            ("dflt", F.TYPE_INT32, F.LABEL_OPTIONAL, {"default_value": "42"}),
            ("sdflt", F.TYPE_STRING, F.LABEL_OPTIONAL, {"default_value": "hey"}),
            ("fdflt", F.TYPE_FLOAT, F.LABEL_OPTIONAL, {"default_value": "1.5"})):
        m.field.add(name=name, number=n, type=t, label=label, **extra)
        n += 1
    return descriptor_pb2.FileDescriptorSet(file=[fd])


FILES = file_set()
SOURCE = b"bytes://" + FILES.SerializeToString()
_pool = descriptor_pool.DescriptorPool()
_pool.Add(FILES.file[0])
M = message_factory.GetMessageClass(_pool.FindMessageTypeByName("t.M"))
NUMBER = {f.name: f.number for f in _pool.FindMessageTypeByName("t.M").fields}


def tag(name: str, wire: int) -> bytes:
    from savedmodel_io.formats import varint

    return varint.encode(NUMBER[name] << 3 | wire)


def strings(*values: bytes) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


full = M(d=1.5, f=2.5, i64=-3, u64=2**64 - 1, i32=-4, fx64=5, fx32=6, b=True, s="s", by=b"\xff",
         u32=7, sf32=-8, sf64=-9, s32=-10, s64=-11, e=0)
full.ri32.extend([1, -2, 3])
full.pi32.extend([4, 5])
full.rs.extend(["x", "y"])
full.rmsg.add(x=1)
full.rmsg.add(x=2)
full.msg.x = 9
full.re.extend([7, 0])
full.pd.extend([0.5, -1e300])
full.ps64.extend([-(2**63), 2**63 - 1])
MESSAGES = strings(full.SerializeToString(), M(i32=1).SerializeToString(), b"")
RAW = strings(
    tag("pi32", 0) + b"\x05" + tag("ri32", 2) + b"\x02\x01\x02" + tag("i32", 0) + b"\x01"
    + tag("i32", 0) + b"\x02",  # packed read unpacked, repeated read packed, last value wins
    tag("msg", 2) + b"\x02\x08\x01" + tag("msg", 2) + b"\x02\x08\x02",  # submessage not merged
    tag("i32", 0) + b"\xff\xff\xff\xff\x1f" + tag("u32", 0) + b"\xff\xff\xff\xff\x1f"
    + tag("b", 0) + b"\x02",  # varints cut to 32 bits, bool of 2
    b"\xf8\x07\x01\xfb\x07\x08\x01\xfc\x07" + tag("i32", 0) + b"\x03",  # unknown field, group
    tag("i32", 2) + b"\x01\x09" + tag("f", 0) + b"\x05",  # packed singular; wrong wire: skipped
)
CASES: list[Case] = []


def decode_case(tag_: str, data: np.ndarray, names: list[str], types: list[str] | None = None,
                **attrs) -> None:
    types = types or [OUT[n.lstrip("rp") if n not in OUT else n] for n in names]
    CASES.append(Case(f"DecodeProtoV2-{tag_}", "DecodeProtoV2", [("bytes", data)],
                      {"message_type": "t.M", "field_names": names, "output_types": types,
                       "descriptor_source": SOURCE, **attrs}))


def encode_case(tag_: str, sizes: np.ndarray, values: list[np.ndarray], names: list[str],
                **attrs) -> None:
    CASES.append(Case(f"EncodeProto-{tag_}", "EncodeProto", [("sizes", sizes), ("values", values)],
                      {"message_type": "t.M", "field_names": names, "descriptor_source": SOURCE,
                       **attrs}))


ALL = [n for n, _ in SCALAR_TYPES] + ["e", "ri32", "pi32", "rs", "msg", "rmsg", "re", "dflt",
                                      "sdflt", "fdflt", "pd", "ps64"]
decode_case("every_type", MESSAGES, ALL)
decode_case("every_type_2d", MESSAGES[:2].reshape(1, 2), ALL)
decode_case("scalar", np.array(MESSAGES[0], dtype=object), ["i32", "ri32", "s"])
decode_case("empty_batch", np.zeros((0, 2), object), ["i32", "rs"])
decode_case("all_absent", strings(b"", b""), ["i32", "ri32", "e", "sdflt"])
decode_case("wide", MESSAGES, list(WIDE), list(WIDE.values()))
decode_case("no_fields", MESSAGES, [], [])
decode_case("wire_forms", RAW, ["pi32", "ri32", "i32", "msg", "u32", "b", "f"])
decode_case("sanitize", MESSAGES, ["i32", "rmsg"], sanitize=True)
decode_case("text", strings(b'i32: 3 ri32: [1, 2] s: "a" msg { x: 4 }', b""), ["i32", "ri32", "s", "msg"],
            message_format="text")
for name, bad_type in (("d", "float32"), ("i64", "int32"), ("u64", "int64"), ("e", "int64"),
                       ("b", "int32"), ("i32", "float32"), ("s", "int32"), ("msg", "int32")):
    decode_case(f"type_{name}_{bad_type}", MESSAGES, [name], [bad_type])
decode_case("unknown_field", MESSAGES, ["nope"], ["int32"])
decode_case("unknown_type", MESSAGES, ["i32"], message_type="t.Nope")
decode_case("names_types_mismatch", MESSAGES, ["i32", "i64"], ["int32"])
decode_case("bad_format", MESSAGES, ["i32"], message_format="json")
decode_case("bad_text", strings(b"junk"), ["i32"], message_format="text")
decode_case("truncated_varint", strings(tag("d", 0)), ["d"])
decode_case("bad_packed", strings(tag("ri32", 2) + b"\x05\x01"), ["ri32"])
decode_case("bad_packed_fixed", strings(tag("rf", 2) + b"\x03\x00\x00\x00"), ["rf"])
decode_case("sanitize_malformed", strings(tag("pi64", 2) + b"\x02\xff\xfe"), ["s"], sanitize=True)
decode_case("malformed_unrequested", strings(tag("pi64", 2) + b"\x02\xff\xfe"), ["s"])
example = Example()
example.features.feature["a"].CopyFrom(Feature())
example.features.feature["a"].int64_list.value.extend([1, 2])
CASES.append(Case("DecodeProtoV2-local_example", "DecodeProtoV2",
                  [("bytes", strings(example.SerializeToString(deterministic=True), b""))],
                  {"message_type": "tensorflow.Example", "field_names": ["features"],
                   "output_types": ["string"]}))
CASES.append(Case("DecodeProtoV2-local_tensor_shape", "DecodeProtoV2",
                  [("bytes", strings(b"\x12\x02\x08\x03\x12\x02\x08\x04", b"\x18\x01"))],
                  {"message_type": "tensorflow.TensorShapeProto", "field_names": ["dim", "unknown_rank"],
                   "output_types": ["string", "bool"]}))
# A descriptor file is refused (it is not part of the model); TF fails here for its absence.
decode_case("file_source", MESSAGES, ["i32"], descriptor_source=b"/nonexistent/t.desc")
CASES.append(Case("DecodeProtoV2-local_unknown", "DecodeProtoV2", [("bytes", MESSAGES)],
                  {"message_type": "t.M", "field_names": ["i32"], "output_types": ["int32"]}))

I32, I64 = np.int32, np.int64
encode_case("basic", np.array([[1, 2, 2, 1, 1]], I32),
            [I32([[7]]), I32([[1, -2]]), I32([[3, 4]]), strings(b"\x08\x01").reshape(1, 1),
             np.float32([[2.5]])], ["i32", "ri32", "pi32", "msg", "f"])
encode_case("every_scalar", np.ones((2, 15), I32),
            [np.float64([[1.5], [-0.0]]), np.float32([[2.5], [np.inf]]), I64([[-3], [2**62]]),
             np.uint64([[2**64 - 1], [0]]), I32([[-4], [2**31 - 1]]), np.uint64([[5], [6]]),
             np.uint32([[6], [7]]), np.array([[True], [False]]), strings(b"s", b"\xff").reshape(2, 1),
             strings(b"", b"b").reshape(2, 1), np.uint32([[7], [2**32 - 1]]), I32([[-8], [8]]),
             I64([[-9], [9]]), I32([[-10], [-(2**31)]]), I64([[-11], [-(2**63)]])],
            [n for n, _ in SCALAR_TYPES])
encode_case("packed_every", np.full((1, 5), 2, I32),
            [np.float64([[1.5, 2]]), I64([[-1, 1]]), np.uint32([[1, 2]]), I32([[-1, 3]]),
             np.array([[True, False]])], ["pd", "ps64", "pfx32", "ps32", "pb"])
encode_case("sizes_zero_negative", np.array([[0, 0, -1]], I32),
            [I32([[5]]), I32([[5]]), I32([[5]])], ["i32", "pi32", "ri32"])
encode_case("packed_size_negative", np.array([[-1, -2]], I32), [I32([[5]]), np.float32([[1]])],
            ["pi32", "pf"])
encode_case("batch_2d", np.array([[[1], [2]]], I32), [I32([[[1, 2], [3, 4]]])], ["pi32"])
encode_case("wide_input", np.array([[1, 1, 1]], I32), [I64([[7]]), np.uint64([[8]]), np.float64([[0.5]])],
            ["i32", "u32", "f"])
encode_case("singular_twice", np.array([[2]], I32), [I32([[7, 8]])], ["i32"])
encode_case("size_too_big", np.array([[2]], I32), [I32([[7]])], ["ri32"])
encode_case("values_vector", np.array([1], I32), [I32([5])], ["pi32"])
encode_case("bad_type_enum", np.array([[1]], I32), [I64([[7]])], ["e"])
encode_case("bad_type_uint", np.array([[1]], I32), [I32([[5]])], ["u32"])
encode_case("unknown_field", np.array([[1]], I32), [I32([[5]])], ["nope"])


def tf_run(request: dict) -> dict:
    """Answer one case as tests/_oracles/raw_ops.py does, with a binary descriptor_source."""
    import tensorflow as tf
    from _oracles.codec import decode as decode_array

    attrs = dict(request["attrs"])
    if "descriptor_source" in attrs:
        attrs["descriptor_source"] = base64.b64decode(attrs["descriptor_source"])
    for key in ("output_types",):
        if key in attrs:
            attrs[key] = [tf.as_dtype(t) for t in attrs[key]]

    def tensors(val, make):
        return [make(v) for v in val] if isinstance(val, list) else make(val)

    def dtype(d):
        return tf.string if d["dtype"] == "string" else tf.as_dtype(d["dtype"])

    out: dict = {}
    try:
        g = tf.Graph()
        with g.as_default():
            k = [0]

            def placeholder(v):
                k[0] += 1
                return tf.compat.v1.placeholder(dtype(v), shape=None, name=f"in{k[0] - 1}")
            kwargs = {name: tensors(val, placeholder) for name, val in request["inputs"]}
            getattr(tf.raw_ops, request["op"])(**kwargs, **attrs, name="op")
        out["node_def"] = base64.b64encode(g.get_operation_by_name("op").node_def
                                           .SerializeToString()).decode()
    except Exception as e:  # noqa: BLE001 (every TF failure is data)
        out["node_def_error"] = f"{type(e).__name__}: {e}"
    kwargs = {name: tensors(val, lambda v: tf.constant(decode_array(v), dtype=dtype(v)))
              for name, val in request["inputs"]}
    try:
        result = getattr(tf.raw_ops, request["op"])(**kwargs, **attrs)
        flat = []
        for r in result if isinstance(result, (list, tuple)) else [result]:
            flat += list(r) if isinstance(r, list) else [r]
        out["outputs"] = [encode(t.numpy()) for t in flat]
    except Exception as e:  # noqa: BLE001
        out["error"] = f"{type(e).__name__}: {str(e)[:600]}"
    return out


def _request(case: Case) -> dict:
    req = case.request()
    attrs = dict(req["attrs"])
    if "descriptor_source" in attrs:
        attrs["descriptor_source"] = base64.b64encode(attrs["descriptor_source"]).decode()
    return {"function": "tf_run", "op": req["op"], "inputs": req["inputs"], "attrs": attrs}


@pytest.fixture(scope="module")
def answers() -> dict:
    got = ModuleOracle(__name__).answers([_request(c) for c in CASES])
    return {c.id: a for c, a in zip(CASES, got)}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_kernel_matches_tensorflow(case, answers):
    check_case(case, answers[case.id])
