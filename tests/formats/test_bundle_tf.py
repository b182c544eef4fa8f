"""TensorBundle against TensorFlow: TF writes / we read, we write / TF reads, byte-identical files.

TensorFlow's side is below (``tf_write``, ``tf_read``) and runs in the oracle's subprocess
(``ModuleOracle``), recorded: ``tf_write`` makes the checkpoint files of every case (returned
as bytes and unpacked into this session's directory), ``tf_read`` reads the checkpoints we
write. Each is asked once per module, for all cases, so a rerun does not start TensorFlow.
"""

from __future__ import annotations

import filecmp
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from _oracles import ModuleOracle
from _oracles.codec import decode, encode, pack_dir, unpack_dir

from savedmodel_io.formats import bundle
from savedmodel_io.formats.bundle import Sliced, open_checkpoint, write_checkpoint

pytestmark = pytest.mark.tf

ml_dtypes = pytest.importorskip("ml_dtypes")


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    out: dict[str, np.ndarray] = {
        "float16": rng.standard_normal((2, 3)).astype(np.float16),
        "float32": rng.standard_normal((4, 5)).astype(np.float32),
        "float64": np.array([np.nan, np.inf, -0.0, 1e-300]),
        "int8": np.array([-128, 5, 127], np.int8),
        "int16": np.arange(-3, 3, dtype=np.int16),
        "int32": np.array(123456, np.int32),
        "int64": np.array([[2**62], [-(2**63)]], np.int64),
        "uint8": np.arange(0, 256, 7, dtype=np.uint8),
        "uint16": np.array([0, 65535], np.uint16),
        "uint32": np.array([2**32 - 1], np.uint32),
        "uint64": np.array([2**64 - 1, 0], np.uint64),
        "bool": np.array([True, False, True]),
        "complex64": np.array([1 + 2j, -3j], np.complex64),
        "complex128": np.array([[1e100 - 1j]], np.complex128),
        "string": np.array([b"", b"\xff\xfe\x00bin", "caf\u00e9".encode(), b"z" * 1000], dtype=object),
        "string_scalar": np.array(b"", dtype=object),
        "string_empty": np.zeros((0,), dtype=object),
        "zero_size": np.zeros((3, 0, 2), np.float32),
        "scalar": np.array(2.5, np.float64),
    }
    for name in ("bfloat16", "float8_e5m2", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e4m3b11fnuz",
                 "float8_e5m2fnuz", "float4_e2m1fn"):
        if hasattr(ml_dtypes, name):
            out[name] = np.array([0.5, -1, 2, 0], getattr(ml_dtypes, name))
    for name, vals in (("int4", [-8, 7, 0]), ("uint4", [0, 15, 3]), ("int2", [-2, 1]), ("uint2", [0, 3])):
        if hasattr(ml_dtypes, name):
            out[name] = np.array(vals, getattr(ml_dtypes, name))
    return out


_NUL_STRINGS = {"scalar": b"ab\x00\x00", "listed": [b"a\x00", b"bc"], "text": ["x\x00"], "nested": [[b"\x00"], [b""]]}
_SLICED = np.arange(60, dtype=np.float32).reshape(6, 10)
_SLICE_SPECS = ["6 10 0,2:-", "6 10 2,4:0,5", "6 10 2,4:5,5"]
_SLICE_PARTS = [_SLICED[:2], _SLICED[2:, :5], _SLICED[2:, 5:]]
_SLICED_STRINGS = np.array([b"a", b"", b"\xffc", b"dd"], dtype=object)
_ODD_NAMES = [b"\xff", b"\xff", b"\x00lead", b"\xfeplain"]
_ODD_SPECS = ["4 0,2", "4 2,2", "", ""]
_ODD_VALUES = [np.array([1, 2], np.int32), np.array([3, 4], np.int32), np.array([7, 8], np.int32),
               np.array(5, np.int32)]
_MANAGER_NAMES = ['ck"pt', "caf\u00e9", "t\tab"]  # (a backslash: TF's own glob fails)
_MERGED = np.arange(12, dtype=np.float32).reshape(4, 3)
_MANY_NAMES = [f"layer_{i:04d}/" + "very_long_variable_name_" * 6 + f"{i}" for i in range(2500)]
_MANY_ARRAYS = [np.full((i % 3 + 1,), i, np.float32) for i in range(2500)]
_SHARDED_STRINGS = [b"a\x00" * 8, b"\x00" * 20]
_RESTORED = np.arange(6, dtype=np.float32).reshape(2, 3)


# --------------------------------------------------------------- TensorFlow's side (the oracle)


def _tf_tensor(tf, arr: np.ndarray):
    if arr.dtype == object:
        return tf.constant(arr.tolist() if arr.size else np.zeros(arr.shape, dtype=bytes), dtype=tf.string, shape=arr.shape)
    return tf.constant(arr)


def _save(tf, prefix: Path, names, specs, tensors) -> None:
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=specs, tensors=tensors)


def _write_dtypes(tf, root: Path) -> dict:
    """One SaveV2 bundle per dtype plus one holding all of them."""
    arrays = _arrays()
    for name, arr in arrays.items():
        _save(tf, root / name / "ck", [name], [""], [_tf_tensor(tf, arr)])
    names = list(arrays)
    _save(tf, root / "all" / "ck", names, [""] * len(names), [_tf_tensor(tf, arrays[n]) for n in names])
    return {"list_variables": [[k, list(v)] for k, v in tf.train.list_variables(str(root / "all" / "ck"))]}


def _write_nul(tf, root: Path, name: str) -> None:
    _save(tf, root / "ck", [name], [""], [tf.constant(_NUL_STRINGS[name])])


def _write_nul_sliced(tf, root: Path) -> None:
    _save(tf, root / "ck", ["s", "s"], ["3 0,1", "3 1,2"],
          [tf.constant([b"a\x00"]), tf.constant([b"\x00", b"b\x00\x00"])])


def _write_masked(tf, root: Path) -> None:
    m = np.ma.array(np.arange(4, dtype=np.float32), mask=[0, 1, 0, 1])
    _save(tf, root / "ck", ["m"], [""], [tf.constant(m)])


def _write_quantized(tf, root: Path) -> dict:
    """Quantized tensors, and their storage bytes as TF's bitcast gives them."""
    facts = {}
    for d in (tf.qint8, tf.quint8, tf.qint16, tf.quint16, tf.qint32):
        t = tf.quantization.quantize(tf.constant([0.0, 1.0, 2.0]), 0.0, 2.0, d).output
        _save(tf, root / d.name, ["q"], [""], [t])
        want = tf.bitcast(t, {1: tf.int8, 2: tf.int16, 4: tf.int32}[d.size]).numpy() if d.is_quantized else t.numpy()
        facts[d.name] = {"want": encode(np.asarray(want)), "size": d.size}
    return facts


def _write_sliced(tf, root: Path) -> None:
    _save(tf, root / "ck", ["v", "v", "v", "s", "s"], _SLICE_SPECS + ["4 0,1", "4 1,3"],
          [tf.constant(p) for p in _SLICE_PARTS]
          + [tf.constant(_SLICED_STRINGS[:1].tolist()), tf.constant(_SLICED_STRINGS[1:].tolist())])


def _write_odd_keys(tf, root: Path) -> dict:
    # SaveV2 takes any bytes as a name: a non-UTF-8 partitioned tensor, a NUL-led plain one.
    prefix = str(root / "ck")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=tf.constant(_ODD_NAMES), shape_and_slices=_ODD_SPECS,
                      tensors=[tf.constant(v) for v in _ODD_VALUES])
    restored = {}
    for raw in (b"\xff", b"\x00lead", b"\xfeplain"):
        restored[raw.hex()] = encode(tf.raw_ops.RestoreV2(
            prefix=prefix, tensor_names=tf.constant([raw]), shape_and_slices=[""], dtypes=[tf.int32])[0].numpy())
    return {"restored": restored}


def _write_manager(tf, root: Path, name: str) -> dict:
    v = tf.Variable(0.0)
    mgr = tf.train.CheckpointManager(tf.train.Checkpoint(v=v), str(root), max_to_keep=3, checkpoint_name=name)
    for i in range(3):
        v.assign(float(i))
        mgr.save()
    return {"latest": os.path.relpath(tf.train.latest_checkpoint(str(root)), root)}


def _write_sharded(tf, root: Path) -> dict:
    v = {
        "a": tf.Variable(np.arange(40, dtype=np.float32).reshape(10, 4)),
        "b": tf.Variable(np.ones((3,), np.float64)),
        "c": tf.Variable(5),
        "d": tf.Variable(np.arange(63, dtype=np.int16).reshape(7, 9)),
        "e": tf.Variable(np.random.default_rng(3).standard_normal((33, 17)).astype(np.float32)),
        "s": tf.Variable([b"x" * 40, b"", b"yy"]),
    }
    ck = tf.train.Checkpoint(**v)
    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=200)
    path = ck.write(str(root / "ckpt"), options=tf.train.CheckpointOptions(experimental_sharding_callback=policy))
    reader = tf.train.load_checkpoint(path)
    return {"prefix": os.path.relpath(path, root), "objects": sorted(v),
            "tensors": {k: encode(reader.get_tensor(k)) for k in reader.get_variable_to_shape_map()}}


def _write_merged(tf, root: Path) -> None:
    # A sharded save is SaveV2 per shard + MergeV2Checkpoints: the partitioned tensor's entry
    # gets the lowest shard and lists its slices shard by shard, whatever order they came in.
    def part(i):
        return tf.raw_ops.ShardedFilename(basename=str(root / "tmp" / "part"), shard=i, num_shards=2)

    tf.raw_ops.SaveV2(prefix=part(0), tensor_names=["w", "w", "b"], shape_and_slices=["4 3 3,1:-", "4 3 2,1:-", ""],
                      tensors=[tf.constant(_MERGED[3:]), tf.constant(_MERGED[2:3]), tf.constant(np.array([1, 2], np.int32))])
    tf.raw_ops.SaveV2(prefix=part(1), tensor_names=["w"], shape_and_slices=["4 3 0,2:-"], tensors=[tf.constant(_MERGED[:2])])
    tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=[part(0), part(1)], destination_prefix=str(root / "ck"),
                                  delete_old_dirs=False)


def _write_many_keys(tf, root: Path) -> None:
    _save(tf, root / "ck", _MANY_NAMES, [""] * len(_MANY_NAMES), [tf.constant(a) for a in _MANY_ARRAYS])


def _write_saved_model(tf, root: Path) -> dict:
    class Inner(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(np.ones((2, 3), np.float32), name="w")

    class Outer(tf.Module):
        def __init__(self):
            super().__init__()
            self.inner = Inner()
            self.bias = tf.Variable([1.0, 2.0], name="bias")

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
        def __call__(self, x):
            return tf.matmul(x, self.inner.w) + tf.reduce_sum(self.bias)

    m = Outer()
    tf.saved_model.save(m, str(root / "sm"))
    listed = tf.train.list_variables(str(root / "sm" / "variables" / "variables"))
    return {"w": encode(m.inner.w.numpy()), "w_name": m.inner.w.name.split(":")[0],
            "list_variables": [[k, list(v)] for k, v in listed]}


def _write_restore_source(tf, root: Path) -> dict:
    src = tf.train.Checkpoint(w=tf.Variable(_RESTORED))
    return {"prefix": os.path.relpath(src.write(str(root / "ckpt")), root)}


_WRITERS = {"dtypes": _write_dtypes, "nul": _write_nul, "nul_sliced": _write_nul_sliced,
            "masked": _write_masked, "quantized": _write_quantized, "sliced": _write_sliced,
            "odd_keys": _write_odd_keys, "manager": _write_manager, "sharded": _write_sharded,
            "merged": _write_merged, "many_keys": _write_many_keys,
            "saved_model": _write_saved_model, "restore_source": _write_restore_source}


def tf_write(request: dict) -> dict:
    """TF writes the files of one case into a scratch directory: the files and some facts."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        facts = _WRITERS[request["case"]](tf, Path(tmp), *request["args"])
        return {"files": pack_dir(tmp), "facts": facts or {}}


def tf_read(request: dict) -> dict:
    """TF reads a checkpoint we wrote (``dir``/``prefix``): tensors, slices or a restore."""
    import tensorflow as tf

    prefix = str(Path(request["dir"]) / request["prefix"])
    if request["how"] == "tensors":
        reader = tf.train.load_checkpoint(prefix)
        return {k: encode(reader.get_tensor(k)) for k in request["keys"]}
    if request["how"] == "slices":  # TF restores sliced strings by slice only
        return {spec: encode(tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=[request["keys"][0]],
                                                  shape_and_slices=[spec], dtypes=[tf.string])[0].numpy())
                for spec in request["specs"]}
    w = tf.Variable(np.zeros((2, 3), np.float32))
    tf.train.Checkpoint(w=w).read(prefix).assert_consumed()
    return {"w": encode(w.numpy())}


# --------------------------------------------------------------- the test process


def _same(a: np.ndarray, b: np.ndarray) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.dtype == object or b.dtype == object or a.dtype.kind == "S":
        assert [bytes(x) for x in a.reshape(-1).tolist()] == [bytes(x) for x in b.reshape(-1).tolist()]
    else:
        assert a.dtype == b.dtype, (a.dtype, b.dtype)
        assert a.tobytes() == b.tobytes()


def _files_equal(ours: list[str], theirs_prefix: str) -> None:
    ours_prefix = ours[-1][: -len(".index")]
    for p in ours:
        q = theirs_prefix + p[len(ours_prefix):]
        assert os.path.exists(q), f"TF wrote no {os.path.basename(q)}"
        assert filecmp.cmp(p, q, shallow=False), f"{os.path.basename(p)} differs from TensorFlow's"
    theirs = sorted(f for f in os.listdir(os.path.dirname(theirs_prefix)) if f.startswith(os.path.basename(theirs_prefix) + "."))
    assert len(theirs) == len(ours), theirs


TF = ModuleOracle(__name__, paths=("dir",))


@pytest.fixture(scope="module")
def theirs(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """Every case TensorFlow writes, unpacked: case id -> (directory, facts)."""
    cases = {"dtypes": ("dtypes", []), "nul_sliced": ("nul_sliced", []), "masked": ("masked", []),
             "quantized": ("quantized", []), "sliced": ("sliced", []), "odd_keys": ("odd_keys", []),
             "sharded": ("sharded", []), "merged": ("merged", []), "many_keys": ("many_keys", []),
             "saved_model": ("saved_model", []), "restore_source": ("restore_source", [])}
    cases.update({f"nul/{n}": ("nul", [n]) for n in _NUL_STRINGS})
    cases.update({f"manager/{i}": ("manager", [n]) for i, n in enumerate(_MANAGER_NAMES)})
    answers = TF.answers([{"function": "tf_write", "case": c, "args": a} for c, a in cases.values()])
    root = tmp_path_factory.mktemp("tf_written")
    return {cid: (unpack_dir(a["files"], root / cid.replace("/", "_")), a["facts"])
            for cid, a in zip(cases, answers)}


@pytest.fixture(scope="module")
def ours(theirs, tmp_path_factory) -> dict[str, list[str]]:
    """The checkpoints TF reads back, written by us: case id -> written files."""
    root = tmp_path_factory.mktemp("ours")
    out = {f"dtype/{name}": write_checkpoint(root / "dtype" / name / "ck", {name: arr})
           for name, arr in _arrays().items()}
    out["nul_sharded"] = write_checkpoint(root / "nul_sharded" / "ck", {"s": _SHARDED_STRINGS},
                                          max_shard_size=20)
    out["sliced"] = write_checkpoint(root / "sliced" / "ck", {
        "v": Sliced((6, 10), [(s.split(" ", 2)[2], p) for s, p in zip(_SLICE_SPECS, _SLICE_PARTS)]),
        "s": Sliced((4,), [("0,1", _SLICED_STRINGS[:1]), ("1,3", _SLICED_STRINGS[1:])]),
    })
    d, facts = theirs["sharded"]
    r = open_checkpoint(d / facts["prefix"])
    # Data order in TF's shards = the order the policy saw the tensors: rebuild it and re-write.
    out["sharded"] = write_checkpoint(root / "sharded" / "ckpt", {k: r[k] for k in r.data_order()},
                                      max_shard_size=200)
    d, facts = theirs["restore_source"]
    r = open_checkpoint(d / facts["prefix"])
    tensors = {k: r[k] for k in r}
    out["restore"] = write_checkpoint(root / "restore" / "ckpt", {
        bundle.OBJECT_GRAPH_KEY: tensors.pop(bundle.OBJECT_GRAPH_KEY), **tensors})
    return out


@pytest.fixture(scope="module")
def tf_reads(ours, theirs) -> dict[str, dict]:
    """What TensorFlow reads from each of our checkpoints (recorded)."""
    def ask(case: str, how: str, **extra) -> dict:
        prefix = Path(ours[case][-1][: -len(".index")])
        return {"function": "tf_read", "dir": str(prefix.parent), "prefix": prefix.name,
                "how": how, **extra}

    asks = {f"dtype/{n}": ask(f"dtype/{n}", "tensors", keys=[n]) for n in _arrays()}
    asks["nul_sharded"] = ask("nul_sharded", "slices", keys=["s"], specs=["2 0,1", "2 1,1"])
    asks["sliced"] = ask("sliced", "tensors", keys=["v"])
    asks["sharded"] = ask("sharded", "tensors", keys=sorted(theirs["sharded"][1]["tensors"]))
    asks["restore"] = ask("restore", "restore")
    return dict(zip(asks, TF.answers(list(asks.values()))))


@pytest.mark.parametrize("name", list(_arrays()))
def test_dtype_tf_writes_we_read_we_write_same_bytes(theirs, ours, tf_reads, name):
    root, _ = theirs["dtypes"]
    arr = _arrays()[name]
    r = open_checkpoint(root / name / "ck")
    _same(r[name], arr)
    if arr.dtype != object and arr.size:
        _same(r.read(name, zero_copy=True), arr)
    _files_equal(ours[f"dtype/{name}"], str(root / name / "ck"))
    _same(decode(tf_reads[f"dtype/{name}"][name]), arr)


def test_all_dtypes_in_one_bundle(theirs, tmp_path):
    root, facts = theirs["dtypes"]
    arrays = _arrays()
    r = open_checkpoint(root / "all" / "ck")
    assert r.list_variables() == [(k, v) for k, v in facts["list_variables"]]
    for k, v in arrays.items():
        _same(r[k], v)
    _files_equal(write_checkpoint(tmp_path / "ck", arrays), str(root / "all" / "ck"))


@pytest.mark.parametrize("name", list(_NUL_STRINGS))
def test_python_strings_keep_trailing_nuls(theirs, tmp_path, name):
    root, _ = theirs[f"nul/{name}"]
    value = _NUL_STRINGS[name]
    _files_equal(write_checkpoint(tmp_path / "ours" / "ck", {name: value}), str(root / "ck"))


def test_sliced_and_sharded_python_strings_keep_trailing_nuls(theirs, ours, tf_reads, tmp_path):
    root, _ = theirs["nul_sliced"]
    parts = [("0,1", [b"a\x00"]), ("1,2", [b"\x00", b"b\x00\x00"])]
    _files_equal(write_checkpoint(tmp_path / "ours" / "ck", {"s": Sliced((3,), parts)}), str(root / "ck"))
    sharded = Path(ours["nul_sharded"][-1][: -len(".index")])
    assert len(open_checkpoint(sharded).slice_keys()) == 2
    for spec, want in zip(("2 0,1", "2 1,1"), _SHARDED_STRINGS):
        assert decode(tf_reads["nul_sharded"][spec]).tolist() == [want]


def test_masked_array_writes_its_data_like_tf_constant(theirs, tmp_path):
    root, _ = theirs["masked"]
    m = np.ma.array(np.arange(4, dtype=np.float32), mask=[0, 1, 0, 1])
    _files_equal(write_checkpoint(tmp_path / "ours" / "ck", {"m": m}), str(root / "ck"))


def test_quantized_dtypes_read_as_storage(theirs):
    root, facts = theirs["quantized"]
    assert sorted(facts) == ["qint16", "qint32", "qint8", "quint16", "quint8"]
    for name, fact in facts.items():
        got = open_checkpoint(root / name)["q"]
        assert got.tobytes() == decode(fact["want"]).tobytes()
        assert got.dtype.itemsize == fact["size"]


def test_sliced_saves(theirs, ours, tf_reads):
    root, _ = theirs["sliced"]
    r = open_checkpoint(root / "ck")
    _same(r["v"], _SLICED)
    _same(r["s"], _SLICED_STRINGS)
    _files_equal(ours["sliced"], str(root / "ck"))
    _same(decode(tf_reads["sliced"]["v"]), _SLICED)


def test_odd_keys_tf_writes_we_read_and_write_back(theirs, tmp_path):
    root, facts = theirs["odd_keys"]
    prefix = str(root / "ck")
    r = open_checkpoint(prefix)
    assert list(r) == ["\x00lead", "\udcfeplain", "\udcff"]
    assert len(r.slice_keys()) == 2
    for raw in (b"\xff", b"\x00lead", b"\xfeplain"):
        _same(r[raw.decode("utf-8", errors="surrogateescape")], decode(facts["restored"][raw.hex()]))
    ours = write_checkpoint(tmp_path / "ours" / "ck", {
        "\udcff": Sliced((4,), [("0,2", _ODD_VALUES[0]), ("2,2", _ODD_VALUES[1])]),
        "\x00lead": r["\x00lead"],
        "\udcfeplain": r["\udcfeplain"],
    })
    _files_equal(ours, prefix)


@pytest.mark.parametrize("i", range(len(_MANAGER_NAMES)), ids=_MANAGER_NAMES)
def test_checkpoint_manager_state_file_with_escapes(theirs, i):
    root, facts = theirs[f"manager/{i}"]
    r = open_checkpoint(root)
    assert r.prefix == str(root / facts["latest"])
    assert r.resolve("v") and r[r.resolve("v")] == 2.0


def test_sharded_checkpoint_write(theirs, ours, tf_reads):
    root, facts = theirs["sharded"]
    path = str(root / facts["prefix"])
    r = open_checkpoint(path)
    assert r.num_shards > 3
    assert sorted(r) == sorted(facts["tensors"])
    for key in r:
        _same(r[key], decode(facts["tensors"][key]))
    assert set(r.object_paths()) == set(facts["objects"])
    _files_equal(ours["sharded"], path)
    for key in r:
        _same(decode(tf_reads["sharded"][key]), r[key])


def test_bundle_writer_slices_out_of_shard_order(theirs, tmp_path):
    root, _ = theirs["merged"]
    w = bundle.BundleWriter(tmp_path / "ours" / "ck", num_shards=2)
    w.add_slice("w", (4, 3), "3,1:-", _MERGED[3:], shard=0)
    w.add_slice("w", (4, 3), "0,2:-", _MERGED[:2], shard=1)
    w.add_slice("w", (4, 3), "2,1:-", _MERGED[2:3], shard=0)
    w.add("b", np.array([1, 2], np.int32), shard=0)
    _files_equal(w.finish(), str(root / "ck"))


def test_many_keys_multi_block_index(theirs, tmp_path):
    root, _ = theirs["many_keys"]
    r = open_checkpoint(root / "ck")
    assert len(r) == 2500
    from savedmodel_io.formats import sstable

    assert len(sstable.Table.open(root / "ck.index")._block_handles) > 1
    _same(r[_MANY_NAMES[1234]], _MANY_ARRAYS[1234])
    _files_equal(write_checkpoint(tmp_path / "ours" / "ck", dict(zip(_MANY_NAMES, _MANY_ARRAYS))),
                 str(root / "ck"))


def test_saved_model_directory_and_object_paths(theirs):
    root, facts = theirs["saved_model"]
    r = open_checkpoint(root / "sm")
    paths = r.object_paths()
    assert paths["inner/w"] == "inner/w/.ATTRIBUTES/VARIABLE_VALUE"
    assert paths["bias"] == "bias/.ATTRIBUTES/VARIABLE_VALUE"
    _same(r[paths["inner/w"]], decode(facts["w"]))
    saved = r.saved_variables()
    key, var = saved["inner/w"]
    assert key == paths["inner/w"] and var.name == facts["w_name"]
    assert [d.size for d in var.shape.dim] == [2, 3] and var.dtype == 1
    assert r.resolve("inner/w") == key
    assert r.resolve(var.name) == key  # the variable's own name, from saved_model.pb
    assert {k: v for k, v in r.list_variables()} == {k: v for k, v in facts["list_variables"]}


def test_tf_restores_our_checkpoint_into_variables(tf_reads):
    np.testing.assert_array_equal(decode(tf_reads["restore"]["w"]), _RESTORED)


@pytest.mark.slow
def test_tensor_over_2gb(tmp_path):
    tf = pytest.importorskip("tensorflow")
    n = (2**31 + 4096) // 4
    big = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32, shape=(n,))
    big[::4096] = np.arange(len(big[::4096]), dtype=np.float32)
    big.flush()
    ours = write_checkpoint(tmp_path / "ours" / "ck", {"big": big, "small": np.ones(3, np.float32)})
    assert os.path.getsize(ours[0]) == n * 4 + 12
    r = open_checkpoint(tmp_path / "ours" / "ck", zero_copy=True)
    view = r["big"]
    assert view.shape == (n,) and view[4096 * 7] == 7
    np.testing.assert_array_equal(view[::4096], big[::4096])
    got = tf.train.load_checkpoint(str(tmp_path / "ours" / "ck")).get_tensor("big")
    np.testing.assert_array_equal(got[::4096], big[::4096])
    del got
    tf.raw_ops.SaveV2(prefix=str(tmp_path / "tf" / "ck"), tensor_names=["big", "small"], shape_and_slices=["", ""],
                      tensors=[tf.constant(np.asarray(big)), tf.constant(np.ones(3, np.float32))])
    _files_equal(ours, str(tmp_path / "tf" / "ck"))
