"""The graph optimiser (graph/optimize.py) and the fused kernels on hand-built graphs.

Each rewrite is checked the same way: the optimised program computes what the saved
graph computes node by node (``optimize=False``), and the rewrite did happen.
"""

from __future__ import annotations

import numpy as np
import pytest

from savedmodel_io.errors import InvalidArgumentError, RuntimeFailure
from savedmodel_io.graph import optimize as opt
from savedmodel_io.graph import runtime
from savedmodel_io.graph.ops import nn
from savedmodel_io.proto import DataType

from graph.test_runtime_core import F32, I32, const, function, meta, node, placeholder

RS = np.random.RandomState(7)


def f32(*shape):
    return RS.uniform(-1, 1, shape).astype(np.float32)


def both(mg, sig, inputs, threads=None, **session_args):
    """(optimised outputs, saved-graph outputs, the optimised program's body); ``threads``
    sets both sessions' ``Session.threads``."""
    sess, slow_sess = runtime.Session(mg, **session_args), runtime.Session(mg, **session_args)
    if threads is not None:
        sess.threads = slow_sess.threads = threads
    fast = sess.run_signature(sig, inputs)
    slow = slow_sess.run_signature(sig, inputs, optimize=False)
    (prog,) = sess._programs.values()
    return fast, slow, prog.body


def ops_run(body) -> list[str]:
    return [n.op for n, *_ in body.plan(body.rets, body.control_rets,
                                       frozenset(range(len(body.args)))).steps
            if n.op not in ("Placeholder",)]


def conv_block(act="Relu", bn="keras", residual=False, data_format=b"NHWC",
               shape=(None, 5, 6, 4)):
    """x -> Conv2D -> BiasAdd -> batch norm (Keras Mul/Add, or FusedBatchNormV3) [-> + x] -> act."""
    w, b = f32(3, 3, 4, 4), f32(4)
    scale, shift = f32(4) + 1.5, f32(4)
    conv = node("conv", "Conv2D", ["x", "w"], padding=b"SAME", data_format=data_format)
    conv.attr["strides"].list.i.extend([1, 1, 1, 1])
    nodes = [placeholder("x"), const("w", w), const("b", b), const("s", scale), const("t", shift),
             conv, node("bias", "BiasAdd", ["conv", "b"], data_format=data_format)]
    last = "bias"
    if bn == "keras":
        nodes += [node("mul", "Mul", [last, "s"]), node("add", "AddV2", ["mul", "t"])]
        last = "add"
    elif bn == "fused":
        nodes += [const("mean", f32(4)), const("var", f32(4) ** 2 + 0.5),
                  node("bn", "FusedBatchNormV3", [last, "s", "t", "mean", "var"], epsilon=1e-3,
                       is_training=False, data_format=data_format)]
        last = "bn"
    if residual:
        nodes.append(node("res", "AddV2", [last, "x"]))
        last = "res"
    if act:
        nodes.append(node("act", act, [last]))
        last = "act"
    return meta(nodes, sigs={"s": ({"x": ("x:0", F32, shape)}, {"y": f"{last}:0"})})


@pytest.mark.parametrize("act", ["Relu", "Relu6", "Elu", "Sigmoid", "Tanh", None])
@pytest.mark.parametrize("bn", ["keras", "fused", None])
def test_convolution_absorbs_bias_batch_norm_and_activation(act, bn):
    mg = conv_block(act, bn)
    x = f32(2, 5, 6, 4)
    fast, slow, body = both(mg, "s", {"x": x})
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-5, atol=1e-6)
    assert ops_run(body) == ["_FusedConv2D"]
    (fused,) = [n for n in body.nodes if n.op == "_FusedConv2D"]
    assert [o.name for o in fused.origins][0] == "conv"
    assert fused.attr["fused_ops"] == [b"BiasAdd"] + ([act.encode()] if act else [])


def test_residual_add_is_fused_and_nchw_is_left_alone():
    fast, slow, body = both(conv_block("Relu", "keras", residual=True), "s", {"x": f32(1, 5, 6, 4)})
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-5, atol=1e-6)
    assert ops_run(body) == ["_FusedConv2D"]
    assert body.nodes[body.rets[0][0]].attr["fused_ops"] == [b"BiasAdd", b"Add", b"Relu"]
    mg = conv_block("Relu", None, data_format=b"NCHW", shape=(None, 4, 5, 6))
    fast, slow, body = both(mg, "s", {"x": f32(1, 4, 5, 6)})
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-5, atol=1e-6)
    assert "Conv2D" in ops_run(body)


def test_a_fetched_intermediate_is_not_fused_away():
    mg = conv_block("Relu", None)
    mg.signature_def["s"].outputs["pre"].name = "bias:0"
    mg.signature_def["s"].outputs["pre"].dtype = F32
    fast, slow, body = both(mg, "s", {"x": f32(1, 5, 6, 4)})
    for k in ("y", "pre"):
        np.testing.assert_allclose(fast[k], slow[k], rtol=1e-5, atol=1e-6)
    assert "Relu" in ops_run(body)


def test_matmul_fusion_and_pre_transposed_weights():
    w, b = f32(5, 3), f32(5)
    nodes = [placeholder("x"), const("w", w), const("b", b),
             node("mm", "MatMul", ["x", "w"], transpose_b=True),
             node("ba", "BiasAdd", ["mm", "b"]), node("act", "Tanh", ["ba"])]
    mg = meta(nodes, sigs={"s": ({"x": ("x:0", F32, (None, 3))}, {"y": "act:0"})})
    fast, slow, body = both(mg, "s", {"x": f32(4, 3)})
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-5, atol=1e-6)
    assert ops_run(body) == ["_FusedMatMul"]
    (mm,) = [n for n in body.nodes if n.op == "_FusedMatMul"]
    assert mm.prepared.shape == (3, 5) and mm.prepared.flags.c_contiguous


def test_identities_and_calls_disappear_and_constants_fold():
    body_f = function("f", [("a", F32)], {"out": (F32, "n:z:0")},
                      [node("i", "Identity", ["a"]), const("two", np.float32(2)),
                       node("n", "Mul", ["i:output:0", "two:output:0"])])
    nodes = [placeholder("x"), const("c", np.float32([1, 2, 3])), node("sq", "Square", ["c"]),
             node("call", "StatefulPartitionedCall", ["x"], f=("func", "f"),
                  Tin=("types", [F32]), Tout=("types", [F32])),
             node("sum", "AddV2", ["call", "sq"]),
             node("out", "IdentityN", ["sum"], T=("types", [F32]))]
    mg = meta(nodes, [body_f], {"s": ({"x": ("x:0", F32, (3,))}, {"y": "out:0"})})
    x = f32(3)
    fast, slow, body = both(mg, "s", {"x": x})
    np.testing.assert_array_equal(fast["y"], slow["y"])
    np.testing.assert_allclose(fast["y"], x * 2 + [1, 4, 9], rtol=1e-6)
    assert ops_run(body) == ["Mul", "AddV2"]
    (sq,) = [n for n in body.nodes if n.op == "Const" and n.name == "sq"]
    assert sq.origins[0].op == "Square"


def test_variables_fold_until_assigned():
    nodes = [placeholder("x"), node("v", "VarHandleOp", shared_name=b"v", dtype=("type", F32)),
             node("read", "ReadVariableOp", ["v"], dtype=("type", F32)),
             node("y", "Mul", ["x", "read"]),
             node("assign", "AssignVariableOp", ["v", "x"], dtype=("type", F32)),
             node("done", "Identity", ["x", "^assign"])]
    mg = meta(nodes, sigs={"get": ({"x": ("x:0", F32, ())}, {"y": "y:0"}),
                           "set": ({"x": ("x:0", F32, ())}, {"y": "done:0"})})
    sess = runtime.Session(mg, variables={"v": np.float32(3)})
    assert sess.run_signature("get", {"x": np.float32(2)})["y"] == 6
    (prog,) = sess._programs.values()
    assert ops_run(prog.body) == ["Mul"] and "v" in prog.variables
    # "set" writes v: inside it nothing about v is folded, and the assignment runs.
    assert sess.run_signature("set", {"x": np.float32(5)})["y"] == 5
    assert sess.run_signature("get", {"x": np.float32(2)})["y"] == 10


def test_control_dependencies_on_effects_survive():
    # An Identity whose input folds to a constant still waits for (and keeps) the assignment.
    nodes = [node("v", "VarHandleOp", shared_name=b"v", dtype=("type", F32)),
             const("one", np.float32(1)),
             node("assign", "AssignAddVariableOp", ["v", "one"], dtype=("type", F32)),
             node("out", "Identity", ["one", "^assign"]),
             node("read", "ReadVariableOp", ["v", "^out"], dtype=("type", F32))]
    mg = meta(nodes, sigs={"s": ({}, {"y": "out:0", "v": "read:0"})})
    sess = runtime.Session(mg, variables={"v": np.float32(0)})
    for k in (1, 2, 3):
        got = sess.run_signature("s", {})
        assert got["y"] == 1 and got["v"] == k


def test_folding_errors_surface_when_the_node_runs():
    nodes = [placeholder("x"), const("c", np.float32([1, 2, 3])),
             const("shape", np.int32([2, 2])), node("r", "Reshape", ["c", "shape"]),
             node("y", "AddV2", ["x", "r"])]
    mg = meta(nodes, sigs={"s": ({"x": ("x:0", F32, (None,))}, {"y": "y:0"})})
    for optimize in (True, False):
        with pytest.raises(InvalidArgumentError, match="'r'"):
            runtime.run_signature(mg, "s", {"x": f32(3)}, optimize=optimize)


def test_multi_output_constants_and_trace_names_originals():
    nodes = [placeholder("x"), const("c", np.float32([1, 2, 3, 4])), const("axis", np.int32(0)),
             node("split", "Split", ["axis", "c"], num_split=2), node("y", "Mul", ["x", "split:1"])]
    mg = meta(nodes, sigs={"s": ({"x": ("x:0", F32, (2,))}, {"y": "y:0"})})
    seen = []
    out = runtime.run_signature(mg, "s", {"x": np.float32([1, 1])},
                                trace=lambda e: seen.append((e.node.origins[-1].name, e.node.op)))
    np.testing.assert_array_equal(out["y"], [3, 4])
    assert ("split", "Const") in seen and ("y", "Mul") in seen


def test_optimize_entry_and_composable_passes():
    mg = conv_block("Relu", "keras")
    sess = runtime.Session(mg)
    g = sess.graph
    out = [g.resolve("act:0")]
    feeds = [g.resolve("x:0")[0]]
    only_fold, _ = opt.optimize(g, out, feeds=feeds, session=sess,
                                passes=[opt.fold_constants, opt.remove_identities])
    assert "_FusedConv2D" not in [n.op for n in only_fold.nodes]
    full, env = opt.optimize(g, out, feeds=feeds, session=sess)
    assert [n.op for n in full.nodes].count("_FusedConv2D") == 1
    assert full.nodes[0].name == "x" and full.rets and env.keep == {0}


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("case", ["1x1", "3x3", "strided", "batch", "residual_chunks", "one_block"])
def test_fused_convolution_chunks_match_the_plain_kernels(case, threads, monkeypatch):
    # Tiny chunks and thresholds: every path through the block loops (rows, whole images,
    # output columns over threads) is taken.
    monkeypatch.setattr(nn, "_CHUNK_BYTES", 1 << 30 if case == "one_block" else 64)
    monkeypatch.setattr(nn, "_MIN_ROWS", 3 if case != "one_block" else 1 << 20)
    monkeypatch.setattr(nn, "_PARALLEL_MACS", 1)
    k, stride, n = {"1x1": (1, 1, 1), "3x3": (3, 1, 1), "strided": (3, 2, 2), "batch": (3, 1, 3),
                    "residual_chunks": (1, 1, 2), "one_block": (3, 1, 2)}[case]
    x, w, b = f32(n, 7, 9, 5), f32(k, k, 5, 70), f32(70)
    attrs = {"strides": [1, stride, stride, 1], "padding": b"SAME", "data_format": b"NHWC",
             "dilations": [1, 1, 1, 1], "explicit_paddings": []}
    ref = run_kernel("Conv2D", [x, w], **attrs)
    ref = run_kernel("BiasAdd", [ref, b], data_format=b"NHWC")
    fused_ops, args = [b"BiasAdd", b"Relu6"], [b]
    if case == "residual_chunks":
        r = f32(*ref.shape)
        ref, fused_ops, args = ref + r, [b"BiasAdd", b"Add", b"Relu6"], [b, r]
    want = np.clip(ref, 0, 6)
    got = run_kernel("_FusedConv2D", [x, w, *args], fused_ops=fused_ops, threads=threads, **attrs)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_fused_kernels_refuse_what_they_do_not_know():
    attrs = {"strides": [1, 1, 1, 1], "padding": b"VALID", "data_format": b"NHWC",
             "dilations": [1, 1, 1, 1], "explicit_paddings": []}
    with pytest.raises(InvalidArgumentError, match="not supported"):
        run_kernel("_FusedConv2D", [f32(1, 3, 3, 2), f32(1, 1, 2, 2), f32(2)],
                   fused_ops=[b"BiasAdd", b"Swish"], **attrs)
    with pytest.raises(InvalidArgumentError, match="bias must have shape"):
        run_kernel("_FusedConv2D", [f32(1, 3, 3, 2), f32(1, 1, 2, 2), f32(3)],
                   fused_ops=[b"BiasAdd"], **attrs)


def test_fused_batch_norm_form_of_tensorflow():
    x, w = f32(1, 4, 4, 3), f32(1, 1, 3, 2)
    scale, offset, mean, var = f32(2) + 2, f32(2), f32(2), f32(2) ** 2 + 1
    attrs = {"strides": [1, 1, 1, 1], "padding": b"VALID", "data_format": b"NHWC",
             "dilations": [1, 1, 1, 1], "explicit_paddings": []}
    conv = run_kernel("Conv2D", [x, w], **attrs)
    want = np.maximum((conv - mean) / np.sqrt(var + 1e-3) * scale + offset, 0)
    got = run_kernel("_FusedConv2D", [x, w, scale, offset, mean, var],
                     fused_ops=[b"FusedBatchNorm", b"Relu"], epsilon=1e-3, **attrs)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_depthwise_accelerator_matches_numpy(monkeypatch):
    x, w = f32(2, 9, 8, 6), f32(3, 3, 6, 1)
    attrs = {"strides": [1, 2, 1, 1], "padding": b"SAME", "data_format": b"NHWC",
             "dilations": [1, 1, 1, 1], "explicit_paddings": []}
    monkeypatch.setattr(nn, "_PARALLEL_MACS", 1)
    got = run_kernel("DepthwiseConv2dNative", [x, w], threads=4, **attrs)
    monkeypatch.setattr(nn, "accel", None)
    want = run_kernel("DepthwiseConv2dNative", [x, w], **attrs)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_fitted_erfc_keeps_float32_digits_everywhere():
    from savedmodel_io.graph.ops import _special

    x = np.concatenate([np.linspace(-9, 26, 3501), [0.0, -0.0, 1e-8, -1e-30]])
    np.testing.assert_allclose(_special.erfc_fitted(x), _special.erfc(x), rtol=1.3e-7, atol=0)
    edges = _special.erfc_fitted(np.array([np.inf, -np.inf, np.nan]))
    assert edges[0] == 0 and edges[1] == 2 and np.isnan(edges[2])


def test_erfc_accelerator_matches_numpy():
    from savedmodel_io.graph.ops import _special
    from savedmodel_io.graph.ops._accel import accel

    if accel is None:
        pytest.skip("the C accelerator is not built")
    x = np.concatenate([np.linspace(-9, 9, 2001), [0.0, -0.0, 1e-8, -1e-30, np.inf, -np.inf]])
    x = x.astype(np.float32)
    got = np.empty_like(x)
    accel.erfc(x, got)
    np.testing.assert_allclose(got, _special.erfc(x).astype(np.float32), rtol=3e-7, atol=1e-37)
    nan = np.float32([np.nan])
    accel.erfc(nan, nan)
    assert np.isnan(nan).all()


def _needs_accel():
    from savedmodel_io.graph.ops._accel import accel

    if accel is None:
        pytest.skip("the C accelerator is not built")


def test_softmax_layer_norm_gelu_accelerators_match_numpy(monkeypatch):
    _needs_accel()
    logits = [f32(3, 5, 37) * 30, f32(2, 128), np.float32([[-np.inf] * 4, [np.nan, 1, 2, 3],
                                                          [-1e9, 0, 1, 2], [88, 100, -100, 0]])]
    norm_in = [(f32(4, 768) + 50, f32(768), f32(768)), (f32(2, 3, 13), f32(13), f32(13))]
    mm = (f32(6, 20) * 4, f32(20, 70), f32(70))
    mm_attrs = {"fused_ops": [b"BiasAdd", b"GeluExact"], "transpose_a": False, "transpose_b": False}

    def run_all():
        return ([run_kernel("Softmax", [x]) for x in logits]
                + [run_kernel("_MklLayerNorm", list(a), epsilon=1e-3) for a in norm_in]
                + [run_kernel("_FusedMatMul", list(mm), **mm_attrs)])
    got = run_all()
    monkeypatch.setattr(nn, "accel", None)
    # Layer norm of values near 50: both means carry float32 rounding (an ulp is 4e-6 there).
    atol = [2e-6] * len(logits) + [2e-5] * len(norm_in) + [2e-6]
    for g, w, a in zip(got, run_all(), atol, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=a)
        assert g.dtype == w.dtype == np.float32
    assert np.isnan(got[2][:2]).all()  # rows of -inf only or with a NaN: NaN, as TF
    assert got[2][2, 0] == 0 and got[2][3, 2] == 0  # exp of a huge negative is 0, not tiny


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("threads", [1, 2])
def test_recurrent_accelerator_matches_numpy(kind, threads):
    from types import SimpleNamespace

    from savedmodel_io.graph.ops import rnn

    _needs_accel()
    ctx = SimpleNamespace(meter=SimpleNamespace(iteration=lambda count, where: None),
                          threads=threads)
    gates = 4 if kind == "lstm" else 3
    for batch, units, steps in ((1, 64, 6), (5, 20, 7), (9, 33, 3), (0, 8, 2)):  # fours, tails
        xw, u = f32(steps, batch, gates * units) * 3, f32(units, gates * units)
        h, c, bh = f32(batch, units), f32(batch, units), f32(gates * units)
        got, want = (np.empty((steps + 1, batch, units), np.float32) for _ in range(2))
        c_got, c_want = c.copy(), c.copy()
        with np.errstate(all="ignore"):
            if kind == "lstm":
                assert rnn._c_steps("", ctx, 1, xw, u, None, h, c_got, got)
                rnn._lstm_steps("", ctx, 1, xw, u, h, c_want, want)
            else:
                assert rnn._c_steps("", ctx, 1, xw, u, bh, h, None, got)
                rnn._gru_steps("", ctx, 1, xw, u, bh, h, want)
        np.testing.assert_allclose(got[1:], want[1:], rtol=1e-5, atol=2e-6)
        np.testing.assert_allclose(c_got, c_want, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("eq", ["BTNH,BSNH->BNTS", "BNTS,BSNH->BTNH", "bqd,bkd->bqk"])
@pytest.mark.parametrize("size", ["small", "batch 1", "big"])
def test_einsum_on_strided_views_and_threads_equals_numpy(eq, size, monkeypatch):
    """Attention's einsums: per-batch or (at batch 1) per-head stacks over the threads; "big"
    makes the products large enough for MKL's batched call when the mkl extra is there."""
    from savedmodel_io.graph.ops import math as math_ops

    monkeypatch.setattr(math_ops, "_PARALLEL_MACS", 1)
    sizes = {"small": dict(B=3, T=5, S=4, N=2, H=6, b=2, q=3, k=4, d=5),
             "batch 1": dict(B=1, T=5, S=4, N=7, H=6, b=1, q=3, k=4, d=5),
             "big": dict(B=1, T=128, S=96, N=5, H=64, b=1, q=128, k=160, d=256)}[size]
    x, y = (f32(*[sizes[c] for c in t]) for t in eq.split("->")[0].split(","))
    want = np.einsum(eq, x.astype(np.float64), y)
    for threads, heads_alone in ((1, 0), (2, 0), (3, 0), (2, 1 << 60)):
        monkeypatch.setattr(math_ops, "_HEADS_ALONE", heads_alone)  # split heads, or never
        got = run_kernel("Einsum", [x, y], threads=threads, equation=eq.encode())
        # float32 sums of K products of unit normals: rounding grows like sqrt(K)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.sqrt(max(x.shape)))
        assert got.flags.c_contiguous


@pytest.mark.parametrize("threads", [1, 2, 3, 4])
def test_row_blocks_give_each_thread_an_equal_share(threads):
    for rows in (0, 1, 5, 9, 100, 512, 1000, 1024, 12544, 40001):
        for step in (1, 7, 256, 341, 5000):
            blocks = nn._row_blocks(rows, step, threads)
            assert [r for b in blocks for r in range(*b)] == list(range(rows))  # each row once
            assert all(0 < r1 - r0 <= step for r0, r1 in blocks)
            if threads > 1 and rows >= threads:
                shares = [sum(r1 - r0 for r0, r1 in blocks[t::threads]) for t in range(threads)]
                assert max(shares) - min(shares) <= len(blocks) // threads  # a row per block


def test_hostile_call_nesting_is_bounded():
    # f calls g twice, g calls h twice...: inlining stops at the node budget, runs anyway.
    fns, prev = [], None
    for k in range(12):
        body = [node("a", "Identity", ["x"])] if prev is None else [
            node("a", "StatefulPartitionedCall", ["x"], f=("func", prev), Tin=("types", [F32]),
                 Tout=("types", [F32])),
            node("b", "StatefulPartitionedCall", ["a:output:0"], f=("func", prev),
                 Tin=("types", [F32]), Tout=("types", [F32]))]
        out = "a:output:0" if prev is None else "b:output:0"
        fns.append(function(f"f{k}", [("x", F32)], {"y": (F32, out)}, body))
        prev = f"f{k}"
    nodes = [placeholder("x"), node("call", "StatefulPartitionedCall", ["x"], f=("func", prev),
                                    Tin=("types", [F32]), Tout=("types", [F32]))]
    mg = meta(nodes, fns, {"s": ({"x": ("x:0", F32, ())}, {"y": "call:0"})})
    sess = runtime.Session(mg)
    g = sess.graph
    body, _ = opt.optimize(g, [g.resolve("call:0")], feeds=[g.resolve("x:0")[0]], session=sess,
                           passes=[opt.inline_calls])
    assert len(body.nodes) < 5000
    assert sess.run_signature("s", {"x": np.float32(2)})["y"] == 2


def test_recursive_call_is_inlined_a_bounded_number_of_times():
    # f calls itself: inlined MAX_INLINE_DEPTH levels deep, then left a call (each level's node
    # names grow, so inlining to the node budget would take quadratic memory).
    body = [node("again", "StatefulPartitionedCall", ["x"], f=("func", "f"), Tin=("types", [F32]),
                 Tout=("types", [F32]))]
    fns = [function("f", [("x", F32)], {"y": (F32, "again:output:0")}, body)]
    nodes = [placeholder("x"), node("call", "StatefulPartitionedCall", ["x"], f=("func", "f"),
                                    Tin=("types", [F32]), Tout=("types", [F32]))]
    mg = meta(nodes, fns, {"s": ({"x": ("x:0", F32, ())}, {"y": "call:0"})})
    sess = runtime.Session(mg)
    g = sess.graph
    body, _ = opt.optimize(g, [g.resolve("call:0")], feeds=[g.resolve("x:0")[0]], session=sess,
                           passes=[opt.inline_calls])
    calls = [n for n in body.nodes if n.op == "StatefulPartitionedCall"]
    assert len(calls) == 1 and calls[0].name.count("again") == opt.MAX_INLINE_DEPTH


def run_kernel(op, inputs, threads=1, **attrs):
    """One kernel on ``inputs``, as a run with ``threads`` threads would call it."""
    from types import SimpleNamespace

    from savedmodel_io.graph.ops import get

    k = get(op)
    n = runtime.Node("n", op, dict(attrs), 0, "test")
    n.bind({})
    with np.errstate(all="ignore"):
        return k.fn(n, list(inputs), SimpleNamespace(threads=threads))


def test_unused_dtype_of_folded_constants_is_recorded():
    nodes = [placeholder("x"), const("c", np.int64(4)), node("c2", "Square", ["c"]),
             node("cast", "Cast", ["c2"], DstT=("type", F32)), node("y", "Mul", ["x", "cast"])]
    mg = meta(nodes, sigs={"s": ({"x": ("x:0", F32, ())}, {"y": "y:0"})})
    fast, slow, body = both(mg, "s", {"x": np.float32(0.5)})
    assert fast["y"] == slow["y"] == 8
    assert [n.attr["dtype"] for n in body.nodes if n.op == "Const"] == [DataType.DT_FLOAT]


def test_run_failure_inside_fused_node_names_the_originals():
    mg = conv_block("Relu", "keras", shape=(None, None, None, None))
    with pytest.raises((InvalidArgumentError, RuntimeFailure)) as exc:
        runtime.Session(mg).run_signature("s", {"x": f32(1, 5, 6, 3)})
    assert "'conv' (Conv2D)" in str(exc.value) and "fused with 'bias' (BiasAdd)" in str(exc.value)


def _gelu_nodes(x: str, prefix: str = "g") -> list:
    """tf.nn.gelu(x, approximate=False) as TensorFlow builds it."""
    return [const(f"{prefix}_half", np.float32(0.5)),
            const(f"{prefix}_c", np.float32(0.7071067811865476)),
            node(f"{prefix}_mul", "Mul", [f"{prefix}_half", x]), node(f"{prefix}_neg", "Neg", [x]),
            node(f"{prefix}_mul1", "Mul", [f"{prefix}_neg", f"{prefix}_c"]),
            node(f"{prefix}_erfc", "Erfc", [f"{prefix}_mul1"]),
            node(f"{prefix}_out", "Mul", [f"{prefix}_mul", f"{prefix}_erfc"])]


def _layer_norm_nodes(x: str, c: int, prefix: str = "ln") -> list:
    """Keras' LayerNormalization (axis -1) as its TensorFlow graph computes it."""
    return [const(f"{prefix}_axes", np.int32([-1])), const(f"{prefix}_eps", np.float32(1e-3)),
            const(f"{prefix}_gamma", f32(c) + 1), const(f"{prefix}_beta", f32(c)),
            node(f"{prefix}_mean", "Mean", [x, f"{prefix}_axes"], keep_dims=True),
            node(f"{prefix}_sqd", "SquaredDifference", [x, f"{prefix}_mean"]),
            node(f"{prefix}_var", "Mean", [f"{prefix}_sqd", f"{prefix}_axes"], keep_dims=True),
            node(f"{prefix}_add", "AddV2", [f"{prefix}_var", f"{prefix}_eps"]),
            node(f"{prefix}_rs", "Rsqrt", [f"{prefix}_add"]),
            node(f"{prefix}_inv", "Mul", [f"{prefix}_rs", f"{prefix}_gamma"]),
            node(f"{prefix}_mul2", "Mul", [x, f"{prefix}_inv"]),
            node(f"{prefix}_negm", "Neg", [f"{prefix}_mean"]),
            node(f"{prefix}_mul1", "Mul", [f"{prefix}_negm", f"{prefix}_inv"]),
            node(f"{prefix}_add1", "AddV2", [f"{prefix}_mul1", f"{prefix}_beta"]),
            node(f"{prefix}_out", "AddV2", [f"{prefix}_mul2", f"{prefix}_add1"])]


def test_dense_on_3d_input_fuses_bias_and_gelu_through_the_tensordot_reshape():
    # Keras' Dense on (batch, seq, 8): Reshape to rows, MatMul, Reshape back (shape from a
    # ConcatV2 ending in the units), BiasAdd, GELU, then LayerNormalization.
    nodes = [placeholder("x"), const("w", f32(8, 6)), const("b", f32(6)),
             const("rows", np.int32([-1, 8])), node("flat", "Reshape", ["x", "rows"]),
             node("mm", "MatMul", ["flat", "w"]), node("shape", "Shape", ["x"]),
             const("begin", np.int32([0])), const("size", np.int32([2])),
             node("lead", "Slice", ["shape", "begin", "size"], Index=("type", DataType.DT_INT32)),
             const("units", np.int32([6])), const("axis0", np.int32(0)),
             node("target", "ConcatV2", ["lead", "units", "axis0"], N=2),
             node("back", "Reshape", ["mm", "target"]), node("ba", "BiasAdd", ["back", "b"]),
             *_gelu_nodes("ba"), *_layer_norm_nodes("g_out", 6)]
    mg = meta(nodes, sigs={"s": ({"x": ("x:0", F32, (None, None, 8))}, {"y": "ln_out:0"})})
    fast, slow, body = both(mg, "s", {"x": f32(2, 5, 8)})
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-5, atol=1e-5)
    run = ops_run(body)
    assert run.count("_FusedMatMul") == 1 and "_MklLayerNorm" in run and "Erfc" not in run
    (mm,) = [n for n in body.nodes if n.op == "_FusedMatMul"]
    assert mm.attr["fused_ops"] == [b"BiasAdd", b"GeluExact"]


def test_einsum_dense_heads_fuse_as_one_batch_matmul():
    # Keras' EinsumDense: BatchMatMulV2 by a (K, N) kernel, Reshape to heads, Add a (heads,
    # dim) bias.
    nodes = [placeholder("x"), const("w", f32(8, 6)), const("bias", f32(2, 3)),
             node("bmm", "BatchMatMulV2", ["x", "w"]), const("heads", np.int32([-1, 4, 2, 3])),
             node("split", "Reshape", ["bmm", "heads"]), node("add", "AddV2", ["split", "bias"]),
             node("act", "Relu", ["add"])]
    mg = meta(nodes, sigs={"s": ({"x": ("x:0", F32, (None, 4, 8))}, {"y": "act:0"})})
    fast, slow, body = both(mg, "s", {"x": f32(3, 4, 8)})
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-5, atol=1e-6)
    assert ops_run(body) == ["_MklFusedBatchMatMulV2", "Reshape"]


def test_control_edges_to_pure_nodes_do_not_block_fusion():
    # Keras functions end with a NoOp waiting for every layer call: the convolution it pins
    # has no effect, so the edge goes and the convolution still fuses.
    mg = conv_block("Relu", "keras")
    mg.graph_def.node.add().CopyFrom(node("done", "NoOp", ["^conv", "^act"]))
    mg.graph_def.node.add().CopyFrom(node("out", "Identity", ["act", "^done"]))
    mg.signature_def["s"].outputs["y"].name = "out:0"
    fast, slow, body = both(mg, "s", {"x": f32(1, 5, 6, 4)})
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-5, atol=1e-6)
    assert ops_run(body) == ["_FusedConv2D"]


def test_layer_norm_kernel_matches_the_formula():
    x = f32(3, 4, 70) * 5 + 2
    scale, offset = f32(70), f32(70)
    got = run_kernel("_MklLayerNorm", [x, scale, offset], epsilon=1e-5)
    mean = x.mean(-1, keepdims=True)
    want = (x - mean) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * scale + offset
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(InvalidArgumentError, match="scale and offset"):
        run_kernel("_MklLayerNorm", [x, f32(3), offset], epsilon=1e-5)


def test_identity_transpose_is_bypassed_and_real_ones_are_not():
    nodes = [placeholder("x"), const("same", np.int32([0, 1])), const("swap", np.int32([1, 0])),
             node("t0", "Transpose", ["x", "same"]), node("t1", "Transpose", ["t0", "swap"]),
             node("y", "Neg", ["t1"])]
    mg = meta(nodes, sigs={"s": ({"x": ("x:0", F32, (2, 3))}, {"y": "y:0"})})
    fast, slow, body = both(mg, "s", {"x": f32(2, 3)})
    np.testing.assert_array_equal(fast["y"], slow["y"])
    assert ops_run(body) == ["Transpose", "Neg"]


@pytest.mark.parametrize("rows", [3, 700])
def test_fused_matmul_split_over_threads(rows, monkeypatch):
    # Few rows: output columns go to the threads (each packs its part of the weights);
    # many rows: blocks of rows do.
    monkeypatch.setattr(nn, "_PARALLEL_MACS", 1)
    a, w, b, r = f32(rows, 40), f32(40, 200), f32(200), f32(rows, 200)
    want = np.tanh(a @ w + b + r)
    attrs = {"transpose_a": False, "transpose_b": False}
    got = run_kernel("_FusedMatMul", [a, w, b, r], threads=3,
                     fused_ops=[b"BiasAdd", b"Add", b"Tanh"], **attrs)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    x = a.reshape(-1, 1, 40) if rows > 3 else a.reshape(1, rows, 40)
    got = run_kernel("_MklFusedBatchMatMulV2", [x, w, b], threads=3, fused_ops=[b"BiasAdd"],
                     adj_x=False, adj_y=False)
    np.testing.assert_allclose(got.reshape(rows, 200), a @ w + b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("act", [None, "Relu", "Relu6", "GeluExact", "Elu", "LeakyRelu",
                                 "Sigmoid", "Tanh"])
def test_c_epilogue_matches_numpy_bit_for_bit(monkeypatch, act):
    """The one-pass C epilogue gives the numpy steps' exact bits (scale, bias, residual, then the
    activation), NaN, infinities and signed zeros included; GELU equals the C GELU it calls."""
    _needs_accel()
    rng = np.random.default_rng(3)
    for scale, residual, shape in ((False, False, (37, 19)), (True, False, (2, 5, 7, 16)),
                                   (False, True, (8, 33)), (True, True, (3, 1, 70))):
        e = nn._Epilogue.__new__(nn._Epilogue)
        cols = shape[-1]
        e.scale = rng.standard_normal(cols).astype(np.float32) if scale else None
        e.bias = rng.standard_normal(cols).astype(np.float32)
        e.residual, e.act, e.alpha = None, act, 0.3
        y = (rng.standard_normal(shape) * 5).astype(np.float32)
        y.reshape(-1)[:7] = [np.nan, -0.0, 0.0, np.inf, -np.inf, 6.0, -6.0]
        res = rng.standard_normal(shape).astype(np.float32) if residual else None
        with np.errstate(all="ignore"):
            got = e.apply(y.copy(), res)
            if act == "GeluExact":  # the numpy path's GELU is float32 maths; compare the C one
                want = nn._Epilogue.apply(_without_act(e), y.copy(), res)
                nn._gelu_exact_(want, 0.0)
            else:
                monkeypatch.setattr(nn, "accel", None)
                want = e.apply(y.copy(), res)
                monkeypatch.undo()
        assert got.dtype == np.float32 and got.shape == shape
        assert np.array_equal(got.view(np.int32), want.view(np.int32)), act


def _without_act(e):
    part = e.columns(0, e.bias.shape[0])
    part.act = None
    return part


def test_c_epilogue_on_column_blocks_matches_numpy(monkeypatch):
    """A column block of a wider output (how a GEMM split by columns runs its epilogue) reads
    and writes only its columns, bit-identical to numpy on the view."""
    _needs_accel()
    rng = np.random.default_rng(5)
    for act in (None, "Relu", "Relu6", "Elu"):
        e = nn._Epilogue.__new__(nn._Epilogue)
        e.scale, e.bias = rng.standard_normal(40).astype(np.float32), None
        e.bias = rng.standard_normal(40).astype(np.float32)
        e.residual, e.act, e.alpha = None, act, 0.2
        flat = (rng.standard_normal((9, 40)) * 3).astype(np.float32)
        res = rng.standard_normal((9, 40)).astype(np.float32)
        got, want = flat.copy(), flat.copy()
        for c0, c1 in ((0, 16), (16, 32), (32, 40)):
            e.apply_columns(got, c0, c1, res)
            with monkeypatch.context() as m:
                m.setattr(nn, "accel", None)
                e.apply_columns(want, c0, c1, res)
        assert np.array_equal(got.view(np.int32), want.view(np.int32)), act
        part = flat.copy()
        e.apply_columns(part, 8, 24, None)  # the other columns stay as they were
        assert np.array_equal(part[:, :8], flat[:, :8]) and np.array_equal(part[:, 24:], flat[:, 24:])


def test_c_epilogue_refuses_buffers_that_do_not_fit():
    _needs_accel()
    from savedmodel_io.graph.ops._accel import accel

    y, v, e = np.zeros(12, np.float32), np.zeros(4, np.float32), nn._EMPTY
    accel.epilogue(y, v, v, np.zeros(12, np.float32), 3, 4, 0, 4, 0, 4, 1)
    accel.epilogue(y, v[:2], e, e, 3, 2, 2, 4, 0, 4, 0)  # columns 2:4 of three rows
    accel.epilogue(y, e, e, e, 0, 4, 0, 4, 0, 4, 0)       # no rows
    for args in ((y, v, v, e, 3, 4, 1, 4, 0, 4, 1),       # last row past the end
                 (y, v, v, e, 4, 4, 0, 4, 0, 4, 1),       # a fourth row
                 (y, v, e, e, 3, 4, 0, 3, 0, 3, 0),       # rows overlapping
                 (y, v, e, e, 1, 4, -1, 4, 0, 4, 0),      # before the start
                 (y, np.zeros(3, np.float32), v, e, 3, 4, 0, 4, 0, 4, 0),  # scale of 3
                 (y, v, v, np.zeros(8, np.float32), 3, 4, 0, 4, 0, 4, 0),  # residual too short
                 (y, v, v, e, 3, 4, 0, 4, 0, 4, 7),       # no such activation
                 (y, v, v, e, 3, 0, 0, 4, 0, 4, 0)):      # no columns
        with pytest.raises(ValueError):
            accel.epilogue(*args)


def test_softmax_and_layer_norm_split_rows_over_threads_bit_for_bit(monkeypatch):
    """Rows are independent: the C loops run on row blocks over the run's threads and give the
    one-thread results exactly (uneven row counts included)."""
    _needs_accel()
    monkeypatch.setattr(nn, "_PARALLEL_ROWS_VALUES", 1)
    for shape in ((5, 3, 37), (1, 1, 8), (7, 64)):
        x = f32(*shape) * 10
        scale, offset = f32(shape[-1]), f32(shape[-1])
        one = [run_kernel("Softmax", [x]), run_kernel("_MklLayerNorm", [x, scale, offset],
                                                       epsilon=1e-3)]
        for threads in (2, 3, 8):
            many = [run_kernel("Softmax", [x], threads=threads),
                    run_kernel("_MklLayerNorm", [x, scale, offset], threads=threads,
                               epsilon=1e-3)]
            for a, b in zip(one, many, strict=True):
                assert a.shape == b.shape == shape
                assert np.array_equal(a.view(np.int32), b.view(np.int32))


def test_attention_projections_share_one_gemm():
    """Query, key and value projections of one input (Keras EinsumDense: BatchMatMulV2, heads
    Reshape, bias) become one product on the weights side by side and a SplitV; the heads are
    strided views of it, which the attention einsums read as they are."""
    nodes = [placeholder("x"), const("heads", np.int32([-1, 4, 2, 3]))]
    for p in "qkv":
        nodes += [const(f"w{p}", f32(8, 6)), const(f"b{p}", f32(2, 3)),
                  node(f"{p}mm", "BatchMatMulV2", ["x", f"w{p}"]),
                  node(f"{p}r", "Reshape", [f"{p}mm", "heads"]),
                  node(f"{p}", "AddV2", [f"{p}r", f"b{p}"])]
    nodes += [node("scores", "Einsum", ["q", "k"], equation=b"BTNH,BSNH->BNTS", N=2),
              node("probs", "Softmax", ["scores"]),
              node("ctx", "Einsum", ["probs", "v"], equation=b"BNTS,BSNH->BTNH", N=2)]
    mg = meta(nodes, sigs={"s": ({"x": ("x:0", F32, (None, 4, 8))}, {"y": "ctx:0"})})
    fast, slow, body = both(mg, "s", {"x": f32(3, 4, 8)})
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-5, atol=1e-6)
    ran = ops_run(body)
    assert ran.count("_MklFusedBatchMatMulV2") == 1 and ran.count("SplitV") == 1, ran
    (mm,) = [n for n in body.nodes if n.op == "_MklFusedBatchMatMulV2"]
    assert {o.name for o in mm.origins} >= {"qmm", "kmm", "vmm"}


def test_only_matmuls_alike_merge():
    """Products of one input merge when their weights are constants of the same rows and they
    fuse the same column-wise steps; a transposed, residual or differently activated product,
    or one of another input, keeps its own GEMM."""
    nodes = [placeholder("x"), placeholder("z"), const("wt", f32(5, 8)), const("r", f32(4, 5))]
    for k, (src, act) in enumerate([("x", "Relu"), ("x", "Relu"), ("x", "Tanh"), ("z", "Relu")]):
        nodes += [const(f"w{k}", f32(8, 5 + k)), const(f"b{k}", f32(5 + k)),
                  node(f"mm{k}", "MatMul", [src, f"w{k}"]),
                  node(f"ba{k}", "BiasAdd", [f"mm{k}", f"b{k}"]), node(f"a{k}", act, [f"ba{k}"])]
    nodes += [node("mmt", "MatMul", ["x", "wt"], transpose_b=True),
              node("mmr", "MatMul", ["x", "w0"]), node("res", "AddV2", ["mmr", "r"])]
    outs = {f"y{k}": f"a{k}:0" for k in range(4)} | {"t": "mmt:0", "res": "res:0"}
    mg = meta(nodes, sigs={"s": ({"x": ("x:0", F32, (None, 8)), "z": ("z:0", F32, (None, 8))},
                                 outs)})
    fast, slow, body = both(mg, "s", {"x": f32(4, 8), "z": f32(4, 8)})
    for key in outs:
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-5, atol=1e-6)
    merged = [n for n in body.nodes if n.op == "_FusedMatMul" and "merged" in n.name]
    assert len(merged) == 1 and {o.name for o in merged[0].origins} >= {"mm0", "mm1"}
    assert ops_run(body).count("SplitV") == 1


def test_runtime_only_passes_stay_out_of_the_onnx_export():
    """The ONNX exporter's passes do not merge matmuls (onnxruntime gains nothing from it) nor
    give einsums a ``_scale`` ONNX's Einsum does not have."""
    from savedmodel_io.onnx._convert import PASSES

    for p in (opt.merge_sibling_matmuls, opt.fold_einsum_scales):
        assert p in opt.DEFAULT_PASSES and p not in PASSES


def _tensordot_dense(rank=3, shape_rank=None, tail=6, shape_of="x", recorded=True, dims=(),
                     form="tensordot"):
    """Keras' Dense on a rank-``rank`` input of unknown batch size. ``form="tensordot"`` as
    tf.tensordot builds it: Shape, GatherV2 and Prod flatten x to (rows, 8), MatMul, ConcatV2
    and Reshape restore the leading dimensions; ``form="sliced"``: Reshape to the constant
    (-1, 8), the leading dimensions sliced off the Shape. Then bias and Relu."""
    from savedmodel_io import tensors

    shape = node("shape", "Shape", [shape_of], out_type=("type", I32))
    if recorded:
        shape.attr["_output_shapes"].list.shape.add().CopyFrom(
            tensors.shape_to_proto((shape_rank or rank,)))
    lead = list(range(rank - 1))
    nodes = [placeholder("x"), placeholder("other"), const("w", f32(8, 6)), const("b", f32(6)),
             shape, const("zero", np.int32(0)), const("tail", np.int32([tail]))]
    if form == "tensordot":
        nodes += [const("free", np.int32(lead)), const("last", np.int32([rank - 1])),
                  node("g_free", "GatherV2", ["shape", "free", "zero"], batch_dims=0),
                  node("g_last", "GatherV2", ["shape", "last", "zero"], batch_dims=0),
                  node("p_free", "Prod", ["g_free", "zero"]),
                  node("p_last", "Prod", ["g_last", "zero"]),
                  node("stack", "Pack", ["p_free", "p_last"], axis=0, N=2)]
    else:
        nodes += [const("stack", np.int32([-1, 8])), const("begin", np.int32([0])),
                  const("size", np.int32([rank - 1])),
                  node("g_free", "Slice", ["shape", "begin", "size"],
                       Index=("type", DataType.DT_INT32))]
    nodes += [node("flat", "Reshape", ["x", "stack"]), node("mm", "MatMul", ["flat", "w"]),
              node("dims", "ConcatV2", ["g_free", "tail", "zero"], N=2),
              node("back", "Reshape", ["mm", "dims"]), node("bias", "BiasAdd", ["back", "b"]),
              node("act", "Relu", ["bias"])]
    dims = (None,) + (4,) * (rank - 2) + (8,) if dims == () else dims
    return meta(nodes, sigs={"s": ({"x": ("x:0", F32, dims), "other": ("other:0", F32, dims)},
                                   {"y": "act:0"})})


@pytest.mark.parametrize("form", ["tensordot", "sliced"])
@pytest.mark.parametrize("rank", [3, 4])
def test_tensordot_becomes_one_batch_matmul(rank, form):
    mg = _tensordot_dense(rank, form=form)
    x = f32(3, *(4,) * (rank - 2), 8)
    fast, slow, body = both(mg, "s", {"x": x, "other": x})
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-5, atol=1e-6)
    assert ops_run(body) == ["_MklFusedBatchMatMulV2"]
    (mm,) = [n for n in body.nodes if n.op == "_MklFusedBatchMatMulV2"]
    assert {o.name for o in mm.origins} >= {"flat", "mm", "back", "bias", "act"}


@pytest.mark.parametrize("form", ["tensordot", "sliced"])
@pytest.mark.parametrize("case", ["wrong rank recorded", "nothing recorded", "other tail",
                                  "shape of another tensor"])
def test_tensordot_lookalikes_stay(case, form):
    """The rewrite needs the whole pattern: the input's rank known from the graph, the same
    tensor measured and flattened, the restored dimensions ending in the matmul's width."""
    args = {"wrong rank recorded": {"shape_rank": 4},
            "nothing recorded": {"recorded": False},
            "other tail": {"tail": 2},
            "shape of another tensor": {"shape_of": "other"}}[case]
    mg = _tensordot_dense(3, form=form, **args)
    x = f32(3, 4, 8)
    if case == "other tail":  # (12, 6) cannot be reshaped to (3, 4, 2): both runs refuse
        for optimize in (True, False):
            with pytest.raises((InvalidArgumentError, RuntimeFailure)):
                runtime.Session(mg).run_signature("s", {"x": x, "other": x}, optimize=optimize)
        sess = runtime.Session(mg)
        with pytest.raises((InvalidArgumentError, RuntimeFailure)):
            sess.run_signature("s", {"x": x, "other": x})
        (prog,) = sess._programs.values()
        body = prog.body
    else:
        fast, slow, body = both(mg, "s", {"x": x, "other": x})
        np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-5, atol=1e-6)
    ran = ops_run(body)
    assert "Shape" in ran and "_MklFusedBatchMatMulV2" not in ran, ran


def test_large_sibling_weights_are_not_copied(monkeypatch):
    """Merging copies the weights: past the size cap the products stay apart."""
    monkeypatch.setattr(opt, "_MERGE_MAX_BYTES", 8 * 5 * 4 * 2 - 1)  # less than two (8, 5)
    nodes = [placeholder("x")]
    for k in range(2):
        nodes += [const(f"w{k}", f32(8, 5)), node(f"mm{k}", "MatMul", ["x", f"w{k}"])]
    mg = meta(nodes, sigs={"s": ({"x": ("x:0", F32, (None, 8))}, {"a": "mm0:0", "b": "mm1:0"})})
    fast, slow, body = both(mg, "s", {"x": f32(3, 8)})
    np.testing.assert_allclose(fast["a"], slow["a"], rtol=1e-6)
    assert ops_run(body) == ["MatMul", "MatMul"]
    monkeypatch.setattr(opt, "_MERGE_MAX_BYTES", 8 * 5 * 4 * 2)
    fast, slow, body = both(mg, "s", {"x": f32(3, 8)})
    np.testing.assert_allclose(fast["b"], slow["b"], rtol=1e-6)
    assert ops_run(body) == ["MatMul", "SplitV"]


def test_tensordot_rewrite_refuses_an_input_of_another_rank():
    """The rewrite relies on the rank the graph records; fed a tensor of another rank (the
    signature leaves it open), the rewritten product refuses it as the saved graph does, instead
    of computing something the saved graph never would."""
    mg = _tensordot_dense(3, dims=None)
    x = f32(3, 4, 2, 8)  # last axis 8 fits the weights, but the recorded rank is 3
    for optimize in (True, False):
        with pytest.raises((InvalidArgumentError, RuntimeFailure)):
            runtime.Session(mg).run_signature("s", {"x": x, "other": x}, optimize=optimize)
    fast, slow, body = both(mg, "s", {"x": f32(3, 4, 8), "other": f32(3, 4, 8)})
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-5, atol=1e-6)
    assert ops_run(body) == ["_MklFusedBatchMatMulV2"]


@pytest.mark.parametrize("scale", [0.125, 0.3])
def test_attention_scale_folds_into_the_einsum(scale):
    """Mul(Einsum(q, k), scalar) -> the einsum scales its own output: one node fewer, the same
    values (bit for bit when the scale is a power of two, as 1 / sqrt(64) is)."""
    nodes = [placeholder("q"), placeholder("k"), const("c", np.float32(scale)),
             node("scores", "Einsum", ["q", "k"], equation=b"BTNH,BSNH->BNTS", N=2,
                  T=("type", F32)),
             node("scaled", "Mul", ["c", "scores"]), const("c2", np.float32(2)),
             node("twice", "Mul", ["scaled", "c2"]), node("probs", "Softmax", ["twice"])]
    shape = (None, 4, 2, 3)
    mg = meta(nodes, sigs={"s": ({"q": ("q:0", F32, shape), "k": ("k:0", F32, shape)},
                                 {"y": "probs:0"})})
    feeds = {"q": f32(2, 4, 2, 3), "k": f32(2, 4, 2, 3)}
    fast, slow, body = both(mg, "s", feeds)
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-6, atol=1e-7)
    if scale == 0.125:
        np.testing.assert_array_equal(fast["y"], slow["y"])
    assert ops_run(body) == ["Einsum", "Softmax"]
    (ein,) = [n for n in body.nodes if n.op == "Einsum"]
    assert ein.attr["_scale"] == np.float32(scale * 2)
    assert {o.name for o in ein.origins} >= {"scores", "scaled", "twice"}


def test_einsum_scale_stays_when_the_scores_are_read_twice():
    nodes = [placeholder("q"), placeholder("k"), const("c", np.float32(0.5)),
             node("scores", "Einsum", ["q", "k"], equation=b"ij,jk->ik", N=2, T=("type", F32)),
             node("scaled", "Mul", ["scores", "c"]), node("sum", "AddV2", ["scaled", "scores"])]
    mg = meta(nodes, sigs={"s": ({"q": ("q:0", F32, (3, 4)), "k": ("k:0", F32, (4, 5))},
                                 {"y": "sum:0"})})
    fast, slow, body = both(mg, "s", {"q": f32(3, 4), "k": f32(4, 5)})
    np.testing.assert_allclose(fast["y"], slow["y"], rtol=1e-6)
    assert "Mul" in ops_run(body)
