"""TensorBundle reader/writer without TensorFlow: round trips, slices, shards, bad input, fuzzing."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from savedmodel_io.errors import (
    ChecksumError,
    CorruptFileError,
    InvalidArgumentError,
    LimitExceededError,
    NotFoundError,
    SavedModelError,
    UnsupportedFormatError,
)
from savedmodel_io.formats import bundle, bundle_writer, checkpoint_dir, sstable
from savedmodel_io.formats.object_paths import PathBudget
from savedmodel_io.formats.bundle import Sliced, open_checkpoint, write_checkpoint
from savedmodel_io.hashing.crc32c import crc32c, mask
from savedmodel_io.proto import BundleEntryProto, BundleHeaderProto, TrackableObjectGraph

from _deadline import deadline

ml_dtypes = pytest.importorskip("ml_dtypes")


def sample_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {
        "f16": rng.standard_normal((3, 4)).astype(np.float16),
        "f32": rng.standard_normal((5,)).astype(np.float32),
        "f64": np.array([np.nan, np.inf, -0.0, 1e300]),
        "i8": np.array([-128, 0, 127], np.int8),
        "i16": np.arange(-5, 5, dtype=np.int16).reshape(2, 5),
        "i32": np.array(7, np.int32),
        "i64": np.array([2**62, -(2**62)], np.int64),
        "u8": np.arange(256, dtype=np.uint8),
        "u16": np.array([65535], np.uint16),
        "u32": np.array([2**32 - 1], np.uint32),
        "u64": np.array([2**64 - 1], np.uint64),
        "bool": np.array([[True, False], [False, True]]),
        "c64": np.array([1 + 2j, -3.5j], np.complex64),
        "c128": np.array([[1e200 + 1j]], np.complex128),
        "bf16": np.array([1.5, -2, 3e38], ml_dtypes.bfloat16),
        "f8e4m3": np.array([1.5, -448], ml_dtypes.float8_e4m3fn),
        "f8e5m2": np.array([0.25, 57344], ml_dtypes.float8_e5m2),
        "i4": np.array([-8, 7, 0], ml_dtypes.int4),
        "u4": np.array([0, 15], ml_dtypes.uint4),
        "str": np.array([b"", b"\xff\x00\xfe", "h\u00e9".encode(), b"x" * 300], dtype=object),
        "str_scalar": np.array(b"only", dtype=object),
        "empty": np.zeros((0, 3), np.float32),
        "empty_str": np.zeros((2, 0), dtype=object),
        "scalar": np.float64(3.25),
    }
    return out


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    if a.dtype == object:
        assert a.tolist() == b.tolist()
    else:
        assert a.tobytes() == b.tobytes()


def test_round_trip_all_dtypes(tmp_path):
    tensors = sample_tensors()
    paths = write_checkpoint(tmp_path / "ck", tensors)
    assert [os.path.basename(p) for p in paths] == ["ck.data-00000-of-00001", "ck.index"]
    with open_checkpoint(tmp_path / "ck") as r:
        assert sorted(r) == sorted(tensors)
        for k, v in tensors.items():
            assert_same(r.read(k), np.asarray(v))
            assert_same(r.read(k, zero_copy=True), np.asarray(v))
        assert r.list_variables() == sorted((k, list(np.shape(v))) for k, v in tensors.items())
    assert not [f for f in os.listdir(tmp_path) if "tempstate" in f]


def test_zero_copy_is_readonly_view(tmp_path):
    write_checkpoint(tmp_path / "ck", {"w": np.arange(1000, dtype=np.float32)})
    r = open_checkpoint(tmp_path / "ck", zero_copy=True)
    w = r["w"]
    assert not w.flags.writeable
    assert w.base is not None
    fresh = r.read("w", zero_copy=False)
    assert fresh.flags.writeable and fresh.flags.owndata


def test_str_and_unicode_input(tmp_path):
    write_checkpoint(tmp_path / "ck", {"u": np.array(["a", "\u00e9t\u00e9"]), "s": np.array([b"ab", b"c"])})
    r = open_checkpoint(tmp_path / "ck")
    assert r["u"].tolist() == [b"a", "\u00e9t\u00e9".encode()]
    assert r["s"].tolist() == [b"ab", b"c"]


def test_python_strings_keep_trailing_nuls(tmp_path):
    # np.asarray(b"a\0") is a fixed-width 'S' array, which loses trailing NULs on access.
    tensors = {"b": b"ab\x00\x00", "l": [b"a\x00", b"bc"], "u": ["x\x00"], "n": [[b"\x00"], [b""]]}
    write_checkpoint(tmp_path / "ck", tensors)
    write_checkpoint(tmp_path / "sl", {"s": Sliced((2,), [("0,1", [b"a\x00"]), ("1,1", (b"\x00\x00",))])})
    write_checkpoint(tmp_path / "sh", {"s": [b"a\x00" * 8, b"\x00" * 20]}, max_shard_size=20)
    r = open_checkpoint(tmp_path / "ck")
    assert r["b"].item() == b"ab\x00\x00"
    assert r["l"].tolist() == [b"a\x00", b"bc"]
    assert r["u"].tolist() == [b"x\x00"]
    assert r["n"].tolist() == [[b"\x00"], [b""]]
    assert open_checkpoint(tmp_path / "sl")["s"].tolist() == [b"a\x00", b"\x00\x00"]
    assert open_checkpoint(tmp_path / "sh")["s"].tolist() == [b"a\x00" * 8, b"\x00" * 20]


def test_masked_array_writes_its_data(tmp_path):
    m = np.ma.array(np.arange(4, dtype=np.float32), mask=[0, 1, 0, 1])
    write_checkpoint(tmp_path / "ck", {"m": m}, max_shard_size=8)
    write_checkpoint(tmp_path / "one", {"m": m})
    assert_same(open_checkpoint(tmp_path / "ck")["m"], m.data)
    assert_same(open_checkpoint(tmp_path / "one")["m"], m.data)


def test_non_contiguous_and_big_endian_inputs(tmp_path):
    base = np.arange(60, dtype=np.float64).reshape(6, 10)
    tensors = {"t": base.T, "be": base.astype(">f8"), "step": base[::2, ::3]}
    write_checkpoint(tmp_path / "a", tensors)
    write_checkpoint(tmp_path / "b", {k: np.ascontiguousarray(v, dtype="<f8") for k, v in tensors.items()})
    for suffix in (".index", ".data-00000-of-00001"):
        assert (tmp_path / ("a" + suffix)).read_bytes() == (tmp_path / ("b" + suffix)).read_bytes()


def test_streaming_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_writer, "_CHUNK", 1000)
    arr = np.random.default_rng(1).standard_normal((50, 70))
    write_checkpoint(tmp_path / "a", {"x": arr, "xt": arr.T})
    monkeypatch.undo()
    r = open_checkpoint(tmp_path / "a")
    assert_same(r["x"], arr)
    assert_same(r["xt"], np.ascontiguousarray(arr.T))


def test_sliced_round_trip(tmp_path):
    full = np.arange(24, dtype=np.int32).reshape(4, 6)
    parts = [("0,2:0,6", full[:2]), ("2,2:0,3", full[2:, :3]), ([(2, 2), (3, 3)], full[2:, 3:])]
    write_checkpoint(tmp_path / "ck", {"v": Sliced((4, 6), parts), "plain": full})
    r = open_checkpoint(tmp_path / "ck")
    assert list(r) == ["plain", "v"]
    assert r.data_order() == ["v", "plain"]  # where the data lies, not key order
    assert r.entry("v").slices == (((0, 2), (0, 6)), ((2, 2), (0, 3)), ((2, 2), (3, 3)))
    assert_same(r["v"], full)
    assert len(r.slice_keys()) == 3


def test_sliced_strings(tmp_path):
    full = np.array([b"a", b"", b"ccc", b"\x00"], dtype=object)
    write_checkpoint(tmp_path / "ck", {"s": Sliced((4,), [("0,1", full[:1]), ("1,3", full[1:])])})
    assert open_checkpoint(tmp_path / "ck")["s"].tolist() == full.tolist()


def test_full_slice_is_plain(tmp_path):
    full = np.ones((2, 2), np.float32)
    write_checkpoint(tmp_path / "a", {"v": Sliced((2, 2), [("-:-", full)])})
    write_checkpoint(tmp_path / "b", {"v": full})
    assert (tmp_path / "a.index").read_bytes() == (tmp_path / "b.index").read_bytes()


def test_slice_keys_are_the_listed_ones(tmp_path):
    # A key is a slice key only when an entry's slices names it (TF's checkpoint_reader.cc);
    # other NUL-led keys, even ones shaped like a slice key, are tensors.
    lookalike = bundle.encode_slice_key("gone", [(0, 1)]).decode("latin-1")
    write_checkpoint(tmp_path / "ck", {
        "\x00lead": np.array([7, 8], np.int32),
        lookalike: np.array(1.5),
        "\udcff": Sliced((4,), [("0,2", np.array([1, 2])), ("2,2", np.array([3, 4]))]),
        "\x00s": Sliced((2,), [("0,1", [b"a"]), ("1,1", [b"b"])]),
    })
    r = open_checkpoint(tmp_path / "ck")
    assert sorted(r) == sorted(["\x00lead", lookalike, "\udcff", "\x00s"])
    assert list(r) == sorted(r, key=lambda k: k.encode("utf-8", "surrogateescape"))  # index order
    assert len(r.slice_keys()) == 4
    assert_same(r["\x00lead"], np.array([7, 8], np.int32))
    assert r[lookalike] == 1.5
    assert_same(r["\udcff"], np.array([1, 2, 3, 4]))
    assert r["\x00s"].tolist() == [b"a", b"b"]
    write_checkpoint(tmp_path / "back", {k: r[k] for k in r})  # names read back write as the same bytes
    assert open_checkpoint(tmp_path / "back")["\udcff"].tolist() == [1, 2, 3, 4]


def test_slice_key_codec():
    key = bundle.encode_slice_key("x", [(0, 2), (0, -1)])
    assert key == b"\x00x\x00\x01\x01\x02\x80\x82\x80\x7f"  # as TF's SaveV2 wrote it
    assert bundle.decode_slice_key(key) == ("x", [(0, 2), (0, -1)])


@given(
    st.text(max_size=20),
    st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1)), min_size=1, max_size=5),
)
def test_slice_key_codec_property(name, extents):
    key = bundle.encode_slice_key(name, extents)
    assert bundle.decode_slice_key(key) == (name, extents)


@given(st.binary(max_size=40))
def test_slice_key_decoder_fuzz(data):
    try:
        bundle.decode_slice_key(data)
    except ValueError:
        pass


def test_sharded_plan_matches_tf_example(tmp_path):
    # The layout TF 2.21 wrote for these variables with MaxShardSizePolicy(64) (see test_bundle_tf).
    tensors = {
        "a": np.arange(40, dtype=np.float32).reshape(10, 4),
        "b": np.ones(3),
        "c": np.array(5, np.int32),
        "d": np.zeros((7, 9), np.int16),
    }
    write_checkpoint(tmp_path / "ck", tensors, max_shard_size=64)
    r = open_checkpoint(tmp_path / "ck")
    assert r.num_shards == 5
    assert r.entry("a").slices == (((0, 4), (0, 4)), ((4, 3), (0, 4)), ((7, 1), (0, 4)), ((8, 2), (0, 4)))
    assert r.entry("d").slices == (((0, 3), (0, 9)), ((3, 4), (0, 1)), ((3, 4), (1, 8)))
    sizes = [os.path.getsize(bundle.data_filename(tmp_path / "ck", i, 5)) for i in range(5)]
    assert sizes == [64, 64, 60, 62, 64]
    for k, v in tensors.items():
        assert_same(r[k], v)


def test_sharding_large_scalar_and_unsplittable(tmp_path):
    tensors = {"big": np.array(b"x" * 100, dtype=object), "v": np.arange(10, dtype=np.int64)}
    write_checkpoint(tmp_path / "ck", tensors, max_shard_size=40)
    r = open_checkpoint(tmp_path / "ck")
    assert r["big"].item() == b"x" * 100
    assert_same(r["v"], tensors["v"])
    with pytest.raises(InvalidArgumentError):
        write_checkpoint(tmp_path / "bad", {"wide": np.zeros((2, 100), np.float64)}, max_shard_size=8)


def test_object_graph_paths(tmp_path):
    g = TrackableObjectGraph()
    root = g.nodes.add()
    root.children.add(node_id=1, local_name="layer_with_weights-0")
    root.children.add(node_id=3, local_name="optimizer")
    root.children.add(node_id=1, local_name="layers_alias")
    layer = g.nodes.add()
    layer.children.add(node_id=2, local_name="kernel")
    kernel = g.nodes.add()
    kernel.attributes.add(name="VARIABLE_VALUE", full_name="dense/kernel",
                          checkpoint_key="layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE")
    opt = g.nodes.add()
    opt.slot_variables.add(original_variable_node_id=2, slot_name="m", slot_variable_node_id=4)
    slot = g.nodes.add()
    slot.attributes.add(name="VARIABLE_VALUE", checkpoint_key="slotkey")
    write_checkpoint(tmp_path / "ck", {
        bundle.OBJECT_GRAPH_KEY: np.array(g.SerializeToString(), dtype=object),
        "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE": np.ones(2),
        "slotkey": np.zeros(2),
    })
    r = open_checkpoint(tmp_path / "ck")
    assert r.object_paths() == {
        "layer_with_weights-0/kernel": "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE",
        "layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/m": "slotkey",
    }
    assert r.object_nodes()["layer_with_weights-0/kernel"] == 2
    key = "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    assert r.resolve(key) == key
    assert r.resolve("layer_with_weights-0/kernel") == key
    assert r.resolve("layers_alias/kernel") == key  # any alias, not only the canonical path
    assert r.resolve("layers_alias/kernel/.ATTRIBUTES/VARIABLE_VALUE") == key
    with pytest.raises(NotFoundError, match="did you mean"):
        r.resolve("layer_with_weights-0/kernl")
    with pytest.raises(NotFoundError):
        r.resolve("layers_alias/kernel/.ATTRIBUTES/OTHER")


def test_open_by_directory_forms(tmp_path):
    sm = tmp_path / "model"
    write_checkpoint(sm / "variables" / "variables", {"x": np.ones(1)})
    for p in (sm, sm / "variables", sm / "variables" / "variables", sm / "variables" / "variables.index"):
        assert open_checkpoint(p).prefix == str(sm / "variables" / "variables")
    ckdir = tmp_path / "ckdir"
    write_checkpoint(ckdir / "ckpt-1", {"x": np.ones(1)})
    write_checkpoint(ckdir / "ckpt-2", {"x": np.ones(2)})
    (ckdir / "checkpoint").write_text('model_checkpoint_path: "ckpt-2"\nall_model_checkpoint_paths: "ckpt-1"\n')
    assert open_checkpoint(ckdir)["x"].shape == (2,)
    with pytest.raises(NotFoundError):
        open_checkpoint(tmp_path / "nothing")


@pytest.mark.parametrize("name, escaped", [
    ('ck"pt', 'ck\\"pt'),
    ("back\\slash", "back\\\\slash"),
    ("caf\u00e9", "caf\\303\\251"),         # non-ASCII: octal escapes, as protobuf's text format writes
    ("tab\tx", "tab\\tx"),
    ("hex\u00e9", "hex\\xc3\\xa9"),
])
def test_state_file_path_is_unescaped(tmp_path, name, escaped):
    for i in (1, 2, 3):
        write_checkpoint(tmp_path / f"{name}-{i}", {"x": np.ones(i)})
    (tmp_path / "checkpoint").write_text(f'model_checkpoint_path: "{escaped}-2"\n'
                                         f'all_model_checkpoint_paths: "{escaped}-1"\n')
    assert open_checkpoint(tmp_path).prefix == str(tmp_path / f"{name}-2")
    assert checkpoint_dir._unescape_text_string(b"\\'\\?\\a\\0\\101") == b"'?\a\x00A"


# ------------------------------------------------------------------ bad input


def _bundle(tmp_path, tensors=None):
    tensors = tensors if tensors is not None else {"a": np.arange(4, dtype=np.float32), "s": np.array([b"xy", b""], dtype=object)}
    write_checkpoint(tmp_path / "ck", tensors)
    return tmp_path / "ck"


def _rewrite_index(prefix, entries: dict[bytes, bytes]) -> None:
    (prefix.parent / (prefix.name + ".index")).write_bytes(sstable.build_table(sorted(entries.items())))


def _index_items(prefix) -> dict[bytes, bytes]:
    return dict(sstable.read_table(str(prefix) + ".index"))


def _set_entry(prefix, key: bytes, **fields) -> None:
    items = _index_items(prefix)
    e = BundleEntryProto.FromString(items[key])
    for name, value in fields.items():
        if name == "shape":
            e.shape.Clear()
            e.shape.SetInParent()
            for d in value:
                e.shape.dim.add(size=d)
        else:
            setattr(e, name, value)
    items[key] = e.SerializeToString()
    _rewrite_index(prefix, items)


def test_truncated_index(tmp_path):
    p = _bundle(tmp_path)
    idx = tmp_path / "ck.index"
    data = idx.read_bytes()
    idx.write_bytes(data[: len(data) - 10])
    with pytest.raises(CorruptFileError):
        open_checkpoint(p)


def test_bad_magic(tmp_path):
    p = _bundle(tmp_path)
    idx = tmp_path / "ck.index"
    data = bytearray(idx.read_bytes())
    data[-3] ^= 0xFF
    idx.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="bad magic"):
        open_checkpoint(p)


def test_wrong_crc_names_key(tmp_path):
    p = _bundle(tmp_path)
    dat = tmp_path / "ck.data-00000-of-00001"
    data = bytearray(dat.read_bytes())
    data[2] ^= 0x10
    dat.write_bytes(bytes(data))
    r = open_checkpoint(p)
    with pytest.raises(ChecksumError, match="'a'"):
        r["a"]
    assert open_checkpoint(p, verify_checksums=False)["a"].shape == (4,)
    with pytest.raises(ChecksumError):
        r.verify()


def test_wrong_string_crc(tmp_path):
    p = _bundle(tmp_path)
    dat = tmp_path / "ck.data-00000-of-00001"
    data = bytearray(dat.read_bytes())
    data[-1] ^= 0x01  # last string byte
    dat.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="'s'"):
        open_checkpoint(p)["s"]
    data = bytearray(dat.read_bytes())
    data[16 + 3] ^= 0x01  # the length checksum
    dat.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="length checksum"):
        open_checkpoint(p)["s"]


def test_offset_past_end(tmp_path):
    p = _bundle(tmp_path)
    _set_entry(p, b"a", offset=10_000)
    with pytest.raises(CorruptFileError, match="past the end"):
        open_checkpoint(p)["a"]


def test_size_mismatch_and_absurd_shape(tmp_path):
    p = _bundle(tmp_path)
    _set_entry(p, b"a", size=8)
    with pytest.raises(CorruptFileError, match="does not match"):
        open_checkpoint(p)["a"]
    _set_entry(p, b"a", shape=[2**40, 2**40])
    with pytest.raises(LimitExceededError):
        open_checkpoint(p).list_variables()
    _set_entry(p, b"a", shape=[2**31, 2**20], size=2**53)
    with pytest.raises(CorruptFileError):
        open_checkpoint(p)["a"]
    _set_entry(p, b"a", shape=[4])
    _set_entry(p, b"s", shape=[10**12], size=2 * 10**12)
    with pytest.raises(CorruptFileError, match="past the end"):
        open_checkpoint(p)["s"]


def test_missing_shard(tmp_path):
    p = _bundle(tmp_path)
    os.unlink(tmp_path / "ck.data-00000-of-00001")
    r = open_checkpoint(p)
    with pytest.raises(NotFoundError, match="shard 0 of 1"):
        r["a"]


def test_shard_id_out_of_range(tmp_path):
    p = _bundle(tmp_path)
    _set_entry(p, b"a", shard_id=3)
    with pytest.raises(CorruptFileError, match="shard_id 3"):
        open_checkpoint(p).entry("a")


def test_resource_and_variant_entries(tmp_path):
    p = _bundle(tmp_path)
    items = _index_items(p)
    items[b"res"] = BundleEntryProto(dtype=20, size=0).SerializeToString()
    items[b"var"] = BundleEntryProto(dtype=21, size=0).SerializeToString()
    _rewrite_index(p, items)
    r = open_checkpoint(p)
    assert ("res", []) in r.list_variables()
    with pytest.raises(UnsupportedFormatError, match="DT_RESOURCE"):
        r["res"]
    with pytest.raises(UnsupportedFormatError, match="DT_VARIANT"):
        r["var"]
    assert set(r.read_all()) == {"a", "s"}


def test_missing_header_and_bad_version(tmp_path):
    p = _bundle(tmp_path)
    items = _index_items(p)
    header = items.pop(b"")
    _rewrite_index(p, items)
    with pytest.raises(CorruptFileError, match="header"):
        open_checkpoint(p)
    h = BundleHeaderProto.FromString(header)
    h.version.min_consumer = 5
    items[b""] = h.SerializeToString()
    _rewrite_index(p, items)
    with pytest.raises(UnsupportedFormatError):
        open_checkpoint(p)


def test_missing_and_overlapping_slices(tmp_path):
    full = np.arange(8, dtype=np.float32)
    write_checkpoint(tmp_path / "ck", {"v": Sliced((8,), [("0,4", full[:4]), ("4,4", full[4:])])})
    p = tmp_path / "ck"
    items = _index_items(p)
    del items[bundle.encode_slice_key("v", [(4, 4)])]
    _rewrite_index(p, items)
    with pytest.raises(NotFoundError, match="4,4"):
        open_checkpoint(p)["v"]
    write_checkpoint(tmp_path / "ck", {"v": Sliced((8,), [("0,4", full[:4]), ("2,4", full[2:6])])})
    with pytest.raises(CorruptFileError, match="overlap"):
        open_checkpoint(p)["v"]


def _big_endian_copy(src, dst) -> None:
    """Rewrite a little-endian bundle as a big-endian machine would have written it."""
    r = open_checkpoint(src)
    data = bytearray()
    items = {}
    h = BundleHeaderProto(num_shards=1, endianness=BundleHeaderProto.BIG)
    h.version.producer = 1
    items[b""] = h.SerializeToString()
    for e in r.entries():
        arr = r[e.key]
        proto = BundleEntryProto.FromString(_index_items(src)[e.key.encode()])
        proto.offset = len(data)
        if arr.dtype == object:
            flat = arr.reshape(-1).tolist()
            lens = bytearray()
            for v in flat:
                sstable.put_varint(lens, len(v))
            crc = crc32c(struct.pack(f">{len(flat)}I", *map(len, flat)))
            ck = struct.pack(">I", mask(crc))
            body = bytes(lens) + ck + b"".join(flat)
            from savedmodel_io.hashing.crc32c import extend

            total = extend(extend(crc, ck), b"".join(flat))
        else:
            body = arr.astype(arr.dtype.newbyteorder(">")).tobytes() if arr.dtype.itemsize > 1 else arr.tobytes()
            total = crc32c(body)
        proto.size = len(body)
        proto.crc32c = mask(total)
        data += body
        items[e.key.encode()] = proto.SerializeToString()
    (dst.parent / (dst.name + ".data-00000-of-00001")).write_bytes(bytes(data))
    _rewrite_index(dst, items)


def test_big_endian_bundle(tmp_path):
    tensors = {k: v for k, v in sample_tensors().items() if not k.startswith(("bf", "f8", "i4", "u4"))}
    write_checkpoint(tmp_path / "le", tensors)
    _big_endian_copy(tmp_path / "le", tmp_path / "be")
    r = open_checkpoint(tmp_path / "be")
    assert r.big_endian
    for k, v in tensors.items():
        got = r.read(k)
        assert_same(got, np.asarray(v))
        zc = r.read(k, zero_copy=True)
        assert_same(np.array(zc, dtype=np.asarray(v).dtype), np.asarray(v))


def test_bundle_writer_orders_slices_by_shard(tmp_path):
    full = np.arange(12, dtype=np.float32).reshape(4, 3)
    w = bundle.BundleWriter(tmp_path / "ck", num_shards=3)
    w.add_slice("w", (4, 3), "0,1:-", full[:1], shard=2)
    w.add_slice("w", (4, 3), "3,1:-", full[3:], shard=1)
    w.add_slice("w", (4, 3), "1,1:-", full[1:2], shard=2)
    with pytest.raises(InvalidArgumentError):  # a refused slice leaves the entry as it was
        w.add_slice("w", (4, 3), "3,1:-", full[3:], shard=0)
    w.add_slice("w", (4, 3), "2,1:-", full[2:3], shard=1)
    w.finish()
    r = open_checkpoint(tmp_path / "ck")
    e = r.entry("w")
    assert e.shard_id == 1  # the lowest shard holding a slice, as TF's MergeV2Checkpoints leaves it
    assert [s[0] for s in e.slices] == [(3, 1), (2, 1), (0, 1), (1, 1)]  # by shard, then call order
    assert_same(r["w"], full)


def test_writer_errors(tmp_path):
    with pytest.raises(InvalidArgumentError):
        write_checkpoint(tmp_path / "x", {"": np.ones(1)})
    with pytest.raises(InvalidArgumentError):
        write_checkpoint(tmp_path / "x", {"a": np.array([{"no": 1}], dtype=object)})
    with pytest.raises(InvalidArgumentError):
        write_checkpoint(tmp_path / "x", {"v": Sliced((4,), [("0,5", np.ones(5))])})
    with pytest.raises(InvalidArgumentError):
        write_checkpoint(tmp_path / "x", {"v": np.array([np.datetime64("2020-01-01")])})
    assert not os.listdir(tmp_path)  # nothing left behind


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8), st.booleans())
def test_fuzz_index_and_data(tmp_path_factory, edits, verify):
    base = tmp_path_factory.mktemp("fz") / "ck"
    write_checkpoint(base, {"a": np.arange(6, dtype=np.float32).reshape(2, 3),
                            "s": np.array([b"xy", b"", b"zzz"], dtype=object),
                            "v": Sliced((4,), [("0,2", np.ones(2)), ("2,2", np.zeros(2))])})
    for suffix in (".index", ".data-00000-of-00001"):
        f = base.parent / (base.name + suffix)
        data = bytearray(f.read_bytes())
        for pos, val in edits:
            data[pos % len(data)] = val
        f.write_bytes(bytes(data))
        try:
            r = open_checkpoint(base, verify_checksums=verify)
            for k in r:
                r[k]
            r.object_paths()
        except SavedModelError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_fuzz_entry_protos(tmp_path_factory, raw):
    base = tmp_path_factory.mktemp("fe") / "ck"
    write_checkpoint(base, {"a": np.arange(4, dtype=np.float32)})
    items = dict(sstable.read_table(str(base) + ".index"))
    items[b"a"] = raw
    items[b"b"] = raw
    _rewrite_index(base, items)
    try:
        r = open_checkpoint(base)
        for k in r:
            r[k]
    except SavedModelError:
        pass


def test_saved_variables_needs_saved_model(tmp_path):
    write_checkpoint(tmp_path / "ck", {"x": np.ones(1)})
    with pytest.raises(NotFoundError, match="saved_model.pb"):
        open_checkpoint(tmp_path / "ck").saved_variables()
    from savedmodel_io.proto import SavedModel

    assert open_checkpoint(tmp_path / "ck").saved_variables(SavedModel()) == {}


def test_many_slices_and_reused_bytes(tmp_path):
    full = np.arange(300, dtype=np.int16)
    parts = [(f"{i * 3},3", full[i * 3 : i * 3 + 3]) for i in range(100)]
    write_checkpoint(tmp_path / "ck", {"v": Sliced((300,), parts)})
    assert_same(open_checkpoint(tmp_path / "ck")["v"], full)
    # Hostile: every slice entry points at the same bytes, declaring a huge tensor.
    p = tmp_path / "ck"
    items = _index_items(p)
    for raw in list(items):
        if raw[:1] == b"\x00":
            e = BundleEntryProto.FromString(items[raw])
            e.offset = 0
            items[raw] = e.SerializeToString()
    _rewrite_index(p, items)
    with pytest.raises(CorruptFileError, match="impossible|overlap|checksum"):
        open_checkpoint(p)["v"]


@pytest.mark.parametrize(
    "kind, cls, text",
    [("dir", NotFoundError, "directory"), ("fifo", CorruptFileError, "FIFO"),
     ("loop", CorruptFileError, "symlink loop"), ("zero", CorruptFileError, "character device")],
)
def test_data_shard_that_is_not_a_regular_file(tmp_path, kind, cls, text):
    """A shard that is a directory, FIFO, symlink loop or device: a library error, never a hang."""
    write_checkpoint(tmp_path / "ck", {"x": np.ones(3, np.float32)})
    shard = tmp_path / "ck.data-00000-of-00001"
    shard.unlink()
    if kind == "dir":
        shard.mkdir()
    elif kind == "fifo":
        os.mkfifo(shard)
    elif kind == "loop":
        shard.symlink_to(shard)
    else:
        shard.symlink_to("/dev/zero")
    # /dev/zero is outside the checkpoint's directory: allowed here, so the device check is what refuses it.
    reader = open_checkpoint(tmp_path / "ck", allow_external_links=kind == "zero")
    with deadline(10), pytest.raises(cls, match=text) as info:
        reader["x"]
    assert info.value.path == str(shard) and "data shard 0 of 1" in str(info.value)


def test_index_that_is_a_fifo_is_refused(tmp_path):
    write_checkpoint(tmp_path / "ck", {"x": np.ones(3, np.float32)})
    index = tmp_path / "ck.index"
    index.unlink()
    os.mkfifo(index)
    with deadline(10), pytest.raises(CorruptFileError, match="FIFO"):
        sstable.Table.open(index)


def _chain_checkpoint(prefix, n: int, attributes_everywhere: bool = False):
    """A checkpoint whose object graph is a chain of ``n`` nodes (paths a, a/a, a/a/a, ...)."""
    tog = TrackableObjectGraph()
    for i in range(n):
        node = tog.nodes.add()
        if i + 1 < n:
            node.children.add(node_id=i + 1, local_name="a")
        if attributes_everywhere or i == n - 1:
            node.attributes.add(name="VARIABLE_VALUE", checkpoint_key="v")
    write_checkpoint(prefix, {bundle.OBJECT_GRAPH_KEY: np.array(tog.SerializeToString(), dtype=object),
                              "v": np.zeros(1, np.float32)})
    return prefix


def test_object_graph_chain_paths_are_bounded(tmp_path):
    """Paths of a 20000-node chain need 4e8 characters (1 MB of graph: raw MemoryError); the
    budget (64 per graph byte + 16 MiB) refuses it at once, and short chains still work."""
    import time

    r = open_checkpoint(_chain_checkpoint(tmp_path / "long", 20000))
    start = time.process_time()
    for call in (r.object_paths, r.object_nodes):
        with pytest.raises(LimitExceededError, match="object graph's paths") as info:
            call()
        assert info.value.path == r.index_path
    assert time.process_time() - start < 5
    short = open_checkpoint(_chain_checkpoint(tmp_path / "short", 1000, attributes_everywhere=True))
    assert short.object_paths()["/".join(["a"] * 999)] == "v"


def test_alias_paths_of_a_chain_are_bounded():
    """names.all_paths (every alias path) built every prefix and a frozenset per node: quadratic too."""
    from savedmodel_io.formats import names

    kids = [[("a", i + 1)] for i in range(19999)] + [[]]
    with pytest.raises(LimitExceededError, match="object graph's paths"):
        names.all_paths(kids, PathBudget(11 * 20000, "g"))
    paths = names.all_paths(kids[:1000] + [[]], PathBudget(11 * 1000, "g"))
    assert paths[1000] == ["/".join(["a"] * 1000)]
