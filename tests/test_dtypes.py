"""DataType <-> numpy mapping."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from savedmodel_io import dtypes
from savedmodel_io.errors import InvalidArgumentError, MissingDependencyError, UnsupportedFormatError
from savedmodel_io.proto import DataType


def test_every_enum_value_is_known():
    for value in DataType.values():
        if value in (0,) or value > 100:
            continue
        assert dtypes.name(value) == DataType.Name(value)
        if dtypes.has_numpy_form(value):
            np_dtype = dtypes.to_numpy(value)
            back = dtypes.from_numpy(np_dtype)
            assert dtypes.to_numpy(back) == np_dtype


@pytest.mark.parametrize(
    "np_dtype,dt",
    [(np.float32, 1), (np.float64, 2), (np.int32, 3), (np.uint8, 4), (np.int16, 5), (np.int8, 6),
     (np.complex64, 8), (np.int64, 9), (np.bool_, 10), (np.uint16, 17), (np.complex128, 18),
     (np.float16, 19), (np.uint32, 22), (np.uint64, 23), (object, 7), ("S3", 7), ("U2", 7)],
)
def test_plain_numpy(np_dtype, dt):
    assert dtypes.from_numpy(np_dtype) == dt


def test_ml_dtypes():
    ml = pytest.importorskip("ml_dtypes")
    assert dtypes.to_numpy(dtypes.DT_BFLOAT16) == np.dtype(ml.bfloat16)
    assert dtypes.from_numpy(ml.float8_e4m3fn) == dtypes.DT_FLOAT8_E4M3FN
    assert dtypes.to_numpy(dtypes.DT_INT4).itemsize == 1


def test_quantized_read_as_storage():
    assert dtypes.to_numpy(dtypes.DT_QUINT8) == np.uint8
    assert dtypes.to_numpy(dtypes.DT_QINT32) == np.int32
    assert dtypes.tf_name(dtypes.DT_QINT32) == "qint32"
    assert dtypes.tf_name(101) == "float32_ref"


def test_resource_variant_unknown():
    for dt in (dtypes.DT_RESOURCE, dtypes.DT_VARIANT, 77):
        assert not dtypes.has_numpy_form(dt)
        with pytest.raises(UnsupportedFormatError):
            dtypes.to_numpy(dt)
    with pytest.raises(InvalidArgumentError):
        dtypes.from_numpy(np.dtype([("a", np.int8)]))
    with pytest.raises(InvalidArgumentError):
        dtypes.from_numpy("not a dtype")


def test_missing_ml_dtypes(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "ml_dtypes":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingDependencyError, match=r"savedmodel-io\[dtypes\]"):
        dtypes.to_numpy(dtypes.DT_BFLOAT16)
    assert dtypes.to_numpy(dtypes.DT_FLOAT) == np.float32
