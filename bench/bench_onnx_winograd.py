"""Is a 3x3 convolution faster on onnxruntime as Winograd F(2x2, 3x3) written in ONNX ops?

One 3x3 stride-1 SAME convolution per VGG16/ResNet50 layer shape, as onnxruntime's Conv and as
the graph the exporter would have to emit for Winograd (16 strided Slices, the input transform
as Adds/Subs, one batched MatMul by the transformed filter, the output transform, a Transpose
back): best of 7 interleaved calls each, one process, the backend's session options. The
filter transform is the numpy runtime's (graph/ops/_winograd.py). bench/README.md has the
figures (onnxruntime's Conv won everywhere: the transforms as separate ops are memory-bound).

    python bench/bench_onnx_winograd.py
"""

from __future__ import annotations

import time

import numpy as np
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from savedmodel_io.graph.ops._winograd import filter_transform
from savedmodel_io.onnx.backend import new_session

def conv_model(N, C, K, H, W, w, b):
    g = h.make_graph([h.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1,1,1,1])], "g",
        [h.make_tensor_value_info("x", T.FLOAT, [N, C, H, W])], [h.make_tensor_value_info("y", T.FLOAT, None)],
        initializer=[nh.from_array(w.transpose(3,2,0,1).copy(), "w"), nh.from_array(b, "b")])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])

def wino_model(N, C, K, H, W, w, b):
    Th, Tw = (H + 1)//2, (W + 1)//2
    nodes, inits = [], []
    cnt = [0]
    def c(arr):
        cnt[0] += 1; name = f"c{cnt[0]}"; inits.append(nh.from_array(np.asarray(arr), name)); return name
    def op(t, ins, **kw):
        cnt[0] += 1; name = f"t{cnt[0]}"; nodes.append(h.make_node(t, ins, [name], **kw)); return name
    # pad: top/left 1, bottom/right to 2*T+2
    xp = op("Pad", ["x", c(np.array([0,0,1,1,0,0,2*Th+1-H,2*Tw+1-W], np.int64))])
    d = [[op("Slice", [xp, c(np.array([i, j], np.int64)), c(np.array([i+2*Th, j+2*Tw], np.int64)),
                       c(np.array([2,3], np.int64)), c(np.array([2,2], np.int64))]) for j in range(4)] for i in range(4)]
    def bt(v):  # v: 4 names -> 4 names
        return [op("Sub", [v[0], v[2]]), op("Add", [v[1], v[2]]), op("Sub", [v[2], v[1]]), op("Sub", [v[1], v[3]])]
    rows = [bt([d[i][j] for i in range(4)]) for j in range(4)]  # rows[j][a]
    V = [[None]*4 for _ in range(4)]
    for a in range(4):
        t = bt([rows[j][a] for j in range(4)])
        for bb in range(4): V[a][bb] = t[bb]
    flat = [op("Unsqueeze", [V[a][bb], c(np.array([0], np.int64))]) for a in range(4) for bb in range(4)]
    st = op("Concat", flat, axis=0)  # [16, N, C, Th, Tw]
    if N > 1:
        st = op("Transpose", [st], perm=[0, 2, 1, 3, 4])
    st = op("Reshape", [st, c(np.array([16, C, -1], np.int64))])
    U = filter_transform(w).transpose(0, 2, 1).copy()  # [16, K, C]
    m = op("MatMul", [c(U), st])  # [16, K, N*T]
    m = op("Reshape", [m, c(np.array([4, 4, K, N, Th, Tw], np.int64))])
    ms = [op("Gather", [m, c(np.array(a, np.int64))], axis=0) for a in range(4)]  # [4, K, N, Th, Tw]
    s0 = op("Add", [op("Add", [ms[0], ms[1]]), ms[2]]); s1 = op("Sub", [op("Sub", [ms[1], ms[2]]), ms[3]])
    outs = []
    for s in (s0, s1):
        q = [op("Gather", [s, c(np.array(bb, np.int64))], axis=0) for bb in range(4)]  # [K, N, Th, Tw]
        outs.append(op("Add", [op("Add", [q[0], q[1]]), q[2]])); outs.append(op("Sub", [op("Sub", [q[1], q[2]]), q[3]]))
    # outs: y00, y01, y10, y11 -> [2,2,K,N,Th,Tw]
    y = op("Concat", [op("Unsqueeze", [o, c(np.array([0], np.int64))]) for o in outs], axis=0)
    y = op("Reshape", [y, c(np.array([2, 2, K, N, Th, Tw], np.int64))])
    y = op("Transpose", [y], perm=[3, 2, 4, 0, 5, 1])
    y = op("Reshape", [y, c(np.array([N, K, 2*Th, 2*Tw], np.int64))])
    y = op("Slice", [y, c(np.array([0, 0], np.int64)), c(np.array([H, W], np.int64)), c(np.array([2, 3], np.int64))])
    nodes.append(h.make_node("Add", [y, c(b.reshape(1, K, 1, 1))], ["y"]))
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [N, C, H, W])],
                     [h.make_tensor_value_info("y", T.FLOAT, None)], initializer=inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])

def sess(m):
    return new_session(m.SerializeToString())


SHAPES = [(1, 64, 64, 224), (1, 128, 128, 112), (1, 256, 256, 56), (1, 512, 512, 28), (1, 512, 512, 14),
          (8, 256, 256, 56), (8, 64, 64, 56)]  # (batch, in channels, out channels, height = width)


def main() -> None:
    rs = np.random.RandomState(0)
    for n, c, k, hw in SHAPES:
        w = (rs.standard_normal((3, 3, c, k)) / np.sqrt(9 * c)).astype(np.float32)
        b = rs.standard_normal(k).astype(np.float32)
        x = np.maximum(rs.standard_normal((n, c, hw, hw)), 0).astype(np.float32)
        conv, wino = sess(conv_model(n, c, k, hw, hw, w, b)), sess(wino_model(n, c, k, hw, hw, w, b))
        ya, yb = conv.run(None, {"x": x})[0], wino.run(None, {"x": x})[0]
        err = np.max(np.abs(ya - yb)) / np.max(np.abs(ya))
        ta, tb = [], []
        for _ in range(7):
            t = time.perf_counter()
            conv.run(None, {"x": x})
            ta.append(time.perf_counter() - t)
            t = time.perf_counter()
            wino.run(None, {"x": x})
            tb.append(time.perf_counter() - t)
        print(f"batch {n}, {c}->{k} channels, {hw}x{hw}: Conv {min(ta) * 1e3:.1f} ms, Winograd ops "
              f"{min(tb) * 1e3:.1f} ms (Conv / Winograd {min(ta) / min(tb):.2f}), relative difference {err:.1e}",
              flush=True)


if __name__ == "__main__":
    main()
