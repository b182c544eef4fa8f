"""Small seed files generated without TensorFlow (the TF-built fixtures add real ones)."""

from __future__ import annotations

import numpy as np

from savedmodel_io.proto import SavedModel, TensorProto, to_text
from savedmodel_io.tensors import from_array


def tensors() -> list[TensorProto]:
    """One TensorProto per storage layout: tensor_content, typed fields, strings, repeats."""
    out = [
        from_array(np.arange(6, dtype=np.float32).reshape(2, 3)),
        from_array(np.array(3.5, dtype=np.float64)),
        from_array(np.array([1, -2, 3], dtype=np.int64)),
        from_array(np.array([True, False])),
        from_array(np.array([1 + 2j, 3 - 4j], dtype=np.complex64)),
        from_array(np.array([0.5, 1.5], dtype=np.float16)),
        from_array(np.array([[b"ab", b""], [b"\xff\x00", b"long" * 8]], dtype=object)),
        from_array(np.array(7, dtype=np.uint8)),
    ]
    zeros = from_array(np.array(0.0, dtype=np.float32))  # zeros([4, 5]): one value, big shape
    zeros.tensor_shape.dim.add().size = 4
    zeros.tensor_shape.dim.add().size = 5
    out.append(zeros)
    return out


def saved_model() -> SavedModel:
    """A small but complete-looking SavedModel: nodes, a function, a signature, an asset."""
    sm = SavedModel(saved_model_schema_version=1)
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    mg.meta_info_def.tensorflow_version = "2.21.0"
    g = mg.graph_def
    x = g.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    c = g.node.add(name="c", op="Const")
    c.attr["dtype"].type = 1
    c.attr["value"].tensor.CopyFrom(tensors()[0])
    s = g.node.add(name="s", op="Const")
    s.attr["value"].tensor.CopyFrom(tensors()[6])
    call = g.node.add(name="call", op="StatefulPartitionedCall", input=["x", "c"])
    call.attr["f"].func.name = "fn"
    fn = g.library.function.add()
    fn.signature.name = "fn"
    fn.signature.input_arg.add(name="a", type=1)
    fn.signature.output_arg.add(name="out", type=1)
    fn.node_def.add(name="add", op="AddV2", input=["a", "a"])
    fn.ret["out"] = "add:z:0"
    sig = mg.signature_def["serving_default"]
    sig.method_name = "tensorflow/serving/predict"
    sig.inputs["x"].name = "x:0"
    sig.inputs["x"].dtype = 1
    sig.inputs["x"].tensor_shape.dim.add().size = -1
    sig.outputs["y"].name = "call:0"
    sig.outputs["y"].dtype = 1
    asset = mg.asset_file_def.add(filename="vocab.txt")
    asset.tensor_info.name = "asset_path:0"
    return sm


def saved_model_pb() -> bytes:
    return saved_model().SerializeToString()


def saved_model_pbtxt() -> bytes:
    return to_text(saved_model()).encode()


def bundles(tmp) -> list[tuple[bytes, bytes]]:
    """(index, data) of small single-shard TensorBundles: numbers, strings, slices, scalars."""
    from savedmodel_io.formats.bundle import Sliced, write_checkpoint

    sets = [
        {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([1, -2], np.int64)},
        {"s": np.array([b"alpha", b"", b"\xff" * 40], dtype=object), "flag": np.array(True)},
        {"big": Sliced((4, 2), [("0,2:-", np.ones((2, 2), np.float64)),
                                ("2,2:-", np.zeros((2, 2), np.float64))]),
         "h": np.array([0.5, 2.0], np.float16), "c": np.array([1 + 1j], np.complex64)},
    ]
    out = []
    for i, tensors in enumerate(sets):
        prefix = tmp / f"b{i}" / "variables"
        prefix.parent.mkdir(parents=True, exist_ok=True)
        write_checkpoint(prefix, tensors)
        out.append((
            (prefix.parent / "variables.index").read_bytes(),
            (prefix.parent / "variables.data-00000-of-00001").read_bytes(),
        ))
    return out


def riegeli_files(tmp) -> list[bytes]:
    """Small Riegeli files: no compression, brotli, zstd; empty, tiny and 70 KB records."""
    from savedmodel_io.formats.riegeli import write_records

    records = [b"", b"a", bytes(range(256)) * 3, b"xyz" * 23000]
    out = []
    for comp in ("none", "brotli", "zstd"):
        p = tmp / f"r-{comp}.riegeli"
        write_records(p, records if comp != "none" else records[:3], compression=comp)
        out.append(p.read_bytes())
    return out


def cli_input_strings() -> list[str]:
    """--input_exprs / --input_examples values in saved_model_cli's documented forms."""
    return [
        "x=[1,2,3];y=np.ones((2,3))",
        "a=np.random.rand(4)*2+1;b=np.zeros([2,2],dtype=np.float32)",
        "c=-5;d=3.5;e=b'bytes';f='text';g=True;h=None",
        "k=np.array([[1, 2], [3, 4]], dtype=np.int64)",
        "m=np.arange(6);n=np.full((2, 2), 7.0);o=np.eye(3)",
        "ex=[{'f':[1.0, 2.0],'i':[3],'s':['a', 'b'],'b':[b'x']}]",
        "ex=[{'f':[0.5]},{'f':[1.5]}];k2=[{'w':[1,2,3]}]",
    ]


def npy_files(tmp) -> list[bytes]:
    """Small .npy and .npz inputs (one with an object array, which needs pickle)."""
    arrays = {
        "f.npy": np.arange(6, dtype=np.float32).reshape(2, 3),
        "s.npy": np.array([b"ab", b"c"]),
        "u.npy": np.array(["x", "yz"]),
        "o.npy": np.array([{"k": 1}], dtype=object),
    }
    out = []
    for name, arr in arrays.items():
        np.save(tmp / name, arr, allow_pickle=arr.dtype == object)
        out.append((tmp / name).read_bytes())
    np.savez(tmp / "z.npz", x=np.ones(3), arr_0=np.array([1, 2]))
    np.savez_compressed(tmp / "c.npz", x=np.zeros((2, 2), np.int16))
    out += [(tmp / "z.npz").read_bytes(), (tmp / "c.npz").read_bytes()]
    return out
