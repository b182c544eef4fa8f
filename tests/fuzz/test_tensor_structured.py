"""Property test: any TensorProto hypothesis can build decodes or raises a library error.

Complements the byte-level mutation fuzzing of test_proto.py with structure:
every DataType (and unknown ones), odd shapes (unknown, zero, negative,
overflowing int64 products, rank > 64) and every typed value field at once.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from savedmodel_io.proto import DataType, TensorProto

from .harness import check, examples, record
from .targets import TARGETS

DTYPES = sorted(DataType.values()) + [v + 100 for v in DataType.values()] + [99, 1000, -1]
DIMS = st.sampled_from([0, 1, 2, 3, 7, -1, -2, 1 << 20, 1 << 31, (1 << 63) - 1])
SMALL_INT = st.integers(-(1 << 31), (1 << 31) - 1)
I64 = st.integers(-(1 << 63), (1 << 63) - 1)
U64 = st.integers(0, (1 << 64) - 1)


@st.composite
def tensor_protos(draw) -> bytes:
    tp = TensorProto(dtype=draw(st.sampled_from(DTYPES)))
    if draw(st.integers(0, 9)) == 0:
        tp.tensor_shape.unknown_rank = True
    # Mostly small ranks; sometimes just past numpy's 64 dims.
    for d in draw(st.lists(DIMS, max_size=4) | st.lists(st.sampled_from([0, 1, 2]), min_size=65,
                                                         max_size=70)):
        tp.tensor_shape.dim.add().size = d
    lists = {
        "float_val": st.floats(width=32, allow_nan=True), "double_val": st.floats(),
        "int_val": SMALL_INT, "int64_val": I64, "uint32_val": st.integers(0, (1 << 32) - 1),
        "uint64_val": U64, "bool_val": st.booleans(), "half_val": SMALL_INT,
        "scomplex_val": st.floats(width=32), "dcomplex_val": st.floats(),
        "string_val": st.binary(max_size=8),
    }
    for name in draw(st.lists(st.sampled_from(sorted(lists)), max_size=3, unique=True)):
        getattr(tp, name).extend(draw(st.lists(lists[name], max_size=6)))
    if draw(st.booleans()):
        tp.tensor_content = draw(st.binary(max_size=64))
    if draw(st.integers(0, 4)) == 0:
        tp.float8_val = draw(st.binary(max_size=8))
    return tp.SerializeToString()


def test_structured_tensor_protos(fuzz_mode):
    count = 0

    @settings(max_examples=examples(fuzz_mode), deadline=None, derandomize=fuzz_mode != "slow",
              database=None)
    @given(tensor_protos())
    def run(data: bytes) -> None:
        nonlocal count
        count += 1
        check("tensor_proto", TARGETS["tensor_proto"], data)

    try:
        run()
    finally:
        record("tensor_proto_structured", fuzz_mode, count)
