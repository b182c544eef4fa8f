"""DataType <-> numpy, checked against TensorFlow's own table."""

from __future__ import annotations

import numpy as np
import pytest
from _oracles import ModuleOracle

from savedmodel_io import dtypes
from savedmodel_io.errors import InvalidArgumentError, MissingDependencyError, UnsupportedFormatError
from savedmodel_io.proto import DataType

ALL = [v.number for v in DataType.DESCRIPTOR.values if v.number < 100]


def _numpy_dtype(name: str) -> np.dtype:
    """numpy's dtype by name, or ml_dtypes' (bfloat16, float8_*, int4...)."""
    try:
        return np.dtype(name)
    except TypeError:
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, name))


def tf_dtypes(request: dict) -> dict:
    """TF's name and numpy dtype of every DataType (runs in the oracle); null when TF has none."""
    import tensorflow as tf

    out = {}
    for dt in ALL:
        try:
            theirs = tf.dtypes.as_dtype(dt)
        except TypeError:
            out[dt] = None
            continue
        try:
            expect = np.dtype(theirs.as_numpy_dtype)
        except (TypeError, KeyError):  # resource, variant: no numpy dtype
            out[dt] = {"name": theirs.name, "numpy": None}
            continue
        if expect.names:  # TF's quantized types are one-field records; we use the plain integer
            expect = expect[0]
        out[dt] = {"name": theirs.name, "numpy": expect.name}
    return out


@pytest.fixture(scope="module")
def tf_table() -> dict:
    (answer,) = ModuleOracle(__name__).answers([{"function": "tf_dtypes"}])
    return {int(k): v for k, v in answer.items()}


@pytest.mark.tf
@pytest.mark.parametrize("dt", ALL)
def test_matches_tensorflow(dt, tf_table):
    theirs = tf_table[dt]
    if theirs is None:
        pytest.skip(f"TF has no DType for {dt}")
    assert dtypes.python_name(dt) == theirs["name"]
    assert dtypes.python_name(dt + dtypes.REF_OFFSET) == theirs["name"] + "_ref"
    if dt in (DataType.DT_RESOURCE, DataType.DT_VARIANT, DataType.DT_INVALID):
        with pytest.raises(UnsupportedFormatError):
            dtypes.to_numpy(dt)
        return
    expect = _numpy_dtype(theirs["numpy"])
    ours = dtypes.to_numpy(dt)
    assert ours == expect or (dt == DataType.DT_STRING and ours == np.dtype(object))
    if dt not in (
        DataType.DT_QINT8, DataType.DT_QUINT8, DataType.DT_QINT16, DataType.DT_QUINT16,
        DataType.DT_QINT32,
    ):
        assert dtypes.from_numpy(ours) == dt


def test_names_and_refs():
    assert dtypes.dtype_name(DataType.DT_FLOAT) == "DT_FLOAT"
    assert dtypes.dtype_name(999) == "DT_999"
    assert dtypes.is_ref(101) and not dtypes.is_ref(1)
    assert dtypes.base_dtype(101) == 1
    assert dtypes.to_numpy(101) == np.float32
    assert dtypes.is_numeric(DataType.DT_BFLOAT16)
    assert not dtypes.is_numeric(DataType.DT_STRING)


def test_strings_from_numpy():
    for d in (object, "S3", "U2"):
        assert dtypes.from_numpy(d) == DataType.DT_STRING


def test_bad_numpy_dtypes():
    with pytest.raises(InvalidArgumentError):
        dtypes.from_numpy("datetime64[s]")
    with pytest.raises(InvalidArgumentError):
        dtypes.from_numpy("not a dtype")


def test_missing_ml_dtypes_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(dtypes, "_ml_dtypes", lambda: None)
    with pytest.raises(MissingDependencyError, match=r"savedmodel-io\[dtypes\]"):
        dtypes.to_numpy(DataType.DT_BFLOAT16, path="variables/variables.index")


def test_byte_order_does_not_matter():
    assert dtypes.from_numpy(">f8") == DataType.DT_DOUBLE
    assert dtypes.from_numpy("<i4") == DataType.DT_INT32
