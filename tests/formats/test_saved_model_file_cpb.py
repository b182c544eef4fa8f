"""saved_model.cpb read transparently: saved_model_file, signatures-only reads, `show`."""

from __future__ import annotations

import random
import shutil

import pytest  # noqa: F401

from savedmodel_io.cli.main import main
from savedmodel_io.errors import CorruptFileError
from savedmodel_io.formats import cpb, saved_model_file
from savedmodel_io.proto import SavedModel, parse_message

from cpb_helpers import SHARED, make_model, needs_shared

CHUNKED = SHARED / "chunked_saved_model" / "chunked_model"
PLAIN = SHARED / "chunked_saved_model" / "non_chunked_model"


@needs_shared
def test_read_chunked_directory():
    plain = parse_message(SavedModel, (PLAIN / "saved_model.pb").read_bytes())
    path, _ = saved_model_file.find(CHUNKED)
    assert path.name == "saved_model.cpb"
    assert saved_model_file.read(CHUNKED) == plain
    assert saved_model_file.read_file(CHUNKED / "saved_model.cpb") == plain


@needs_shared
def test_signatures_only_skips_graph_chunks():
    sigs = saved_model_file.read_signature_defs(CHUNKED)
    want = saved_model_file.read_signature_defs(PLAIN)
    assert sigs == want
    partial = cpb.read_saved_model_cpb(CHUNKED, signatures_only=True)
    node = partial.meta_graphs[0].graph_def.node[0]
    assert node.attr["value"].tensor.tensor_content == b""  # the BYTES chunk was not read


def test_cpb_preferred_over_pb(tmp_path):
    sm = make_model(random.Random(1))
    cpb.write_saved_model_file(tmp_path, sm, image_format=True, max_size=20_000)
    (tmp_path / "saved_model.pb").write_bytes(SavedModel().SerializeToString())
    assert saved_model_file.find(tmp_path)[0].name == "saved_model.cpb"
    assert saved_model_file.read(tmp_path).meta_graphs[0].meta_info_def.tags == ["serve"]


@needs_shared
def test_show_chunked_equals_plain(tmp_path, capsys):
    plain = tmp_path / "plain"
    shutil.copytree(PLAIN, plain)
    chunked = tmp_path / "chunked"
    shutil.copytree(PLAIN, chunked)
    (chunked / "saved_model.pb").unlink()
    shutil.copy(CHUNKED / "saved_model.cpb", chunked / "saved_model.cpb")
    outputs = []
    for d in (plain, chunked):
        assert main(["show", "--dir", str(d), "--all"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and "serving_default" in outputs[0]


def test_corrupt_cpb_is_a_clear_error(tmp_path, capsys):
    sm = make_model(random.Random(2))
    path = cpb.write_saved_model_file(tmp_path, sm, image_format=True, max_size=20_000)
    path.write_bytes(path.read_bytes()[:-10])
    assert main(["show", "--dir", str(tmp_path), "--all"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "saved_model.cpb" in err
    with pytest.raises(CorruptFileError) as info:
        saved_model_file.read(tmp_path)
    assert "saved_model.cpb" in str(info.value)
