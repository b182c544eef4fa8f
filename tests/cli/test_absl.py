"""absl-style flag handling shared by show, run and scan: flagfiles, undefok, foreign flags."""

from __future__ import annotations

import pytest

from savedmodel_io.cli._absl import MAX_FLAGFILE_BYTES, drop_undefok, expand_flagfiles
from savedmodel_io.cli.main import main
from savedmodel_io.errors import InvalidArgumentError, NotFoundError


def test_flagfile_expands_in_place(tmp_path):
    inner = tmp_path / "inner.txt"
    inner.write_text("--signature_def=k\n")
    outer = tmp_path / "outer.txt"
    outer.write_text(f"# comment\n  --tag_set=serve  \n\n// c++ comment\n--flagfile={inner}\n")
    assert expand_flagfiles(["show", "--flagfile", str(outer), "--all"]) == [
        "show", "--tag_set=serve", "--signature_def=k", "--all"]


@pytest.mark.parametrize("content, error, text", [
    (None, NotFoundError, "no such flagfile"),
    (b"\xff\xfe", InvalidArgumentError, "not UTF-8"),
    (b"x" * (MAX_FLAGFILE_BYTES + 1), InvalidArgumentError, "larger than"),
    ("self", InvalidArgumentError, "nested more than"),
])
def test_bad_flagfiles(tmp_path, content, error, text):
    f = tmp_path / "flags.txt"
    if content == "self":
        f.write_text(f"--flagfile={f}\n")
    elif content is not None:
        f.write_bytes(content)
    with pytest.raises(error, match=text):
        expand_flagfiles([f"--flagfile={f}"])
    with pytest.raises(InvalidArgumentError, match="needs a file name"):
        expand_flagfiles(["--flagfile"])


def test_bad_flagfile_is_one_line_on_the_cli(tmp_path, capsys):
    assert main(["show", "--flagfile", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such flagfile" in err


def test_undefok_drops_only_unknown_named_flags():
    known = {"--dir", "--all"}
    argv = ["--undefok=foo,all", "--foo", "--nofoo=1", "--foo=3", "--all", "--bar"]
    assert drop_undefok(argv, known) == ["--undefok=foo,all", "--all", "--bar"]
    assert drop_undefok(["--foo"], known) == ["--foo"]


def test_unknown_flags_are_still_errors(capsys):
    assert main(["show", "--dir", "x", "--no_such_flag"]) == 2
    assert "unrecognized arguments: --no_such_flag" in capsys.readouterr().err
