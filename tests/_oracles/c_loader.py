"""Load a SavedModel through TensorFlow's C++ ``LoadSavedModel`` and run one signature.

Each request is ``{"dir", "signature", "inputs": {name: array}}`` (``codec`` arrays); the
answer is ``{"outputs": {name: array}}`` or ``{"error": ...}``.

Goes through the C API's ``TF_LoadSessionFromSavedModel`` (tensorflow/c/c_api.cc),
which calls ``tensorflow::LoadSavedModel`` (tensorflow/cc/saved_model/loader.cc):
the loader TensorFlow Serving uses. It restores variables with the SaverDef's restore
op, runs the init op with asset paths fed, then ``TF_SessionRun`` evaluates the
SignatureDef's tensors. The Python ``tf.saved_model.load`` never takes this path.
Numeric tensors only.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
from _oracles.codec import decode, encode


class _Buffer(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("length", ctypes.c_size_t),
                ("data_deallocator", ctypes.c_void_p)]


class _Output(ctypes.Structure):
    _fields_ = [("oper", ctypes.c_void_p), ("index", ctypes.c_int)]


# TF_DataType values (tensorflow/c/tf_datatype.h) = DataType enum values.
_NP = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 10: np.bool_}


def _lib() -> ctypes.CDLL:
    import tensorflow as tf

    path = os.path.join(os.path.dirname(tf.__file__), "libtensorflow_cc.so.2")
    lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    vp = ctypes.c_void_p
    sigs = {
        "TF_NewStatus": ([], vp), "TF_GetCode": ([vp], ctypes.c_int),
        "TF_Message": ([vp], ctypes.c_char_p), "TF_NewSessionOptions": ([], vp),
        "TF_NewGraph": ([], vp), "TF_NewBuffer": ([], ctypes.POINTER(_Buffer)),
        "TF_LoadSessionFromSavedModel": (
            [vp, vp, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, vp,
             ctypes.POINTER(_Buffer), vp], vp),
        "TF_GraphOperationByName": ([vp, ctypes.c_char_p], vp),
        "TF_AllocateTensor": ([ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_int,
                               ctypes.c_size_t], vp),
        "TF_TensorData": ([vp], vp), "TF_TensorByteSize": ([vp], ctypes.c_size_t),
        "TF_NumDims": ([vp], ctypes.c_int), "TF_Dim": ([vp, ctypes.c_int], ctypes.c_int64),
        "TF_TensorType": ([vp], ctypes.c_int),
        "TF_SessionRun": ([vp, vp, ctypes.POINTER(_Output), ctypes.POINTER(vp), ctypes.c_int,
                           ctypes.POINTER(_Output), ctypes.POINTER(vp), ctypes.c_int, vp,
                           ctypes.c_int, vp, vp], None),
        "TF_CloseSession": ([vp, vp], None), "TF_DeleteSession": ([vp, vp], None),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    return lib


class LoadError(Exception):
    """A C API call reported an error."""


def _check(lib: ctypes.CDLL, status: int, what: str) -> None:
    code = lib.TF_GetCode(status)
    if code != 0:
        raise LoadError(f"{what} failed (code {code}): {lib.TF_Message(status).decode()}")


def _output(lib: ctypes.CDLL, graph: int, name: str) -> _Output:
    op, _, idx = name.partition(":")
    oper = lib.TF_GraphOperationByName(graph, op.encode())
    if not oper:
        raise LoadError(f"no operation {op!r} in the loaded graph")
    return _Output(oper, int(idx or 0))


def run_one(lib: ctypes.CDLL, export_dir: str, key: str,
            feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The signature's outputs for ``feeds``, through the C API."""
    from tensorflow.core.protobuf import meta_graph_pb2

    status = lib.TF_NewStatus()
    graph = lib.TF_NewGraph()
    meta = lib.TF_NewBuffer()
    tags = (ctypes.c_char_p * 1)(b"serve")
    session = lib.TF_LoadSessionFromSavedModel(lib.TF_NewSessionOptions(), None,
                                               export_dir.encode(), tags, 1, graph, meta, status)
    _check(lib, status, "TF_LoadSessionFromSavedModel")
    mg = meta_graph_pb2.MetaGraphDef()
    mg.ParseFromString(ctypes.string_at(meta.contents.data, meta.contents.length))
    sig = mg.signature_def[key]
    in_ops, in_vals = [], []
    for name, info in sig.inputs.items():
        arr = np.require(feeds[name], requirements="C")  # keeps 0-d arrays 0-d
        dims = (ctypes.c_int64 * arr.ndim)(*arr.shape)
        t = lib.TF_AllocateTensor(info.dtype, dims, arr.ndim, arr.nbytes)
        ctypes.memmove(lib.TF_TensorData(t), arr.ctypes.data, arr.nbytes)
        in_ops.append(_output(lib, graph, info.name))
        in_vals.append(t)
    out_names = sorted(sig.outputs)
    out_ops = [_output(lib, graph, sig.outputs[n].name) for n in out_names]
    out_vals = (ctypes.c_void_p * len(out_ops))()
    lib.TF_SessionRun(session, None, (_Output * len(in_ops))(*in_ops),
                      (ctypes.c_void_p * len(in_vals))(*in_vals), len(in_ops),
                      (_Output * len(out_ops))(*out_ops), out_vals, len(out_ops), None, 0,
                      None, status)
    _check(lib, status, "TF_SessionRun")
    results = {}
    for n, t in zip(out_names, out_vals):
        shape = [lib.TF_Dim(t, i) for i in range(lib.TF_NumDims(t))]
        dt = np.dtype(_NP[lib.TF_TensorType(t)])
        raw = ctypes.string_at(lib.TF_TensorData(t), lib.TF_TensorByteSize(t))
        results[n] = np.frombuffer(raw, dtype=dt).reshape(shape)
    lib.TF_CloseSession(session, status)
    lib.TF_DeleteSession(session, status)
    return results


def answer(requests: list[dict]) -> list[dict]:
    lib = _lib()
    out = []
    for req in requests:
        feeds = {k: decode(v) for k, v in req["inputs"].items()}
        try:
            got = run_one(lib, req["dir"], req["signature"], feeds)
            out.append({"outputs": {k: encode(v) for k, v in got.items()}})
        except (LoadError, KeyError, ValueError) as exc:
            out.append({"error": f"{type(exc).__name__}: {exc}"})
    return out
