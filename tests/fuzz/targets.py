"""Fuzz targets: one function per parser, ``target(data: bytes)``; registered by name.

Targets that read files write the bytes into a scratch directory first (one per
process, reused), so the code under test is the same path users hit.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from savedmodel_io.errors import SavedModelError
from savedmodel_io.proto import SavedModel, TensorProto, parse_message, parse_text
from savedmodel_io.tensors import to_array

TARGETS: dict[str, Callable[[bytes], object]] = {}
# Module each target needs; a target whose module is not importable is skipped.
NEEDS: dict[str, str] = {}


def target(name: str, needs: str | None = None):
    def register(fn):
        TARGETS[name] = fn
        if needs:
            NEEDS[name] = needs
        return fn

    return register


def available(name: str) -> str | None:
    """None when target ``name`` can run, else why not."""
    mod = NEEDS.get(name)
    if mod is None:
        return None
    try:
        importlib.import_module(mod)
    except ImportError as exc:
        return f"{mod} is not importable yet ({exc})"
    return None


_SCRATCH: Path | None = None


def scratch() -> Path:
    """A fresh empty directory for one case (same path every case of this process)."""
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = Path(tempfile.mkdtemp(prefix=f"fuzz-{os.getpid()}-"))
    d = _SCRATCH / "case"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    return d


def _touch_tensors(sm: SavedModel) -> None:
    """Decode every Const tensor, as a reader showing or running the model would."""
    for mg in sm.meta_graphs:
        nodes = list(mg.graph_def.node)
        for fn in mg.graph_def.library.function:
            nodes.extend(fn.node_def)
        for node in nodes:
            if "value" in node.attr and node.attr["value"].HasField("tensor"):
                to_array(node.attr["value"].tensor, where=node.name)


# --- protobuf messages (main) ------------------------------------------------------------------


@target("saved_model_pb")
def saved_model_pb(data: bytes) -> object:
    sm = parse_message(SavedModel, data, path="saved_model.pb")
    _touch_tensors(sm)
    return sm


@target("saved_model_pbtxt")
def saved_model_pbtxt(data: bytes) -> object:
    return parse_text(SavedModel, data.decode("latin-1"), path="saved_model.pbtxt")


@target("tensor_proto")
def tensor_proto(data: bytes) -> object:
    return to_array(parse_message(TensorProto, data, path="tensor.pb"), path="tensor.pb")


# --- the reader: saved_model_file, model.load, read_signatures, show, scan ----------------------


def _model_dir(data: bytes, name: str = "saved_model.pb") -> Path:
    d = scratch()
    (d / name).write_bytes(data)
    return d


def _browse(model) -> None:
    """Touch everything the object model computes lazily, as `show --all` does."""
    repr(model)
    for mg in model:
        repr(mg)
        for sig in mg.signatures.values():
            repr(sig)
            sig.defaults
        mg.functions
        mg.ops
        mg.assets
        og = mg.object_graph
        if og is not None:
            repr(og)
            og.concrete_functions
            if len(og):
                og.functions(0)


def _cli(*argv: str) -> int:
    import contextlib
    import io

    from savedmodel_io.cli.main import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(argv))
    # main turns library errors into exit 1; re-raise anything else it let through.
    return code


@target("load_pb", needs="savedmodel_io.model")
def load_pb(data: bytes) -> object:
    import savedmodel_io

    model = savedmodel_io.load(_model_dir(data))
    _browse(model)
    return model


@target("load_pbtxt", needs="savedmodel_io.model")
def load_pbtxt(data: bytes) -> object:
    import savedmodel_io

    model = savedmodel_io.load(_model_dir(data, "saved_model.pbtxt"))
    _browse(model)
    return model


@target("read_signatures", needs="savedmodel_io.model")
def read_signatures(data: bytes) -> object:
    import savedmodel_io
    from savedmodel_io.errors import NotFoundError

    d = _model_dir(data)
    out = []
    try:
        sigs = savedmodel_io.read_signatures(d)
    except NotFoundError:
        sigs = {}
    for tags in ({"serve"}, {"train", "serve"}):
        try:
            out.append(savedmodel_io.read_signatures(d, tags))
        except NotFoundError:
            pass
    return sigs, out


@target("cli_show", needs="savedmodel_io.cli.show")
def cli_show(data: bytes) -> object:
    d = _model_dir(data)
    return _cli("show", "--dir", str(d), "--all"), _cli("show", "--dir", str(d), "--json", "--all")


@target("scan", needs="savedmodel_io.scan")
def scan(data: bytes) -> object:
    from savedmodel_io.scan import scan_saved_model

    d = _model_dir(data)
    return scan_saved_model(d).to_json(), _cli("scan", "--dir", str(d))


# --- checkpoints: the LevelDB table (index) and whole TensorBundles --------------------------------


@target("sstable", needs="savedmodel_io.formats.sstable")
def sstable(data: bytes) -> object:
    from savedmodel_io.formats.sstable import Table

    p = scratch() / "variables.index"
    p.write_bytes(data)
    out = []
    for verify in (True, False):
        try:
            t = Table.open(p, verify_checksums=verify)
            out.append((len(t), t.as_dict(), t.get(b""), t.get(b"\xff" * 4)))
        except SavedModelError:
            if not verify:
                raise
    return out


def pack_bundle(index: bytes, data: bytes) -> bytes:
    """One fuzz input holding a bundle's index and its single data shard."""
    return len(index).to_bytes(4, "little") + index + data


def _unpack_bundle(data: bytes) -> tuple[bytes, bytes]:
    n = int.from_bytes(data[:4].ljust(4, b"\0"), "little")
    return data[4 : 4 + n], data[4 + n :]


@target("bundle", needs="savedmodel_io.formats.bundle")
def bundle(data: bytes) -> object:
    from savedmodel_io.formats.bundle import CheckpointReader

    index, shard = _unpack_bundle(data)
    d = scratch()
    (d / "variables.index").write_bytes(index)
    (d / "variables.data-00000-of-00001").write_bytes(shard)
    out = []
    for verify in (True, False):
        try:
            with CheckpointReader(d / "variables", verify_checksums=verify) as r:
                out.append((r.list_variables(), repr(r)))
                for key in list(r):
                    try:
                        out.append(r.read(key))
                    except SavedModelError:
                        pass
                out.append(r.object_graph)
                out.append(r.object_paths())
                out.append(r.saved_variables())
        except SavedModelError:
            if not verify:
                raise
    return out


# --- .cpb: Riegeli records and chunked protos -------------------------------------------------------


@target("riegeli", needs="savedmodel_io.formats.riegeli")
def riegeli(data: bytes) -> object:
    from savedmodel_io.formats.riegeli import RecordReader

    p = scratch() / "records.riegeli"
    p.write_bytes(data)
    out = []
    for verify in (True, False):
        try:
            with RecordReader(p, verify_hashes=verify) as r:
                positions = list(r.positions())
                out.append(list(r))
                for pos in positions[:4]:
                    out.append(r.read_record(pos))
        except SavedModelError:
            if not verify:
                raise
    return out


@target("cpb", needs="savedmodel_io.formats.cpb")
def cpb(data: bytes) -> object:
    from savedmodel_io.formats import chunks
    from savedmodel_io.formats.cpb import read_saved_model_cpb

    d = scratch()
    (d / "saved_model.cpb").write_bytes(data)
    out = []
    try:
        out.append(read_saved_model_cpb(d))
    except SavedModelError:
        pass
    out.append(chunks.read_chunked(d / "saved_model.cpb", SavedModel, verify_hashes=False))
    return out


# --- fingerprint.pb, and fingerprinting a (mutated) saved_model.pb -----------------------------------


@target("fingerprint", needs="savedmodel_io.fingerprint")
def fingerprint(data: bytes) -> object:
    from savedmodel_io.fingerprint import read_fingerprint

    d = scratch()
    (d / "fingerprint.pb").write_bytes(data)
    fp = read_fingerprint(d)
    return repr(fp), _cli("fingerprint", "--dir", str(d)), _cli("fingerprint", "--dir", str(d), "--json")


@target("fingerprint_model", needs="savedmodel_io.fingerprint")
def fingerprint_model(data: bytes) -> object:
    from savedmodel_io.fingerprint import compute_fingerprint, verify_fingerprint
    from savedmodel_io.proto import FingerprintDef

    d = _model_dir(data)
    (d / "fingerprint.pb").write_bytes(
        FingerprintDef(saved_model_checksum=1, graph_def_program_hash=2).SerializeToString()
    )
    return compute_fingerprint(d), verify_fingerprint(d)


# --- `run`'s input flags: --inputs files, --input_exprs, --input_examples ---------------------------


@target("cli_input_exprs", needs="savedmodel_io.cli.run_inputs")
def cli_input_exprs(data: bytes) -> object:
    from savedmodel_io.cli.run_inputs import parse_exprs

    return parse_exprs(data.decode("utf-8", "replace"))


@target("cli_input_examples", needs="savedmodel_io.cli.run_inputs")
def cli_input_examples(data: bytes) -> object:
    from savedmodel_io.cli.run_inputs import parse_examples

    return parse_examples(data.decode("utf-8", "replace"))


@target("cli_inputs_file", needs="savedmodel_io.cli.run_inputs")
def cli_inputs_file(data: bytes) -> object:
    """A .npy or .npz (by its magic) named by --inputs, with and without a [variable]."""
    import contextlib
    import io

    from savedmodel_io.cli.run_inputs import load_inputs

    p = scratch() / ("in.npz" if data[:2] == b"PK" else "in.npy")
    p.write_bytes(data)
    out = []
    with contextlib.redirect_stderr(io.StringIO()):
        for spec in (f"a={p}", f"a={p}[x]", f"a={p}[arr_0]"):
            try:
                out.append(load_inputs(inputs=spec))
            except SavedModelError:
                pass
    out.append(load_inputs(inputs=f"a={p}"))
    return out


# --- image decoders (what DecodePng/Gif/Bmp/Jpeg/Image do with the bytes a graph feeds them) -----


@target("image_png", needs="savedmodel_io.formats.png")
def image_png(data: bytes) -> object:
    from savedmodel_io.formats.png import decode_png, png_header

    out = [decode_png(data, ch, bits16) for ch in (0, 1, 3, 4) for bits16 in (False, True)]
    return png_header(data), out


@target("image_gif", needs="savedmodel_io.formats.gif")
def image_gif(data: bytes) -> object:
    from savedmodel_io.formats.gif import decode_gif

    return decode_gif(data, max_bytes=1 << 24), decode_gif(data, False, max_bytes=1 << 24)


@target("image_bmp", needs="savedmodel_io.formats.bmp")
def image_bmp(data: bytes) -> object:
    from savedmodel_io.formats.bmp import decode_bmp

    return [decode_bmp(data, ch) for ch in (0, 3, 4)]


@target("image_jpeg", needs="PIL")
def image_jpeg(data: bytes) -> object:
    from savedmodel_io.formats.jpeg import JpegFlags, decode_jpeg, jpeg_header

    out = [jpeg_header(data)]
    for flags in (JpegFlags(), JpegFlags(1, 2, False, "INTEGER_FAST"), JpegFlags(3, 1, True,
                                                                               "INTEGER_ACCURATE")):
        out.append(decode_jpeg(data, flags))
    return out


@target("image_jxl", needs="imagecodecs")
def image_jxl(data: bytes) -> object:
    from savedmodel_io.formats.jxl import decode_jxl, jxl_header

    height, width, bits = jxl_header(data)
    if height * width > 1 << 20:  # the kernel bounds sizes before decoding (check_size)
        return height, width, bits
    return decode_jxl(data, bits)


@target("image_decode_op", needs="savedmodel_io.graph.ops.image_codec")
def image_decode_op(data: bytes) -> object:
    """The DecodeImage kernel on any bytes: format sniffing, dispatch, conversion."""
    import numpy as np

    from savedmodel_io import tensors
    from savedmodel_io.graph import runtime
    from savedmodel_io.proto import MetaGraphDef

    mg = MetaGraphDef()
    c = mg.graph_def.node.add(name="c", op="Const")
    proto = tensors.from_array(np.array(data, dtype=object))
    c.attr["value"].tensor.CopyFrom(proto)
    c.attr["dtype"].type = proto.dtype
    op = mg.graph_def.node.add(name="op", op="DecodeImage", input=["c"])
    op.attr["dtype"].type = 1  # float32
    mg.signature_def["s"].outputs["o"].name = "op:0"
    return runtime.run_signature(mg, "s", {})
