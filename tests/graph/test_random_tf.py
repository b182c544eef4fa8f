"""Random kernels against ``tf.raw_ops``: dtype, shape and errors (not the numbers).

Our random ops draw from numpy's Philox generator, not TF's stream (docs/run.md), so each
case compares only the output dtypes and shapes, and that we fail exactly where TF fails;
distributions and seeding are tested in test_random.py.
"""

from __future__ import annotations

import numpy as np

from .raw_ops_harness import DT, Cases, i32, s

CASES = Cases(seed=77)
add = CASES.add
f32 = CASES.f32

def _cases() -> None:
    """Stateful and stateless random ops, their dtypes, edge shapes and bad arguments."""
    seeds = {"seed": 7, "seed2": 3}
    for op in ("RandomUniform", "RandomStandardNormal", "TruncatedNormal"):
        for dt in ("float32", "float64", "float16", "bfloat16"):
            add(op, dt, {"dtype": DT(dt), **seeds}, spec_only=True, shape=i32(2, 3))
        add(op, "int64_shape", {"dtype": DT("float32")}, spec_only=True, shape=np.int64([4]))
        add(op, "empty", {"dtype": DT("float32")}, spec_only=True, shape=i32(0, 3))
        add(op, "scalar", {"dtype": DT("float32")}, spec_only=True, shape=np.zeros(0, np.int32))
        add(op, "neg_dim", {"dtype": DT("float32")}, spec_only=True, shape=i32(2, -1))
        add(op, "matrix_shape", {"dtype": DT("float32")}, spec_only=True, shape=i32([2, 3]))
    add("RandomUniformInt", "int32", seeds, spec_only=True, shape=i32(5), minval=np.int32(-3),
        maxval=np.int32(4))
    add("RandomUniformInt", "int64", spec_only=True, shape=i32(2, 2), minval=np.int64(0),
        maxval=np.int64(2**40))
    add("RandomUniformInt", "empty_range", spec_only=True, shape=i32(3), minval=np.int32(4),
        maxval=np.int32(4))
    add("RandomUniformInt", "empty_range_no_draw", spec_only=True, shape=i32(0), minval=np.int32(4),
        maxval=np.int32(4))
    add("RandomUniformInt", "vector_bounds", spec_only=True, shape=i32(3), minval=i32(0),
        maxval=i32(4))
    add("RandomShuffle", "matrix", seeds, spec_only=True, value=f32(5, 2))
    add("RandomShuffle", "scalar", spec_only=True, value=np.float32(3))
    add("RandomShuffle", "strings", spec_only=True, value=s("a", "b", "c"))
    add("Multinomial", "basic", seeds, spec_only=True, logits=f32(3, 4), num_samples=np.int32(6))
    add("Multinomial", "int32", {"output_dtype": DT("int32")}, spec_only=True, logits=f32(2, 3),
        num_samples=np.int32(2))
    add("Multinomial", "zero_samples", spec_only=True, logits=f32(2, 3), num_samples=np.int32(0))
    add("Multinomial", "neg_samples", spec_only=True, logits=f32(2, 3), num_samples=np.int32(-1))
    add("Multinomial", "rank1", spec_only=True, logits=f32(3), num_samples=np.int32(2))
    add("Multinomial", "no_classes", spec_only=True, logits=np.zeros((2, 0), np.float32),
        num_samples=np.int32(2))
    seed = i32(1, 2)
    for op in ("StatelessRandomUniform", "StatelessRandomNormal", "StatelessTruncatedNormal"):
        for dt in ("float32", "float64", "float16"):
            add(op, dt, {"dtype": DT(dt)}, spec_only=True, shape=i32(3, 2), seed=seed)
        add(op, "int64_seed", {"dtype": DT("float32")}, spec_only=True, shape=i32(4),
            seed=np.int64([5, 6]))
        add(op, "bad_seed", {"dtype": DT("float32")}, spec_only=True, shape=i32(4), seed=i32(1, 2, 3))
        add(op, "neg_dim", {"dtype": DT("float32")}, spec_only=True, shape=i32(-4), seed=seed)
    for dt in ("int32", "int64", "uint32", "uint64"):
        add("StatelessRandomUniformFullInt", dt, {"dtype": DT(dt)}, spec_only=True, shape=i32(3),
            seed=seed)
    add("StatelessRandomUniformInt", "basic", spec_only=True, shape=i32(4), seed=seed,
        minval=np.int32(-5), maxval=np.int32(5))
    add("StatelessRandomUniformInt", "empty_range", spec_only=True, shape=i32(4), seed=seed,
        minval=np.int64(5), maxval=np.int64(5))
    add("StatelessMultinomial", "basic", spec_only=True, logits=f32(2, 5), num_samples=np.int32(3),
        seed=seed)
    key, counter, alg = np.uint64([9]), np.uint64([1, 2]), np.int32(1)
    for op in ("StatelessRandomUniformV2", "StatelessRandomNormalV2", "StatelessTruncatedNormalV2"):
        for dt in ("float32", "float64", "float16"):
            add(op, dt, {"dtype": DT(dt)}, spec_only=True, shape=i32(2, 3), key=key,
                counter=counter, alg=alg)
        add(op, "bad_key", {"dtype": DT("float32")}, spec_only=True, shape=i32(2), key=np.uint64([1, 2]),
            counter=counter, alg=alg)
        add(op, "short_counter", {"dtype": DT("float32")}, spec_only=True, shape=i32(2), key=key,
            counter=np.uint64([1]), alg=alg)
        add(op, "threefry", {"dtype": DT("float32")}, spec_only=True, shape=i32(2), key=key,
            counter=np.uint64([1]), alg=np.int32(2))
        add(op, "bad_alg", {"dtype": DT("float32")}, spec_only=True, shape=i32(2), key=key,
            counter=counter, alg=np.int32(9))
    add("StatelessRandomUniformFullIntV2", "int64", {"dtype": DT("int64")}, spec_only=True,
        shape=i32(3), key=key, counter=counter, alg=alg)
    add("StatelessRandomUniformIntV2", "basic", spec_only=True, shape=i32(3), key=key,
        counter=counter, alg=alg, minval=np.int32(0), maxval=np.int32(3))
    add("StatelessShuffle", "matrix", spec_only=True, value=f32(4, 2), key=key, counter=counter,
        alg=alg)
    for tseed in (np.int32, np.int64):
        add("StatelessRandomGetKeyCounter", tseed.__name__, spec_only=True, seed=tseed([3, 4]))
        add("StatelessRandomGetKeyCounterAlg", tseed.__name__, spec_only=True, seed=tseed([3, 4]))
    add("StatelessRandomGetKeyCounter", "bad_seed", spec_only=True, seed=i32(3))
    add("StatelessRandomGetAlg", "basic", spec_only=True)


_cases()


test_kernel_matches_tensorflow = CASES.test()
