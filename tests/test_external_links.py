"""No file outside the model is read: symlinks leading out are refused unless allowed.

Every file the library opens from a model goes through ``_fsutil.ModelRoot``: the path is
resolved and must stay inside the resolved model directory, or OutsideModelError names the
file, where it leads and the option that allows it (``allow_external_links=True``,
``--allow-external-links``). One test per shape of link; the "secret" model elsewhere has
the same layout with other values, so a read through a link would return them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import savedmodel_io
from savedmodel_io.errors import ChecksumError, OutsideModelError, SavedModelError

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")

VALUE, SECRET = 1.0, 7.0
KEY = "w/.ATTRIBUTES/VARIABLE_VALUE"


def _save(path: Path, value: float) -> Path:
    from savedmodel_io.writer import Model, save

    m = Model()
    w = m.variable("w", np.full(3, value, np.float32))
    m.asset("vocab.txt", b"secret\n" if value == SECRET else b"a\nb\n")
    f = m.function("__call__", {"x": ("float32", (None, 3))})
    f.outputs({"y": f.add(f.inputs["x"], f.read(w))})
    m.signature("serving_default", f)
    return save(path, m)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, Path]:
    """(a model, a 'secret' model of the same layout elsewhere), written once."""
    root = tmp_path_factory.mktemp("links")
    return _save(root / "model", VALUE), _save(root / "elsewhere" / "secret", SECRET)


@pytest.fixture()
def model(saved, tmp_path) -> Path:
    m = tmp_path / "m"
    shutil.copytree(saved[0], m)
    return m


@pytest.fixture()
def secret(saved) -> Path:
    return saved[1]


def _link(model: Path, secret: Path, name: str) -> None:
    """Replace ``model/name`` (file or directory) by a symlink to ``secret/name``."""
    target = model / name
    shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
    os.symlink(secret / name, target)


def _refused(call, name: str) -> OutsideModelError:
    with pytest.raises(OutsideModelError) as info:
        call()
    text = str(info.value)
    assert "outside the model directory" in text and "allow_external_links=True" in text, text
    assert name in text, text  # names the file
    return info.value


# --- one test per kind of file ------------------------------------------------------------------


def test_saved_model_pb(model, secret):
    _link(model, secret, "saved_model.pb")
    from savedmodel_io.fingerprint import compute_fingerprint
    from savedmodel_io.scan import scan_saved_model

    err = _refused(lambda: savedmodel_io.load(model), "saved_model.pb")
    assert str(secret / "saved_model.pb") in str(err)  # where it leads
    _refused(lambda: savedmodel_io.read_signatures(model), "saved_model.pb")
    _refused(lambda: scan_saved_model(model), "saved_model.pb")
    _refused(lambda: compute_fingerprint(model), "saved_model.pb")
    assert savedmodel_io.load(model, allow_external_links=True).signatures


def test_saved_model_cpb(model, secret, tmp_path):
    from savedmodel_io.formats.chunks import write_chunked
    from savedmodel_io.formats.cpb import read_saved_model_cpb
    from savedmodel_io.proto import ChunkedMessage
    from savedmodel_io.proto import SavedModel as SavedModelProto

    elsewhere = tmp_path / "elsewhere.cpb"
    sm = SavedModelProto.FromString((secret / "saved_model.pb").read_bytes())
    write_chunked(elsewhere, [sm], ChunkedMessage(chunk_index=0), compression="none")
    (model / "saved_model.pb").unlink()
    os.symlink(elsewhere, model / "saved_model.cpb")
    _refused(lambda: savedmodel_io.load(model), "saved_model.cpb")
    _refused(lambda: savedmodel_io.read_signatures(model), "saved_model.cpb")
    _refused(lambda: read_saved_model_cpb(model), "saved_model.cpb")
    from savedmodel_io.fingerprint import compute_fingerprint

    _refused(lambda: compute_fingerprint(model), "saved_model.cpb")


def test_variables_index(model, secret):
    _link(model, secret, "variables/variables.index")
    loaded = savedmodel_io.load(model)  # saved_model.pb is fine
    _refused(lambda: loaded.variables, "variables.index")
    _refused(lambda: savedmodel_io.open_checkpoint(model), "variables.index")
    from savedmodel_io.fingerprint import checkpoint_hash

    _refused(lambda: checkpoint_hash(model), "variables.index")


@pytest.mark.parametrize("verify", [True, False])
def test_data_shard(model, secret, verify):
    """The hole: with --no-verify a symlinked shard returned another file's bytes as a tensor."""
    _link(model, secret, "variables/variables.data-00000-of-00001")
    reader = savedmodel_io.open_checkpoint(model, verify_checksums=verify)
    _refused(lambda: reader.read(KEY), "data-00000-of-00001")
    _refused(lambda: savedmodel_io.load(model).variables["w"], "data-00000-of-00001")
    x = np.zeros((1, 3), np.float32)
    _refused(lambda: savedmodel_io.load(model).signatures["serving_default"](x=x),
             "data-00000-of-00001")
    allowed = savedmodel_io.open_checkpoint(model, verify_checksums=verify,
                                            allow_external_links=True)
    if verify:  # the secret's bytes do not match this index's checksum
        with pytest.raises(ChecksumError):
            allowed.read(KEY)
    else:
        np.testing.assert_array_equal(allowed.read(KEY), np.full(3, SECRET, np.float32))


def test_fingerprint_pb(model, secret):
    from savedmodel_io.fingerprint import read_fingerprint, verify_fingerprint

    _link(model, secret, "fingerprint.pb")
    _refused(lambda: read_fingerprint(model), "fingerprint.pb")
    _refused(lambda: verify_fingerprint(model), "fingerprint.pb")
    assert read_fingerprint(model, allow_external_links=True) == read_fingerprint(secret)


def test_checkpoint_state_file(tmp_path, secret):
    """A checkpoint directory's `checkpoint` file: a link out, or naming a checkpoint elsewhere."""
    from savedmodel_io.formats.bundle import write_checkpoint

    d = tmp_path / "ckpts"
    d.mkdir()
    write_checkpoint(d / "ckpt-1", {"v": np.ones(2, np.float32)})
    write_checkpoint(d / "ckpt-2", {"v": np.full(2, 2.0, np.float32)})
    outside_state = tmp_path / "state"
    outside_state.write_text('model_checkpoint_path: "ckpt-2"\n')
    os.symlink(outside_state, d / "checkpoint")
    _refused(lambda: savedmodel_io.open_checkpoint(d), "checkpoint state file")
    # A state file naming a checkpoint elsewhere is not followed (nor probed): the error says so.
    (d / "checkpoint").unlink()
    (d / "checkpoint").write_text(f'model_checkpoint_path: "{secret}/variables/variables"\n')
    with pytest.raises(SavedModelError, match="several checkpoints.*outside this directory") as info:
        savedmodel_io.open_checkpoint(d)
    assert "allow_external_links=True" in str(info.value)
    reader = savedmodel_io.open_checkpoint(d, allow_external_links=True)
    np.testing.assert_array_equal(reader.read(KEY), np.full(3, SECRET, np.float32))
    (d / "checkpoint").write_text('model_checkpoint_path: "ckpt-2"\n')
    np.testing.assert_array_equal(savedmodel_io.open_checkpoint(d)["v"], [2.0, 2.0])


def test_assets_directory(model, secret):
    _link(model, secret, "assets")
    (asset,) = savedmodel_io.load(model).assets
    _refused(asset.read_bytes, "vocab.txt")
    (asset,) = savedmodel_io.load(model, allow_external_links=True).assets
    assert asset.read_bytes() == b"secret\n"


def test_asset_in_a_symlinked_subdirectory(tmp_path):
    """A parent component of an asset's path (assets/sub -> elsewhere) that leads out."""
    from savedmodel_io.proto import SavedModel as SavedModelProto

    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "vocab.txt").write_text("secret")
    m = tmp_path / "m"
    (m / "assets" / "inner").mkdir(parents=True)
    (m / "assets" / "inner" / "vocab.txt").write_text("inside")
    sm = SavedModelProto()
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    mg.asset_file_def.add(filename="sub/vocab.txt")
    mg.asset_file_def.add(filename="alias/vocab.txt")
    (m / "saved_model.pb").write_bytes(sm.SerializeToString())
    os.symlink(tmp_path / "elsewhere", m / "assets" / "sub")
    os.symlink("inner", m / "assets" / "alias")  # stays inside: followed
    out, inside = savedmodel_io.load(m).assets
    _refused(out.read_bytes, "sub/vocab.txt")
    assert inside.read_bytes() == b"inside"


def test_variables_directory_itself(model, secret):
    _link(model, secret, "variables")
    loaded = savedmodel_io.load(model)
    _refused(lambda: loaded.variables, "variables.index")
    _refused(lambda: savedmodel_io.open_checkpoint(model), "variables.index")
    _refused(lambda: savedmodel_io.variable_names(model), "variables.index")
    from savedmodel_io.convert import read_weights

    _refused(lambda: read_weights(model), "variables.index")


def test_link_chain_through_the_model_and_out(model, secret):
    """variables -> alias (inside) -> the secret's variables/ (outside): every link is resolved."""
    shutil.rmtree(model / "variables")
    os.symlink(secret / "variables", model / "alias")
    os.symlink("alias", model / "variables")
    _refused(lambda: savedmodel_io.load(model).variables["w"], "variables")


def test_links_that_stay_inside_are_followed(model):
    """A layout whose links stay inside the model (e.g. deduplicated files) reads normally."""
    os.rename(model / "variables", model / "real_variables")
    os.symlink("real_variables", model / "variables")
    os.rename(model / "saved_model.pb", model / "real_variables" / "model.pb")
    os.symlink(model / "real_variables" / "model.pb", model / "saved_model.pb")  # absolute, inside
    loaded = savedmodel_io.load(model)
    np.testing.assert_array_equal(loaded.variables["w"], np.full(3, VALUE, np.float32))


def test_hard_links_are_files_of_the_model(model, secret):
    """A hard link is the file itself (no path says where else it lives): it is read.

    Making one needs access to the file (Linux's fs.protected_hardlinks: owning it, or
    being able to read and write it), so it cannot reach what the maker could not read.
    """
    shard = model / "variables" / "variables.data-00000-of-00001"
    shard.unlink()
    try:
        os.link(secret / "variables" / "variables.data-00000-of-00001", shard)
    except OSError as exc:
        pytest.skip(f"no hard links here ({exc})")
    reader = savedmodel_io.open_checkpoint(model, verify_checksums=False)
    np.testing.assert_array_equal(reader.read(KEY), np.full(3, SECRET, np.float32))


# --- the CRC oracle ------------------------------------------------------------------------------


def test_checksum_errors_do_not_reveal_the_bytes_read(tmp_path):
    """A ChecksumError printed the computed CRC32C: 1-byte tensors at successive offsets of a
    foreign file recovered it byte by byte. Only the stored value is printed now."""
    from savedmodel_io.formats.bundle import write_checkpoint
    from savedmodel_io.hashing.crc32c import crc32c

    strings = np.array([b"xy"], object)
    tensors = {"a": np.frombuffer(b"A", np.uint8), "s": strings, "t": strings}
    write_checkpoint(tmp_path / "ck", tensors)
    shard = tmp_path / "ck.data-00000-of-00001"
    data = bytearray(shard.read_bytes())
    # a: 1 byte at 0; s and t: length varint, 4-byte length checksum, b"xy" (7 bytes each).
    data[0] ^= 0xFF  # the uint8 tensor
    data[1 + 6] ^= 0xFF  # a string byte of s
    data[8 + 1] ^= 0xFF  # the length checksum of t
    shard.write_bytes(bytes(data))
    reader = savedmodel_io.open_checkpoint(tmp_path / "ck")
    for key, match in (("a", "tensor data"), ("s", "tensor data"), ("t", "string length")):
        with pytest.raises(ChecksumError, match=match) as info:
            reader.read(key)
        text = str(info.value).lower()
        assert "mismatch: stored" in text and "computed" not in text
    with pytest.raises(ChecksumError) as info:
        reader.read("a")
    assert f"{crc32c(bytes(data[0:1])):#010x}" not in str(info.value)


def test_index_block_checksum_error_prints_only_the_stored_value(tmp_path):
    from savedmodel_io.formats import sstable
    from savedmodel_io.formats.bundle import write_checkpoint
    from savedmodel_io.hashing.crc32c import crc32c

    write_checkpoint(tmp_path / "ck", {"a": np.zeros(2, np.float32)})
    index = tmp_path / "ck.index"
    data = bytearray(index.read_bytes())
    data[5] ^= 0xFF
    index.write_bytes(bytes(data))
    table = sstable.Table(bytes(data), path=index, verify_checksums=False)
    offset, size = table._block_handles[0]
    computed = crc32c(bytes(data[offset : offset + size + 1]))
    with pytest.raises(ChecksumError) as info:
        savedmodel_io.open_checkpoint(tmp_path / "ck")
    assert "mismatch: stored" in str(info.value) and f"{computed:#010x}" not in str(info.value)


def test_bad_table_magic_is_not_printed(tmp_path):
    from savedmodel_io.errors import CorruptFileError
    from savedmodel_io.formats import sstable

    data = b"\0" * 40 + b"ABCDEFGH"
    with pytest.raises(CorruptFileError, match="bad magic") as info:
        sstable.Table(data, path=tmp_path / "x")
    assert "0x4847464544434241" not in str(info.value).lower()


# --- a Hugging Face cache: snapshots/<rev>/... are links into ../../blobs/ ---------------------


def _hf_cache(tmp_path: Path, model: Path) -> Path:
    """The layout of huggingface_hub's snapshot_download: every file a relative link to a blob."""
    repo = tmp_path / "hub" / "models--org--model"
    snap = repo / "snapshots" / "0123abcd"
    (repo / "blobs").mkdir(parents=True)
    for i, f in enumerate(sorted(p for p in model.rglob("*") if p.is_file())):
        rel = f.relative_to(model)
        blob = repo / "blobs" / f"{i:040x}"  # named by a hash in a real cache
        shutil.copy(f, blob)
        link = snap / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    return snap


def test_hugging_face_cache_needs_the_opt_in(saved, tmp_path):
    from savedmodel_io.convert import read_weights
    from savedmodel_io.fingerprint import compute_fingerprint, read_fingerprint, verify_fingerprint

    snap = _hf_cache(tmp_path, saved[0])
    _refused(lambda: savedmodel_io.load(snap), "saved_model.pb")
    _refused(lambda: savedmodel_io.open_checkpoint(snap), "variables.index")
    _refused(lambda: read_fingerprint(snap), "fingerprint.pb")

    model = savedmodel_io.load(snap, allow_external_links=True)
    np.testing.assert_array_equal(model.variables["w"], np.full(3, VALUE, np.float32))
    out = model.signatures["serving_default"](x=np.ones((1, 3), np.float32))
    np.testing.assert_array_equal(out["y"], [[2.0, 2.0, 2.0]])
    assert model.assets[0].read_bytes() == b"a\nb\n"
    assert "serving_default" in savedmodel_io.read_signatures(snap, allow_external_links=True)
    assert verify_fingerprint(snap, allow_external_links=True).ok
    assert compute_fingerprint(snap, allow_external_links=True) == read_fingerprint(saved[0])
    assert set(read_weights(snap, allow_external_links=True)) == {"w"}


def test_replace_weights_of_a_hugging_face_snapshot_copies_the_blobs(saved, tmp_path):
    snap = _hf_cache(tmp_path, saved[0])
    zeros = {"w": np.zeros(3, np.float32)}
    _refused(lambda: savedmodel_io.replace_weights(snap, tmp_path / "new", zeros), "saved_model.pb")
    new = savedmodel_io.replace_weights(snap, tmp_path / "new", zeros, allow_external_links=True)
    assert not any(p.is_symlink() for p in new.rglob("*"))  # no links into a cache left behind
    loaded = savedmodel_io.load(new)  # no opt-in needed for the copy
    np.testing.assert_array_equal(loaded.variables["w"], np.zeros(3, np.float32))
    assert loaded.assets[0].read_bytes() == b"a\nb\n"


# --- the command line --------------------------------------------------------------------------


COMMANDS = [
    ["show", "--all"],
    ["run", "--tag_set", "serve", "--signature_def", "serving_default",
     "--input_exprs", "x=np.ones((1,3))"],
    ["scan"],
    ["variables"],
    ["fingerprint", "--verify"],
    ["graph", "--format", "dot"],
    ["export", "--npz", "{out}/w.npz"],
    ["import-weights", "--from", "{out}/in.npz", "--dry-run"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_cli_refuses_with_one_line_and_exit_1_and_the_flag_allows(saved, tmp_path, capsys, command):
    from savedmodel_io.cli.main import main

    snap = _hf_cache(tmp_path, saved[0])
    np.savez(tmp_path / "in.npz", w=np.zeros(3, np.float32))
    argv = [command[0], "--dir", str(snap), *(a.format(out=tmp_path) for a in command[1:])]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"savedmodel-io {command[0]}: error: {snap}/"), err
    assert "outside the model directory" in err and "--allow-external-links" in err, err
    assert main([*argv, "--allow-external-links"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main([*argv, "--allow_external_links"]) == 0


def test_cli_json_of_an_allowed_snapshot_matches_the_plain_model(saved, tmp_path, capsys):
    from savedmodel_io.cli.main import main

    snap = _hf_cache(tmp_path, saved[0])
    assert main(["variables", "--dir", str(saved[0]), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["variables", "--dir", str(snap), "--json", "--allow-external-links"]) == 0
    assert json.loads(capsys.readouterr().out) == plain


def test_verify_reports_links_out_and_the_flag_allows(saved, tmp_path, capsys):
    """`verify` reports problems as findings: a link out is one, naming the option."""
    from savedmodel_io.cli.main import main
    from savedmodel_io.integrity import verify

    snap = _hf_cache(tmp_path, saved[0])
    report = verify(snap)
    assert not report.ok
    outside = [p for p in report.problems if "outside the model directory" in p.message]
    assert {p.check for p in outside} == {"saved_model", "checkpoint"}, report.problems
    assert verify(snap, allow_external_links=True).ok
    assert main(["verify", "--dir", str(snap)]) == 1
    assert "--allow-external-links" in capsys.readouterr().out
    assert main(["verify", "--dir", str(snap), "--allow-external-links"]) == 0
