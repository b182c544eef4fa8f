"""Helpers shared by the .cpb tests: the shared test data, synthetic models, TF's Merger oracle."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import CPB_DATA

from savedmodel_io.proto import DataType, NodeDef, SavedModel

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ORACLE_SRC = HERE / "cpb_merger_oracle.cc"
ORACLE_CACHE = ROOT / "tests" / ".cache" / "cpb_oracle"
TF_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "CUDA_VISIBLE_DEVICES": "-1"}


SHARED = CPB_DATA
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared/testdata/cpb not present")


# ----------------------------------------------------------------------------- synthetic models


def add_const(nodes, name: str, values: np.ndarray, *, as_vals: bool = False) -> NodeDef:
    """Append a float32 Const node holding ``values`` (tensor_content, or float_val)."""
    node = nodes.add(name=name, op="Const")
    node.attr["dtype"].type = DataType.DT_FLOAT
    t = node.attr["value"].tensor
    t.dtype = DataType.DT_FLOAT
    for d in values.shape:
        t.tensor_shape.dim.add(size=d)
    if as_vals:
        t.float_val.extend(values.ravel().tolist())
    else:
        t.tensor_content = values.astype("<f4").tobytes()
    return node


def make_model(rng: random.Random, *, big: int = 70_000, n_nodes: int = 30) -> SavedModel:
    """Nodes of every kind the splitter treats differently, a function library, two meta graphs."""
    sm = SavedModel(saved_model_schema_version=1)
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    g = mg.graph_def
    g.versions.producer = 1987
    for i in range(n_nodes):
        kind = rng.choice(["small", "big", "vals", "op"])
        if kind == "small":
            add_const(g.node, f"s{i}", np.arange(rng.randrange(1, 50), dtype=np.float32))
        elif kind == "big":
            add_const(g.node, f"b{i}", np.full(rng.randrange(big // 8, big // 2), i, np.float32))
        elif kind == "vals":
            add_const(g.node, f"v{i}", np.arange(rng.randrange(1, 400), dtype=np.float32),
                      as_vals=True)
        else:
            node = g.node.add(name=f"op{i}", op="AddV2", input=[f"s{i - 1}", "x"])
            node.attr["T"].type = DataType.DT_FLOAT
    for f in range(4):
        fn = g.library.function.add()
        fn.signature.name = f"fn{f}"
        for j in range(rng.randrange(1, 12)):
            if rng.random() < 0.3:
                add_const(fn.node_def, f"c{j}", np.full(rng.randrange(10, big // 4), j, np.float32))
            else:
                fn.node_def.add(name=f"n{j}", op="Identity", input=["a"])
        fn.ret["out"] = "n0:output:0"
    sig = mg.signature_def["serving_default"]
    sig.method_name = "tensorflow/serving/predict"
    sig.inputs["x"].name = "x:0"
    sm.meta_graphs.add().meta_info_def.tags.append("train")
    add_const(sm.meta_graphs[1].graph_def.node, "other", np.ones(30000, np.float32))
    return sm


def assert_vals_moved(original: SavedModel, merged: SavedModel) -> None:
    """``merged`` equals ``original`` except Consts over the limit: *_val became tensor_content."""
    a, b = original.meta_graphs[0].graph_def, merged.meta_graphs[0].graph_def
    assert len(a.node) == len(b.node)
    for x, y in zip(a.node, b.node):
        if x != y:
            tx, ty = x.attr["value"].tensor, y.attr["value"].tensor
            assert list(tx.float_val) and not list(ty.float_val)
            assert np.frombuffer(ty.tensor_content, "<f4").tolist() == list(tx.float_val)


# ----------------------------------------------------------------------------- TF's C++ Merger


def tf_dir() -> Path | None:
    spec = importlib.util.find_spec("tensorflow")
    return Path(spec.origin).parent if spec and spec.origin else None


def build_oracle() -> Path:
    """Compile cpb_merger_oracle.cc against the tensorflow wheel (cached); skip if impossible."""
    tf = tf_dir()
    gxx = shutil.which("g++")
    if tf is None or not (tf / "libtensorflow_framework.so.2").exists():
        pytest.skip("tensorflow wheel with libtensorflow_framework.so.2 not found")
    if gxx is None:
        pytest.skip("g++ not found: cannot build the TF Merger oracle")
    key = hashlib.sha256(ORACLE_SRC.read_bytes() + str(tf).encode()).hexdigest()[:16]
    binary = ORACLE_CACHE / key / "cpb_merger_oracle"
    binary.parent.mkdir(parents=True, exist_ok=True)
    with open(binary.parent / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            tmp = binary.with_name(f"build{os.getpid()}")
            proc = subprocess.run(
                [gxx, "-std=c++17", "-O1", "-D_GLIBCXX_USE_CXX11_ABI=1",
                 "-DEIGEN_MAX_ALIGN_BYTES=64", f"-I{tf / 'include'}", str(ORACLE_SRC),
                 "-o", str(tmp), f"-L{tf}", "-l:libtensorflow_framework.so.2",
                 f"-Wl,-rpath,{tf}"],
                capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                pytest.skip(f"cannot build the TF Merger oracle: {proc.stderr[-2000:]}")
            os.replace(tmp, binary)
    return binary


def run_oracle(binary: Path, kind: str, path: Path, *, summary: bool = False):
    """TF's merge of ``path``: merged bytes (and summary lines), or TF's error text."""
    out = path.parent / f".{path.name}.merged"
    args = [str(binary), kind, str(path), str(out)] + (["--summary"] if summary else [])
    proc = subprocess.run(
        args, capture_output=True, text=True, env={**os.environ, **TF_ENV}, check=False
    )
    if proc.returncode == 1:
        return proc.stderr
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    out.unlink()
    return (data, proc.stdout) if summary else data
