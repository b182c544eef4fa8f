"""Einsum -> Softmax -> Einsum as one _Attention node (optimize.fuse_attention, ops/attention.py):
what fuses, what stays apart, and the fused kernel against the saved graph's three kernels in
every layout, dtype, size and thread count."""

from __future__ import annotations

import numpy as np
import pytest

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.graph import optimize as opt
from savedmodel_io.graph import runtime
from savedmodel_io.graph.ops import attention as attention_ops

from graph.test_optimize import both, ops_run
from graph.test_runtime_core import F32, const, meta, node, placeholder

F64 = 2  # DataType.DT_DOUBLE

# (scores equation, context equation, query/key/value labels -> sizes): Keras' layout, the
# heads-first layout, the probabilities as the context's second operand, no batch label at all,
# two batch labels before the heads, and a value depth unlike the key depth.
LAYOUTS = {
    "keras": ("BTNH,BSNH->BNTS", "BNTS,BSNH->BTNH", dict(B=2, T=5, S=7, N=3, H=4)),
    "heads first": ("BNTH,BNSH->BNTS", "BNTS,BNSH->BNTH", dict(B=2, T=6, S=6, N=4, H=8)),
    "probs second": ("BTNH,BSNH->BNTS", "BSNH,BNTS->BTNH", dict(B=3, T=4, S=5, N=2, H=3)),
    "no batch": ("th,sh->ts", "ts,sd->td", dict(t=9, s=4, h=5, d=3)),
    "two batch labels": ("abtnh,absnh->abnts", "abnts,absnh->abtnh",
                         dict(a=2, b=3, t=4, s=5, n=2, h=3)),
    "value depth": ("BTNH,BSNH->BNTS", "BNTS,BSND->BTND", dict(B=1, T=8, S=6, N=5, H=4, D=7)),
}


def attention_graph(scores, context, sizes, scale=None, dtype=F32, extra=()):
    """q, k, v placeholders -> scores einsum [-> Mul by scale] -> Softmax -> context einsum."""
    q_labels, k_labels = scores.split("->")[0].split(",")
    a, b = context.split("->")[0].split(",")
    probs_first = a == scores.split("->")[1]
    v_labels = b if probs_first else a
    t = ("type", dtype)
    nodes = [placeholder("q"), placeholder("k"), placeholder("v"),
             node("scores", "Einsum", ["q", "k"], equation=scores.encode(), N=2, T=t)]
    last = "scores"
    if scale is not None:
        nodes += [const("c", np.array(scale, np.float32 if dtype == F32 else np.float64)),
                  node("scaled", "Mul", ["scores", "c"])]
        last = "scaled"
    nodes += [node("probs", "Softmax", [last], T=t),
              node("ctx", "Einsum", ["probs", "v"] if probs_first else ["v", "probs"],
                   equation=context.encode(), N=2, T=t), *extra]
    shapes = {n: tuple(sizes[c] for c in labels)
              for n, labels in (("q", q_labels), ("k", k_labels), ("v", v_labels))}
    sig = {n: (f"{n}:0", dtype, (None,) * len(s)) for n, s in shapes.items()}
    return meta(nodes, sigs={"s": (sig, {"y": "ctx:0"})}), shapes


def feeds(shapes, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(s).astype(dtype) for n, s in shapes.items()}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("block", ["heads together", "a head per block"])
def test_attention_fuses_and_equals_the_three_kernels(layout, threads, block, monkeypatch):
    monkeypatch.setattr(attention_ops, "_PARALLEL_MACS", 1)  # split even these small sizes
    if block == "a head per block":
        monkeypatch.setattr(attention_ops, "_BLOCK_BYTES", 1)
    scores, context, sizes = LAYOUTS[layout]
    mg, shapes = attention_graph(scores, context, sizes, scale=0.125)
    fast, slow, body = both(mg, "s", feeds(shapes), threads=threads)
    assert ops_run(body) == ["_Attention"]
    (att,) = [n for n in body.nodes if n.op == "_Attention"]
    assert {o.name for o in att.origins} >= {"scores", "scaled", "probs", "ctx"}
    assert fast["y"].dtype == np.float32 and fast["y"].shape == slow["y"].shape
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-5, atol=1e-6)


def test_attention_without_scale_and_in_float64():
    scores, context, sizes = LAYOUTS["keras"]
    mg, shapes = attention_graph(scores, context, sizes)
    fast, slow, body = both(mg, "s", feeds(shapes))
    assert ops_run(body) == ["_Attention"]
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-5, atol=1e-6)
    # float64 fuses too and takes the three kernels' own path: the same values exactly
    mg, shapes = attention_graph(scores, context, sizes, scale=0.3, dtype=F64)
    fast, slow, body = both(mg, "s", feeds(shapes, np.float64))
    assert ops_run(body) == ["_Attention"]
    assert fast["y"].dtype == np.float64
    np.testing.assert_array_equal(fast["y"], slow["y"])


@pytest.mark.parametrize("sizes", [dict(B=0, T=5, S=7, N=3, H=4), dict(B=2, T=0, S=7, N=3, H=4),
                                   dict(B=2, T=5, S=7, N=0, H=4), dict(B=1, T=5, S=1, N=3, H=4),
                                   dict(B=1, T=1, S=3, N=1, H=1)])
def test_attention_on_empty_and_unit_sizes(sizes):
    scores, context, _ = LAYOUTS["keras"]
    mg, shapes = attention_graph(scores, context, sizes, scale=0.5)
    fast, slow, _ = both(mg, "s", feeds(shapes))
    assert fast["y"].shape == slow["y"].shape
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-5, atol=1e-6)


def test_attention_of_shapes_that_do_not_fit_fails_naming_the_nodes():
    scores, context, sizes = LAYOUTS["keras"]
    mg, shapes = attention_graph(scores, context, sizes)
    bad = feeds(shapes)
    bad["v"] = bad["v"][:, :-1]  # one key fewer than the scores have
    with pytest.raises(InvalidArgumentError, match="fused with .*'ctx' .*attention einsums"):
        runtime.Session(mg).run_signature("s", bad)
    with pytest.raises(InvalidArgumentError, match="'ctx' \\(Einsum\\).*einsum"):
        runtime.Session(mg).run_signature("s", bad, optimize=False)  # as the saved graph fails


@pytest.mark.parametrize("case", ["softmax over queries", "scores read twice", "probs read twice",
                                  "contracts the queries", "probs times probs", "three operands"])
def test_lookalikes_stay_apart(case):
    scores, context, sizes = LAYOUTS["keras"]
    extra, out = (), None
    if case == "softmax over queries":  # the softmax axis must be the keys'
        scores = "BTNH,BSNH->BNST"
        context = "BNST,BSNH->BTNH"
    elif case == "scores read twice":
        extra, out = (node("other", "Mul", ["scores", "scores"]),), "other"
    elif case == "probs read twice":
        extra, out = (node("other", "Mul", ["probs", "probs"]),), "other"
    elif case == "contracts the queries":
        context, sizes = "BNTS,BTNH->BSNH", dict(sizes, S=5)
    mg, shapes = attention_graph(scores, context, sizes, extra=extra)
    if case == "probs times probs":
        ctx = mg.graph_def.node[-1]
        ctx.attr["equation"].s = b"BNTS,BNTS->BNT"
        ctx.input[:] = ["probs", "probs"]
        del mg.signature_def["s"].inputs["v"]  # v is no longer read
        shapes.pop("v")
    if case == "three operands":
        ctx = mg.graph_def.node[-1]
        ctx.attr["equation"].s = b"BNTS,BSNH,BSNH->BTNH"
        ctx.attr["N"].i = 3
        ctx.input[:] = ["probs", "v", "v"]
    if out is not None:
        mg.signature_def["s"].outputs["z"].name = f"{out}:0"
    fast, slow, body = both(mg, "s", feeds(shapes))
    assert "_Attention" not in ops_run(body)
    for key in slow:
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-5, atol=1e-6)


def test_attention_plan_recognises_only_attention():
    assert attention_ops.attention_plan("BTNH,BSNH->BNTS", "BNTS,BSNH->BTNH") is not None
    assert attention_ops.attention_plan("ik,jk->ij", "ij,jd->id") is not None
    for scores, context in [("BTNH,BSNH->BNST", "BNST,BSNH->BTNH"),  # softmax over queries
                            ("BTNH,BSNH->BNTS", "BNTS,BSNH->BSNH"),  # keeps the keys
                            ("BTNH,BSNH->BNTS", "BNTS,BSNHx->BTNHx"),  # two value labels
                            ("BT...,BS...->BTS", "BTS,BSH->BTH"),  # ellipsis
                            ("BTNH,BSNH->BNTS", "BNTSx,BSNH->BTNH"),  # rank mismatch
                            ("BTNH,BSNH->BNTS", "BNTS,BNTS->BNT")]:
        assert attention_ops.attention_plan(scores, context) is None, (scores, context)


def test_runtime_only():
    from savedmodel_io.onnx._convert import PASSES

    assert opt.fuse_attention in opt.DEFAULT_PASSES and opt.fuse_attention not in PASSES
