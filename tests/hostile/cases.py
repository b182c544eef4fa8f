"""Hostile ~1 KB inputs that declare sizes, shapes, lengths and counts far beyond themselves,
and model directories whose symbolic links lead out of the model.

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
# Peak resident memory (MB) a case may reach: set where the memory cap alone would not tell a
# bounded reader from one that allocates a lot first and fails (or succeeds) later.
PEAK_MB: dict[str, int] = {}
# Cases that take minutes or write big files: run with -m slow.
SLOW: set[str] = set()


def case(name: str, needs: str | None = None, peak_mb: int | None = None, slow: bool = False):
    def register(fn):
        CASES[name] = fn
        if needs:
            NEEDS[name] = needs
        if peak_mb is not None:
            PEAK_MB[name] = peak_mb
        if slow:
            SLOW.add(name)
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


# --- checkpoints: LevelDB table and TensorBundle ---------------------------------------------------


def _bundle(tmp: Path, entries: dict, data: bytes = b"\0" * 64, num_shards: int = 1) -> Path:
    """Write variables.index with a header and raw BundleEntryProtos, and a small data shard."""
    from savedmodel_io.formats.sstable import build_table
    from savedmodel_io.proto import BundleEntryProto, BundleHeaderProto

    header = BundleHeaderProto(num_shards=num_shards)
    header.version.producer = 1
    items = [(b"", header.SerializeToString())]
    for key in sorted(entries):
        items.append((key, BundleEntryProto(**entries[key]).SerializeToString()))
    d = tmp / "variables"
    d.mkdir(exist_ok=True)
    (d / "variables.index").write_bytes(build_table(items))
    (d / f"variables.data-00000-of-{num_shards:05d}").write_bytes(data)
    assert (d / "variables.index").stat().st_size < 1024
    return d / "variables"


def _shape(*dims: int) -> dict:
    return {"dim": [{"size": d} for d in dims]}


def _read_all(prefix: Path, verify: bool = False):
    from savedmodel_io.formats.bundle import CheckpointReader

    with CheckpointReader(prefix, verify_checksums=verify) as r:
        return {k: r.read(k) for k in r}


@case("bundle_entry_size_beyond_shard", needs="savedmodel_io.formats.bundle")
def bundle_entry_size_beyond_shard(tmp: Path):
    """A float tensor of 4 TiB said to be in a 64-byte shard."""
    prefix = _bundle(tmp, {b"w": dict(dtype=1, shape=_shape(1 << 20, 1 << 20), offset=0,
                                      size=1 << 42)})
    return _read_all(prefix)


@case("bundle_entry_offset_beyond_shard", needs="savedmodel_io.formats.bundle")
def bundle_entry_offset_beyond_shard(tmp: Path):
    prefix = _bundle(tmp, {b"w": dict(dtype=1, shape=_shape(4), offset=(1 << 62), size=16)})
    return _read_all(prefix)


@case("bundle_string_count_beyond_shard", needs="savedmodel_io.formats.bundle")
def bundle_string_count_beyond_shard(tmp: Path):
    """2**40 strings whose lengths would have to fit in 64 bytes."""
    prefix = _bundle(tmp, {b"s": dict(dtype=7, shape=_shape(1 << 40), offset=0, size=64)})
    return _read_all(prefix)


@case("bundle_string_lengths_huge", needs="savedmodel_io.formats.bundle")
def bundle_string_lengths_huge(tmp: Path):
    """Four strings, each declaring a length of 2**60 bytes."""
    data = varint(1 << 60) * 4 + b"\0" * 4
    prefix = _bundle(tmp, {b"s": dict(dtype=7, shape=_shape(4), offset=0, size=len(data))}, data)
    return _read_all(prefix)


@case("bundle_slice_full_shape_huge", needs="savedmodel_io.formats.bundle")
def bundle_slice_full_shape_huge(tmp: Path):
    """A partitioned tensor of 4 TiB whose only slice holds 4 floats."""
    from savedmodel_io.formats.bundle import encode_slice_key

    full = dict(dtype=1, shape=_shape(1 << 20, 1 << 20),
                slices=[{"extent": [{"start": 0, "length": 2}, {"start": 0, "length": 2}]}])
    part = dict(dtype=1, shape=_shape(2, 2), offset=0, size=16)
    key = encode_slice_key("w", [(0, 2), (0, 2)])
    prefix = _bundle(tmp, {b"w": full, key: part})
    return _read_all(prefix)


@case("bundle_many_shards", needs="savedmodel_io.formats.bundle")
def bundle_many_shards(tmp: Path):
    prefix = _bundle(tmp, {b"w": dict(dtype=1, shape=_shape(4), offset=0, size=16)},
                     num_shards=(1 << 31) - 1)
    return _read_all(prefix)


@case("sstable_index_handle_huge", needs="savedmodel_io.formats.sstable")
def sstable_index_handle_huge(tmp: Path):
    """A table whose footer puts its index block at 2**40 bytes of 2**40."""
    from savedmodel_io.formats.sstable import MAGIC, Table, build_table

    good = build_table([(b"", b"header"), (b"k", b"v" * 100)])
    footer = varint(0) + varint(1 << 40) + varint(1 << 40) + varint(1 << 40)
    footer = footer.ljust(40, b"\0") + MAGIC.to_bytes(8, "little")
    p = tmp / "variables.index"
    p.write_bytes(good[:-48] + footer)
    return Table.open(p, verify_checksums=False).entries()


@case("sstable_restart_count_huge", needs="savedmodel_io.formats.sstable")
def sstable_restart_count_huge(tmp: Path):
    """Every block's restart count patched to 2**32 - 1."""
    from savedmodel_io.formats.sstable import Table, build_table

    good = bytearray(build_table([(b"", b"header"), (b"k", b"v" * 100)]))
    # Each block ends with: u32 num_restarts, then a 5-byte trailer. Patch the data block's.
    from savedmodel_io.formats.sstable import get_varint

    footer = bytes(good[-48:])
    _, pos = get_varint(footer, 0, 48)  # metaindex offset
    _, pos = get_varint(footer, pos, 48)  # metaindex size
    index_off, pos = get_varint(footer, pos, 48)
    index_size, _ = get_varint(footer, pos, 48)
    for end in (index_off + index_size,):
        good[end - 4 : end] = b"\xff\xff\xff\xff"
    p = tmp / "variables.index"
    p.write_bytes(bytes(good))
    return Table.open(p, verify_checksums=False).entries()


# --- .cpb: Riegeli chunk sizes ---------------------------------------------------------------------


def _riegeli_patched(tmp: Path, offset: int, value: int) -> Path:
    """A small Riegeli file with one u64 of its first data chunk's header replaced."""
    from savedmodel_io.formats.riegeli import write_records

    p = tmp / "r.riegeli"
    write_records(p, [b"abc" * 50, b"def" * 50], compression="brotli")
    data = bytearray(p.read_bytes())
    # Block header (24 bytes) + signature chunk header (40 bytes); the next chunk header is at 64:
    # header_hash, data_size, data_hash, type|num_records, decoded_data_size (riegeli
    # doc/riegeli_records_file_format.md, "Chunk").
    data[64 + offset : 64 + offset + 8] = value.to_bytes(8, "little")
    # Re-seal the header so the size checks, not the header hash, must catch it.
    from savedmodel_io.hashing.highwayhash import highwayhash64

    data[64:72] = highwayhash64(bytes(data[72:104])).to_bytes(8, "little")
    p.write_bytes(bytes(data))
    assert len(data) < 1024
    return p


@case("riegeli_data_size_huge", needs="savedmodel_io.formats.riegeli")
def riegeli_data_size_huge(tmp: Path):
    from savedmodel_io.formats.riegeli import read_records

    return read_records(_riegeli_patched(tmp, 8, 1 << 40), verify_hashes=False)


@case("riegeli_decoded_size_huge", needs="savedmodel_io.formats.riegeli")
def riegeli_decoded_size_huge(tmp: Path):
    from savedmodel_io.formats.riegeli import read_records

    return read_records(_riegeli_patched(tmp, 32, 1 << 40), verify_hashes=False)


@case("riegeli_num_records_huge", needs="savedmodel_io.formats.riegeli")
def riegeli_num_records_huge(tmp: Path):
    from savedmodel_io.formats.riegeli import read_records

    # chunk_type is the low byte; num_records the upper 7 bytes.
    return read_records(_riegeli_patched(tmp, 24, ord("r") | ((1 << 56) - 1) << 8),
                        verify_hashes=False)


@case("tensor_int16_zeros_4gib")
def tensor_int16_zeros_4gib(tmp: Path):
    """No values and a 2**31-element int16 shape: 4 GiB of zeros (was 16 GiB of int64 first)."""
    return _decode_file(tmp, _tensor(105, [1 << 31]))


# --- `run --inputs` files ---------------------------------------------------------------------------


def _npy(shape: tuple, descr: str = "<f8", data: bytes = b"\0" * 16) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


@case("npy_shape_2gib", needs="savedmodel_io.cli.run_inputs")
def npy_shape_2gib(tmp: Path):
    """A .npy header declaring 2 GiB of float64 over 16 bytes of data."""
    from savedmodel_io.cli.run_inputs import load_inputs

    p = tmp / "x.npy"
    p.write_bytes(_npy((1 << 28,)))
    return load_inputs(inputs=f"a={p}")


@case("npy_shape_huge", needs="savedmodel_io.cli.run_inputs")
def npy_shape_huge(tmp: Path):
    from savedmodel_io.cli.run_inputs import load_inputs

    p = tmp / "x.npy"
    p.write_bytes(_npy((1 << 40, 1 << 40)))
    return load_inputs(inputs=f"a={p}")


@case("npz_member_shape_2gib", needs="savedmodel_io.cli.run_inputs")
def npz_member_shape_2gib(tmp: Path):
    import zipfile

    from savedmodel_io.cli.run_inputs import load_inputs

    p = tmp / "x.npz"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", _npy((1 << 28,)))
    return load_inputs(inputs=f"a={p}[x]")


@case("input_expr_huge_array", needs="savedmodel_io.cli.run_inputs")
def input_expr_huge_array(tmp: Path):
    from savedmodel_io.cli.run_inputs import parse_exprs

    (tmp / "note").write_text("expression input")
    try:
        return parse_exprs("a=np.ones((1 << 20, 1 << 20))")
    except Exception as exc:  # noqa: BLE001 - re-raised with the path for the harness
        from savedmodel_io.errors import SavedModelError

        if isinstance(exc, SavedModelError):
            raise type(exc)(exc.message, path=tmp, where=exc.where) from None
        raise


# --- special files where a model file should be ----------------------------------------------------


@case("fingerprint_index_dev_zero", needs="savedmodel_io.fingerprint")
def fingerprint_index_dev_zero(tmp: Path):
    """variables/variables.index is a symlink to /dev/zero: reading it whole never ends."""
    from savedmodel_io.fingerprint import compute_fingerprint
    from savedmodel_io.proto import SavedModel

    (tmp / "variables").mkdir()
    sm = SavedModel(saved_model_schema_version=1)
    sm.meta_graphs.add().meta_info_def.tags.append("serve")
    (tmp / "saved_model.pb").write_bytes(sm.SerializeToString())
    (tmp / "variables" / "variables.index").symlink_to("/dev/zero")
    return compute_fingerprint(tmp)


@case("cpb_index_bomb", needs="savedmodel_io.formats.chunks")
def cpb_index_bomb(tmp: Path):
    """A ~200-byte saved_model.cpb whose field tags ask for node[2**20] of 20 empty graphs."""
    from savedmodel_io.formats.cpb import read_saved_model_cpb
    from savedmodel_io.formats.chunks import write_chunked
    from savedmodel_io.proto import ChunkedMessage, FieldIndex, SavedModel

    def tags(*steps):
        return [FieldIndex(index=s[1]) if isinstance(s, tuple) else FieldIndex(field=s)
                for s in steps]

    cm = ChunkedMessage(chunk_index=0)
    cm.chunked_fields.add(field_tag=tags(2, ("i", 20)))
    for i in range(20):
        cm.chunked_fields.add(field_tag=tags(2, ("i", i), 2, 1, ("i", 1 << 20)))
    write_chunked(tmp / "saved_model.cpb", [SavedModel()], cm)
    assert (tmp / "saved_model.cpb").stat().st_size < 1024
    return read_saved_model_cpb(tmp)


@case("checkpoint_object_graph_chain", needs="savedmodel_io.formats.bundle")
def checkpoint_object_graph_chain(tmp: Path):
    """A 100000-node chain object graph (~1 MB): its paths would total 10**10 characters."""
    import numpy as np

    from savedmodel_io.formats.bundle import OBJECT_GRAPH_KEY, open_checkpoint, write_checkpoint
    from savedmodel_io.proto import TrackableObjectGraph

    tog = TrackableObjectGraph()
    for i in range(100000):
        node = tog.nodes.add()
        node.children.add(node_id=i + 1, local_name="a")
    tog.nodes.add().attributes.add(name="VARIABLE_VALUE", checkpoint_key="v")
    write_checkpoint(tmp / "ck", {OBJECT_GRAPH_KEY: np.array(tog.SerializeToString(), dtype=object),
                                  "v": np.zeros(1, np.float32)})
    return open_checkpoint(tmp / "ck").object_paths()


# --- compressed bombs under the ratio caps, and many tiny messages ---------------------------------
# Generators: tests/hostile/bombs.py (shared with the fuzzers).


@case("riegeli_brotli_bomb", needs="brotli", peak_mb=400)
def riegeli_brotli_bomb(tmp: Path):
    """A 2.4 KB file: a Brotli chunk declaring 100 decoded bytes whose stream holds 3 GiB of zeros."""
    from hostile.bombs import brotli_zeros, riegeli_chunk

    from savedmodel_io.formats.riegeli import read_records

    p = tmp / "bomb.riegeli"
    p.write_bytes(riegeli_chunk(brotli_zeros(21), 100))
    assert p.stat().st_size < 4096
    return read_records(p)


@case("cpb_brotli_bomb", needs="brotli", peak_mb=400)
def cpb_brotli_bomb(tmp: Path):
    """The same chunk as a saved_model.cpb, opened with savedmodel_io.load."""
    import savedmodel_io
    from hostile.bombs import brotli_zeros, riegeli_chunk

    (tmp / "saved_model.cpb").write_bytes(riegeli_chunk(brotli_zeros(21), 100))
    return savedmodel_io.load(tmp)


@case("sstable_snappy_honest_1_5gb", needs="savedmodel_io.formats.bundle", peak_mb=600)
def sstable_snappy_honest_1_5gb(tmp: Path):
    """variables.index with one Snappy block whose header truthfully says 1.5 GB (a 70 MB file)."""
    from hostile.bombs import snappy_zeros, table_with_block

    from savedmodel_io.formats.bundle import CheckpointReader

    d = tmp / "variables"
    d.mkdir()
    (d / "variables.index").write_bytes(table_with_block(snappy_zeros(1_500_000_000)))
    (d / "variables.data-00000-of-00001").write_bytes(b"")
    with CheckpointReader(d / "variables", verify_checksums=False) as r:
        return list(r)


@case("pb_many_meta_graphs", needs="savedmodel_io.model", peak_mb=300)
def pb_many_meta_graphs(tmp: Path):
    """A 6 MB saved_model.pb of 3 million empty MetaGraphDefs (was 2.6 GB and 16 s)."""
    import savedmodel_io
    from hostile.bombs import many_meta_graphs

    (tmp / "saved_model.pb").write_bytes(many_meta_graphs(3_000_000))
    return savedmodel_io.load(tmp)


@case("pb_many_signatures", needs="savedmodel_io.model", peak_mb=300)
def pb_many_signatures(tmp: Path):
    """One meta graph with a million distinct empty SignatureDefs (12 MB)."""
    import savedmodel_io
    from hostile.bombs import many_signatures

    (tmp / "saved_model.pb").write_bytes(many_signatures(1_000_000))
    return savedmodel_io.read_signatures(tmp)


@case("pb_many_signature_inputs", needs="savedmodel_io.model", peak_mb=300)
def pb_many_signature_inputs(tmp: Path):
    """One signature with 1.1 million inputs (empty TensorInfos, 12 MB)."""
    import savedmodel_io
    from hostile.bombs import repeated_field

    inputs = b"".join(repeated_field(1, 1, repeated_field(1, 1, b"%d" % i)) for i in range(1_100_000))
    entry = repeated_field(1, 1, b"s") + repeated_field(2, 1, inputs)
    (tmp / "saved_model.pb").write_bytes(repeated_field(2, 1, repeated_field(5, 1, entry)))
    return savedmodel_io.load(tmp).meta_graphs[0].signatures


@case("pb_many_nodes", needs="savedmodel_io.scan", peak_mb=300)
def pb_many_nodes(tmp: Path):
    """A graph of ten million empty NodeDefs (20 MB; upb alone would take 1.1 GB)."""
    from hostile.bombs import many_nodes

    from savedmodel_io.scan import scan_saved_model

    (tmp / "saved_model.pb").write_bytes(many_nodes(10_000_000))
    return scan_saved_model(tmp)


@case("pb_many_functions", needs="savedmodel_io.model", peak_mb=300)
def pb_many_functions(tmp: Path):
    """A function library of three million empty FunctionDefs (6 MB)."""
    import savedmodel_io
    from hostile.bombs import many_functions

    (tmp / "saved_model.pb").write_bytes(many_functions(3_000_000))
    return savedmodel_io.load(tmp).meta_graphs[0].functions


@case("pbtxt_many_meta_graphs", needs="savedmodel_io.model", peak_mb=600)
def pbtxt_many_meta_graphs(tmp: Path):
    """A 3 MB saved_model.pbtxt of 200,000 empty meta graphs: refused before wrapping."""
    import savedmodel_io

    (tmp / "saved_model.pbtxt").write_text("meta_graphs {}\n" * 200_000)
    return savedmodel_io.load(tmp)


@case("show_json_many_meta_graphs", needs="savedmodel_io.cli.show", peak_mb=300)
def show_json_many_meta_graphs(tmp: Path):
    """`show --all --json` on a million MetaGraphDefs (was MemoryError joining the text)."""
    from hostile.bombs import many_meta_graphs

    return _show(tmp, many_meta_graphs(1_000_000))


@case("show_json_streams", needs="savedmodel_io.cli.show", peak_mb=200)
def show_json_streams(tmp: Path):
    """`show --all --json` on 1,000 meta graphs (the limit) x 20 signatures x 10 inputs.

    Its JSON is about 40 MB, built as one document it took over 400 MB; written as it is
    made, memory stays small. Ends in a NotFoundError raised on purpose after the output,
    so that the case reports like the others.
    """
    from hostile.bombs import repeated_field

    tensor = repeated_field(1, 1, b"t:0") + bytes((2 << 3, 1))
    sig = b"".join(
        repeated_field(1, 1, repeated_field(1, 1, b"in%d" % i) + repeated_field(2, 1, tensor))
        for i in range(10)
    )
    mg = repeated_field(1, 1, repeated_field(4, 1, b"serve"))
    mg += b"".join(
        repeated_field(5, 1, repeated_field(1, 1, b"s%03d" % k) + repeated_field(2, 1, sig))
        for k in range(20)
    )
    size = _show(tmp, repeated_field(2, 1000, mg))
    assert size > 20 << 20, size
    from savedmodel_io.errors import NotFoundError

    raise NotFoundError(f"streamed {size} bytes of JSON", path=tmp)


def _show(tmp: Path, pb: bytes) -> int:
    """Run `show --all --json` on ``pb``; stdout is counted, not kept."""
    import argparse
    import sys

    from savedmodel_io.cli.show import run

    class Count:
        size = 0

        def write(self, text: str) -> None:
            Count.size += len(text)

        def flush(self) -> None:
            pass

    (tmp / "saved_model.pb").write_bytes(pb)
    args = argparse.Namespace(dir=str(tmp), allow_external_links=False, all=True, json=True,
                              tag_set=None, signature_def=None,
                              list_ops=False)
    stdout, sys.stdout = sys.stdout, Count()
    try:
        run(args)
    finally:
        sys.stdout = stdout
    return Count.size


@case("show_all_many_objects", needs="savedmodel_io.cli.show", peak_mb=900)
def show_all_many_objects(tmp: Path):
    """`show --all` on an object graph of four million empty objects (8 MB, under MAX_NODES).

    upb needs ~450 MB for them; wrapping every object up front took 4 GB. Ends in a
    NotFoundError raised on purpose after the output.
    """
    import argparse
    import contextlib
    import io

    from hostile.bombs import repeated_field

    from savedmodel_io.cli.show import run
    from savedmodel_io.errors import NotFoundError

    pb = repeated_field(2, 1, repeated_field(7, 1, repeated_field(1, 4_000_000)))
    (tmp / "saved_model.pb").write_bytes(pb)
    args = argparse.Namespace(dir=str(tmp), allow_external_links=False, all=True, json=False,
                              tag_set=None, signature_def=None,
                              list_ops=False)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        run(args)
    raise NotFoundError(f"showed {len(out.getvalue())} characters", path=tmp)


# --- running a graph: work a default budget must bound ----------------------------------------------


def _run_graph(tmp: Path, nodes: list, output: str):
    """Save a one-signature graph of ``nodes`` and call the signature with default options."""
    import savedmodel_io
    from savedmodel_io.proto import SavedModel

    sm = SavedModel()
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    mg.graph_def.node.extend(nodes)
    mg.signature_def["s"].outputs["y"].name = output
    (tmp / "saved_model.pb").write_bytes(sm.SerializeToString())
    assert (tmp / "saved_model.pb").stat().st_size < 1024
    return savedmodel_io.load(tmp).signatures["s"]()


def _node(name: str, op: str, inputs=(), **attrs):
    from savedmodel_io.proto import NodeDef

    n = NodeDef(name=name, op=op, input=list(inputs))
    for k, v in attrs.items():
        n.attr[k].CopyFrom(v)
    return n


@case("run_tensorlist_reserve_huge", needs="savedmodel_io.graph.runtime", peak_mb=300)
def run_tensorlist_reserve_huge(tmp: Path):
    """TensorListReserve of 400 million slots (3.2 GB of Python list) from a 200-byte graph."""
    from savedmodel_io.proto import AttrValue

    def const(name: str, value: int):
        return _node(name, "Const", value=AttrValue(tensor=_tensor(3, [], int_val=[value])),
                     dtype=AttrValue(type=3))

    return _run_graph(tmp, [
        const("shape", -1), const("n", 400_000_000),
        _node("r", "TensorListReserve", ["shape", "n"], element_dtype=AttrValue(type=3),
              shape_type=AttrValue(type=3)),
        _node("len", "TensorListLength", ["r"]),
    ], "len:0")


@case("run_asstring_over_expanded_constant", needs="savedmodel_io.graph.runtime", peak_mb=900)
def run_asstring_over_expanded_constant(tmp: Path):
    """AsString (a Python loop per element) over a 512 MiB constant expanded from one value.

    Without a budget: half a billion Python strings (tens of GB, hours); with the default
    one the kernel is refused before it starts.
    """
    from savedmodel_io.proto import AttrValue

    big = _tensor(6, [1 << 29], int_val=[7])  # int8
    return _run_graph(tmp, [
        _node("c", "Const", value=AttrValue(tensor=big), dtype=AttrValue(type=6)),
        _node("s", "AsString", ["c"], T=AttrValue(type=6)),
    ], "s:0")


# --- at the limits (slow): what the census lets through still fits under the cap -------------------


def _done(tmp: Path, what: str):
    """End a case that succeeded as intended with an error the harness can check."""
    from savedmodel_io.errors import NotFoundError

    raise NotFoundError(f"ran to the end: {what}", path=tmp)


@case("scan_nodes_at_the_limit", needs="savedmodel_io.scan", peak_mb=1000, slow=True)
def scan_nodes_at_the_limit(tmp: Path):
    """Five million empty NodeDefs (MAX_NODES, 10 MB): parsed and scanned under the cap."""
    from hostile.bombs import many_nodes

    from savedmodel_io.formats import census
    from savedmodel_io.scan import scan_saved_model

    (tmp / "saved_model.pb").write_bytes(many_nodes(census.MAX_NODES))
    report = scan_saved_model(tmp)
    _done(tmp, f"scanned, findings: {report.found}")


@case("show_json_signatures_at_the_limit", needs="savedmodel_io.cli.show", peak_mb=600,
      slow=True)
def show_json_signatures_at_the_limit(tmp: Path):
    """`show --all --json` on MAX_SIGNATURES signatures of one input each, written as it goes."""
    from hostile.bombs import repeated_field

    from savedmodel_io.formats import census

    tensor = repeated_field(1, 1, repeated_field(1, 1, b"x") + repeated_field(2, 1, b"\x0a\x03x:0"))
    mg = repeated_field(1, 1, repeated_field(4, 1, b"serve")) + b"".join(
        repeated_field(5, 1, repeated_field(1, 1, b"%06d" % k) + repeated_field(2, 1, tensor))
        for k in range(census.MAX_SIGNATURES)
    )
    _done(tmp, f"{_show(tmp, repeated_field(2, 1, mg))} bytes of JSON")


# --- links leading out of the model: OutsideModelError, never the other file's bytes ---------------

# (what a link in the model points at, relative to the model directory) for each shape.
_LINKS = {
    "link_saved_model_pb": ["saved_model.pb"],
    "link_variables_index": ["variables/variables.index"],
    "link_data_shard": ["variables/variables.data-00000-of-00001"],
    "link_variables_dir": ["variables"],
    "link_fingerprint_pb": ["fingerprint.pb"],
    "link_assets_dir": ["assets"],
}


def _linked_model(tmp: Path, names: list[str]) -> Path:
    """A model in tmp/m whose ``names`` are links to the same files of a model in tmp/secret."""
    import shutil

    import numpy as np

    from savedmodel_io.writer import Model, save

    for where, value in (("m", 1.0), ("secret", 7.0)):
        m = Model()
        w = m.variable("w", np.full(3, value, np.float32))
        m.asset("vocab.txt", b"secret" if value == 7.0 else b"ok")
        f = m.function("__call__", {"x": ("float32", (None, 3))})
        f.outputs({"y": f.add(f.inputs["x"], f.read(w))})
        m.signature("serving_default", f)
        save(tmp / where, m)
    model = tmp / "m"
    for name in names:
        target = model / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
        target.symlink_to(tmp / "secret" / name)
    return model


def _outside_only(call):
    """Run ``call``; only OutsideModelError may end it (anything else fails the case)."""
    from savedmodel_io.errors import OutsideModelError, SavedModelError

    try:
        result = call()
    except OutsideModelError:
        raise
    except SavedModelError as exc:
        raise AssertionError(f"expected OutsideModelError, got {type(exc).__name__}: {exc}") from None
    raise AssertionError(f"read through a link out of the model: {result!r}")


def _read_everything(model: Path) -> object:
    """What a user does with a model: load, read every variable without CRC checks, assets."""
    import savedmodel_io

    loaded = savedmodel_io.load(model)
    reader = savedmodel_io.open_checkpoint(model, verify_checksums=False)
    return ([reader.read(k) for k in reader], [a.read_bytes() for a in loaded.assets],
            savedmodel_io.read_fingerprint(model))


def _link_case(name: str) -> None:
    @case(name, needs="savedmodel_io.writer")
    def run(tmp: Path):
        return _outside_only(lambda: _read_everything(_linked_model(tmp, _LINKS[name])))


for _name in _LINKS:
    _link_case(_name)


@case("link_checkpoint_state_absolute", needs="savedmodel_io.writer")
def link_checkpoint_state_absolute(tmp: Path):
    """A checkpoint directory whose `checkpoint` file names a checkpoint elsewhere."""
    import savedmodel_io

    _linked_model(tmp, [])
    d = tmp / "ckpts"
    d.mkdir()
    (d / "checkpoint").write_text(f'model_checkpoint_path: "{tmp}/secret/variables/variables"\n')
    return _outside_only(lambda: savedmodel_io.open_checkpoint(d).read_all())


@case("link_crc_oracle", needs="savedmodel_io.writer")
def link_crc_oracle(tmp: Path):
    """The shard of a 1-byte tensor is a link to a foreign file: verifying used to print its CRC."""
    import numpy as np

    import savedmodel_io
    from savedmodel_io.formats.bundle import write_checkpoint

    (tmp / "foreign").write_bytes(b"private key material")
    m = tmp / "m"
    (m / "variables").mkdir(parents=True)
    write_checkpoint(m / "variables" / "variables", {"b": np.zeros(1, np.uint8)})
    shard = m / "variables" / "variables.data-00000-of-00001"
    shard.unlink()
    shard.symlink_to(tmp / "foreign")
    return _outside_only(lambda: savedmodel_io.open_checkpoint(m).read("b"))


# --- the newer kernels and input files (audit round on image codecs, ragged ops, .npz weights) ------


@case("weights_npz_member_shape_2gib", needs="savedmodel_io.formats.npz", peak_mb=300)
def weights_npz_member_shape_2gib(tmp: Path):
    """import-weights' .npz whose member declares 2 GiB over 16 bytes (numpy allocates first)."""
    import zipfile

    from savedmodel_io.formats import npz

    p = tmp / "w.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("v.npy", _npy((1 << 28,)))
    return npz.read(p)


@case("input_expr_wide_dtype", needs="savedmodel_io.cli.run_inputs", peak_mb=300)
def input_expr_wide_dtype(tmp: Path):
    """64 Mi elements (the element limit) of a 1000-byte void dtype: 64 GiB from 40 characters."""
    from savedmodel_io.cli.run_inputs import parse_exprs
    from savedmodel_io.errors import SavedModelError

    try:
        return parse_exprs("a=np.zeros(67108864, dtype='V1000')")
    except SavedModelError as exc:
        raise type(exc)(exc.message, path=tmp) from None


def _image_const(data: bytes):
    from savedmodel_io import tensors
    from savedmodel_io.proto import AttrValue

    proto = tensors.from_array(__import__("numpy").array(data, dtype=object))
    return _node("c", "Const", value=AttrValue(tensor=proto), dtype=AttrValue(type=proto.dtype))


@case("run_jpeg_over_pillow_limit", needs="PIL", peak_mb=300)
def run_jpeg_over_pillow_limit(tmp: Path):
    """An 8x8 JPEG whose frame header says 20000x10000: under TF's limit, over Pillow's."""
    import io
    import struct

    from PIL import Image

    from savedmodel_io.proto import AttrValue

    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "JPEG")
    data = bytearray(out.getvalue())
    pos = 2
    while data[pos + 1] != 0xC0:
        pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]
    struct.pack_into(">HH", data, pos + 5, 20000, 10000)
    return _run_graph(tmp, [_image_const(bytes(data)),
                            _node("d", "DecodeImage", ["c"], dtype=AttrValue(type=4))], "d:0")


@case("run_webp_canvas_huge", needs="PIL", peak_mb=300)
def run_webp_canvas_huge(tmp: Path):
    """A WebP whose VP8X header declares a 16M x 16M canvas around an 8x8 image."""
    import io
    import struct

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "WEBP")
    small = out.getvalue()
    side = ((1 << 24) - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + b"\0" * 4 + side + side + small[12:]
    webp = b"RIFF" + struct.pack("<I", len(body)) + body
    return _run_graph(tmp, [_image_const(webp), _node("d", "DecodeWebP", ["c"])], "d:0")


@case("run_ragged_range_wraps", needs="savedmodel_io.graph.runtime")
def run_ragged_range_wraps(tmp: Path):
    """RaggedRange from -2^63 to 2^63-1: the int64 span wrapped to a one-element range."""
    from savedmodel_io.proto import AttrValue

    def const(name: str, value: int):
        return _node(name, "Const", value=AttrValue(tensor=_tensor(9, [], int64_val=[value])),
                     dtype=AttrValue(type=9))

    return _run_graph(tmp, [
        const("s", -(1 << 63)), const("l", (1 << 63) - 1), const("d", 1),
        _node("r", "RaggedRange", ["s", "l", "d"], T=AttrValue(type=9), Tsplits=AttrValue(type=9)),
    ], "r:1")
