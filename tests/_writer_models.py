"""Models written with savedmodel_io.writer from numpy weights, and their numpy references.

Each ``build_*`` returns ``(model, inputs, expected)``: the Model to save, a dict of
signature inputs and the outputs a correct SavedModel must give (computed here in
float64 numpy, independently of the graph we emit).
"""

from __future__ import annotations

import math

import numpy as np

from savedmodel_io.writer import Model

_erf = np.vectorize(math.erf, otypes=[np.float64])


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def gelu(z: np.ndarray) -> np.ndarray:
    return 0.5 * z * (1.0 + _erf(z / math.sqrt(2.0)))


def layer_norm(z: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = z.mean(-1, keepdims=True)
    var = ((z - mu) ** 2).mean(-1, keepdims=True)
    return (z - mu) / np.sqrt(var + eps) * g + b


def _same_pad(size: int, k: int, s: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def conv2d(x: np.ndarray, w: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """NHWC x HWIO convolution."""
    kh, kw = w.shape[:2]
    if padding == "SAME":
        ph, pw = _same_pad(x.shape[1], kh, stride), _same_pad(x.shape[2], kw, stride)
        x = np.pad(x, [(0, 0), ph, pw, (0, 0)])
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
    win = win[:, ::stride, ::stride]  # N, OH, OW, C, kh, kw
    return np.einsum("nhwcij,ijco->nhwo", win, w)


def pool(x: np.ndarray, k: int, kind: str) -> np.ndarray:
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))[:, ::k, ::k]
    return win.max(axis=(-2, -1)) if kind == "max" else win.mean(axis=(-2, -1))


def _rand(rng: np.random.Generator, *shape: int, scale: float = 0.5) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def build_mlp(seed: int = 0):
    """Two dense layers, relu + softmax; two signatures with chosen keys and output names."""
    rng = np.random.default_rng(seed)
    w1, b1, w2, b2 = _rand(rng, 4, 8), _rand(rng, 8), _rand(rng, 8, 3), _rand(rng, 3)
    m = Model()
    k1, c1 = m.variable("dense/kernel", w1), m.variable("dense/bias", b1)
    k2, c2 = m.variable("dense_1/kernel", w2), m.variable("dense_1/bias", b2, trainable=False)
    f = m.function("__call__", {"x": ("float32", (None, 4))})
    h = f.dense(f.inputs["x"], k1, c1, "relu", name="dense")
    logits = f.dense(h, k2, c2, name="dense_1")
    f.outputs({"probs": f.softmax(logits), "logits": logits})
    m.signature("serving_default", f)
    g = m.function("classify", {"features": ("float32", (None, 4))})
    hg = g.dense(g.inputs["features"], k1, c1, "relu", name="dense")
    g.outputs({"class_ids": g.argmax(g.dense(hg, k2, c2, name="dense_1"), axis=-1)})
    m.signature("classify", g)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    z = np.maximum(x.astype(np.float64) @ w1 + b1, 0) @ w2 + b2
    expected = {"serving_default": {"probs": softmax(z), "logits": z},
                "classify": {"class_ids": z.argmax(-1)}}
    inputs = {"serving_default": {"x": x}, "classify": {"features": x}}
    return m, inputs, expected


def build_cnn(seed: int = 1):
    """Conv/BN/pool/concat/depthwise/avg-pool/reshape/dense: a small image classifier."""
    rng = np.random.default_rng(seed)
    p = {
        "conv1/kernel": _rand(rng, 3, 3, 3, 8), "conv1/bias": _rand(rng, 8),
        "bn/gamma": (1 + _rand(rng, 8, scale=0.1)), "bn/beta": _rand(rng, 8, scale=0.1),
        "bn/moving_mean": _rand(rng, 8, scale=0.1),
        "bn/moving_variance": (np.abs(_rand(rng, 8)) + 0.5).astype(np.float32),
        "branch_a/kernel": _rand(rng, 1, 1, 8, 4),
        "branch_b/depthwise_kernel": _rand(rng, 3, 3, 8, 1),
        "conv2/kernel": _rand(rng, 3, 3, 12, 16, scale=0.2), "conv2/bias": _rand(rng, 16),
        "head/kernel": _rand(rng, 16, 5), "head/bias": _rand(rng, 5),
    }
    m = Model()
    v = {k: m.variable(k, val, trainable=not k.startswith("bn/moving")) for k, val in p.items()}
    f = m.function("__call__", {"image": ("float32", (None, 12, 12, 3))})
    x = f.inputs["image"]
    h = f.bias_add(f.conv2d(x, v["conv1/kernel"], padding="SAME"), f.read(v["conv1/bias"]))
    h = f.batch_norm(h, v["bn/gamma"], v["bn/beta"], v["bn/moving_mean"],
                     v["bn/moving_variance"], epsilon=1e-3)
    h = f.max_pool(f.relu(h), 2)
    a = f.conv2d(h, v["branch_a/kernel"], padding="VALID")
    b = f.relu6(f.depthwise_conv2d(h, v["branch_b/depthwise_kernel"], padding="SAME"))
    h = f.concat([a, b], axis=-1)
    h = f.relu(f.bias_add(f.conv2d(h, v["conv2/kernel"], strides=2, padding="VALID"),
                          f.read(v["conv2/bias"])))
    h = f.avg_pool(h, 2)
    h = f.reshape(h, [-1, 16])
    f.outputs({"scores": f.dense(h, v["head/kernel"], v["head/bias"], "softmax", name="head")})
    m.signature("serving_default", f)

    img = rng.standard_normal((2, 12, 12, 3)).astype(np.float32)
    d = {k: val.astype(np.float64) for k, val in p.items()}
    z = conv2d(img.astype(np.float64), d["conv1/kernel"], 1, "SAME") + d["conv1/bias"]
    z = (z - d["bn/moving_mean"]) / np.sqrt(d["bn/moving_variance"] + 1e-3) * d["bn/gamma"] \
        + d["bn/beta"]
    z = pool(np.maximum(z, 0), 2, "max")
    za = conv2d(z, d["branch_a/kernel"], 1, "VALID")
    dw = d["branch_b/depthwise_kernel"]
    zb = np.concatenate([conv2d(z[..., c:c + 1], dw[:, :, c:c + 1, :], 1, "SAME")
                         for c in range(8)], axis=-1)
    zb = np.clip(zb, 0, 6)
    z = np.concatenate([za, zb], axis=-1)
    z = np.maximum(conv2d(z, d["conv2/kernel"], 2, "VALID") + d["conv2/bias"], 0)
    z = pool(z, 2, "avg").reshape(-1, 16)
    expected = {"serving_default": {"scores": softmax(z @ d["head/kernel"] + d["head/bias"])}}
    return m, {"serving_default": {"image": img}}, expected


def build_transformer(seed: int = 2, t: int = 6, dim: int = 16, heads: int = 2):
    """A pre-LN transformer encoder block: LayerNorm, 2-head attention, GELU MLP, residuals."""
    rng = np.random.default_rng(seed)
    dh = dim // heads
    p = {"ln1/gamma": 1 + _rand(rng, dim, scale=0.1), "ln1/beta": _rand(rng, dim, scale=0.1),
         "attn/q/kernel": _rand(rng, dim, dim), "attn/q/bias": _rand(rng, dim, scale=0.1),
         "attn/k/kernel": _rand(rng, dim, dim), "attn/k/bias": _rand(rng, dim, scale=0.1),
         "attn/v/kernel": _rand(rng, dim, dim), "attn/v/bias": _rand(rng, dim, scale=0.1),
         "attn/out/kernel": _rand(rng, dim, dim), "attn/out/bias": _rand(rng, dim, scale=0.1),
         "ln2/gamma": 1 + _rand(rng, dim, scale=0.1), "ln2/beta": _rand(rng, dim, scale=0.1),
         "mlp/fc1/kernel": _rand(rng, dim, 4 * dim), "mlp/fc1/bias": _rand(rng, 4 * dim),
         "mlp/fc2/kernel": _rand(rng, 4 * dim, dim, scale=0.2),
         "mlp/fc2/bias": _rand(rng, dim, scale=0.1)}
    m = Model()
    v = {k: m.variable(k, val) for k, val in p.items()}
    f = m.function("__call__", {"tokens": ("float32", (None, t, dim))})
    x = f.inputs["tokens"]

    def heads_first(z):
        return f.transpose(f.reshape(z, [-1, t, heads, dh]), [0, 2, 1, 3])

    h = f.layer_norm(x, v["ln1/gamma"], v["ln1/beta"], epsilon=1e-6, name="ln1")
    q = heads_first(f.dense(h, v["attn/q/kernel"], v["attn/q/bias"], name="q"))
    k = heads_first(f.dense(h, v["attn/k/kernel"], v["attn/k/bias"], name="k"))
    val = heads_first(f.dense(h, v["attn/v/kernel"], v["attn/v/bias"], name="v"))
    scores = f.batch_matmul(q, k, adj_y=True) * np.float32(1.0 / math.sqrt(dh))
    ctx = f.batch_matmul(f.softmax(scores), val)
    ctx = f.reshape(f.transpose(ctx, [0, 2, 1, 3]), [-1, t, dim])
    x1 = x + f.dense(ctx, v["attn/out/kernel"], v["attn/out/bias"], name="out")
    h2 = f.layer_norm(x1, v["ln2/gamma"], v["ln2/beta"], epsilon=1e-6, name="ln2")
    ff = f.dense(f.dense(h2, v["mlp/fc1/kernel"], v["mlp/fc1/bias"], "gelu", name="fc1"),
                 v["mlp/fc2/kernel"], v["mlp/fc2/bias"], name="fc2")
    out = x1 + ff
    f.outputs({"sequence": out, "pooled": f.mean(out, axis=1)})
    m.signature("encode", f)

    tokens = rng.standard_normal((3, t, dim)).astype(np.float32)
    d = {k: val.astype(np.float64) for k, val in p.items()}
    z = tokens.astype(np.float64)

    def split(a):
        return a.reshape(-1, t, heads, dh).transpose(0, 2, 1, 3)

    hz = layer_norm(z, d["ln1/gamma"], d["ln1/beta"], 1e-6)
    qz, kz, vz = (split(hz @ d[f"attn/{n}/kernel"] + d[f"attn/{n}/bias"]) for n in "qkv")
    att = softmax(qz @ kz.transpose(0, 1, 3, 2) / math.sqrt(dh)) @ vz
    z1 = z + att.transpose(0, 2, 1, 3).reshape(-1, t, dim) @ d["attn/out/kernel"] \
        + d["attn/out/bias"]
    h2z = layer_norm(z1, d["ln2/gamma"], d["ln2/beta"], 1e-6)
    ffz = gelu(h2z @ d["mlp/fc1/kernel"] + d["mlp/fc1/bias"]) @ d["mlp/fc2/kernel"] \
        + d["mlp/fc2/bias"]
    outz = z1 + ffz
    expected = {"encode": {"sequence": outz, "pooled": outz.mean(1)}}
    return m, {"encode": {"tokens": tokens}}, expected


BUILDERS = {"mlp": build_mlp, "cnn": build_cnn, "transformer": build_transformer}
