"""Random ops: stateful (RandomUniform, TruncatedNormal...) and stateless (StatelessRandom*).

NOT bit-equal to TensorFlow: values come from numpy's Philox generator, not TF's own
Philox stream, so a model's random numbers differ from TF's. What matches TF is the
shape, dtype and distribution of every output, the ranges (uniform floats in [0, 1),
integers in [minval, maxval), truncated normals within two standard deviations) and the
seeding contract:

* stateful ops keep one generator per op node per Session, seeded from the node's
  ``seed``/``seed2`` attrs (TF bakes the graph-level seed into ``seed``): a new
  session replays the same sequence, each run draws fresh numbers; ``seed == seed2 == 0``
  means "unseeded" and draws from the OS's entropy, as TF does;
* stateless ops are a pure function of their seed (or key/counter) inputs.

Random ops mostly appear in variable initializers that a main_op re-runs (TF Serving's
half_plus_two_mkl) and in tf.random calls inside signatures.
"""

from __future__ import annotations

import numpy as np

from savedmodel_io.graph.ops._registry import kernel
from savedmodel_io.graph.ops._util import bad, check_size, ints, np_dtype

_MASK64 = (1 << 64) - 1
# tensorflow/tensorflow tensorflow/core/framework/rng_alg.h: RNG_ALG_PHILOX = 1,
# RNG_ALG_THREEFRY = 2, RNG_ALG_AUTO_SELECT = 3. TF 2.21's CPU kernels run Philox (and
# auto-select, which picks it) and refuse ThreeFry; they read up to two counter words.
_PHILOX, _AUTO = 1, 3
# Significant bits of the float types drawn through integers (so 1.0 can never come out).
_SIGNIFICAND = {"float16": 11, "bfloat16": 8}


def _shape(node, value) -> tuple[int, ...]:
    """An output shape given as a 1-D integer tensor (negative dims refused)."""
    arr = np.asarray(value)
    if arr.ndim > 1:
        raise bad(node, f"shape must be a vector of integers, got a rank-{arr.ndim} tensor")
    dims = tuple(ints(arr))
    if any(d < 0 for d in dims):
        raise bad(node, f"shape {list(dims)} has a negative dimension")
    return dims


def _generator(key: int, counter: tuple[int, ...] = ()) -> np.random.Generator:
    """A Philox generator for a 128-bit key and up to 256 bits of starting counter."""
    words = [c & _MASK64 for c in counter] + [0] * (4 - len(counter))
    return np.random.Generator(np.random.Philox(key=key & ((1 << 128) - 1), counter=words))


def _stateful(node, ctx) -> np.random.Generator:
    """The node's own generator in this Session (created on first use, then advanced)."""
    res = ctx.session.resources
    key = ("random", node.body, node.name)
    rng = res.get(key)
    if rng is None:
        seed, seed2 = int(node.attr["seed"]), int(node.attr["seed2"])
        if seed == 0 and seed2 == 0:
            rng = np.random.default_rng()
        else:
            rng = _generator((seed & _MASK64) | ((seed2 & _MASK64) << 64))
        res[key] = rng
    return rng


# -- distributions -------------------------------------------------------------------------

def uniform(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Floats in [0, 1) of ``dtype``."""
    if dtype in (np.float32, np.float64):
        return rng.random(shape, dtype=dtype)
    bits = _SIGNIFICAND.get(dtype.name)
    if bits is None:
        raise TypeError(f"no uniform floats of type {dtype}")
    return (rng.integers(0, 1 << bits, shape) * (0.5 ** bits)).astype(dtype)


def normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Standard normal floats of ``dtype``."""
    if dtype in (np.float32, np.float64):
        return rng.standard_normal(shape, dtype=dtype)
    if dtype.name not in _SIGNIFICAND:
        raise TypeError(f"no normal floats of type {dtype}")
    return rng.standard_normal(shape, dtype=np.float32).astype(dtype)


def truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Standard normal floats, values beyond two standard deviations drawn again (as TF does)."""
    out = normal(rng, shape, dtype)
    flat = out.reshape(-1)
    far = np.flatnonzero(np.abs(flat.astype(np.float64)) > 2.0)
    while far.size:
        flat[far] = normal(rng, (far.size,), dtype)
        far = far[np.abs(flat[far].astype(np.float64)) > 2.0]
    return out


def _bounds(node, lo, hi) -> tuple[int, int]:
    lo_a, hi_a = np.asarray(lo), np.asarray(hi)
    if lo_a.ndim or hi_a.ndim:
        raise bad(node, f"minval and maxval must be scalars, got shapes {list(lo_a.shape)} and "
                        f"{list(hi_a.shape)}")
    return int(lo_a), int(hi_a)


def uniform_int(node, rng: np.random.Generator, shape: tuple[int, ...], lo: int, hi: int,
                dtype: np.dtype) -> np.ndarray:
    """Integers in [lo, hi); an empty range is an error unless nothing is drawn."""
    if not np.prod(shape, dtype=np.int64):
        return np.zeros(shape, dtype)
    if lo >= hi:
        raise bad(node, f"Need minval < maxval: {lo} >= {hi}")
    return rng.integers(lo, hi, shape, dtype=dtype)


def full_int(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Integers over the whole range of ``dtype``."""
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


def _draw(node, rng: np.random.Generator, dist: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    check_size(node, shape, dtype.itemsize)
    if dist == "full_int":
        return full_int(rng, shape, dtype)
    return {"uniform": uniform, "normal": normal, "truncated": truncated_normal}[dist](rng, shape, dtype)


# -- stateful ops ----------------------------------------------------------------------------

_FLOAT_OPS = {"RandomUniform": "uniform", "RandomStandardNormal": "normal", "TruncatedNormal": "truncated"}


@kernel(*_FLOAT_OPS)
def random_float(node, inputs, ctx):
    shape = _shape(node, inputs[0])
    return _draw(node, _stateful(node, ctx), _FLOAT_OPS[node.op], shape, np_dtype(node.attr["dtype"]))


@kernel("RandomUniformInt")
def random_uniform_int(node, inputs, ctx):
    shape = _shape(node, inputs[0])
    lo, hi = _bounds(node, inputs[1], inputs[2])
    dtype = np.asarray(inputs[1]).dtype
    check_size(node, shape, dtype.itemsize)
    return uniform_int(node, _stateful(node, ctx), shape, lo, hi, dtype)


@kernel("RandomShuffle")
def random_shuffle(node, inputs, ctx):
    x = np.asarray(inputs[0])
    if x.ndim == 0:
        return x
    return x[_stateful(node, ctx).permutation(x.shape[0])]


def _categorical(node, rng: np.random.Generator, logits, num_samples, dtype: np.dtype) -> np.ndarray:
    """Multinomial: ``num_samples`` class indices per row of ``logits``, drawn by softmax weight."""
    lg = np.asarray(logits)
    if lg.ndim != 2:
        raise bad(node, f"logits should be a matrix, got shape {list(lg.shape)}")
    n = int(np.asarray(num_samples))
    if n < 0:
        raise bad(node, f"num_samples should be nonnegative, got {n}")
    batch, classes = lg.shape
    if classes == 0 and batch and n:
        raise bad(node, "num_classes should be positive, got 0")
    check_size(node, (batch, n), 8)
    out = np.zeros((batch, n), dtype)
    with np.errstate(all="ignore"):
        for b in range(batch if n else 0):
            row = lg[b].astype(np.float64)
            finite = np.isfinite(row)
            w = np.where(finite, np.exp(row - (row[finite].max() if finite.any() else 0.0)), 0.0)
            cdf = np.cumsum(w)
            total = cdf[-1]
            if not total > 0:
                out[b] = classes - 1  # no usable weight: TF's sampler ends on the last class
                continue
            picks = np.searchsorted(cdf, rng.random(n) * total, side="right")
            out[b] = np.minimum(picks, classes - 1)
    return out


@kernel("Multinomial")
def multinomial(node, inputs, ctx):
    dtype = np_dtype(node.attr["output_dtype"])
    return _categorical(node, _stateful(node, ctx), inputs[0], inputs[1], dtype)


# -- stateless ops -----------------------------------------------------------------------------

def _seed(node, value) -> tuple[int, int]:
    """A stateless op's seed: a shape-[2] integer tensor."""
    s = np.asarray(value)
    if s.shape != (2,):
        raise bad(node, f"seed must have shape [2], not {list(s.shape)}")
    return int(s[0]), int(s[1])


def _seeded(node, value) -> np.random.Generator:
    """The generator of a V1 stateless op: the same one StatelessRandomGetKeyCounter leads to."""
    s0, s1 = _seed(node, value)
    return _generator(s0 & _MASK64, (s1, 0))


def _keyed(node, key, counter, alg) -> np.random.Generator:
    """The generator of a V2 stateless op from its key, counter and algorithm inputs."""
    k, c, a = np.asarray(key), np.asarray(counter), np.asarray(alg)
    if k.shape != (1,):
        raise bad(node, f"key must have shape [1], not {list(k.shape)}")
    algo = int(a)
    # TF checks a non-Philox counter's length before refusing the algorithm.
    need = 1 if algo in (_PHILOX, _AUTO) else 2
    if c.ndim != 1 or c.shape[0] < need:
        raise bad(node, f"counter must be a vector with length at least {need}; got shape {list(c.shape)}")
    if algo not in (_PHILOX, _AUTO):
        raise bad(node, f"Unsupported algorithm id: {algo}")
    return _generator(int(k[0]), tuple(int(v) for v in c[:2]))


_STATELESS_V1 = {"StatelessRandomUniform": "uniform", "StatelessRandomNormal": "normal",
                 "StatelessTruncatedNormal": "truncated", "StatelessRandomUniformFullInt": "full_int"}
_STATELESS_V2 = {f"{op}V2": dist for op, dist in _STATELESS_V1.items()}


@kernel(*_STATELESS_V1)
def stateless(node, inputs, ctx):
    shape = _shape(node, inputs[0])
    rng = _seeded(node, inputs[1])
    return _draw(node, rng, _STATELESS_V1[node.op], shape, np_dtype(node.attr["dtype"]))


@kernel(*_STATELESS_V2)
def stateless_v2(node, inputs, ctx):
    shape = _shape(node, inputs[0])
    rng = _keyed(node, inputs[1], inputs[2], inputs[3])
    return _draw(node, rng, _STATELESS_V2[node.op], shape, np_dtype(node.attr["dtype"]))


@kernel("StatelessRandomUniformInt")
def stateless_int(node, inputs, ctx):
    shape = _shape(node, inputs[0])
    rng = _seeded(node, inputs[1])
    lo, hi = _bounds(node, inputs[2], inputs[3])
    dtype = np.asarray(inputs[2]).dtype
    check_size(node, shape, dtype.itemsize)
    return uniform_int(node, rng, shape, lo, hi, dtype)


@kernel("StatelessRandomUniformIntV2")
def stateless_int_v2(node, inputs, ctx):
    shape = _shape(node, inputs[0])
    rng = _keyed(node, inputs[1], inputs[2], inputs[3])
    lo, hi = _bounds(node, inputs[4], inputs[5])
    dtype = np.asarray(inputs[4]).dtype
    check_size(node, shape, dtype.itemsize)
    return uniform_int(node, rng, shape, lo, hi, dtype)


@kernel("StatelessMultinomial")
def stateless_multinomial(node, inputs, ctx):
    dtype = np_dtype(node.attr["output_dtype"])
    return _categorical(node, _seeded(node, inputs[2]), inputs[0], inputs[1], dtype)


@kernel("StatelessShuffle")
def stateless_shuffle(node, inputs, ctx):
    x = np.asarray(inputs[0])
    rng = _keyed(node, inputs[1], inputs[2], inputs[3])
    if x.ndim == 0:
        return x
    return x[rng.permutation(x.shape[0])]


def _key_counter(node, seed) -> list[np.ndarray]:
    s0, s1 = _seed(node, seed)
    return [np.array([s0 & _MASK64], np.uint64), np.array([s1 & _MASK64, 0], np.uint64)]


@kernel("StatelessRandomGetKeyCounter")
def get_key_counter(node, inputs, ctx):
    return _key_counter(node, inputs[0])


@kernel("StatelessRandomGetKeyCounterAlg")
def get_key_counter_alg(node, inputs, ctx):
    return [*_key_counter(node, inputs[0]), np.array(_PHILOX, np.int32)]


@kernel("StatelessRandomGetAlg")
def get_alg(node, inputs, ctx):
    return np.array(_PHILOX, np.int32)
