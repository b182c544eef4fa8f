"""String, Unicode, hashing and byte-decoding kernels against ``tf.raw_ops``.

Cases cover every dtype the ops take, malformed UTF-8/16/32, every error policy, shapes
with empty and scalar strings, and the validation errors TensorFlow raises.
"""

from __future__ import annotations

import gzip
import zlib

import numpy as np
import ml_dtypes

from .raw_ops_harness import DT, Cases, i32, s

CASES = Cases(seed=7117)
add = CASES.add


def b(*values: bytes) -> np.ndarray:
    """A string tensor of raw bytes."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def scalar(value: bytes) -> np.ndarray:
    return np.array(value, dtype=object)


MALFORMED = b(b"a\xe2\x82b", b"\xe0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc3", b"\x80\x80",
              b"ok\x01\x1f\x7f", b"\xf0\x9f\x98\x80x", b"", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf",
              b"\xf0\x80\x80\xaf", b"\xef\xbf\xbe\xf4\x8f\xbf\xbf")
WORDS = s("hello", "wörld", "", "日本語", "a b")

# -- length, substrings, case, strip, join ---------------------------------------------------
add("StringLength", "utf8_malformed", {"unit": "UTF8_CHAR"}, input=MALFORMED)
add("StringLength", "bytes_2d", input=WORDS.reshape(-1, 1)[:4].reshape(2, 2))
add("StringLength", "empty", {"unit": "UTF8_CHAR"}, input=np.zeros((0, 3), object))
for text in (b"\x80a", b"a\x80b", b"\xc3\xa4bc", b"\xff\xfeab", b""):
    for p, n in ((0, 1), (1, 1), (0, 5), (-1, 1), (2, 1), (-2, 5), (3, 1), (1, -1), (-3, 2)):
        add("Substr", f"utf8_{text.hex()}_{p}_{n}", {"unit": "UTF8_CHAR"}, input=b(text),
            pos=i32(p), len=i32(n))
add("Substr", "bcast_input", input=s("abc", "de").reshape(2, 1), pos=i32(0, 1), len=i32(1, 2))
add("Substr", "pos_len_shapes", input=s("abc", "de"), pos=i32(0, 1), len=i32(1))
add("Substr", "pos_len_scalar_vector", input=s("abc", "de"), pos=i32(0, 1), len=np.int32(1))
add("Substr", "int64", input=s("abc", "de"), pos=np.int64([3, 2]), len=np.int64([1, 1]))
add("Substr", "neg_oob", input=s("abc", "de"), pos=i32(-4, 0), len=i32(1, 1))
add("Substr", "scalar_input_bcast", input=scalar(b"abcdef"), pos=i32(0, 2, 4), len=i32(2, 2, 9))
add("Substr", "bad_bcast", input=s("abc", "de", "f"), pos=i32(0, 1), len=i32(1, 1))
for op in ("StringLower", "StringUpper"):
    add(op, "utf8", {"encoding": "utf-8"}, input=s("ΑΣ ǅ İ ßﬁ Straße", "ÀÉÎ", ""))
    add(op, "utf8_malformed", {"encoding": "utf-8"}, input=MALFORMED)
    add(op, "ascii_leaves_others", input=s("ÀbC", "ΑΣ"))
    add(op, "bad_encoding", {"encoding": "latin1"}, input=s("ab"))
add("StringStrip", "whitespace_kinds", input=b(b"\x0b\x0c a \x00", "\u00a0x ".encode(), b"\t\r\n", b""))
add("StringJoin", "none", inputs=[])
add("StringJoin", "one", {"separator": "-"}, inputs=[s("a", "b")])
add("StringJoin", "empty_and_scalar", {"separator": "-"}, inputs=[np.zeros(0, object), scalar(b"x")])
add("StringJoin", "rank_mismatch", inputs=[s("a", "b").reshape(2, 1), s("x", "y")])
add("StringJoin", "2d", {"separator": ", "}, inputs=[s("a", "b", "c", "d").reshape(2, 2),
                                                   s("1", "2", "3", "4").reshape(2, 2), scalar(b"!")])
GRID = s("a", "b", "c", "d", "e", "f").reshape(2, 3)
add("ReduceJoin", "no_axes", inputs=GRID, reduction_indices=np.zeros(0, np.int32))
add("ReduceJoin", "neg_axis", {"separator": "+"}, inputs=GRID, reduction_indices=i32(-1))
add("ReduceJoin", "all_axes_keep", {"keep_dims": True, "separator": "."}, inputs=GRID,
    reduction_indices=i32(1, 0))
add("ReduceJoin", "scalar_axis", inputs=GRID, reduction_indices=np.int32(0))
add("ReduceJoin", "axis_oob", inputs=GRID, reduction_indices=i32(2))
add("ReduceJoin", "axis_duplicate", inputs=GRID, reduction_indices=i32(0, -2))
add("ReduceJoin", "scalar_input", inputs=scalar(b"a"), reduction_indices=np.zeros(0, np.int32))
add("ReduceJoin", "empty_rows", inputs=np.zeros((2, 0), object), reduction_indices=i32(1))
add("ReduceJoin", "3d_middle", inputs=s(*"abcdefghijkl").reshape(2, 3, 2), reduction_indices=i32(1))

# -- AsString over every dtype ------------------------------------------------------------------
INT_VALUES = [0, 1, -1, 7, 100]
for dt in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
    info = np.iinfo(dt)
    vals = np.array([v for v in INT_VALUES if info.min <= v] + [info.min, info.max], dt)
    add("AsString", dt, input=vals)
    add("AsString", f"{dt}_width", {"width": 6, "fill": "0"}, input=vals)
    add("AsString", f"{dt}_precision", {"precision": 2}, input=vals)
    add("AsString", f"{dt}_shortest", {"shortest": True}, input=vals)
FLOATS = [1.5, -0.0, 1e-7, 12345.0, np.inf, -np.inf, np.nan, 0.1]
for dt in ("float16", "float32", "float64"):
    vals = np.array(FLOATS, dt)
    add("AsString", dt, input=vals)
    add("AsString", f"{dt}_prec_sci", {"precision": 3, "scientific": True}, input=vals)
    add("AsString", f"{dt}_shortest", {"shortest": True}, input=vals)
    add("AsString", f"{dt}_width_left", {"width": 12, "fill": "-"}, input=vals)
    add("AsString", f"{dt}_width_plus", {"width": 12, "fill": "+", "precision": 1}, input=vals)
add("AsString", "bfloat16", input=np.array(FLOATS, ml_dtypes.bfloat16))
add("AsString", "bfloat16_prec", {"precision": 2}, input=np.array(FLOATS, ml_dtypes.bfloat16))
add("AsString", "neg_nan", input=-np.array([np.nan], np.float32))
COMPLEX = [1 + 2j, -0.5 - 0j, complex(np.inf, np.nan)]
for dt in ("complex64", "complex128"):
    add("AsString", dt, input=np.array(COMPLEX, dt))
    add("AsString", f"{dt}_sci", {"scientific": True, "precision": 2}, input=np.array(COMPLEX, dt))
    add("AsString", f"{dt}_width", {"width": 10, "shortest": True}, input=np.array(COMPLEX, dt))
add("AsString", "bool_width", {"width": 8}, input=np.array([True, False]))
add("AsString", "bool_precision", {"precision": 1}, input=np.array([True]))
add("AsString", "string", input=s("ab", ""))
add("AsString", "string_width", {"width": 5}, input=s("ab", "abcdef"))
add("AsString", "string_width_left", {"width": 5, "fill": "-"}, input=s("ab"))
add("AsString", "fill_two_chars", {"width": 3, "fill": "ab"}, input=i32(1))
add("AsString", "fill_without_width", {"fill": "0"}, input=i32(1))
add("AsString", "2d_empty", input=np.zeros((0, 2), np.float32))

# -- splitting and hashing ------------------------------------------------------------------------
SPLIT_IN = s("a,b;;c", ";x,", "", "abc", ",,")
for delim in ("", ",", ";,", ",;"):
    for skip in (True, False):
        add("StringSplit", f"delim{delim!r}_skip{skip}", {"skip_empty": skip}, input=SPLIT_IN,
            delimiter=scalar(delim.encode()))
add("StringSplit", "empty_batch", input=np.zeros(0, object), delimiter=scalar(b","))
add("StringSplit", "input_matrix", input=SPLIT_IN[:4].reshape(2, 2), delimiter=scalar(b","))
add("StringSplit", "delim_vector", input=SPLIT_IN, delimiter=s(",", ";"))
add("StringSplit", "utf8_bytes", {"skip_empty": False}, input=s("aéb"), delimiter=scalar(b""))
HASH_IN = b(b"", b"a", b"hello", b"1234567", b"12345678", b"123456789", b"\xff" * 33,
            "日本語テキスト".encode(), b"x" * 100)
for n in (1, 7, 2**31 - 1, 2**62):
    add("StringToHashBucket", f"buckets{n}", {"num_buckets": n}, string_tensor=HASH_IN)
add("StringToHashBucket", "2d", {"num_buckets": 1000}, string_tensor=HASH_IN[:8].reshape(2, 4))
add("StringToHashBucketFast", "long_inputs", {"num_buckets": 2**40}, input=HASH_IN)
FARM = scalar(b"farmhash64")
add("Fingerprint", "strings_1d", data=HASH_IN, method=FARM)
add("Fingerprint", "strings_2d", data=HASH_IN[:8].reshape(4, 2), method=FARM)
add("Fingerprint", "strings_3d", data=HASH_IN[:8].reshape(2, 2, 2), method=FARM)
for dt in ("int8", "uint8", "int32", "int64", "float16", "float32", "float64", "complex64",
           "complex128", "bool"):
    add("Fingerprint", dt, data=(CASES.rs.standard_normal((3, 4)) * 10).astype(dt), method=FARM)
add("Fingerprint", "bfloat16", data=CASES.f32(2, 3).astype(ml_dtypes.bfloat16), method=FARM)
add("Fingerprint", "rows_empty", data=np.zeros((3, 0), np.float32), method=FARM)
add("Fingerprint", "no_rows", data=np.zeros((0, 4), np.int32), method=FARM)
add("Fingerprint", "scalar", data=np.float32(1), method=FARM)
add("Fingerprint", "bad_method", data=np.zeros((2, 2), np.int32), method=scalar(b"md5"))
add("Fingerprint", "method_vector", data=np.zeros((2, 2), np.int32), method=b(b"farmhash64"))

# -- Unicode ------------------------------------------------------------------------------------------
UTF16 = b(b"\x00a\xd8\x00\x00b\x00", b"\xd8\x3d\xde\x00\x00", b"\xdc\x00\x00a", b"\xd8\x3d\xd8\x3d\xde\x00",
          b"", b"\x00\x01")
UTF32 = b(b"\x00\x00\x00a\x00\x00\xd8\x00\x00\x11\x00\x00\x00\x00", b"\x00\x00", b"\x00\x01\xf6\x00",
          b"\xff\xff\xff\xff\x00\x00\x00\x1f")
BOMS = b(b"\xfe\xff\x00a", b"\xff\xfea\x00", b"\x00a", b"\xfe\xff", b"\xff\xfe\x00\xd8")
for op in ("UnicodeDecode", "UnicodeDecodeWithOffsets"):
    for enc, data in (("UTF-8", MALFORMED), ("utf8", MALFORMED), ("UTF-16-BE", UTF16),
                      ("UTF-16LE", UTF16), ("UTF-32-BE", UTF32), ("utf-32le", UTF32),
                      ("US-ASCII", MALFORMED), ("ISO-8859-1", MALFORMED), ("latin1", MALFORMED),
                      ("UTF-16", BOMS)):
        for errors in ("replace", "ignore", "strict"):
            add(op, f"{enc}_{errors}", {"input_encoding": enc, "errors": errors}, input=data)
        add(op, f"{enc}_control", {"input_encoding": enc, "replace_control_characters": True,
                                    "replacement_char": 0x2A}, input=data)
    # (Tsplits=int32 aborts TensorFlow 2.21's CPU kernel: a CHECK on the splits' dtype.)
    add(op, "scalar", {"input_encoding": "UTF-8"}, input=scalar("añb".encode()))
    add(op, "empty", {"input_encoding": "UTF-8"}, input=np.zeros((0, 2), object))
    add(op, "strict_control", {"input_encoding": "UTF-8", "errors": "strict",
                               "replace_control_characters": True}, input=b(b"a\x01b"))
    add(op, "bad_replacement", {"input_encoding": "UTF-8", "replacement_char": 0x110000},
        input=WORDS)
    add(op, "unknown_encoding", {"input_encoding": "no-such-encoding"}, input=WORDS)
CODE_POINTS = i32(104, 105, 0x1F600, 0xD800, -1, 0x110000, 65, 0xDFFF, 0x10FFFF, 0)
for enc in ("UTF-8", "UTF-16-BE", "UTF-32-BE"):
    for errors in ("replace", "ignore", "strict"):
        add("UnicodeEncode", f"{enc}_{errors}", {"output_encoding": enc, "errors": errors},
            input_values=CODE_POINTS, input_splits=np.int64([0, 2, 2, 10]))
    add("UnicodeEncode", f"{enc}_subst", {"output_encoding": enc, "replacement_char": 0x1F601},
        input_values=CODE_POINTS, input_splits=np.int64([0, 10]))
    add("UnicodeEncode", f"{enc}_surrogate_subst", {"output_encoding": enc, "replacement_char": 0xD800},
        input_values=CODE_POINTS, input_splits=np.int64([0, 10]))
    add("UnicodeTranscode", f"to_{enc}", {"input_encoding": "UTF-8", "output_encoding": enc,
                                          "replacement_char": 0x1F600}, input=MALFORMED)
    add("UnicodeTranscode", f"utf16_to_{enc}", {"input_encoding": "UTF-16-BE", "output_encoding": enc},
        input=UTF16)
add("UnicodeEncode", "int32_splits", {"output_encoding": "UTF-8"}, input_values=i32(97, 98),
    input_splits=i32(0, 1, 2))
add("UnicodeEncode", "decreasing_splits", {"output_encoding": "UTF-8"}, input_values=i32(97, 98, 99),
    input_splits=np.int64([0, 2, 1, 3]))
for name, splits in (("first_not_zero", [1, 10]), ("last_short", [0, 9]), ("last_long", [0, 11]),
                     ("only_zero", [0]), ("no_splits", [])):
    add("UnicodeEncode", name, {"output_encoding": "UTF-8"}, input_values=CODE_POINTS,
        input_splits=np.array(splits, np.int64))
add("UnicodeEncode", "empty", {"output_encoding": "UTF-8"}, input_values=np.zeros(0, np.int32),
    input_splits=np.int64([0, 0, 0]))
add("UnicodeTranscode", "ignore", {"input_encoding": "UTF-8", "output_encoding": "UTF-8",
                                   "errors": "ignore"}, input=MALFORMED.reshape(13, 1))
add("UnicodeTranscode", "strict_ok", {"input_encoding": "UTF-8", "output_encoding": "UTF-16-BE",
                                      "errors": "strict"}, input=WORDS)
add("UnicodeTranscode", "strict_malformed", {"input_encoding": "UTF-8", "output_encoding": "UTF-8",
                                             "errors": "strict"}, input=MALFORMED)
add("UnicodeTranscode", "strict_control", {"input_encoding": "UTF-8", "output_encoding": "UTF-8",
                                           "errors": "strict", "replace_control_characters": True},
    input=b(b"a\x01b"))
add("UnicodeTranscode", "control", {"input_encoding": "latin1", "output_encoding": "UTF-8",
                                    "replace_control_characters": True}, input=MALFORMED)
add("UnicodeTranscode", "surrogate_subst", {"input_encoding": "UTF-8", "output_encoding": "UTF-32-BE",
                                            "replacement_char": 0xDC00}, input=MALFORMED)
add("UnicodeTranscode", "scalar", {"input_encoding": "UTF-8", "output_encoding": "UTF-16-BE"},
    input=scalar("añb".encode()))
SCRIPT_CPS = np.concatenate([np.arange(0, 0x3000, 7), np.arange(0x3000, 0x110000, 331),
                             [-5, -1, 0x10FFFF, 0x110000, 2**31 - 1, -2**31]]).astype(np.int32)
add("UnicodeScript", "sampled", input=SCRIPT_CPS)
add("UnicodeScript", "2d", input=SCRIPT_CPS[:12].reshape(3, 4))

# -- base64 -----------------------------------------------------------------------------------------------
B64_IN = b(b"", b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar", bytes(range(256)), b"\xfb\xff")
add("EncodeBase64", "unpadded", input=B64_IN)
add("EncodeBase64", "padded", {"pad": True}, input=B64_IN.reshape(3, 3))
add("DecodeBase64", "unpadded", input=b(b"", b"Zg", b"Zm8", b"Zm9v", b"Zm9vYg", b"-_8", b"-_-_"))
add("DecodeBase64", "padded", input=b(b"Zg==", b"Zm8=", b"Zm9vYmFy", b"Zh==", b"Zm9=", b"ZmZmZg=="))
for i, bad_text in enumerate((b"Z", b"Zm9vY", b"Zg=", b"Z===", b"Zm+v", b"Zm/v", b"Zm 9v",
                              b"Zm9v\n", b"Z=g=", b"=Zg=", b"Zg==Zg==", b"\xffZg=")):
    add("DecodeBase64", f"bad{i}", input=b(bad_text))
add("DecodeBase64", "scalar", input=scalar(b"aGk"))

# -- raw bytes, compression --------------------------------------------------------------------------------
RAW = b(bytes(range(16)), bytes(range(100, 116)), b"\xff" * 16)
for dt in ("float16", "float32", "float64", "int32", "uint16", "uint8", "int16", "int8", "int64",
           "complex64", "complex128", "bool", "bfloat16"):
    for little in (True, False):
        add("DecodeRaw", f"{dt}_le{little}", {"out_type": DT(dt), "little_endian": little},
            bytes=RAW)
add("DecodeRaw", "ragged_lengths", {"out_type": DT("uint8")}, bytes=b(b"ab", b"abc"))
add("DecodeRaw", "not_multiple", {"out_type": DT("int32")}, bytes=b(b"abcdef"))
add("DecodeRaw", "2d", {"out_type": DT("int16")}, bytes=RAW[:2].reshape(2, 1))
add("DecodeRaw", "scalar", {"out_type": DT("int32")}, bytes=scalar(b"\x01\x00\x00\x00\x02\x00\x00\x00"))
add("DecodeRaw", "empty_strings", {"out_type": DT("float32")}, bytes=b(b"", b""))
add("DecodeRaw", "no_strings", {"out_type": DT("float32")}, bytes=np.zeros((0, 3), object))
PADDED = b(bytes(range(10)), b"", b"\x01\x02\x03", bytes(range(30, 46)))
for dt in ("float16", "float32", "float64", "int32", "uint16", "uint8", "int16", "int8", "int64",
           "bfloat16"):
    for little in (True, False):
        add("DecodePaddedRaw", f"{dt}_le{little}", {"out_type": DT(dt), "little_endian": little},
            input_bytes=PADDED, fixed_length=np.int32(8))
add("DecodePaddedRaw", "not_multiple", {"out_type": DT("int32")}, input_bytes=PADDED,
    fixed_length=np.int32(6))
add("DecodePaddedRaw", "negative", {"out_type": DT("int8")}, input_bytes=PADDED,
    fixed_length=np.int32(-1))
add("DecodePaddedRaw", "zero", {"out_type": DT("int8")}, input_bytes=PADDED, fixed_length=np.int32(0))
add("DecodePaddedRaw", "2d", {"out_type": DT("uint8")}, input_bytes=PADDED.reshape(2, 2),
    fixed_length=np.int32(4))
add("DecodePaddedRaw", "length_vector", {"out_type": DT("uint8")}, input_bytes=PADDED,
    fixed_length=i32(4))
TEXTS = [b"", b"hello hello hello", bytes(range(256)) * 3]
add("DecodeCompressed", "zlib", {"compression_type": "ZLIB"},
    bytes=b(*[zlib.compress(t) for t in TEXTS]))
add("DecodeCompressed", "zlib_2d", {"compression_type": "ZLIB"},
    bytes=b(*[zlib.compress(t, 9) for t in TEXTS + [b"x"]]).reshape(2, 2))
add("DecodeCompressed", "gzip", {"compression_type": "GZIP"},
    bytes=b(*[gzip.compress(t, mtime=0) for t in TEXTS]))
add("DecodeCompressed", "none", bytes=b(*TEXTS))
add("DecodeCompressed", "zlib_corrupt", {"compression_type": "ZLIB"}, bytes=b(b"not zlib data"))
add("DecodeCompressed", "gzip_given_zlib", {"compression_type": "GZIP"},
    bytes=b(zlib.compress(b"abc")))
add("DecodeCompressed", "zlib_truncated", {"compression_type": "ZLIB"},
    bytes=b(zlib.compress(b"hello world" * 20)[:-6]))
add("DecodeCompressed", "unknown_type", {"compression_type": "BZIP2"}, bytes=b(b"x"))

# -- CSV -------------------------------------------------------------------------------------------------
F, I, L, D, S = (np.zeros(1, t) for t in (np.float32, np.int32, np.int64, np.float64, object))
S = b(b"dflt")
NONE = [np.zeros(0, t) for t in (np.float32, np.int32, np.int64, np.float64, object)]
ROWS = b(b"1.5,2,3,4.25,x", b" 2 ,-7,9000000000,1e300,\"q,\"\"z\"\"\"", b",,,,",
         b"nan,+3,0,-inf,\"\"", b"1,2,3,4,5\r\n")
add("DecodeCSV", "types", records=ROWS, record_defaults=[F + 9, I + 8, L + 7, D + 6, S])
add("DecodeCSV", "missing_required", records=ROWS, record_defaults=NONE)
add("DecodeCSV", "na_value", {"na_value": "NA"}, records=b(b"NA,1", b"2,NA"),
    record_defaults=[F - 1, I - 1])
add("DecodeCSV", "delim", {"field_delim": "|"}, records=b(b"a|b", b"c|"), record_defaults=[S, S])
add("DecodeCSV", "no_quotes", {"use_quote_delim": False}, records=b(b'"a",b"', b'x,"'),
    record_defaults=[S, S])
add("DecodeCSV", "select", {"select_cols": [0, 2]}, records=b(b"1,2,3,4", b"5,6,7"),
    record_defaults=[I, I])
add("DecodeCSV", "select_last_missing", {"select_cols": [1, 3]}, records=b(b"1,2,3"),
    record_defaults=[I, I])
add("DecodeCSV", "select_not_increasing", {"select_cols": [2, 1]}, records=b(b"1,2,3"),
    record_defaults=[I, I])
add("DecodeCSV", "select_negative", {"select_cols": [-1, 1]}, records=b(b"1,2,3"),
    record_defaults=[I, I])
add("DecodeCSV", "select_count", {"select_cols": [0]}, records=b(b"1,2,3"), record_defaults=[I, I])
add("DecodeCSV", "too_few_fields", records=b(b"1,2"), record_defaults=[I, I, I])
add("DecodeCSV", "too_many_fields", records=b(b"1,2,3,4"), record_defaults=[I, I, I])
add("DecodeCSV", "empty_record", records=b(b""), record_defaults=[I])
add("DecodeCSV", "bad_int", records=b(b"1.5"), record_defaults=[I])
add("DecodeCSV", "int_overflow", records=b(b"3000000000"), record_defaults=[I])
add("DecodeCSV", "bad_float", records=b(b"abc"), record_defaults=[F])
add("DecodeCSV", "hex_float", records=b(b"0x1p3,inf"), record_defaults=[F, D])
add("DecodeCSV", "quote_inside", records=b(b'a"b,c'), record_defaults=[S, S])
add("DecodeCSV", "quote_unescaped", records=b(b'"a"b",c'), record_defaults=[S, S])
add("DecodeCSV", "quote_unterminated", records=b(b'"ab,c'), record_defaults=[S, S])
add("DecodeCSV", "crlf_inside", records=b(b"a\nb,c"), record_defaults=[S, S])
add("DecodeCSV", "quoted_crlf", records=b(b'"a\nb",c'), record_defaults=[S, S])
add("DecodeCSV", "two_defaults", records=b(b"1"), record_defaults=[np.zeros(2, np.int32)])
add("DecodeCSV", "long_delim", {"field_delim": "||"}, records=b(b"1"), record_defaults=[I])
add("DecodeCSV", "2d_records", records=b(b"1,a", b"2,b", b"3,c", b"4,d").reshape(2, 2),
    record_defaults=[L, S])
add("DecodeCSV", "scalar_record", records=scalar(b"1,a"), record_defaults=[L, S])

# -- StringFormat: tensors as SummarizeValue writes them (print_v2); a template whose
# placeholders do not match the inputs is refused when TF builds the node (no case here).
FMT_VALUES = {
    "f32": np.float32([[1.5, -0.0, np.nan], [np.inf, 1e-7, 123456789.0]]),
    "f64": np.float64([0.1, -1e300, 2.0]), "f16": np.float16([1.5, -2]),
    "bf16": np.array([[1.5, 3.0]], ml_dtypes.bfloat16), "i8": np.int8([-128, 127]),
    "u64": np.uint64([2**64 - 1]), "i64": np.int64([-(2**63), 5]), "bool": np.array([True, False]),
    "c64": np.complex64([1 + 2j, -0.5j]), "str": s("a", "b\"c", "\n"), "scalar": np.float32(2.5),
    "empty": np.zeros((2, 0), np.int32), "cube": np.arange(60, dtype=np.int32).reshape(3, 4, 5),
    "long": np.arange(12, dtype=np.float64),
}
FMT_VALUES["c128_2d"] = np.complex128([[1j, 2], [3, 4]])
for tag, value in FMT_VALUES.items():
    add("StringFormat", tag, {"template": "x={} done", "placeholder": "{}"}, inputs=[value])
for n in (-1, 0, 1, 2, 5):
    add("StringFormat", f"summarize{n}", {"template": "{}|{}", "placeholder": "{}", "summarize": n},
        inputs=[FMT_VALUES["cube"], FMT_VALUES["long"]])
    add("StringFormat", f"complex_summarize{n}", {"template": "{}{}", "placeholder": "{}",
                                                  "summarize": n},
        inputs=[FMT_VALUES["c128_2d"], np.complex64(1j)])
add("StringFormat", "placeholder", {"template": "%s and %s%s", "placeholder": "%s"},
    inputs=[np.int32(1), s("q"), np.float32([1.25])])
add("StringFormat", "no_inputs", {"template": "plain text"}, inputs=[])
add("StringFormat", "unicode", {"template": "é{}ü", "placeholder": "{}"}, inputs=[s("日本")])

# -- regexes and strong hashing -------------------------------------------------------------------
add("StaticRegexFullMatch", "basic", {"pattern": "a[bc]+d?"}, input=s("abcd", "abx", "", "acb"))
add("StaticRegexFullMatch", "empty_pattern", {"pattern": ""}, input=s("", "a"))
add("StaticRegexFullMatch", "bad_pattern", {"pattern": "a("}, input=s("a"))
add("RegexFullMatch", "2d", input=s("ab", "x", "abab", "").reshape(2, 2),
    pattern=np.array(b"(ab)*", object))
add("RegexReplace", "groups", {"replace_global": True}, input=s("a1b22c", ""),
    pattern=np.array(b"([a-z])(\\d+)", object), rewrite=np.array(b"<\\2\\1>", object))
add("RegexReplace", "first_only", {"replace_global": False}, input=s("aaa", "b"),
    pattern=np.array(b"a", object), rewrite=np.array(b"X", object))
add("StringToHashBucketStrong", "keys", {"num_buckets": 1000, "key": [1, 2]},
    input=s("", "a", "hello world", "日本語"))
add("StringToHashBucketStrong", "big_key", {"num_buckets": 7, "key": [-1, -(2**63)]},
    input=s("x", "y").reshape(1, 2))
add("StringToHashBucketStrong", "one_key", {"num_buckets": 7, "key": [1]}, input=s("x"))

# -- the clock (values differ by design: dtype and shape only) ----------------------------------------
add("Timestamp", "now", spec_only=True)

test_kernel_matches_tensorflow = CASES.test()
