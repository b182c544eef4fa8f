"""Parse ``run``'s input flags: ``--inputs``, ``--input_exprs``, ``--input_examples``.

The syntax is saved_model_cli's (tensorflow/tensorflow
tensorflow/python/tools/saved_model_cli.py): ``;``-separated ``key=value`` items,
``key=file`` or ``key=file[variable]`` for files that ``numpy.load`` reads.

Two things are deliberately safer than TensorFlow's:

* pickle files (which run code when loaded) are refused unless the caller opts in;
* expressions never reach ``eval``: :func:`evaluate` walks the parsed AST and
  accepts Python literals, ``+ - * /`` on numbers and arrays, and calls of a fixed
  set of numpy constructors (``np.array``, ``np.ones``, ``np.random.rand``...), with
  a cap on how many elements they may create.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import warnings
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from savedmodel_io.errors import InvalidArgumentError, NotFoundError
from savedmodel_io.formats import npz
from savedmodel_io.proto import Example

__all__ = [
    "MAX_ELEMENTS",
    "evaluate",
    "load_inputs",
    "parse_examples",
    "parse_exprs",
    "parse_inputs",
]

# Largest array an expression may build (elements): 64 Mi, 256 MiB of float32.
MAX_ELEMENTS = 1 << 26
# ... and in bytes: wide string and void dtypes ('U30', 'V1000') multiply the elements.
MAX_BYTES = 1 << 30
# Longest expression we parse (the AST of a hostile string must stay small).
MAX_EXPR_CHARS = 1 << 20

_WITH_VAR = re.compile(r"([^=]+)=([^\[\]]+)\[([^\[\]]+)\]$")
_PLAIN = re.compile(r"([^=]+)=([^\[\]]+)$")


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# -- --inputs ---------------------------------------------------------------------------

def parse_inputs(text: str) -> dict[str, tuple[str, str | None]]:
    """``"a=x.npy;b=y.npz[v]"`` -> ``{"a": ("x.npy", None), "b": ("y.npz", "v")}``."""
    out: dict[str, tuple[str, str | None]] = {}
    for item in filter(None, text.split(";")):
        m = _WITH_VAR.match(item)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3))
            continue
        m = _PLAIN.match(item)
        if m:
            out[m.group(1)] = (m.group(2), None)
            continue
        raise InvalidArgumentError(
            f'--inputs "{item}" format is incorrect: use "<input_key>=<filename>" or '
            f'"<input_key>=<filename>[<variable_name>]"')
    return out


def load_file(filename: str, variable: str | None, *, allow_pickle: bool = False) -> Any:
    """The array named by one ``--inputs`` item (npy, npz, or opted-in pickle)."""
    if not os.path.isfile(filename):
        raise NotFoundError("input file does not exist", path=filename)
    npz.check_declared_sizes(filename)
    try:
        data = np.load(filename, allow_pickle=allow_pickle)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise InvalidArgumentError(
                "not a .npy or .npz file; it may be a pickle, and unpickling can run arbitrary "
                "code: pass --allow_pickle if you trust it", path=filename) from None
        raise InvalidArgumentError(f"cannot read as .npy/.npz: {exc}", path=filename) from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InvalidArgumentError(f"cannot read as .npy/.npz: {exc}", path=filename) from None
    except Exception as exc:  # unpickling (opted in) can raise anything
        raise InvalidArgumentError(f"cannot load: {type(exc).__name__}: {exc}", path=filename) from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            names = list(data.files)
            if variable is None:
                if len(names) != 1:
                    raise InvalidArgumentError(
                        f"holds {len(names)} arrays ({', '.join(names)}): name one as "
                        "<filename>[<variable_name>]", path=filename)
                variable = names[0]
            if variable not in names:
                raise InvalidArgumentError(
                    f'does not contain variable with name "{variable}" (it has: {", ".join(names)})',
                    path=filename)
            try:
                return data[variable]
            except ValueError as exc:
                if "allow_pickle" in str(exc):
                    raise InvalidArgumentError(
                        f"array {variable!r} holds pickled objects; pass --allow_pickle if you "
                        f"trust it ({exc})", path=filename) from None
                raise InvalidArgumentError(
                    f"cannot read array {variable!r}: {exc}", path=filename) from None
            except Exception as exc:  # noqa: BLE001 - numpy's parsers raise many types
                # the member is read (and inflated) only now: a damaged archive fails here
                raise InvalidArgumentError(
                    f"cannot read array {variable!r}: {type(exc).__name__}: {exc}",
                    path=filename) from None
    if isinstance(data, np.ndarray):
        if variable is not None:
            _warn(f'input file {filename} contains a single ndarray. Name key "{variable}" ignored.')
        return data
    # An opted-in pickle: a dict when a variable is named, else the object itself.
    if variable is not None:
        if not isinstance(data, dict) or variable not in data:
            raise InvalidArgumentError(
                f'does not contain variable with name "{variable}"', path=filename)
        return data[variable]
    return data


# -- --input_exprs ------------------------------------------------------------------------

def _size(shape: Any) -> int:
    if isinstance(shape, (int, np.integer)):
        dims = [int(shape)]
    elif isinstance(shape, (tuple, list)) and all(isinstance(d, (int, np.integer)) for d in shape):
        dims = [int(d) for d in shape]
    else:
        raise InvalidArgumentError(f"a shape must be an int or a tuple of ints, got {shape!r}")
    if any(d < 0 for d in dims):
        raise InvalidArgumentError(f"negative dimension in shape {shape!r}")
    n = 1
    for d in dims:
        n *= d
    return n


def _check(n: int, what: str) -> int:
    if n > MAX_ELEMENTS:
        raise InvalidArgumentError(f"{what} would create {n} elements (limit {MAX_ELEMENTS})")
    return n


def _item_bytes(values: list[Any]) -> int:
    """Widest element the arguments can ask for: a dtype ('U30', np.complex128) or a string
    fill value (numpy makes it the array's dtype)."""
    width = 8
    for v in values:
        if isinstance(v, (str, bytes)):
            width = max(width, 4 * len(v))
        if isinstance(v, str) or (isinstance(v, type) and issubclass(v, np.generic)):
            try:
                width = max(width, np.dtype(v).itemsize)
            except TypeError:  # not a dtype name: a plain string value
                pass
    return width


# The evaluated arguments of an allowed call (any values an expression can make), and the
# size guard that checks them before the call runs and returns the elements it will make.
_Args = tuple[Any, ...]
_Kwargs = dict[str, Any]
_Guard = Callable[[str, _Args, _Kwargs], int]


def _check_bytes(n: int, what: str, args: _Args, kwargs: _Kwargs) -> None:
    size = n * _item_bytes([*args, *kwargs.values()])
    if size > MAX_BYTES:
        raise InvalidArgumentError(f"{what} would create {size} bytes (limit {MAX_BYTES})")


def _shape_arg(fn: str, args: _Args, kwargs: _Kwargs, pos: int = 0, name: str = "shape") -> int:
    shape = args[pos] if len(args) > pos else kwargs.get(name, ())
    return _check(_size(shape), f"np.{fn}")


def _guard_fill(fn: str, args: _Args, kwargs: _Kwargs) -> int:
    return _shape_arg(fn, args, kwargs)


def _guard_arange(fn: str, args: _Args, kwargs: _Kwargs) -> int:
    vals = list(args) + [kwargs[k] for k in ("start", "stop", "step") if k in kwargs]
    nums = [v for v in vals if isinstance(v, (int, float, np.integer, np.floating))]
    if len(nums) != len(vals):
        raise InvalidArgumentError("np.arange takes numbers")
    start, stop, step = (0, nums[0], 1) if len(nums) == 1 else (nums + [1])[:3]
    if step == 0:
        raise InvalidArgumentError("np.arange step must not be 0")
    return _check(max(int(np.ceil((stop - start) / step)), 0), "np.arange")


def _guard_linspace(fn: str, args: _Args, kwargs: _Kwargs) -> int:
    num = args[2] if len(args) > 2 else kwargs.get("num", 50)
    if not isinstance(num, (int, np.integer)):
        raise InvalidArgumentError("np.linspace num must be an int")
    return _check(int(num), "np.linspace")


def _guard_eye(fn: str, args: _Args, kwargs: _Kwargs) -> int:
    n = args[0] if args else kwargs.get("N", 0)
    m = args[1] if len(args) > 1 and args[1] is not None else kwargs.get("M") or n
    return _check(_size((n, m)), f"np.{fn}")


def _guard_like(fn: str, args: _Args, kwargs: _Kwargs) -> int:
    return _check(int(np.size(args[0])), f"np.{fn}") if args else 1


def _guard_random_size(pos: int) -> _Guard:
    def guard(fn: str, args: _Args, kwargs: _Kwargs) -> int:
        size = args[pos] if len(args) > pos else kwargs.get("size")
        return 1 if size is None else _check(_size(size), f"np.random.{fn}")
    return guard


def _guard_random_dims(fn: str, args: _Args, kwargs: _Kwargs) -> int:
    return _check(_size(tuple(args)), f"np.random.{fn}")


def _guard_array(fn: str, args: _Args, kwargs: _Kwargs) -> int:
    # The literal's elements are bounded by the expression's length; a wide dtype is not.
    try:
        return int(np.size(args[0])) if args else 1
    except ValueError:  # ragged nesting: numpy refuses it when it builds the array
        return 1


# Allowed calls: dotted name -> (function, size guard).
_CALLS: dict[str, tuple[Callable[..., Any], _Guard]] = {
    "array": (np.array, _guard_array),
    "asarray": (np.asarray, _guard_array),
    "ones": (np.ones, _guard_fill),
    "zeros": (np.zeros, _guard_fill),
    "full": (np.full, _guard_fill),
    "ones_like": (np.ones_like, _guard_like),
    "zeros_like": (np.zeros_like, _guard_like),
    "full_like": (np.full_like, _guard_like),
    "arange": (np.arange, _guard_arange),
    "linspace": (np.linspace, _guard_linspace),
    "eye": (np.eye, _guard_eye),
    "identity": (np.identity, _guard_eye),
    "random.rand": (np.random.rand, _guard_random_dims),
    "random.randn": (np.random.randn, _guard_random_dims),
    "random.random": (np.random.random, _guard_random_size(0)),
    "random.random_sample": (np.random.random_sample, _guard_random_size(0)),
    "random.randint": (np.random.randint, _guard_random_size(2)),
    "random.uniform": (np.random.uniform, _guard_random_size(2)),
    "random.normal": (np.random.normal, _guard_random_size(2)),
    "random.standard_normal": (np.random.standard_normal, _guard_random_size(0)),
}
_KWARGS = {"dtype", "shape", "fill_value", "num", "endpoint", "size", "low", "high", "loc",
           "scale", "N", "M", "k", "start", "stop", "step", "ndmin"}
# numpy attributes usable as values (constants and dtypes).
_ATTRS: dict[str, Any] = {
    "nan": np.nan, "inf": np.inf, "pi": np.pi, "e": np.e, "newaxis": None,
    **{t: getattr(np, t) for t in (
        "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
        "uint32", "uint64", "bool_", "complex64", "complex128", "object_", "bytes_", "str_")},
}
_BINOPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide}
_MODULE_NAMES = ("np", "numpy")


def _dotted(node: ast.AST) -> str | None:
    """``np.random.rand`` -> ``random.rand``; None unless rooted at ``np``/``numpy``."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in _MODULE_NAMES:
        return ".".join(reversed(parts))
    return None


class _Evaluator:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, node: ast.AST, why: str) -> InvalidArgumentError:
        seg = ast.get_source_segment(self.text, node) or type(node).__name__
        return InvalidArgumentError(
            f"expression {self.text!r}: {why}: {seg!r} (allowed: Python literals, + - * /, and "
            f"np.{', np.'.join(sorted(_CALLS))})")

    def eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (int, float, complex, str, bytes, bool)) or node.value is None:
                return node.value
            raise self.fail(node, "unsupported constant")
        if isinstance(node, ast.List):
            return [self.eval(e) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self.eval(e) for e in node.elts)
        if isinstance(node, ast.Dict):
            keys = [k for k in node.keys if k is not None]
            if len(keys) != len(node.keys):
                raise self.fail(node, "dict unpacking is not allowed")
            try:
                return {self.eval(k): self.eval(v) for k, v in zip(keys, node.values)}
            except TypeError as exc:
                raise self.fail(node, f"bad dict ({exc})") from None
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self.eval(node.operand)
            if not isinstance(v, (int, float, complex, np.ndarray, np.number)) or isinstance(v, bool):
                raise self.fail(node, "unary +/- needs a number")
            return -v if isinstance(node.op, ast.USub) else +v
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            a, b = self.eval(node.left), self.eval(node.right)
            for v in (a, b):
                if not isinstance(v, (int, float, complex, np.ndarray, np.number)) or isinstance(v, bool):
                    raise self.fail(node, "arithmetic needs numbers or arrays")
            try:
                _check(int(np.broadcast(np.asarray(a), np.asarray(b)).size), "arithmetic")
                with np.errstate(all="ignore"):
                    return _BINOPS[type(node.op)](a, b)
            except InvalidArgumentError:
                raise
            except (ValueError, TypeError, OverflowError, ZeroDivisionError, MemoryError) as exc:
                # e.g. integers beyond int64: numpy cannot convert them
                raise self.fail(node, str(exc)) from None
        if isinstance(node, ast.Attribute):
            name = _dotted(node)
            if name in _ATTRS:
                return _ATTRS[name]
            raise self.fail(node, "attribute is not allowed")
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name not in _CALLS:
                raise self.fail(node.func, "call is not allowed")
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise self.fail(node, "*args are not allowed")
            args = tuple(self.eval(a) for a in node.args)
            kwargs = {}
            for kw in node.keywords:
                if kw.arg is None or kw.arg not in _KWARGS:
                    raise self.fail(node, f"keyword {kw.arg!r} is not allowed")
                kwargs[kw.arg] = self.eval(kw.value)
            fn, guard = _CALLS[name]
            try:
                # Guards see arguments of any type and count the elements to be made.
                _check_bytes(guard(name, args, kwargs), f"np.{name}", args, kwargs)
                return fn(*args, **kwargs)
            except InvalidArgumentError:
                raise
            except (TypeError, ValueError, OverflowError, MemoryError, IndexError,
                    ZeroDivisionError) as exc:
                raise self.fail(node, f"np.{name} failed ({exc})") from None
        raise self.fail(node, f"{type(node).__name__} is not allowed")


def evaluate(text: str) -> Any:
    """Value of a safe expression (literals and allow-listed numpy constructors); never eval."""
    if len(text) > MAX_EXPR_CHARS:
        raise InvalidArgumentError(f"expression is longer than {MAX_EXPR_CHARS} characters")
    try:
        # The parser warns on stderr about odd literals ("1if", "'\\A'" escapes: a
        # SyntaxWarning, or a DeprecationWarning before Python 3.12); the user gets our error.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise InvalidArgumentError(f"expression {text!r} is not valid Python syntax ({exc.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise InvalidArgumentError(f"expression {text[:80]!r}... is too deeply nested") from None
    try:
        return _Evaluator(text.strip()).eval(tree)
    except RecursionError:
        raise InvalidArgumentError(f"expression {text[:80]!r}... is too deeply nested") from None


def parse_exprs(text: str, flag: str = "--input_exprs") -> dict[str, Any]:
    """``"a=[1,2];b=np.ones((2,3))"`` -> ``{"a": [1, 2], "b": array(...)}``."""
    out: dict[str, Any] = {}
    for item in filter(None, text.split(";")):
        if "=" not in item:
            raise InvalidArgumentError(
                f'{flag} "{item}" format is incorrect: use "<input_key>=<python expression>"')
        key, expr = item.split("=", 1)
        try:
            out[key] = evaluate(expr)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"{flag} {key}: {exc.message}") from None
    return out


# -- --input_examples ----------------------------------------------------------------------

def _feature(ex: Example, name: str, values: Any, key: str) -> None:
    if not isinstance(values, list) or not values:
        raise InvalidArgumentError(
            f"--input_examples {key}: feature {name!r} must be a non-empty list, got {values!r}")
    kinds = {type(v) for v in values}
    feat = ex.features.feature[name]
    if kinds <= {float, int} and float in kinds and bool not in kinds:
        feat.float_list.value.extend(float(v) for v in values)
    elif kinds == {int}:
        for v in values:
            if not -(1 << 63) <= v < (1 << 63):
                raise InvalidArgumentError(f"--input_examples {key}: {v} does not fit in int64")
        feat.int64_list.value.extend(values)
    elif kinds == {str}:
        feat.bytes_list.value.extend(v.encode("utf-8") for v in values)
    elif kinds == {bytes}:
        feat.bytes_list.value.extend(values)
    else:
        names = ", ".join(sorted(k.__name__ for k in kinds))
        raise InvalidArgumentError(
            f"--input_examples {key}: feature {name!r} mixes or uses unsupported types ({names}); "
            "use float, int, str or bytes values")


def make_example(features: dict[str, Any], key: str = "") -> bytes:
    """A serialized tf.train.Example from ``{feature_name: [values]}``."""
    if not isinstance(features, dict):
        raise InvalidArgumentError(
            f"--input_examples {key}: each example must be a dict of feature lists, got {features!r}")
    ex = Example()
    for name, values in features.items():
        if not isinstance(name, str):
            raise InvalidArgumentError(f"--input_examples {key}: feature names must be strings")
        _feature(ex, name, values, key)
    data: bytes = ex.SerializeToString()
    return data


def parse_examples(text: str) -> dict[str, np.ndarray]:
    """``"k=[{'f':[1.0]}]"`` -> ``{"k": object array of serialized Examples}``."""
    out: dict[str, np.ndarray] = {}
    for key, value in parse_exprs(text, "--input_examples").items():
        if not isinstance(value, list):
            raise InvalidArgumentError(
                f"--input_examples {key}: tf.Example input must be a list of dictionaries, "
                f"got {type(value).__name__}")
        arr = np.empty(len(value), dtype=object)
        arr[:] = [make_example(v, key) for v in value]
        out[key] = arr
    return out


# -- all together ---------------------------------------------------------------------------

def load_inputs(inputs: str = "", input_exprs: str = "", input_examples: str = "", *,
                allow_pickle: bool = False) -> dict[str, Any]:
    """Input key -> value from the three flags; later flags override earlier ones (as in TF)."""
    feed: dict[str, Any] = {}
    for key, (filename, var) in parse_inputs(inputs or "").items():
        feed[key] = load_file(filename, var, allow_pickle=allow_pickle)
    for key, value in parse_exprs(input_exprs or "").items():
        if key in feed:
            _warn(f"input_key {key} has been specified with both --inputs and --input_exprs "
                  "options. Value in --input_exprs will be used.")
        feed[key] = value
    for key, value in parse_examples(input_examples or "").items():
        if key in feed:
            _warn(f"input_key {key} has been specified in multiple options. Value in "
                  "--input_examples will be used.")
        feed[key] = value
    return feed
