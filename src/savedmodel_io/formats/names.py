"""The names of a checkpoint's tensors: one table that every API and command reads.

A tensor in a SavedModel's ``variables/`` can be named by its checkpoint key
(``dense/kernel/.ATTRIBUTES/VARIABLE_VALUE``), by any object path through the object graph
(``dense/kernel``, Keras' ``_all_variables/3``, ``<path>/.ATTRIBUTES/<attr>``), or by the
variable's own name (``SavedVariable.name``, e.g. Keras 3's ``conv1/kernel``, with or without
``:0``). :class:`NameTable` collects these once per checkpoint: each tensor's natural name
(what listings and exports show), every alias that resolves to it, and "did you mean"
suggestions on a miss. ``load(d).variables``, ``CheckpointReader.resolve``,
``replace_weights``/``variable_names``, weight export/import and ``savedmodel-io variables``
all name tensors through it.

Natural names (``naming="auto"``): the variable's own name when it names one variable (Keras 3
exports keep each variable twice, under ``variables/N`` and ``_all_variables/M``: such copies,
with a layer-qualified name and identical dtype, shape, size and CRC32C in the index, count as
one); TensorFlow's name for unnamed variables (``Variable``) never counts. Otherwise the
object path the checkpoint key spells (the path as written), else the shortest object path,
else the checkpoint key. ``naming="path"`` always uses object paths, ``"key"`` keys.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from savedmodel_io._lookup import did_you_mean
from savedmodel_io.errors import InvalidArgumentError, NotFoundError
from savedmodel_io.formats.object_paths import (
    OBJECT_GRAPH_KEY,
    VALUE_ATTRIBUTE,
    PathBudget,
    object_graph_paths,
)

__all__ = ["Naming", "NameTable", "TensorName", "all_paths"]

Naming = Literal["auto", "path", "key"]
NAMINGS = ("auto", "path", "key")

# How many distinct object paths are recorded per object (objects reachable many ways).
MAX_PATHS = 16

# The names TensorFlow gives variables created without one (tf.Variable(...) in eager mode,
# uniquified in graphs): not a name anybody chose.
_DEFAULT_NAME = re.compile(r"Variable(_\d+)?")


@dataclass(frozen=True)
class TensorName:
    """One stored tensor (or several byte-identical copies of one variable) and its names."""

    name: str
    keys: tuple[str, ...]  # checkpoint keys, the copy to read first
    path: str | None  # the object path the key was made from (None without an object graph)
    is_variable: bool  # a SavedVariable's value (or any tensor, without a SavedObjectGraph)
    aliases: tuple[str, ...]  # every name that resolves to these keys alone, natural name first

    @property
    def key(self) -> str:
        return self.keys[0]


def all_paths(children: list[list[tuple[str, int]]], budget: PathBudget) -> dict[int, list[str]]:
    """Up to MAX_PATHS object paths per node, shortest first (no cycles), within ``budget``.

    Each path and its set of visited nodes cost their length: a chain repeats every prefix.
    """
    out: dict[int, list[str]] = {0: [""]}
    frontier = [(0, "", frozenset([0]))]
    while frontier:
        nxt = []
        for nid, base, seen in frontier:
            for local, child in children[nid]:
                if child in seen or not 0 <= child < len(children):
                    continue
                lst = out.setdefault(child, [])
                if len(lst) >= MAX_PATHS:
                    continue
                p = f"{base}/{local}" if base else local
                budget.charge(len(p) + len(seen))
                lst.append(p)
                nxt.append((child, p, seen | {child}))
        frontier = nxt
    return out


def _copies(reader: Any, keys: list[str]) -> bool:
    """Whether the keys hold one tensor: same dtype, shape, size and stored CRC32C, unsliced."""
    first = reader.entry(keys[0])
    sig = (first.dtype_enum, first.shape, first.size, first.crc32c)
    return not first.slices and all(
        (e.dtype_enum, e.shape, e.size, e.crc32c) == sig and not e.slices
        for e in (reader.entry(k) for k in keys[1:])
    )


def _key_order(key: str) -> tuple[bool, str]:
    """Prefer ``variables/N`` over ``_all_variables/M`` as the copy read first."""
    return (key.startswith("_"), key)


class NameTable:
    """Every name of every tensor of one checkpoint (see the module docstring).

    ``saved_model`` is the parsed SavedModel message the checkpoint belongs to (for variable
    names and which tensors are variables); by default ``saved_model.pb`` beside a
    ``variables/`` directory is read when there is one.
    """

    def __init__(self, reader: Any, saved_model: Any = None, *, naming: Naming = "auto") -> None:
        if naming not in NAMINGS:
            raise InvalidArgumentError(f"names must be 'auto', 'path' or 'key', got {naming!r}")
        self.reader = reader
        self.where = reader.index_path
        if saved_model is None:
            saved_model = reader.saved_model_beside()
        keys = [k for k in reader if k != OBJECT_GRAPH_KEY]
        self._aliases: dict[str, set[str]] = {}
        canonical, var_names, is_var = self._from_graphs(keys, saved_model)
        groups = self._groups(keys, var_names, naming)
        names = [self._natural(g, canonical, var_names, naming) for g in groups]
        # A variable name may equal another tensor's path: those fall back to their path,
        # then (if that clashes too) to their checkpoint key, which is unique.
        fallbacks: tuple[Callable[[list[str]], str], ...] = (
            lambda g: canonical.get(g[0], g[0]), lambda g: g[0])
        for fallback in fallbacks:
            counts = Counter(names)
            names = [n if counts[n] == 1 else fallback(g) for n, g in zip(names, groups)]
        by_key: dict[str, list[str]] = {}
        for alias, ks in self._aliases.items():
            for k in ks:
                by_key.setdefault(k, []).append(alias)
        entries = []
        for name, g in zip(names, groups):
            mine = set(g)
            aliases = {a for k in g for a in by_key.get(k, ()) if self._aliases[a] <= mine}
            aliases.discard(name)
            entries.append(TensorName(
                name=name, keys=tuple(g), path=canonical.get(g[0]),
                is_variable=all(is_var.get(k, True) for k in g),
                aliases=(name, *sorted(aliases, key=lambda a: (len(a), a))),
            ))
        self.entries: list[TensorName] = sorted(entries, key=lambda e: e.name)
        self.by_name: dict[str, TensorName] = {e.name: e for e in self.entries}
        self.by_key: dict[str, TensorName] = {k: e for e in self.entries for k in e.keys}

    def _add(self, name: str, *keys: str) -> None:
        self._aliases.setdefault(name, set()).update(keys)

    def _from_graphs(
        self, keys: list[str], saved_model: Any
    ) -> tuple[dict[str, str], dict[str, str], dict[str, bool]]:
        """Aliases from both object graphs; key -> canonical path, variable name, is-variable."""
        for k in keys:
            self._add(k, k)
        canonical: dict[str, str] = {}
        var_names: dict[str, str] = {}
        is_var: dict[str, bool] = {}
        tog = self.reader.object_graph
        if tog is None or not len(tog.nodes):
            return canonical, var_names, is_var
        present = set(keys)
        node_keys: dict[int, str] = {}
        for path, (key, nid) in object_graph_paths(tog, self.where).items():
            if key in present:
                canonical.setdefault(key, path)
                self._add(path, key)
        kids = [[(c.local_name, c.node_id) for c in n.children] for n in tog.nodes]
        paths = all_paths(kids, PathBudget(tog.ByteSize(), self.where))
        for nid, node in enumerate(tog.nodes):
            for attr in node.attributes:
                if attr.checkpoint_key not in present:
                    continue
                if attr.name == VALUE_ATTRIBUTE:
                    node_keys[nid] = attr.checkpoint_key
                for p in paths.get(nid, []):
                    if attr.name == VALUE_ATTRIBUTE:
                        self._add(p, attr.checkpoint_key)
                    self._add(f"{p}/.ATTRIBUTES/{attr.name}", attr.checkpoint_key)
        sog = self._saved_object_graph(saved_model)
        if sog is not None:
            # TensorFlow numbers the TrackableObjectGraph and the SavedObjectGraph alike.
            for k in keys:
                is_var[k] = False
            for nid, key in node_keys.items():
                if nid < len(sog.nodes) and sog.nodes[nid].WhichOneof("kind") == "variable":
                    is_var[key] = True
                    name = sog.nodes[nid].variable.name
                    if name:
                        var_names[key] = name
                        self._add(name, key)
                        self._add(name + ":0", key)
        return canonical, var_names, is_var

    @staticmethod
    def _saved_object_graph(saved_model: Any) -> Any:
        for mg in getattr(saved_model, "meta_graphs", ()):
            if len(mg.object_graph_def.nodes):
                return mg.object_graph_def
        return None

    def _groups(self, keys: list[str], var_names: dict[str, str], naming: Naming) -> list[list[str]]:
        """The stored tensors, copies of one variable (under one natural name) grouped."""
        if naming != "auto":
            return [[k] for k in keys]
        by_name: dict[str, list[str]] = {}
        for k in keys:
            if k in var_names and not _DEFAULT_NAME.fullmatch(var_names[k]):
                by_name.setdefault(var_names[k], []).append(k)
        grouped: dict[str, list[str]] = {}
        for vname, ks in by_name.items():
            # Two unnamed tf.Variables with equal values are not copies: a layer-qualified
            # name ("conv/kernel") is required to merge.
            if len(ks) == 1 or ("/" in vname and _copies(self.reader, ks)):
                g = sorted(ks, key=_key_order)
                for k in ks:
                    grouped[k] = g
        out, seen = [], set()
        for k in keys:
            g = grouped.get(k, [k])
            if g[0] not in seen:
                seen.add(g[0])
                out.append(g)
        return out

    @staticmethod
    def _natural(group: list[str], canonical: dict[str, str], var_names: dict[str, str],
                 naming: Naming) -> str:
        key = group[0]
        if naming == "key":
            return key
        if naming == "auto" and (len(group) > 1 or (
                key in var_names and not _DEFAULT_NAME.fullmatch(var_names[key]))):
            # Grouped keys share their variable name; a single key's own name is used too.
            return var_names[key]
        return canonical.get(key, key)

    # -- look-ups

    def keys_for(self, name: str) -> tuple[str, ...]:
        """Every checkpoint key ``name`` stands for (several: copies, or an ambiguous name).

        A natural name always means its own tensor, even where it is another's alias too.
        """
        if name in self.by_name:
            return self.by_name[name].keys
        keys = self._aliases.get(name)
        if keys is None and name.endswith(":0"):
            keys = self._aliases.get(name[:-2])
        if not keys:
            raise NotFoundError(
                f"no tensor named {name!r} (a checkpoint key, object path or variable name)"
                f"{did_you_mean(name, self._suggestible())}",
                path=self.where,
            )
        return tuple(sorted(keys, key=_key_order))

    def resolve(self, name: str) -> tuple[str, ...]:
        """The checkpoint keys of the one tensor ``name`` means (copies included).

        NotFoundError with near names for a miss; InvalidArgumentError when the name is
        shared by tensors that are not copies of one variable.
        """
        keys = self.keys_for(name)
        if len(keys) > 1 and name not in self.by_name and not _copies(self.reader, list(keys)):
            raise InvalidArgumentError(
                f"{name!r} names several variables ({', '.join(keys)}); "
                "use an object path or checkpoint key",
                path=self.where,
            )
        return keys

    def _suggestible(self) -> list[str]:
        """Names to suggest from: natural names first, then every other alias."""
        return list(dict.fromkeys([*self.by_name, *self._aliases]))

    def names_of(self, key: str) -> list[str]:
        """Every name that resolves to ``key`` (alone or with its copies): the key, the
        natural name, then the others shortest first."""
        entry = self.by_key.get(key)
        natural = entry.name if entry is not None else key
        out = [n for n, ks in self._aliases.items() if key in ks and (
            len(ks) == 1 or _copies(self.reader, sorted(ks)))]
        return sorted(out, key=lambda n: (n != key, n != natural, len(n), n))
