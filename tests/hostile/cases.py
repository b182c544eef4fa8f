"""Hostile ~1 KB inputs that declare sizes, shapes, lengths and counts far beyond themselves.

Each case writes its file(s) into ``tmp`` and calls the parser that a user would
hit; it must end in a ``SavedModelError``. ``tests/test_bounded.py`` runs every
case in a subprocess under an address-space cap and a CPU-time limit, with
TensorFlow unimportable.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

CASES: dict[str, Callable[[Path], object]] = {}
NEEDS: dict[str, str] = {}


def case(name: str, needs: str | None = None):
    def register(fn):
        CASES[name] = fn
        if needs:
            NEEDS[name] = needs
        return fn

    return register


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _tensor(dtype: int, dims: list[int], **fields):
    from savedmodel_io.proto import TensorProto

    tp = TensorProto(dtype=dtype)
    for d in dims:
        tp.tensor_shape.dim.add().size = d
    for k, v in fields.items():
        f = getattr(tp, k)
        if isinstance(v, (bytes, str)):
            setattr(tp, k, v)
        else:
            f.extend(v)
    return tp


def _decode_file(tmp: Path, tp) -> object:
    from savedmodel_io.proto import TensorProto, parse_message
    from savedmodel_io.tensors import to_array

    p = tmp / "tensor.pb"
    p.write_bytes(tp.SerializeToString())
    assert p.stat().st_size < 1024
    return to_array(parse_message(TensorProto, p.read_bytes(), path=p), path=str(p))


# --- TensorProto: shapes far beyond the values given ---------------------------------------------


@case("tensor_repeat_2gib")
def tensor_repeat_2gib(tmp: Path):
    """One float repeated to 2 GiB (under the 4 GiB expansion limit, over the memory cap)."""
    return _decode_file(tmp, _tensor(1, [1 << 29], float_val=[1.0]))


@case("tensor_repeat_1tib")
def tensor_repeat_1tib(tmp: Path):
    return _decode_file(tmp, _tensor(1, [1 << 20, 1 << 20], float_val=[1.0]))


@case("tensor_dims_overflow_int64")
def tensor_dims_overflow_int64(tmp: Path):
    return _decode_file(tmp, _tensor(2, [(1 << 62), (1 << 62), 3], double_val=[0.0]))


@case("tensor_content_short")
def tensor_content_short(tmp: Path):
    return _decode_file(tmp, _tensor(1, [1 << 40], tensor_content=b"\0" * 16))


@case("string_tensor_repeat_2gib")
def string_tensor_repeat_2gib(tmp: Path):
    """2**28 references to one string: a 2 GiB object array from a 30-byte proto."""
    return _decode_file(tmp, _tensor(7, [1 << 28], string_val=[b"x"]))


@case("string_tensor_repeat_huge")
def string_tensor_repeat_huge(tmp: Path):
    return _decode_file(tmp, _tensor(7, [1 << 45], string_val=[b"x" * 64]))


@case("complex_repeat_huge")
def complex_repeat_huge(tmp: Path):
    return _decode_file(tmp, _tensor(18, [1 << 33], dcomplex_val=[1.0, 2.0]))


# --- saved_model.pb / .pbtxt ---------------------------------------------------------------------


@case("pb_length_beyond_file", needs="savedmodel_io.model")
def pb_length_beyond_file(tmp: Path):
    """Nested length-delimited fields each claiming 2 GiB."""
    import savedmodel_io

    body = b""
    for field in (1, 2, 1, 3) * 40:  # meta_graphs / graph_def / ... / whatever comes
        body = bytes([(field << 3) | 2]) + varint((1 << 31) - 1) + body
    (tmp / "saved_model.pb").write_bytes(bytes([(2 << 3) | 2]) + varint(1 << 40) + body[:900])
    return savedmodel_io.load(tmp)


@case("pb_signature_default_huge", needs="savedmodel_io.model")
def pb_signature_default_huge(tmp: Path):
    """A signature whose default value is a 1 TiB tensor of one repeated float."""
    import savedmodel_io
    from savedmodel_io.proto import SavedModel

    sm = SavedModel()
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    sig = mg.signature_def["serving_default"]
    sig.inputs["x"].name = "x:0"
    sig.defaults["x"].CopyFrom(_tensor(1, [1 << 40], float_val=[3.0]))
    (tmp / "saved_model.pb").write_bytes(sm.SerializeToString())
    return savedmodel_io.load(tmp).signatures["serving_default"].defaults


@case("pb_const_2gib_in_scan", needs="savedmodel_io.scan")
def pb_const_2gib_in_scan(tmp: Path):
    """A graph of 2 GiB constants: scanning must not decode them; then decoding one must fail."""
    from savedmodel_io.proto import SavedModel
    from savedmodel_io.scan import scan_saved_model
    from savedmodel_io.tensors import to_array

    sm = SavedModel()
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    for i in range(20):
        n = mg.graph_def.node.add(name=f"c{i}", op="Const")
        n.attr["value"].tensor.CopyFrom(_tensor(1, [1 << 29], float_val=[1.0]))
    (tmp / "saved_model.pb").write_bytes(sm.SerializeToString())
    assert not scan_saved_model(tmp).found
    return to_array(mg.graph_def.node[0].attr["value"].tensor, path=str(tmp), where="c0")


@case("pbtxt_deep_nesting", needs="savedmodel_io.model")
def pbtxt_deep_nesting(tmp: Path):
    import savedmodel_io

    head = "meta_graphs { object_graph_def { concrete_functions { key: 'f' value { output_signature { "
    text = head + "list_value { values { " * 200 + "} }" * 200 + " } } } } }"
    assert len(text) < 8192
    (tmp / "saved_model.pbtxt").write_text(text)
    return savedmodel_io.load(tmp)
