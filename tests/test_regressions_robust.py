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
