"""Text preprocessing on onnxruntime: ASCII case changes, regex replacement of literals and
character classes, whitespace splits, and Keras TextVectorization signatures end to end.

Each exported graph is run on onnxruntime and compared with the numpy runtime's kernels
(themselves checked against TensorFlow in tests/graph), on texts built to hit the edges:
non-ASCII letters, multi-byte characters, tabs and newlines, empty strings, empty tensors.
"""

from __future__ import annotations

import numpy as np
import pytest

from graph.test_runtime_core import const, node, placeholder
from onnx_export._cases import exported, ort_value, signature

ort = pytest.importorskip("onnxruntime")

from savedmodel_io.graph import runtime  # noqa: E402
from savedmodel_io.proto import DataType  # noqa: E402

S = DataType.DT_STRING

# Letters of several scripts (Latin-1, Latin Extended, Greek, Cyrillic, Armenian, fullwidth), a
# dotted capital I, digits, punctuation, whitespace of every kind, NUL, an emoji.
_ALPHABET = ("".join(chr(c) for c in range(0x20, 0x7F)) + "".join(chr(c) for c in range(0xC0, 0x250))
             + "".join(chr(c) for c in range(0x391, 0x3CA)) + "".join(chr(c) for c in range(0x400, 0x460))
             + "ԱԲաբＡＢａｂİıǅß\t\n\x0b\x0c\r \x00😀")


def _texts(n: int = 60, seed: int = 0) -> np.ndarray:
    rs = np.random.RandomState(seed)
    chars = list(_ALPHABET)
    out = ["", " ", "\t\n", "Hello, World!", "it's [ok]?", "a--b..c", "<br /><br />", "ooo", "lol"]
    for _ in range(n):
        k = rs.randint(0, 24)
        out.append("".join(chars[i] for i in rs.randint(0, len(chars), k)))
    return np.array([t.encode("utf-8") for t in out], dtype=object)


def _run_both(nodes, inputs: dict[str, np.ndarray], out: str = "y:0") -> tuple[np.ndarray, np.ndarray]:
    """(onnxruntime's output of the exported graph, the numpy runtime's)."""
    mg = signature(nodes, {k: (S, (None,) * v.ndim) for k, v in inputs.items()}, {"y": (out, S, None)})
    proto, problems = exported(mg)
    assert not problems, problems
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {k: ort_value(v) for k, v in inputs.items()})[0]
    got = np.vectorize(lambda s: s.encode("utf-8", "surrogateescape"), otypes=[object])(got) if got.size else got
    want = runtime.Session(mg).run_signature("s", inputs)["y"]
    return got.astype(object), np.asarray(want, dtype=object)


@pytest.mark.parametrize("op", ["StringLower", "StringUpper"])
@pytest.mark.parametrize("shape", [(69,), (3, 23), (0,), (2, 0, 3), ()])
def test_case_changes_ascii_letters_only(op, shape):
    texts = _texts()
    x = np.resize(texts, shape) if shape != () else texts[3]
    x = np.asarray(x, dtype=object)
    got, want = _run_both([placeholder("x", S), node("y", op, ["x"])], {"x": x})
    assert got.shape == want.shape == x.shape
    np.testing.assert_array_equal(got, want)
    ascii_only = bytes.lower if op == "StringLower" else bytes.upper  # TF's encoding "": other letters stay
    np.testing.assert_array_equal(want, np.vectorize(ascii_only, otypes=[object])(x) if x.size else x)


def test_case_change_with_utf8_encoding_is_refused():
    mg = signature([placeholder("x", S), node("y", "StringLower", ["x"], encoding=b"utf-8")],
                   {"x": (S, (None,))}, {"y": ("y:0", S, None)})
    _, problems = exported(mg)
    assert problems and "ICU" in problems[0].reason


_PATTERNS = [
    (rb"[!\"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~']", b""),  # Keras's punctuation class
    (rb"[!\"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~']", b" "),
    (rb"[lo]", b"_"), (rb"[lo]", b"<\0>"), (rb"([lo])", b"<\1\1>"),
    (rb"[]a-c]", b"#"), (rb"[a\-z]", b"="), (rb"[\d\s]", b""), (rb"\s", b" "), (rb"\w", b""),
    (rb"[\x41-\x43\x{e9}]", b"?"), ("[αβγé😀]".encode(), b"*"),
    (rb"<br />", b"\n"), (rb"oo", b"0"), (rb"a\.b", b"\\\\"), (rb"\.\.", b""), (rb"(o)", b"[\0|\1]"),
    (rb"o", rb"x\9"), (rb"o", rb"a\x\5"), (rb"(o)", rb"a\\"), ("é".encode(), b"e"), (rb"l", b"ll"),
]


@pytest.mark.parametrize("pattern,rewrite", _PATTERNS, ids=[f"{p!r}->{r!r}" for p, r in _PATTERNS])
@pytest.mark.parametrize("replace_global", [True, False])
def test_regex_replace_of_literals_and_classes(pattern, rewrite, replace_global):
    x = _texts(seed=1)
    static = [placeholder("x", S), node("y", "StaticRegexReplace", ["x"], pattern=pattern, rewrite=rewrite,
                                        replace_global=replace_global)]
    dynamic = [placeholder("x", S), const("p", np.array(pattern, dtype=object)),
               const("r", np.array(rewrite, dtype=object)),
               node("y", "RegexReplace", ["x", "p", "r"], replace_global=replace_global)]
    for nodes in (static, dynamic):
        mg = signature(nodes, {"x": (S, (None,))}, {"y": ("y:0", S, None)})
        proto, problems = exported(mg)
        if problems:  # only a class's first match is refused among these
            assert not replace_global and "first match of a character class" in problems[0].reason, problems
            continue
        got, want = _run_both(nodes, {"x": x})
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("pattern,rewrite,reason", [
    (rb"a+", b"", "only literal strings"), (rb"a|b", b"", "only literal strings"),
    (rb"^a", b"", "only literal strings"), (rb".", b"", "only literal strings"),
    (rb"[^a]", b"", "negated"), (rb"(a)(b)", b"", "several groups"), (rb"\bword", b"", "escape \\b"),
    (rb"[[:alpha:]]", b"", "POSIX"), (rb"", b"x", "empty pattern"), (rb"[z-a]", b"", "bad range"),
    (rb"[ab]", b"ab", "the other way round"), (rb"[\x00-\x{10ffff}]", b"", "more than 256"),
])
def test_other_regex_patterns_are_refused_with_the_reason(pattern, rewrite, reason):
    mg = signature([placeholder("x", S), node("y", "StaticRegexReplace", ["x"], pattern=pattern, rewrite=rewrite,
                                              replace_global=True)],
                   {"x": (S, (None,))}, {"y": ("y:0", S, None)})
    _, problems = exported(mg)
    assert problems and reason in problems[0].reason, problems


@pytest.mark.parametrize("pattern,rewrite,want", [
    (b"[ab]", b"a", [b"aaaa", b"", b"caa"]),  # b's replacement inserts a: a goes first (a -> a is nothing)
    (b"[ab]", b"b", [b"bbbb", b"", b"cbb"]),
    (b"[abc]", b"<\\0c>", [b"<ac><bc><bc><ac>", b"", b"<cc><ac><bc>"]),  # c first, then a and b
    (b"[\\s]", b" ", [b"abba", b"", b"cab"]),
])
def test_class_replacements_are_ordered_so_insertions_are_not_replaced_again(pattern, rewrite, want):
    nodes = [placeholder("x", S), node("y", "StaticRegexReplace", ["x"], pattern=pattern, rewrite=rewrite,
                                       replace_global=True)]
    got, ref = _run_both(nodes, {"x": np.array([b"abba", b"", b"cab"], dtype=object)})
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(ref, np.array(want, dtype=object))


def test_whitespace_split_splits_on_tabs_and_newlines():
    """StringSplitV2 with no separator splits on ASCII whitespace; onnxruntime's StringSplit on
    spaces only (the export turns the others into spaces first)."""
    x = np.array([b"a  b\tc", b"\n\tx\r\x0by\x0cz ", b"", b" ", b"one", "é\tü".encode()], dtype=object)
    nodes = [placeholder("x", S), const("sep", np.array(b"", dtype=object)),
             node("y", "StringSplitV2", ["x", "sep"], maxsplit=-1)]
    i64 = DataType.DT_INT64
    mg = signature(nodes, {"x": (S, (None,))}, {"i": ("y:0", i64, None), "v": ("y:1", S, None), "d": ("y:2", i64, None)})
    proto, problems = exported(mg)
    assert not problems, problems
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": ort_value(x)})))
    want = runtime.Session(mg).run_signature("s", {"x": x})
    np.testing.assert_array_equal(got["i"], want["i"])
    np.testing.assert_array_equal(got["d"], want["d"])
    np.testing.assert_array_equal([v.encode("utf-8") for v in got["v"]], want["v"])
    limited = [placeholder("x", S), const("sep", np.array(b"", dtype=object)),
               node("y", "StringSplitV2", ["x", "sep"], maxsplit=1)]
    _, problems = exported(signature(limited, {"x": (S, (None,))}, {"v": ("y:1", S, None)}))
    assert problems and "maxsplit with whitespace" in problems[0].reason


@pytest.mark.tf
def test_keras_text_vectorization_signatures(fixture_model):
    """Keras TextVectorization (lower, strip punctuation, whitespace split, n-grams, vocabulary lookup,
    int / count / tf-idf outputs) exports and agrees with the numpy runtime on awkward text."""
    import savedmodel_io
    import savedmodel_io.onnx

    model = savedmodel_io.load(fixture_model("keras_text_vectorization"))
    texts = np.array([b"Hello, World! The QUICK brown fox.", "À la carte -- it's [ok]?".encode(), b"",
                      b"a  b\tc\nd", b"THE the The"], dtype=object)
    exported_sigs = set()
    for key, sig in model.signatures.items():
        if key.startswith("__") or savedmodel_io.onnx.check(model, key):
            continue  # character splits and sparse counts have no ONNX form
        (name, spec), = sig.inputs.items()
        x = texts if len(spec.shape) == 1 else texts.reshape(-1, 1)
        want, got = sig(**{name: x}), sig(**{name: x}, backend="onnxruntime")
        for k in want:
            np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-6, err_msg=f"{key} {k}")
        exported_sigs.add(key)
    assert len(exported_sigs) >= 17 and {"ngrams", "ngrams3_multi_hot"} <= exported_sigs
