"""The package's import layers hold, no import cycle exists, and only the CLI writes to the terminal.

Imports inside functions count too (they are edges all the same); ``TYPE_CHECKING``
blocks do not. docs/architecture.md draws these layers.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import savedmodel_io

SRC = Path(savedmodel_io.__file__).resolve().parent
ROOT_PACKAGE = "savedmodel_io"

# Import layers, lowest first: a module imports modules of its own layer and of the layers
# below, never above. A name stands for that module and, for a package, everything in it;
# the most specific name wins (formats.varint is a byte codec, the other formats.* are
# format modules). Data flows bytes -> formats -> protos/numpy -> object model; in imports
# the format modules sit on the proto bindings and numpy conversions they decode into, and
# the graph runtime (protos in, numpy out) sits below the object model, whose MetaGraph
# owns a Session.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("bytes", ("errors", "_version", "_lookup", "_accel", "_progress", "_fsutil", "_staging",
               "_swap", "remote", "hashing", "formats.varint", "formats.layout",
               "formats.source")),
    ("protos and numpy", ("proto", "dtypes", "tensors")),
    ("formats", ("formats", "_fingerprint_cpb", "fingerprint")),
    ("graph", ("graph",)),
    ("object model", ("model", "specs", "_display", "onnx")),
    ("writer and tools", ("writer", "replace", "convert", "integrity", "scan", "graphviz",
                          "_config")),
    ("cli and public API", ("cli", "__main__", "")),  # "": the package itself (__init__.py)
]

# Modules outside cli/ that write to the terminal, and why (all other library code reports
# through return values, exceptions, warnings and ProgressCallback).
TERMINAL_WRITERS = {
    "savedmodel_io._config": "show_config() prints on request, like numpy.show_config()",
    "savedmodel_io.graph.ops.control": "the PrintV2 op writes where the graph tells it to",
}


@functools.cache
def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        if "_gen" in p.parts:
            continue
        rel = p.relative_to(SRC.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = p
    return out


@functools.cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def _outside_type_checking(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` but those in ``if TYPE_CHECKING:`` blocks (one walk)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _outside_type_checking(_parse(path)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            subs = {f"{base}.{a.name}" for a in node.names} & modules.keys()
            found.update(subs)
            if len(subs) < len(node.names):
                found.add(base)
    return {m for m in found if m in modules and m != name}


@functools.cache
def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer_of(name: str) -> int | None:
    """Index in LAYERS of the most specific entry naming ``name`` (None: in no layer)."""
    best: tuple[int, int] | None = None
    for index, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            full = f"{ROOT_PACKAGE}.{entry}" if entry else ROOT_PACKAGE
            if name == full or (entry and name.startswith(full + ".")):
                if best is None or len(full) > best[0]:
                    best = (len(full), index)
    return None if best is None else best[1]


def test_every_module_has_a_layer_and_every_layer_entry_exists():
    modules = _modules()
    assert [n for n in modules if _layer_of(n) is None] == []
    entries = [f"{ROOT_PACKAGE}.{e}" if e else ROOT_PACKAGE for _, es in LAYERS for e in es]
    assert [e for e in entries if e not in modules] == []


def test_each_module_imports_only_its_layer_and_below():
    upward = []
    for name, deps in _graph().items():
        mine = _layer_of(name)
        assert mine is not None
        for dep in sorted(deps):
            theirs = _layer_of(dep)
            assert theirs is not None
            if theirs > mine:
                upward.append(f"{name} ({LAYERS[mine][0]}) imports {dep} ({LAYERS[theirs][0]})")
    assert upward == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_no_import_cycles():
    # e.g. graph.ops <-> its kernel families, model <-> graph.runtime, builder_core <->
    # layers, _accel <-> the hashes (all gone).
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"], ["e", "f"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_only_the_cli_writes_to_the_terminal():
    """Library code has no print(), no sys.stdout / sys.stderr, no progress bars (those are cli/)."""
    found = []
    for name, path in _modules().items():
        if name.startswith(f"{ROOT_PACKAGE}.cli.") or name in TERMINAL_WRITERS:
            continue
        for node in ast.walk(_parse(path)):
            printing = (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id == "print")
            stream = (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                      and node.value.id == "sys" and node.attr in ("stdout", "stderr"))
            if printing or stream:
                found.append(f"{path.relative_to(SRC.parent)}:{node.lineno}")
    assert found == []


def test_terminal_writers_exist():
    assert set(TERMINAL_WRITERS) <= set(_modules())


def test_directory_names_are_spelled_only_in_the_layout_module():
    """saved_model.pb & co. are typed in formats/layout.py alone (they were in six modules)."""
    from savedmodel_io.formats import layout

    # (Not "assets" or "variables" alone: those are also ordinary words of the API and reports.)
    names = {layout.SAVED_MODEL_PB, layout.SAVED_MODEL_PBTXT, layout.SAVED_MODEL_CPB,
             layout.FINGERPRINT, layout.ASSETS_EXTRA_DIR,
             layout.VARIABLES_PREFIX, layout.VARIABLES_INDEX, layout.INDEX_SUFFIX,
             "variables.index", ".data-"}
    found = []
    for name, path in _modules().items():
        if name == "savedmodel_io.formats.layout":
            continue
        tree = _parse(path)
        # Whole strings, and the literal parts of f-strings (f"{prefix}.index").
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            inside = id(node) in parts and any(n in node.value for n in names if n[0] == ".")
            if node.value in names or inside:
                found.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert not found, found
