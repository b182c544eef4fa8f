"""Measure which ONNX ops onnxruntime's CPU provider runs on bfloat16, per opset.

For every op of the default ONNX domain whose schema lets some input take bfloat16, one
one-node model per opset (bfloat16 where the schema allows it, else the first other allowed
type; ranks left unknown) is loaded into an InferenceSession on the CPU provider: a missing
kernel is onnxruntime's NOT_IMPLEMENTED "Could not find an implementation" at load. Prints
the table kept in ``src/savedmodel_io/onnx/_kernels.py`` (``BF16_KERNELS``), which is what
this script printed for onnxruntime 1.32.0 and onnx 1.23.

    python tools/ort_bf16_kernels.py            # the table
    python tools/ort_bf16_kernels.py --verbose  # and why each op without a kernel failed
"""

from __future__ import annotations

import sys

import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

BF16 = "tensor(bfloat16)"
# Other types an input may take when bfloat16 is not allowed, in order of preference.
PREFERRED = ["tensor(int64)", "tensor(float)", "tensor(bool)", "tensor(int32)", "tensor(uint8)", "tensor(string)"]
# Attributes some schemas require (values that make a valid node).
REQUIRED_ATTRS = {
    "Cast": {"to": TensorProto.FLOAT}, "CastLike": {}, "EyeLike": {}, "Constant": None,
    "ConstantOfShape": {}, "Split": {}, "Transpose": {}, "Concat": {"axis": 0}, "Gather": {},
    "DepthToSpace": {"blocksize": 2}, "SpaceToDepth": {"blocksize": 2}, "LpPool": {"kernel_shape": [1]},
    "MaxPool": {"kernel_shape": [1, 1]}, "AveragePool": {"kernel_shape": [1, 1]}, "Flatten": {},
    "GlobalLpPool": {}, "MaxRoiPool": {"pooled_shape": [1, 1]}, "RandomNormal": None, "RandomUniform": None,
    "Scatter": {}, "TopK": {}, "SequenceAt": None, "If": None, "Loop": None, "Scan": None,
    "ConcatFromSequence": {"axis": 0},
}
OPSETS = range(15, 27)


def _type_for(constraint: str, schema) -> str | None:
    for tc in schema.type_constraints:
        if tc.type_param_str == constraint:
            allowed = list(tc.allowed_type_strs)
            if BF16 in allowed:
                return BF16
            for p in PREFERRED:
                if p in allowed:
                    return p
            return allowed[0] if allowed else None
    return constraint  # a fixed type ("tensor(int64)")


def _value_info(name: str, ts: str) -> onnx.ValueInfoProto:
    if ts.startswith("seq("):
        inner = ts[4:-1]
        elem = _elem(inner)
        return helper.make_tensor_sequence_value_info(name, elem, None)
    return helper.make_tensor_value_info(name, _elem(ts), None)


def _elem(ts: str) -> int:
    name = ts[len("tensor("):-1]
    return {"float": TensorProto.FLOAT, "double": TensorProto.DOUBLE, "float16": TensorProto.FLOAT16,
            "bfloat16": TensorProto.BFLOAT16, "string": TensorProto.STRING, "bool": TensorProto.BOOL}.get(
        name, getattr(TensorProto, name.upper(), TensorProto.FLOAT))


def probe(op: str, opset: int, cast_to: int | None = None) -> str:
    """"" when onnxruntime loads the one-node model, else the reason."""
    try:
        schema = onnx.defs.get_schema(op, opset)
    except onnx.defs.SchemaError:
        return "no schema"
    inputs, infos = [], []
    for i, formal in enumerate(schema.inputs):
        if formal.option == onnx.defs.OpSchema.FormalParameterOption.Optional:
            continue
        ts = _type_for(formal.type_str, schema)
        if ts is None:
            return "no type"
        if op == "Cast" and cast_to is not None:
            ts = "tensor(float)" if cast_to == TensorProto.BFLOAT16 else BF16
        name = f"x{i}"
        inputs.append(name)
        infos.append(_value_info(name, ts))
    if not any(BF16 in str(i.type) or "BFLOAT16" in str(i.type) or i.type.tensor_type.elem_type == TensorProto.BFLOAT16
               or i.type.sequence_type.elem_type.tensor_type.elem_type == TensorProto.BFLOAT16 for i in infos) \
            and not (op == "Cast" and cast_to == TensorProto.BFLOAT16):
        return "no bfloat16 input in this opset's schema"
    attrs = dict(REQUIRED_ATTRS.get(op) or {})
    if op == "Cast" and cast_to is not None:
        attrs["to"] = cast_to
    outs = [f"y{i}" for i, _ in enumerate(schema.outputs)]
    node = helper.make_node(op, inputs, outs, **attrs)
    out_infos = [onnx.ValueInfoProto(name=o) for o in outs]
    graph = helper.make_graph([node], "g", infos, out_infos)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
    try:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own exception types
        text = str(exc)
        return "no kernel" if "Could not find an implementation" in text else text.splitlines()[0][:160]
    return ""


def _extra(opset: int) -> dict[str, bool]:
    """Ops the generic probe cannot build: a bfloat16 ConstantOfShape value, If and Loop carrying bfloat16."""
    vi = helper.make_tensor_value_info
    bf = TensorProto.BFLOAT16

    def loads(nodes: list, ins: list, outs: list) -> bool:
        model = helper.make_model(helper.make_graph(nodes, "g", ins, outs),
                                  opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
        try:
            ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001
            return False
        return True

    value = helper.make_tensor("v", bf, [1], [1.0])
    branch = [helper.make_graph([helper.make_node("Identity", ["x"], [n])], n, [], [vi(n, bf, None)])
              for n in ("t", "e")]
    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Identity", ["v_in"], ["v_out"]),
         helper.make_node("Identity", ["v_in"], ["s_out"])], "body",
        [vi("i", TensorProto.INT64, []), vi("c_in", TensorProto.BOOL, []), vi("v_in", bf, None)],
        [vi("c_out", TensorProto.BOOL, []), vi("v_out", bf, None), vi("s_out", bf, None)])
    return {
        "ConstantOfShape": loads([helper.make_node("ConstantOfShape", ["s"], ["y"], value=value)],
                                 [vi("s", TensorProto.INT64, [1])], [vi("y", bf, None)]),
        "If": loads([helper.make_node("If", ["c"], ["y"], then_branch=branch[0], else_branch=branch[1])],
                    [vi("c", TensorProto.BOOL, []), vi("x", bf, None)], [vi("y", bf, None)]),
        "Loop": loads([helper.make_node("Loop", ["n", "c", "x"], ["y", "s"], body=body)],
                      [vi("n", TensorProto.INT64, []), vi("c", TensorProto.BOOL, []), vi("x", bf, None)],
                      [vi("y", bf, None), vi("s", bf, None)]),
    }


def main() -> None:
    verbose = "--verbose" in sys.argv
    ops = sorted({s.name for s in onnx.defs.get_all_schemas_with_history()
                  if s.domain == "" and any(BF16 in tc.allowed_type_strs for tc in s.type_constraints)})
    table: dict[str, list[int]] = {}
    for op in ops:
        if REQUIRED_ATTRS.get(op, {}) is None:
            continue  # subgraph or random ops: not probed this way
        runs = [v for v in OPSETS if probe(op, v) == ""]
        if runs:
            table[op] = runs
        elif verbose:
            print(f"# {op}: {probe(op, max(OPSETS))}")
    for v in OPSETS:
        for op, ok in _extra(v).items():
            if ok:
                table.setdefault(op, []).append(v)
    table = dict(sorted(table.items()))
    for to, label in ((TensorProto.BFLOAT16, "float->bfloat16"), (TensorProto.FLOAT, "bfloat16->float")):
        print(f"# Cast {label}: {[v for v in OPSETS if probe('Cast', v, to) == '']}")
    for op, runs in table.items():
        print(f"    {op!r}: ({runs[0]}, {runs[-1]}),{'' if runs == list(range(runs[0], runs[-1] + 1)) else '  # gaps'}")


if __name__ == "__main__":
    main()
