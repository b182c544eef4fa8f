"""TensorFlow's side of tests/test_writer_tf.py: what TF sees in SavedModels our writer made.

Each request is ``{"kind", "dir", ...}`` (arrays in ``codec`` form); the answer holds the
facts the test asserts on, or ``{"error": ...}``. Kinds:

* ``signatures``: ``inputs`` {key: {arg: array}} -> the signature keys and each one's outputs;
* ``specs``: each signature's structured input and output TensorSpecs (dtype enum, shape);
* ``inferred``: for each signature output, the shape TF infers for the body function the
  wrapper calls, with our ``_output_shapes`` hints and variable handles stripped;
* ``restored``: ``x`` -> the restored object's variables, trainable flags, ``__call__`` and
  ``classify`` outputs, and the error a wrong input shape gives;
* ``fine_tune``: ``tokens`` -> losses of five SGD steps and how many variables changed;
* ``frozen``: ``image`` -> non-trainable variable names, and whether every trainable one
  gets a gradient;
* ``assets``: the ``serving_default`` outputs for x=2 and the restored asset's path;
* ``checkpoint``: ``tf.train`` reading ``variables/`` and restoring dense/kernel into a Module;
* ``call``: ``attr``, ``args`` -> the restored function's result and the variable count;
* ``saved_model_cli`` / ``c_loader``: the requests of those oracles, run in this process.
"""

from __future__ import annotations

import numpy as np
from _oracles import c_loader, saved_model_cli
from _oracles.codec import decode, encode


def _shape(shape) -> list | None:
    return None if shape.rank is None else shape.as_list()


def _signatures(tf, req: dict) -> dict:
    loaded = tf.saved_model.load(req["dir"])
    outputs = {}
    for key, feeds in req["inputs"].items():
        got = loaded.signatures[key](**{k: tf.constant(decode(v)) for k, v in feeds.items()})
        outputs[key] = {k: encode(v.numpy()) for k, v in got.items()}
    return {"keys": sorted(loaded.signatures.keys()), "outputs": outputs}


def _specs(tf, req: dict) -> dict:
    loaded = tf.saved_model.load(req["dir"])
    out = {}
    for key, fn in loaded.signatures.items():
        out[key] = {
            "outputs": {k: {"dtype": s.dtype.as_datatype_enum, "shape": _shape(s.shape)}
                        for k, s in fn.structured_outputs.items()},
            "inputs": {k: {"shape": _shape(s.shape)}
                       for k, s in fn.structured_input_signature[1].items()},
        }
    return out


def _without_hints(body):
    """The body as a GraphDef for TF to infer afresh: no _output_shapes, variable reads as
    Placeholders of the variable's shape (TF's importer cannot see through handles)."""
    from tensorflow.python.framework.function_def_to_graph import function_def_to_graph_def

    gdef, names = function_def_to_graph_def(body)
    handles = {a.name: a.handle_data[0] for a in body.signature.input_arg if a.handle_data}
    for n in gdef.node:
        n.attr.pop("_output_shapes", None)
        if n.op == "ReadVariableOp":
            hd = handles[n.input[0].split(":")[0]]
            n.op = "Placeholder"
            del n.input[:]
            n.attr.clear()
            n.attr["dtype"].type = hd.dtype
            n.attr["shape"].shape.CopyFrom(hd.shape)
    return gdef, names


def _inferred(tf, req: dict) -> dict:
    """{signature: {output: shape TF infers for the called body}} (the init op left out)."""
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    with open(f"{req['dir']}/saved_model.pb", "rb") as f:
        sm.ParseFromString(f.read())
    mg = sm.meta_graphs[0]
    fdefs = {f.signature.name: f for f in mg.graph_def.library.function}
    calls = {n.name: n for n in mg.graph_def.node if n.op == "StatefulPartitionedCall"}
    out: dict = {}
    for key, sd in mg.signature_def.items():
        if key == "__saved_model_init_op":
            continue
        for name, info in sd.outputs.items():
            node, k = info.name.split(":")
            wrapper = fdefs[calls[node].attr["f"].func.name]
            (call,) = [n for n in wrapper.node_def if n.op == "StatefulPartitionedCall"]
            body = fdefs[call.attr["f"].func.name]
            gdef, names = _without_hints(body)
            with tf.Graph().as_default() as g:
                tf.graph_util.import_graph_def(gdef, name="")
            idents = {n.name: n for n in wrapper.node_def}
            ident = idents[wrapper.ret[wrapper.signature.output_arg[int(k)].name].split(":")[0]]
            j = int(ident.input[0].rsplit(":", 1)[1])
            ret = body.ret[body.signature.output_arg[j].name]
            out.setdefault(key, {})[name] = _shape(g.get_tensor_by_name(names[ret]).shape)
    return out


def _restored(tf, req: dict) -> dict:
    loaded = tf.saved_model.load(req["dir"])
    x = tf.constant(decode(req["x"]))
    try:
        loaded(tf.constant(np.ones((2, 5), np.float32)))
        wrong = None
    except (TypeError, ValueError) as exc:
        wrong = type(exc).__name__
    return {
        "n_variables": len(loaded.variables),
        "trainable": [v.name for v in loaded.trainable_variables],
        "dense_1_bias_trainable": bool(loaded.dense_1.bias.trainable),
        "probs": encode(loaded(x)["probs"].numpy()),  # __call__, called positionally
        "class_ids": encode(loaded.classify(features=x)["class_ids"].numpy()),
        "wrong_shape_error": wrong,
    }


def _fine_tune(tf, req: dict) -> dict:
    """The guide's loop: load, GradientTape, five optimizer steps."""
    loaded = tf.saved_model.load(req["dir"])
    before = {v.name: v.numpy().copy() for v in loaded.variables}
    optimizer = tf.keras.optimizers.SGD(0.05)
    tokens = tf.constant(decode(req["tokens"]))
    target = tf.zeros((3, 16))

    def train_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((target - loaded(tokens)["pooled"]) ** 2)
        variables = tape.watched_variables()
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    losses = [float(train_step()) for _ in range(5)]
    after = {v.name: v.numpy() for v in loaded.variables}
    changed = [n for n, v in before.items() if not np.array_equal(v, after[n])]
    return {"losses": losses, "changed": len(changed),
            "trainable": len(loaded.trainable_variables)}


def _frozen(tf, req: dict) -> dict:
    loaded = tf.saved_model.load(req["dir"])
    frozen = {v.name for v in loaded.variables} - {v.name for v in loaded.trainable_variables}
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(loaded(tf.constant(decode(req["image"])))["scores"][:, 0])
    grads = tape.gradient(loss, loaded.trainable_variables)
    return {"frozen": sorted(frozen), "all_grads": all(g is not None for g in grads)}


def _assets(tf, req: dict) -> dict:
    loaded = tf.saved_model.load(req["dir"])
    out = loaded.signatures["serving_default"](x=tf.constant(2.0))
    return {"vocab_bytes": int(out["vocab_bytes"]), "y": float(out["y"]),
            "asset_path": loaded.vocab.asset_path.numpy().decode()}


def _checkpoint(tf, req: dict) -> dict:
    prefix = f"{req['dir']}/variables/variables"
    reader = tf.train.load_checkpoint(prefix)
    mod = tf.Module()
    mod.dense = tf.Module()
    mod.dense.kernel = tf.Variable(tf.zeros((4, 8)))
    tf.train.Checkpoint(mod).read(prefix).expect_partial()
    return {"shapes": reader.get_variable_to_shape_map(),
            "restored": encode(mod.dense.kernel.numpy()),
            "stored": encode(reader.get_tensor("dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"))}


def _call(tf, req: dict) -> dict:
    loaded = tf.saved_model.load(req["dir"])
    result = getattr(loaded, req["attr"])(*[tf.constant(decode(a)) for a in req["args"]])
    return {"result": encode(result.numpy()), "n_variables": len(list(loaded.variables))}


_KINDS = {"signatures": _signatures, "specs": _specs, "inferred": _inferred,
          "restored": _restored, "fine_tune": _fine_tune, "frozen": _frozen,
          "assets": _assets, "checkpoint": _checkpoint, "call": _call}


def answer(requests: list[dict]) -> list[dict]:
    import tensorflow as tf

    out = []
    for req in requests:
        if req["kind"] in ("saved_model_cli", "c_loader"):
            module = saved_model_cli if req["kind"] == "saved_model_cli" else c_loader
            out.append(module.answer([req])[0])
            continue
        try:
            out.append(_KINDS[req["kind"]](tf, req))
        except Exception as exc:  # noqa: BLE001 - recorded for the test to judge
            out.append({"error": f"{type(exc).__name__}: {exc}"})
    return out
