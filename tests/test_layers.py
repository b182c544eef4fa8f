"""The byte and format layers import nothing above them and sit in no import cycle.

Imports inside functions count too (they are edges all the same); ``TYPE_CHECKING``
blocks do not. Other layers are left to their own tests.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import savedmodel_io

SRC = Path(savedmodel_io.__file__).resolve().parent
# The layers below the object model: bytes, errors and format modules (and the protos,
# numpy conversions, hashes and lookup helpers they use).
BOTTOM = ("savedmodel_io.formats", "savedmodel_io.remote", "savedmodel_io._fsutil",
          "savedmodel_io._staging", "savedmodel_io._swap",
          "savedmodel_io.errors", "savedmodel_io.proto", "savedmodel_io.hashing",
          "savedmodel_io.dtypes", "savedmodel_io.tensors", "savedmodel_io._lookup",
          "savedmodel_io._accel")


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
def _tree(path: Path) -> ast.Module:
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
    for node in _outside_type_checking(_tree(path)):
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


def _in_bottom(name: str) -> bool:
    return any(name == b or name.startswith(b + ".") for b in BOTTOM)


def test_bottom_layers_import_nothing_above_them():
    graph = _graph()
    bad = {n: sorted(d for d in deps if not _in_bottom(d))
           for n, deps in graph.items() if _in_bottom(n)}
    assert not {n: d for n, d in bad.items() if d}


def test_no_import_cycle_through_the_bottom_layers():
    graph = _graph()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            n = todo.pop()
            for d in graph[n]:
                if d == goal:
                    return True
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return False

    cycles = [(n, d) for n in graph if _in_bottom(n) for d in graph[n] if reaches(d, n)]
    assert not cycles  # e.g. formats.bundle <-> formats._sharding, model <-> remote (both gone)


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
        tree = _tree(path)
        # Whole strings, and the literal parts of f-strings (f"{prefix}.index").
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            inside = id(node) in parts and any(n in node.value for n in names if n[0] == ".")
            if node.value in names or inside:
                found.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert not found, found
