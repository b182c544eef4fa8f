"""Inputs fuzzing found to crash a parser, each with the library error it must give now."""

from __future__ import annotations

import pytest

from savedmodel_io.errors import LimitExceededError
from savedmodel_io.proto import SavedModel, StructuredValue, parse_text


@pytest.mark.parametrize("depth", [60, 400, 5000])
def test_parse_text_deep_nesting_is_a_limit_error(depth):
    # Was RecursionError from protobuf's recursive text parser (proto.parse_text).
    text = "list_value { values { " * depth + "none_value {}" + " } }" * depth
    with pytest.raises(LimitExceededError, match="nested too deeply"):
        parse_text(StructuredValue, text, path="x.pbtxt")


def test_parse_text_keeps_ordinary_nesting():
    text = "list_value { values { " * 10 + "none_value {}" + " } }" * 10
    assert parse_text(StructuredValue, text).HasField("list_value")
    assert parse_text(SavedModel, 'meta_graphs { meta_info_def { tags: "serve" } }').meta_graphs


def test_repeated_int16_expands_in_its_own_dtype():
    # Was: zeros of 2**31 int64 (16 GiB) then a cast, for a 4 GiB int16 tensor (fuzz: tensor_proto).
    import numpy as np

    from savedmodel_io.proto import TensorProto
    from savedmodel_io.tensors import to_array

    tp = TensorProto(dtype=5)  # DT_INT16
    tp.tensor_shape.dim.add().size = 1 << 20
    tp.int_val.extend([7, -3])
    arr = to_array(tp)
    assert arr.dtype == np.int16 and arr.shape == (1 << 20,)
    assert arr[0] == 7 and arr[1] == -3 and arr[-1] == -3


@pytest.mark.parametrize("dims", [[2, 1 << 31, 1 << 31, 0], [0, (1 << 63) - 1]])
@pytest.mark.parametrize("dtype", [1, 7])  # float, string
def test_zero_element_shape_with_huge_dims(dims, dtype):
    # Was: numpy ValueError from reshape (fuzz: structured TensorProto).
    from savedmodel_io.errors import LimitExceededError
    from savedmodel_io.proto import TensorProto
    from savedmodel_io.tensors import to_array

    tp = TensorProto(dtype=dtype)
    for d in dims:
        tp.tensor_shape.dim.add().size = d
    with pytest.raises(LimitExceededError, match="too large to represent"):
        to_array(tp, path="m/saved_model.pb")


def test_empty_tensors_still_decode():
    from savedmodel_io.proto import TensorProto
    from savedmodel_io.tensors import to_array

    tp = TensorProto(dtype=1)
    tp.tensor_shape.dim.add().size = 0
    tp.tensor_shape.dim.add().size = 128
    assert to_array(tp).shape == (0, 128)


def test_show_with_malformed_input_signature_is_one_line_error(tmp_path, capsys):
    # Was: TypeError in cli/show.py _args (fuzz: structured models, cli_show).
    from pathlib import Path

    from savedmodel_io.cli.main import main

    corpus = Path(__file__).parent / "fuzz" / "corpus" / "cli_show" / "input-signature-bool.bin"
    (tmp_path / "saved_model.pb").write_bytes(corpus.read_bytes())
    assert main(["show", "--dir", str(tmp_path), "--all"]) == 1
    err = capsys.readouterr().err
    assert "input signature that is not (args, kwargs)" in err and str(tmp_path) in err


@pytest.mark.parametrize("name", ["damaged-npz-7eca4b142da7.bin", "damaged-npz-bf710d5560e3.bin",
                                  "damaged-npz-c823632b2ff9.bin"])
def test_damaged_npz_input_is_invalid_argument(tmp_path, name):
    # Was: BadZipFile / zlib.error / OSError from cli/run_inputs.py load_file (fuzz: cli_inputs_file).
    from pathlib import Path

    from savedmodel_io.cli.run_inputs import load_inputs
    from savedmodel_io.errors import InvalidArgumentError

    src = Path(__file__).parent / "fuzz" / "corpus" / "cli_inputs_file" / name
    p = tmp_path / "in.npz"
    p.write_bytes(src.read_bytes())
    with pytest.raises(InvalidArgumentError) as exc:
        load_inputs(inputs=f"a={p}[x]")
    assert str(p) in str(exc.value)


@pytest.mark.parametrize("expr", ["a=np.arange()", "a=np.arange(1e308*10)", "a=np.eye()"])
def test_input_expr_guards_give_invalid_argument(expr):
    # Was: ValueError from the np.arange guard in cli/run_inputs.py (fuzz: cli_input_examples).
    from savedmodel_io.cli.run_inputs import parse_exprs
    from savedmodel_io.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="np.arange|np.eye"):
        parse_exprs(expr)


def test_npy_header_that_breaks_numpys_tokenizer(tmp_path):
    # Was: tokenize.TokenError from numpy's header parser (fuzz: cli_inputs_file).
    from pathlib import Path

    from savedmodel_io.cli.run_inputs import load_inputs
    from savedmodel_io.errors import InvalidArgumentError

    src = Path(__file__).parent / "fuzz" / "corpus" / "cli_inputs_file" / "npy-header-tokenerror.bin"
    p = tmp_path / "in.npy"
    p.write_bytes(src.read_bytes())
    with pytest.raises(InvalidArgumentError):
        load_inputs(inputs=f"a={p}")
