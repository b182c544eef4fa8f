"""SparseCross, SparseCrossHashed, SparseCrossV2 and RaggedCross against ``tf.raw_ops``."""

from __future__ import annotations

import numpy as np

from .raw_ops_harness import DT, Cases, s

CASES = Cases(seed=7307)
add = CASES.add


def i64(*rows) -> np.ndarray:
    return np.array(rows, np.int64)


# Two sparse string columns and one sparse int64 column over a batch of 3 (row 1 empty in A).
A = (i64([0, 0], [0, 1], [2, 0]), s("a", "b", "c"), i64(3, 2))
B = (i64([0, 0], [1, 0], [1, 1], [2, 0]), s("x", "y", "z", ""), i64(3, 2))
C = (i64([0, 0], [1, 0], [2, 0], [2, 1]), i64(7, -3, 0, 12345678901), i64(3, 2))
DS = np.array([[b"d0", b"e0"], [b"d1", b"e1"], [b"d2", b"e2"]], dtype=object)
DI = i64([5, 6], [-7, 8], [9, 2**40])
UNSORTED = (i64([2, 0], [0, 0], [0, 1]), s("c", "a", "b"), i64(3, 2))


def _sparse(*cols, dense=()):
    return {"indices": [c[0] for c in cols], "values": [c[1] for c in cols],
            "shapes": [c[2] for c in cols], "dense_inputs": list(dense)}


def _cross() -> None:
    for tag, cols, dense in (("ss", (A, B), ()), ("sss", (A, B, A), ()), ("sd", (A,), (DS,)),
                             ("d_only", (), (DS, DS)), ("unsorted", (UNSORTED, B), ())):
        string_attrs = {"hashed_output": False, "num_buckets": 0, "hash_key": 0,
                        "out_type": DT("string"), "internal_type": DT("string")}
        add("SparseCross", f"{tag}_strings", string_attrs, **_sparse(*cols, dense=dense))
        for buckets, key in ((0, 0), (100, 0), (7, 956888297470), (0, -5)):
            attrs = {"hashed_output": True, "num_buckets": buckets, "hash_key": key,
                     "out_type": DT("int64"), "internal_type": DT("string")}
            add("SparseCross", f"{tag}_hashed_{buckets}_{key}", attrs,
                **_sparse(*cols, dense=dense))
        add("SparseCrossV2", tag, **_sparse(*cols, dense=dense), sep=np.array(b"--", object))
        for strong in (False, True):
            for buckets in (0, 1000):
                add("SparseCrossHashed", f"{tag}_{strong}_{buckets}", **_sparse(*cols, dense=dense),
                    num_buckets=np.int64(buckets), strong_hash=np.array(strong),
                    salt=i64(123, -456))
    int_attrs = {"hashed_output": False, "num_buckets": 0, "hash_key": 0,
                 "out_type": DT("string"), "internal_type": DT("int64")}
    add("SparseCross", "ints_as_strings", int_attrs, **_sparse(C, A, dense=(DI,)))
    hashed_int = {"hashed_output": True, "num_buckets": 0, "hash_key": 1,
                  "out_type": DT("int64"), "internal_type": DT("int64")}
    add("SparseCross", "ints_hashed", hashed_int, **_sparse(C, dense=(DI,)))
    add("SparseCross", "int_values_string_internal",
        {**int_attrs, "internal_type": DT("string")}, **_sparse(C, A))
    add("SparseCrossV2", "ints", **_sparse(C, A, dense=(DI,)), sep=np.array(b"|", object))
    add("SparseCrossHashed", "ints", **_sparse(C, A, dense=(DI, DS)),
        num_buckets=np.int64(0), strong_hash=np.array(False), salt=i64(1, 2))
    add("SparseCrossHashed", "ints_strong", **_sparse(C, A), num_buckets=np.int64(0),
        strong_hash=np.array(True), salt=i64(1, 2))
    add("SparseCrossHashed", "bad_salt", **_sparse(A, B), num_buckets=np.int64(0),
        strong_hash=np.array(False), salt=i64(1))
    add("SparseCrossV2", "batch_mismatch", **_sparse(A, (B[0], B[1], i64(4, 2))),
        sep=np.array(b"_", object))
    add("SparseCrossV2", "rank3", **_sparse((i64([0, 0, 0]), s("a"), i64(1, 1, 1))),
        sep=np.array(b"_", object))
    add("SparseCrossV2", "dense_batch", **_sparse(A, dense=(DS[:2],)), sep=np.array(b"_", object))
    add("SparseCrossV2", "sep_vector", **_sparse(A, B), sep=s("_"))
    add("SparseCrossV2", "empty", **_sparse((np.zeros((0, 2), np.int64), s(), i64(2, 3))),
        sep=np.array(b"_", object))


def _ragged() -> None:
    rv, rs = s("a", "b", "c"), i64(0, 2, 2, 3)
    # (TF reads every row_splits input as out_row_splits_type: mixing types crashes it.)
    iv, is_ = i64(1, 2, 3, 4), i64(0, 1, 3, 4)
    for hashed in (False, True):
        for buckets, key in ((0, 0), (10, 7)):
            attrs = {"hashed_output": hashed, "num_buckets": buckets, "hash_key": key,
                     "out_values_type": DT("int64" if hashed else "string"),
                     "out_row_splits_type": DT("int64"), "input_order": "RSDR"}
            add("RaggedCross", f"rsdr_{hashed}_{buckets}_{key}", attrs,
                ragged_values=[rv, iv], ragged_row_splits=[rs, is_],
                sparse_indices=[A[0]], sparse_values=[A[1]], sparse_shape=[A[2]],
                dense_inputs=[DI])
    base = {"hashed_output": False, "num_buckets": 0, "hash_key": 0,
            "out_values_type": DT("string")}
    add("RaggedCross", "splits32", {**base, "out_row_splits_type": DT("int32"),
                                    "input_order": "DS"},
        ragged_values=[], ragged_row_splits=[], sparse_indices=[UNSORTED[0]],
        sparse_values=[UNSORTED[1]], sparse_shape=[UNSORTED[2]], dense_inputs=[DS])
    add("RaggedCross", "ragged_only", {**base, "out_row_splits_type": DT("int64"),
                                       "input_order": "RR"},
        ragged_values=[rv, rv], ragged_row_splits=[rs, rs], sparse_indices=[], sparse_values=[],
        sparse_shape=[], dense_inputs=[])
    add("RaggedCross", "bad_splits", {**base, "out_row_splits_type": DT("int64"),
                                      "input_order": "R"},
        ragged_values=[rv], ragged_row_splits=[i64(0, 2, 1, 3)], sparse_indices=[],
        sparse_values=[], sparse_shape=[], dense_inputs=[])
    add("RaggedCross", "batch_mismatch", {**base, "out_row_splits_type": DT("int64"),
                                          "input_order": "RD"},
        ragged_values=[rv], ragged_row_splits=[rs], sparse_indices=[], sparse_values=[],
        sparse_shape=[], dense_inputs=[DS[:2]])


_cross()
_ragged()
test_kernel_matches_tensorflow = CASES.test()


# StringToHashBucketStrong shares SipHash with SparseCrossHashed.
HASH = Cases(seed=7309)
for _key in ([1, 2], [-5, 2**62], [0, 0]):
    HASH.add("StringToHashBucketStrong", f"key_{_key[0]}_{_key[1]}",
             {"num_buckets": 1000, "key": _key},
             input=np.array([[b"", b"a"], [b"hello", bytes(range(40))]], dtype=object))
HASH.add("StringToHashBucketStrong", "big_buckets", {"num_buckets": 2**31 - 1, "key": [3, 4]},
         input=s("x", "exactly8", "seventeen chars!!"))
HASH.add("StringToHashBucketStrong", "bad_key", {"num_buckets": 10, "key": [1]}, input=s("x"))
test_string_to_hash_bucket_strong = HASH.test()
