"""The byte sources under the formats: LocalFiles (contained, memory-mapped) and RemoteFiles."""

from __future__ import annotations

import ast
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from savedmodel_io.errors import (
    CorruptFileError,
    LimitExceededError,
    NotFoundError,
    OutsideModelError,
)
from savedmodel_io.formats.source import LocalFiles, ModelFiles, open_files

needs_fsspec = pytest.mark.skipif(importlib.util.find_spec("fsspec") is None,
                                  reason="fsspec (the remote extra) is not installed")


@pytest.fixture()
def local(tmp_path) -> LocalFiles:
    (tmp_path / "m" / "sub").mkdir(parents=True)
    (tmp_path / "m" / "sub" / "f.bin").write_bytes(b"0123456789")
    (tmp_path / "m" / "empty").write_bytes(b"")
    (tmp_path / "secret").write_bytes(b"secret")
    os.symlink(tmp_path / "secret", tmp_path / "m" / "out")
    os.symlink("sub/f.bin", tmp_path / "m" / "in")
    return LocalFiles(tmp_path / "m")


def test_local_files_read_by_name(local):
    assert isinstance(local, ModelFiles) and not local.remote
    assert local.exists("sub/f.bin") and not local.exists("sub") and not local.exists("nope")
    assert local.is_dir("sub") and local.is_dir() and not local.is_dir("sub/f.bin")
    assert local.list() == ["empty", "in", "out", "sub"] and local.list("sub") == ["f.bin"]
    assert local.size("sub/f.bin") == 10 and local.read("sub/f.bin", 3, 4) == b"3456"
    assert local.read_all("in") == b"0123456789"  # a link that stays inside is followed
    view, size = local.view("sub/f.bin")
    assert size == 10 and bytes(view[2:5]) == b"234" and not view.flags.writeable
    assert local.view("empty") == (None, 0)
    with local.open("sub/f.bin") as f:
        f.seek(8)
        assert f.read() == b"89"
    assert local.path("sub/f.bin") == os.path.join(local.location, "sub/f.bin")


def test_local_files_errors_name_the_file(local):
    with pytest.raises(CorruptFileError, match="wanted 4 bytes at offset 8, the file has 2"):
        local.read("sub/f.bin", 8, 4)
    with pytest.raises(LimitExceededError, match="limit is 5 bytes") as info:
        local.read_all("sub/f.bin", limit=5)
    assert info.value.path == local.path("sub/f.bin")
    with pytest.raises(NotFoundError, match="does not exist"):
        local.read_all("nope")


@pytest.mark.parametrize("call", ["exists", "size", "read_all", "open", "view", "read"])
def test_every_read_of_a_link_out_is_refused(local, call):
    args = (0, 1) if call == "read" else ()
    with pytest.raises(OutsideModelError, match="outside the model directory"):
        getattr(local, call)("out", *args)
    allowed = LocalFiles(local.location, allow_external_links=True)
    if call in ("read_all", "read"):
        assert getattr(allowed, call)("out", *args).startswith(b"s")


def test_open_files_chooses_the_source_once():
    assert isinstance(open_files("some/dir"), LocalFiles)
    assert open_files("some/dir", allow_external_links=True).allow_external_links
    from savedmodel_io.remote import RemoteFiles, is_url

    assert is_url("https://h/m") and not is_url("/tmp/x")
    if importlib.util.find_spec("fsspec") is not None:
        assert isinstance(open_files("memory://m"), RemoteFiles)


def test_remote_module_does_not_import_the_model_or_the_formats():
    """remote.py implements the ModelFiles protocol without importing the layers above it:
    the model.py <-> remote.py import cycle cannot come back."""
    import savedmodel_io.remote as remote

    tree = ast.parse(Path(remote.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    ours = {m for m in imported if m and m.startswith("savedmodel_io")}
    # _fsutil (byte layer, below both): only for the ReadFile type, under TYPE_CHECKING.
    assert ours <= {"savedmodel_io.errors", "savedmodel_io._fsutil"}, ours


@needs_fsspec
def test_remote_files_read_ranges_and_implement_the_protocol(tmp_path):
    import fsspec

    from savedmodel_io.formats.bundle import CheckpointReader, write_checkpoint
    from savedmodel_io.remote import RemoteFiles

    values = {"a": np.arange(6, dtype=np.float32).reshape(2, 3),
              "s": np.array([b"x", b"yz"], object)}
    write_checkpoint(tmp_path / "variables" / "variables", values)
    fs = fsspec.filesystem("memory")
    for p in (tmp_path / "variables").iterdir():
        fs.pipe(f"/src-test/m/variables/{p.name}", p.read_bytes())
    files = RemoteFiles("memory://src-test/m", fs=fs)
    assert isinstance(files, ModelFiles) and files.remote and files.view("x") is None
    assert files.list() is None
    assert files.exists("variables/variables.index") and not files.exists("nope")
    shard = "variables/variables.data-00000-of-00001"
    assert files.read(shard, 0, 4) == np.float32(0).tobytes()
    with pytest.raises(LimitExceededError):
        files.read_all(shard, limit=3)
    with pytest.raises(NotFoundError):
        files.size("nope")
    reader = CheckpointReader.from_files(files, "variables/variables")
    np.testing.assert_array_equal(reader.read("a"), values["a"])
    assert list(reader.read("s")) == [b"x", b"yz"]
    assert reader.prefix == "memory://src-test/m/variables/variables"
