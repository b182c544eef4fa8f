"""``.npz`` files hold checkpoint tensors losslessly, or refuse by name: strings with trailing
NUL bytes, ml_dtypes, and names zip archives cannot hold."""

from __future__ import annotations

import numpy as np
import pytest

from savedmodel_io import convert
from savedmodel_io.cli.main import main
from savedmodel_io.errors import CorruptFileError, InvalidArgumentError
from savedmodel_io.formats import bundle, npz
from savedmodel_io.formats.bundle import write_checkpoint
from savedmodel_io.writer import Model, save

ml_dtypes = pytest.importorskip("ml_dtypes")


def _strings(*values: bytes, shape=None) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr.reshape(shape if shape is not None else (len(values),))


STRING_CASES = {
    "trailing_nul": _strings(b"ab\0", b"c"),
    "all_nul": _strings(b"\0\0", b"", b"\0"),
    "scalar": _strings(b"x\0", shape=()),
    "matrix": _strings(b"a", b"b\0\0", b"", b"\xff\0", shape=(2, 2)),
    "empty": _strings(shape=(0, 3)),
    "plain": _strings(b"a", b"\xff", b""),
}


def _same(a: np.ndarray, b: np.ndarray) -> None:
    """Same shape and values; strings may come back as a fixed-width bytes array."""
    assert a.shape == b.shape
    assert a.dtype == b.dtype or (a.dtype.kind == "S" and b.dtype == object)
    assert [bytes(x) if a.dtype.kind == "S" else x for x in a.reshape(-1).tolist()] == \
        b.reshape(-1).tolist()


@pytest.mark.parametrize("name", list(STRING_CASES))
def test_strings_round_trip(tmp_path, name):
    value = STRING_CASES[name]
    npz.write(tmp_path / "f.npz", {name: value})
    _same(npz.read(tmp_path / "f.npz")[name], value)


def test_strings_without_trailing_nuls_stay_plain_bytes_arrays(tmp_path):
    npz.write(tmp_path / "f.npz", {"plain": STRING_CASES["plain"]})
    with np.load(tmp_path / "f.npz") as z:
        assert z.files == ["plain"] and z["plain"].tolist() == [b"a", b"\xff", b""]


def test_numbers_and_ml_dtypes(tmp_path):
    arrays = {"f": np.arange(3, dtype=np.float16), "bf": np.array([1.5, -2], ml_dtypes.bfloat16),
              "i4": np.array([-8, 7], ml_dtypes.int4), "c": np.array([1 + 2j])}
    npz.write(tmp_path / "f.npz", arrays)
    back = npz.read(tmp_path / "f.npz")
    assert back["bf"].dtype == np.float32 and back["bf"].tolist() == [1.5, -2.0]
    assert back["i4"].dtype == np.int8 and back["i4"].tolist() == [-8, 7]
    _same(back["f"], arrays["f"])
    _same(back["c"], arrays["c"])



@pytest.mark.parametrize("name", ["allow_pickle", "file", "args", "kwds", "arr_0"])
def test_names_numpy_savez_would_take_as_its_own_arguments(tmp_path, name):
    """np.savez takes keyword arguments from the entry names: any name must be kept."""
    arrays = {name: np.arange(3, dtype=np.float32), "x": np.ones(2, np.int64)}
    npz.write(tmp_path / "f.npz", arrays)
    with np.load(tmp_path / "f.npz") as z:
        assert sorted(z.files) == sorted(arrays)
    back = npz.read(tmp_path / "f.npz")
    for key, value in arrays.items():
        _same(back[key], value)


@pytest.mark.parametrize("key, why", [
    ("bad\udcffkey", "not UTF-8"),             # a checkpoint key that is not UTF-8
    ("k" * 70000, "at most 65531"),            # zip member names: 16-bit length
    ("__savedmodel_io__.lengths/x", "reserved"),
])
def test_names_a_zip_cannot_hold_are_refused_before_writing(tmp_path, capsys, key, why):
    """variables/export --npz raised UnicodeEncodeError and struct.error mid-write."""
    with pytest.raises(InvalidArgumentError, match=why):
        npz.write(tmp_path / "f.npz", {"ok": np.zeros(1), key: np.zeros(1)})
    assert not (tmp_path / "f.npz").exists()
    ck = tmp_path / "ck" / "variables" / "variables"
    write_checkpoint(ck, {key: np.zeros(1, np.float32), "ok": np.ones(1, np.float32)})
    for argv in (["variables", "--dir", tmp_path / "ck", "--npz", tmp_path / "v.npz"],
                 ["export", "--dir", tmp_path / "ck", "--npz", tmp_path / "e.npz"]):
        assert main([str(a) for a in argv]) == 1
        err = capsys.readouterr().err
        assert why in err and err.count("\n") == 1
    assert not (tmp_path / "v.npz").exists() and not (tmp_path / "e.npz").exists()


def test_bad_lengths_entry_is_a_corrupt_file(tmp_path):
    np.savez(tmp_path / "f.npz", s=np.zeros(3, np.uint8),
             **{"__savedmodel_io__.lengths/s": np.array([1, 1])})
    with pytest.raises(CorruptFileError, match="disagree"):
        npz.read(tmp_path / "f.npz")


def test_cli_dumps_and_import_weights_keep_trailing_nuls(tmp_path, capsys):
    """16 of 56 public models lost the last byte of _CHECKPOINTABLE_OBJECT_GRAPH this way."""
    m = Model()
    w = m.variable("w", np.ones(2, np.float32))
    f = m.function("__call__", {"x": ("float32", (None, 2))})
    f.outputs({"y": f.mul(f.inputs["x"], w)})
    model = save(tmp_path / "m", m)
    prefix = model / "variables" / "variables"
    with bundle.open_checkpoint(prefix) as r:
        values = {k: r.read(k) for k in r.data_order()}
    values["vocab"] = STRING_CASES["trailing_nul"]
    write_checkpoint(prefix, values)
    assert main(["variables", "--dir", str(model), "--npz", str(tmp_path / "all.npz")]) == 0
    dumped = npz.read(tmp_path / "all.npz")
    for k, v in values.items():
        _same(dumped[k], np.asarray(v))
    assert main(["export", "--dir", str(model), "--npz", str(tmp_path / "w.npz")]) == 0
    capsys.readouterr()
    exported = convert.load_weights_file(tmp_path / "w.npz")
    _same(exported["vocab"], values["vocab"])
    exported["vocab"] = _strings(b"\0z\0", b"")
    report = convert.import_weights(model, exported, tmp_path / "m2")
    assert report.ok
    with bundle.open_checkpoint(tmp_path / "m2") as r:
        assert r.read("vocab").tolist() == [b"\0z\0", b""]


def _npz_member(path, header: bytes, data: bytes) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("v.npy", header + data)


def _npy_header(shape) -> bytes:
    import io

    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False,
                                               "shape": shape})
    return out.getvalue()


def test_declared_shape_beyond_the_member_is_refused_before_allocating(tmp_path):
    # numpy allocates the declared 2 GiB (or fails with MemoryError) before reading 12 bytes.
    from savedmodel_io.errors import LimitExceededError

    _npz_member(tmp_path / "w.npz", _npy_header((1 << 29,)), b"\0" * 12)
    with pytest.raises(LimitExceededError, match="declares 2147483648 bytes"):
        npz.read(tmp_path / "w.npz")


def test_unparseable_member_header_is_a_corrupt_file(tmp_path):
    # An unclosed bracket: numpy's header filter raises tokenize.TokenError.
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, ".ljust(117) + b"\n"
    _npz_member(tmp_path / "w.npz", b"\x93NUMPY\x01\x00v\x00" + header, b"\0" * 4)
    with pytest.raises(CorruptFileError, match="TokenError|header"):
        npz.read(tmp_path / "w.npz")
