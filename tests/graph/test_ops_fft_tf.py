"""FFT and complex-number kernels against ``tf.raw_ops`` (differential test, see raw_ops_harness).

TensorFlow registers the N-D transforms (FFTND...) for GPUs only; they are checked against
TF's answers for the 1-3 D transforms on the same input.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest

from savedmodel_io.proto import NodeDef

from .raw_ops_harness import DT, Case, Cases, assert_same, i32, run_ours
from _oracles.codec import decode

CASES = Cases(seed=4201)
add = CASES.add
RS = CASES.rs
f32 = CASES.f32


def cplx(dtype: str, *shape: int) -> np.ndarray:
    return (RS.standard_normal(shape) + 1j * RS.standard_normal(shape)).astype(dtype)


SPECIAL = np.array([0, -0.0, 1, -1, np.inf, -np.inf, np.nan, 1e-30, -2.5], np.float32)
SPECIAL_C = np.empty(SPECIAL.size ** 2, np.complex64)
SPECIAL_C.real, SPECIAL_C.imag = np.repeat(SPECIAL, SPECIAL.size), np.tile(SPECIAL, SPECIAL.size)


def _complex_ops() -> None:
    for t, tout in (("float32", "complex64"), ("float64", "complex128")):
        add("Complex", t, {"Tout": DT(tout)}, real=RS.standard_normal((2, 3)).astype(t),
            imag=RS.standard_normal(3).astype(t))
        add("Complex", f"{t}_special", {"Tout": DT(tout)}, real=SPECIAL.astype(t),
            imag=SPECIAL[::-1].astype(t))
    add("Complex", "bad_bcast", real=f32(2), imag=f32(3))
    add("Complex", "empty", real=np.zeros((0, 2), np.float32), imag=np.float32(1))
    for op in ("Real", "Imag", "ComplexAbs", "Angle"):
        arg = "x" if op == "ComplexAbs" else "input"
        add(op, "complex64", **{arg: SPECIAL_C})
        add(op, "complex128", {"Tout": DT("float64")}, **{arg: SPECIAL_C.astype(np.complex128)})
        add(op, "random", **{arg: cplx("complex64", 2, 3)})
    add("Conj", "complex64", input=SPECIAL_C)
    add("Conj", "complex128", input=cplx("complex128", 3, 2))
    for op in ("AddV2", "Sub", "Mul", "RealDiv", "Equal", "NotEqual", "Pow", "Xlogy", "Xdivy",
               "DivNoNan", "SquaredDifference"):
        for dt in ("complex64", "complex128"):
            add(op, dt, x=cplx(dt, 2, 3), y=cplx(dt, 3))
    # std::pow of complex numbers is exp(y log x) with IEEE special values: 0 ** 0 is NaN.
    add("Pow", "complex64_zero_base", x=np.zeros(4, np.complex64),
        y=np.complex64([-60 + 0.5j, 2, 0, 1 + 1j]))
    for op in ("Neg", "Exp", "Log", "Sqrt", "Rsqrt", "Square", "Reciprocal", "Sin", "Cos",
               "Tan", "Tanh", "Sinh", "Cosh", "Sign", "Log1p", "Expm1", "Asinh", "Acosh",
               "Atanh", "Asin", "Acos", "Atan", "Sigmoid"):
        add(op, "complex64", x=cplx("complex64", 2, 3))
        add(op, "complex128", x=cplx("complex128", 4))
    for to in ("float32", "int32", "complex128", "bool", "float16", "int64", "uint8"):
        add("Cast", f"c64_to_{to}", {"DstT": DT(to)}, x=(cplx("complex64", 6) * 300))
    for frm in ("float32", "int32", "float64", "bool", "int64"):
        add("Cast", f"{frm}_to_c64", {"DstT": DT("complex64")},
            x=(RS.standard_normal(5) * 9).astype(frm))
    add("Cast", "c128_to_c64", {"DstT": DT("complex64")}, x=cplx("complex128", 4) * 1e39)
    for op in ("Sum", "Prod", "Mean"):
        add(op, "complex64", input=cplx("complex64", 2, 3), axis=i32(1))
    add("MatMul", "complex64", a=cplx("complex64", 2, 3), b=cplx("complex64", 3, 4), rtol=1e-4)
    add("BatchMatMulV2", "adjoint", {"adj_x": True, "adj_y": True}, x=cplx("complex128", 2, 3, 2),
        y=cplx("complex128", 4, 3))
    add("Einsum", "complex", {"equation": "ij,jk->ik"},
        inputs=[cplx("complex64", 2, 3), cplx("complex64", 3, 2)], rtol=1e-4)
    add("ConjugateTranspose", "complex", x=cplx("complex64", 2, 3), perm=i32(1, 0))
    add("Transpose", "complex", x=cplx("complex64", 2, 3), perm=i32(1, 0))
    add("Cumsum", "complex", x=cplx("complex64", 5), axis=np.int32(0))
    add("ZerosLike", "complex", x=cplx("complex128", 2))
    add("OnesLike", "complex", x=cplx("complex128", 2))
    add("AddN", "complex", inputs=[cplx("complex64", 3), cplx("complex64", 3)])


def _ffts() -> None:
    for dt in ("complex64", "complex128"):
        for op, rank in (("FFT", 1), ("IFFT", 1), ("FFT2D", 2), ("IFFT2D", 2), ("FFT3D", 3),
                         ("IFFT3D", 3)):
            add(op, dt, input=cplx(dt, 2, *(5, 4, 3)[:rank]), rtol=1e-4)
            add(op, f"{dt}_empty", input=np.zeros((2, 0) + (3,) * (rank - 1), dt))
            add(op, f"{dt}_low_rank", input=np.zeros((3,) * (rank - 1), dt))
    for real, tc in (("float32", "complex64"), ("float64", "complex128")):
        types = {"Tcomplex": DT(tc)}
        for op, rank in (("RFFT", 1), ("RFFT2D", 2), ("RFFT3D", 3)):
            x = RS.standard_normal((2, 6, 5, 8)[-rank - 1:]).astype(real)
            inner = x.shape[-rank:]
            add(op, f"{real}_exact", types, input=x, fft_length=i32(*inner), rtol=1e-4)
            add(op, f"{real}_crop", types, input=x,
                fft_length=i32(*[max(d - 2, 1) for d in inner]), rtol=1e-4)
            add(op, f"{real}_too_long", types, input=x, fft_length=i32(*[d + 1 for d in inner]))
            add(op, f"{real}_bad_length", types, input=x, fft_length=i32(*([2] * (rank + 1))))
            add(op, f"{real}_negative", types, input=x, fft_length=i32(*([-1] * rank)))
        for op, rank in (("IRFFT", 1), ("IRFFT2D", 2), ("IRFFT3D", 3)):
            for n in (6, 7):
                x = cplx(tc, *(2, 4, 3, n // 2 + 1)[-rank - 1:])
                lengths = [*x.shape[-rank:-1], n]
                add(op, f"{real}_{n}", {"Treal": DT(real)}, input=x, fft_length=i32(*lengths),
                    rtol=1e-4)
                add(op, f"{real}_{n}_crop", {"Treal": DT(real)}, input=cplx(tc, *x.shape[:-1], n),
                    fft_length=i32(*lengths), rtol=1e-4)
            add(op, f"{real}_short", {"Treal": DT(real)}, input=cplx(tc, *(2, 4, 3, 2)[-rank - 1:]),
                fft_length=i32(*([8] * rank)))
    add("RFFT", "one", input=f32(3, 1), fft_length=i32(1))
    add("IRFFT", "one", input=cplx("complex64", 3, 1), fft_length=i32(1))


_complex_ops()
_ffts()

test_kernel_matches_tensorflow = CASES.test()


# -- the N-D transforms (no TF CPU kernel) against the fixed-rank ones -----------------------

ND = {"FFT": "FFTND", "IFFT": "IFFTND", "RFFT": "RFFTND", "IRFFT": "IRFFTND"}


def _nd_pairs() -> list[tuple[Case, Case]]:
    """(1-3 D case with a TF answer, the same transform as an N-D op)."""
    pairs = []
    for c in CASES:
        base = c.op.rstrip("23D")
        if base not in ND or not c.id.endswith(("complex64", "complex128", "_exact", "_crop",
                                                 "_6", "_7")):
            continue
        rank = {"": 1, "2D": 2, "3D": 3}[c.op[len(base):]]
        x = c.inputs[0][1]
        lengths = c.inputs[1][1] if len(c.inputs) > 1 else i32(*x.shape[-rank:])
        axes = i32(*range(-rank, 0))
        nd = Case(f"{ND[base]}-{c.id}", ND[base],
                  [("input", x), ("fft_length", lengths), ("axes", axes)], c.attrs)
        pairs.append((c, nd))
    return pairs


@pytest.mark.tf
@pytest.mark.parametrize("pair", _nd_pairs(), ids=lambda p: p[1].id)
def test_nd_transforms_match_fixed_rank(pair) -> None:
    fixed, nd = pair
    want = CASES.oracle()[fixed.id]
    node = NodeDef.FromString(base64.b64decode(want["node_def"]))
    node.op = nd.op
    del node.input[:]
    node.input.extend(["in0", "in1", "in2"])
    got = run_ours(nd, node.SerializeToString(), 1)[0]
    assert_same(got, decode(want["outputs"][0]), nd.id, 1e-4)
