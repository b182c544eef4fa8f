"""Example and SequenceExample parsing kernels against ``tf.raw_ops``.

Batches mix present, absent and empty features, wrong value kinds, variable-length dense
features, feature lists of every kind, scalar and vector inputs, and malformed protos.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.proto import Example, Feature, SequenceExample

from .raw_ops_harness import Cases

CASES = Cases(seed=7118)
add = CASES.add


def strings(*values) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = [v if isinstance(v, bytes) else v.encode() for v in values]
    return arr


def scalar(value) -> np.ndarray:
    return np.array(value if isinstance(value, bytes) else value.encode(), dtype=object)


# Empty lists of each kind (an empty Python list would leave the Feature's kind unset).
NO_BYTES, NO_FLOATS, NO_INTS = ("bytes_list",), ("float_list",), ("int64_list",)


def feature(values) -> Feature:
    """A Feature holding ``values`` (floats, ints or bytes); None: no list set."""
    f = Feature()
    if values is None:
        return f
    if isinstance(values, tuple):
        getattr(f, values[0]).SetInParent()
    elif all(isinstance(v, bytes) for v in values) and values:
        f.bytes_list.value.extend(values)
    elif all(isinstance(v, int) for v in values) and values:
        f.int64_list.value.extend(values)
    else:
        f.float_list.value.extend(values)
    return f


def example(**feats) -> bytes:
    ex = Example()
    for k, v in feats.items():
        ex.features.feature[k].CopyFrom(feature(v))
    return ex.SerializeToString(deterministic=True)


def sequence(context: dict, lists: dict) -> bytes:
    seq = SequenceExample()
    for k, v in context.items():
        seq.context.feature[k].CopyFrom(feature(v))
    for k, steps in lists.items():
        fl = seq.feature_lists.feature_list[k]
        for v in steps:
            fl.feature.add().CopyFrom(feature(v))
    return seq.SerializeToString(deterministic=True)


# Type names (tf.as_dtype reads them in list(type) attrs; DT() is for single type attrs).
F32, I64, STR = "float32", "int64", "string"
NO_STR = np.zeros(0, object)

# -- Example: batches and single examples -----------------------------------------------------
EXAMPLES = strings(example(a=[1.0, 2.0], n=[3], s=[b"x", b"y"], v=[1.0, 2.0, 3.0, 4.0]),
                   example(a=[5.0, 6.0], s=[b"z"], v=[7.0, 8.0]),
                   example(a=[9.0, 10.0], n=None, s=NO_BYTES, v=NO_FLOATS))


def v2(tag, serialized, dense, sparse=(), ragged=(), **attrs):
    """A ParseExampleV2 case: dense = [(key, type, shape, default)], sparse/ragged = [(key, type)]."""
    add("ParseExampleV2", tag, {
        "sparse_types": [t for _, t in sparse], "num_sparse": len(sparse),
        "dense_shapes": [sh for _, _, sh, _ in dense],
        "ragged_value_types": [t for _, t in ragged],
        "ragged_split_types": [attrs.get("split", I64)] * len(ragged)},
        serialized=serialized, names=NO_STR, sparse_keys=strings(*[k for k, _ in sparse]),
        dense_keys=strings(*[k for k, _, _, _ in dense]), ragged_keys=strings(*[k for k, _ in ragged]),
        dense_defaults=[d for _, _, _, d in dense])


v2("mixed", EXAMPLES, [("a", F32, [2], np.zeros(0, np.float32)),
                       ("n", I64, [], np.int64(-1))],
   sparse=[("s", STR)], ragged=[("v", F32)])
v2("default_full", EXAMPLES, [("zz", F32, [2, 2], np.float32([[1, 2], [3, 4]]))])
v2("seq_dense", EXAMPLES, [("v", F32, [None, 2], np.float32(-1))])
v2("seq_dense_missing", EXAMPLES, [("zz", F32, [None], np.float32(0))])
v2("seq_dense_uneven", EXAMPLES, [("v", F32, [None, 3], np.float32(0))])
v2("required_missing", EXAMPLES, [("n", I64, [], np.zeros(0, np.int64))])
v2("wrong_kind", EXAMPLES, [("a", I64, [2], np.zeros(0, np.int64))])
v2("wrong_count", EXAMPLES, [("a", F32, [3], np.zeros(0, np.float32))])
v2("default_bcast", EXAMPLES, [("zz", F32, [2, 2], np.float32(7))])
v2("string_default", EXAMPLES, [("zz", STR, [1], strings("dflt"))])
v2("scalar_input", scalar(example(a=[1.0, 2.0], s=[b"q"], v=[0.5])),
   [("a", F32, [2], np.zeros(0, np.float32))], sparse=[("s", STR)], ragged=[("v", F32)])
v2("empty_batch", np.zeros(0, object), [("a", F32, [2], np.zeros(2, np.float32))],
   sparse=[("s", STR)], ragged=[("v", F32)])
v2("int32_splits", EXAMPLES, [], ragged=[("v", F32)], split="int32")
v2("corrupt", strings(b"\x0a\x05garbage"), [("a", F32, [2], np.zeros(2, np.float32))])


def v1(tag, serialized, dense, sparse=(), names=NO_STR):
    """A TF1 ParseExample case: keys and defaults are separate scalar inputs."""
    add("ParseExample", tag, {"sparse_types": [t for _, t in sparse],
                              "dense_shapes": [sh for _, _, sh, _ in dense]},
        serialized=serialized, names=names,
        sparse_keys=[scalar(k) for k, _ in sparse], dense_keys=[scalar(k) for k, _, _, _ in dense],
        dense_defaults=[d for _, _, _, d in dense])


v1("mixed", EXAMPLES, [("a", F32, [2], np.zeros(0, np.float32)), ("n", I64, [], np.int64(-1))],
   sparse=[("s", STR), ("v", F32)])
v1("named", EXAMPLES, [("a", F32, [2], np.zeros(0, np.float32))], names=strings("e0", "e1", "e2"))
v1("seq_dense", EXAMPLES, [("v", F32, [None, 2], np.float32(-1))])
v1("required_missing", EXAMPLES, [("n", I64, [], np.zeros(0, np.int64))])
v1("wrong_kind", EXAMPLES, [], sparse=[("a", I64)])
v1("sparse_only", EXAMPLES, [], sparse=[("s", STR), ("n", I64), ("zz", F32)])
v1("corrupt", strings(b"\x0a\x05garbage"), [("a", F32, [2], np.zeros(2, np.float32))])
add("ParseSingleExample", "basic", {"sparse_keys": ["s", "v"], "sparse_types": [STR, F32],
                                    "num_sparse": 2, "dense_keys": ["a", "n"],
                                    "dense_shapes": [[2], [1]]},
    serialized=EXAMPLES[0], dense_defaults=[np.zeros(0, np.float32), np.int64([4])])
add("ParseSingleExample", "defaults", {"sparse_keys": [], "sparse_types": [], "num_sparse": 0,
                                       "dense_keys": ["n", "zz"], "dense_shapes": [[], [None]]},
    serialized=EXAMPLES[1], dense_defaults=[np.int64(4), np.float32(0)])
add("ParseSingleExample", "vector_input", {"sparse_keys": [], "sparse_types": [], "num_sparse": 0,
                                           "dense_keys": ["a"], "dense_shapes": [[2]]},
    serialized=EXAMPLES, dense_defaults=[np.zeros(0, np.float32)])

# -- SequenceExample ------------------------------------------------------------------------------
SEQS = strings(
    sequence({"c": [1.0, 2.0], "id": [7], "tag": [b"a"]},
             {"f": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], "w": [[b"x"], [b"y", b"z"]],
              "i": [[1], [2, 3], NO_INTS]}),
    sequence({"c": [3.0, 4.0]}, {"f": [[7.0, 8.0]], "i": [[4]]}),
    sequence({"c": [5.0, 6.0], "tag": [b"b", b"c"]}, {"f": [], "w": [NO_BYTES], "i": [None]}))
ONE_SEQ = SEQS[0]


def seq_v2(tag, serialized, c_dense=(), c_sparse=(), c_ragged=(), fl_dense=(), fl_sparse=(),
           fl_ragged=(), split=I64, only=None):
    """ParseSequenceExampleV2: c_dense = [(key, type, shape, default)]; fl_dense = [(key, type,
    shape, missing_assumed_empty)]; the others [(key, type)]."""
    add("ParseSequenceExampleV2", tag, only=only, attrs={
        "Ncontext_sparse": len(c_sparse), "context_sparse_types": [t for _, t in c_sparse],
        "context_dense_shapes": [sh for _, _, sh, _ in c_dense],
        "context_ragged_value_types": [t for _, t in c_ragged],
        "context_ragged_split_types": [split] * len(c_ragged),
        "Nfeature_list_sparse": len(fl_sparse), "feature_list_sparse_types": [t for _, t in fl_sparse],
        "Nfeature_list_dense": len(fl_dense), "feature_list_dense_types": [t for _, t, _, _ in fl_dense],
        "feature_list_dense_shapes": [sh for _, _, sh, _ in fl_dense],
        "feature_list_ragged_value_types": [t for _, t in fl_ragged],
        "feature_list_ragged_split_types": [split] * len(fl_ragged)},
        serialized=serialized, debug_name=NO_STR,
        context_sparse_keys=strings(*[k for k, _ in c_sparse]),
        context_dense_keys=strings(*[k for k, _, _, _ in c_dense]),
        context_ragged_keys=strings(*[k for k, _ in c_ragged]),
        feature_list_sparse_keys=strings(*[k for k, _ in fl_sparse]),
        feature_list_dense_keys=strings(*[k for k, _, _, _ in fl_dense]),
        feature_list_ragged_keys=strings(*[k for k, _ in fl_ragged]),
        feature_list_dense_missing_assumed_empty=np.array([m for _, _, _, m in fl_dense], bool),
        context_dense_defaults=[d for _, _, _, d in c_dense])


ZF = np.zeros(0, np.float32)
seq_v2("everything", SEQS, c_dense=[("c", F32, [2], ZF), ("id", I64, [], np.int64(0))],
       c_sparse=[("tag", STR)], c_ragged=[("c", F32)],
       fl_dense=[("f", F32, [2], True)], fl_sparse=[("w", STR)], fl_ragged=[("i", I64)])
seq_v2("lists_sparse_ragged", SEQS, c_ragged=[("tag", STR)], fl_sparse=[("i", I64)],
       fl_ragged=[("w", STR)])
seq_v2("both_sparse_and_ragged", SEQS, c_sparse=[("tag", STR)], c_ragged=[("tag", STR)])
# For a scalar input TF allocates the ragged features' scalar row splits (outputs 5 and 12) and
# never writes them: it returns whatever the memory held (seen: 0, 64, heap addresses), so
# those two are not compared.
seq_v2("scalar", scalar(ONE_SEQ), c_dense=[("c", F32, [2], ZF)], c_sparse=[("tag", STR)],
       c_ragged=[("id", I64)], fl_dense=[("f", F32, [2], False)], fl_sparse=[("w", STR)],
       fl_ragged=[("i", I64)], only=(0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 13))
seq_v2("dense_list_missing", SEQS, fl_dense=[("w", STR, [1], False)])
seq_v2("dense_list_missing_ok", SEQS, fl_dense=[("w", STR, [1], True)])
seq_v2("dense_list_wrong_count", SEQS, fl_dense=[("i", I64, [1], True)])
seq_v2("dense_list_wrong_kind", SEQS, fl_dense=[("f", I64, [2], True)])
seq_v2("context_required", SEQS, c_dense=[("id", I64, [], np.zeros(0, np.int64))])
seq_v2("int32_splits", SEQS, c_ragged=[("tag", STR)], fl_ragged=[("i", I64)], split="int32")
seq_v2("empty_batch", np.zeros(0, object), c_dense=[("c", F32, [2], np.zeros(2, np.float32))],
       fl_dense=[("f", F32, [2], True)], fl_sparse=[("w", STR)], fl_ragged=[("i", I64)])
seq_v2("corrupt", strings(b"\x12\x03abc"), fl_dense=[("f", F32, [2], True)])
add("ParseSequenceExample", "v1", {
    "context_sparse_keys": ["tag"], "context_sparse_types": [STR], "Ncontext_sparse": 1,
    "context_dense_keys": ["c"], "context_dense_shapes": [[2]], "Ncontext_dense": 1,
    "feature_list_sparse_keys": ["w"], "feature_list_sparse_types": [STR], "Nfeature_list_sparse": 1,
    "feature_list_dense_keys": ["f", "i"], "feature_list_dense_types": [F32, I64],
    "feature_list_dense_shapes": [[2], [1]], "Nfeature_list_dense": 2,
    "feature_list_dense_missing_assumed_empty": ["f", "i"]},
    serialized=SEQS[:2], debug_name=NO_STR, context_dense_defaults=[ZF])
add("ParseSequenceExample", "v1_missing", {
    "context_sparse_keys": [], "context_sparse_types": [], "Ncontext_sparse": 0,
    "context_dense_keys": [], "context_dense_shapes": [], "Ncontext_dense": 0,
    "feature_list_sparse_keys": [], "feature_list_sparse_types": [], "Nfeature_list_sparse": 0,
    "feature_list_dense_keys": ["w"], "feature_list_dense_types": [STR],
    "feature_list_dense_shapes": [[1]], "Nfeature_list_dense": 1,
    "feature_list_dense_missing_assumed_empty": []},
    serialized=SEQS, debug_name=NO_STR, context_dense_defaults=[])


def single_seq(tag, serialized, missing_ok, c_sparse, c_dense, fl_sparse, fl_dense, defaults):
    add("ParseSingleSequenceExample", tag, {
        "context_sparse_types": [t for _, t in c_sparse],
        "context_dense_shapes": [sh for _, sh in c_dense],
        "feature_list_sparse_types": [t for _, t in fl_sparse],
        "feature_list_dense_types": [t for _, t, _ in fl_dense],
        "feature_list_dense_shapes": [sh for _, _, sh in fl_dense]},
        serialized=serialized, feature_list_dense_missing_assumed_empty=strings(*missing_ok),
        context_sparse_keys=[scalar(k) for k, _ in c_sparse],
        context_dense_keys=[scalar(k) for k, _ in c_dense],
        feature_list_sparse_keys=[scalar(k) for k, _ in fl_sparse],
        feature_list_dense_keys=[scalar(k) for k, _, _ in fl_dense],
        context_dense_defaults=defaults, debug_name=scalar(""))


single_seq("basic", scalar(ONE_SEQ), [], [("tag", STR)], [("c", [2]), ("id", [1])],
           [("w", STR), ("i", I64)], [("f", F32, [2])], [ZF, np.int64([5])])
single_seq("missing_ok", scalar(SEQS[1]), ["w"], [], [], [], [("w", STR, [1])], [])
single_seq("missing", scalar(SEQS[1]), [], [], [], [], [("w", STR, [1])], [])
single_seq("vector_input", SEQS, [], [], [("c", [2])], [], [], [ZF])

# -- JSON Examples -------------------------------------------------------------------------------------
FEATS = '{"features": {"feature": {%s}}}'
JSON_OK = [
    FEATS % '"b": {"int64List": {"value": ["29", 3, -1, "0x10", 4.0]}}, "a": {"floatList": {"value": '
            '[1.5, "NaN", "-Infinity", 0.1, 1e-50]}}',
    FEATS % '"z": {"bytes_list": {"value": ["aGk=", "aGk", "-_8=", ""]}}, "a": {"int64List": {}}',
    "{}", '{"features": {}}', '{"features": null}', FEATS % '"x": {}',
    FEATS % '"x": {"floatList": {"value": [1], "value": [2]}}',
    FEATS % '"x": {"floatList": {"value": null}}',
    FEATS % '"x": {"float_list": {"value": 2.5}}',
    FEATS % '"x": {"int64List": {"value": [9223372036854775807, "-9223372036854775808"]}}',
    ' {"features" : {"feature":{"y":{"bytesList":{"value":[""]}}}}} ',
    FEATS % '"x": {"floatList": {"value": ["1.5", "-2e3", ".5"]}}',
]
JSON_BAD = ["", "   ", "[1]", '{"foo": 1}', FEATS % '"x": {"int64List": {"value": [1.5]}}',
            FEATS % '"x": {"int64List": {"value": ["9223372036854775808"]}}',
            FEATS % '"x": {"floatList": {"value": [1e40]}}',
            FEATS % '"x": {"floatList": {"value": [1]}, "int64List": {"value": [2]}}',
            FEATS % '"x": {"floatList": {"value": [1]}}, "x": {"int64List": {"value": [2]}}',
            FEATS % '"x": {"bytesList": {"value": ["***"]}}',
            FEATS % '"x": {"floatList": {"value": ["1.5x"]}}',
            FEATS % '"x": {"int64List": {"value": [true]}}',
            '{"features": {"feature": {"x": {"floatList": {"value": [1]}}}}',
            '{"features": {"feature": {"x": {"floatList": {"values": [1]}}}}}']
add("DecodeJSONExample", "valid", json_examples=strings(*JSON_OK))
add("DecodeJSONExample", "2d", json_examples=strings(*JSON_OK[:4]).reshape(2, 2))
for i, text in enumerate(JSON_BAD):
    add("DecodeJSONExample", f"bad{i}", json_examples=strings(text))

test_kernel_matches_tensorflow = CASES.test()
