"""The picture model: boxes (ops, inputs, outputs, collapsed scopes), edges and clusters.

Independent of any output format; :mod:`savedmodel_io.graphviz.walk` builds pictures
from graphs and :mod:`savedmodel_io.graphviz.dot` writes them as DOT text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from savedmodel_io import dtypes
from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.tensors import Shape

__all__ = ["MAX_FOLDED_LINES", "Cluster", "Picture", "PictureNode", "clip", "dtype_text",
           "shape_text"]

MAX_FOLDED_LINES = 4

# Drawing families of common ops (the colour of a box; what names a collapsed scope).
_FAMILY = {
    **dict.fromkeys(
        ["Conv2D", "Conv3D", "Conv1D", "DepthwiseConv2dNative", "Conv2DBackpropInput",
         "Conv3DBackpropInputV2", "Conv"], "conv"),
    **dict.fromkeys(["MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum"], "matmul"),
    **dict.fromkeys(
        ["Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Softplus",
         "Gelu", "LeakyRelu", "Swish", "HardSwish"], "act"),
    **dict.fromkeys(["FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "Rsqrt"], "norm"),
    **dict.fromkeys(["MaxPool", "AvgPool", "MaxPoolV2", "Mean", "Max", "Sum"], "pool"),
    **dict.fromkeys(
        ["Reshape", "Shape", "Transpose", "ExpandDims", "Squeeze", "ConcatV2", "Pack", "Unpack",
         "StridedSlice", "Slice", "GatherV2", "Cast", "Pad", "Fill"], "shape"),
}


@dataclass
class PictureNode:
    """One box of the picture: an op (or a collapsed name scope), an input or an output."""

    id: int
    op: str
    name: str
    kind: str = "op"  # op | input | output | call | scope
    shapes: list[Shape] | None = None
    folded: list[str] = field(default_factory=list)
    cluster: int | None = None
    detail: str = ""
    caption: str | None = None  # shown instead of the last name component

    @property
    def family(self) -> str:
        if self.kind in ("input", "output"):
            return "io"
        if self.kind == "call":
            return "call"
        return _FAMILY.get(self.op, "other")


@dataclass
class Cluster:
    """A function body drawn inside a box labelled with the function's name."""

    id: int
    label: str
    parent: int | None


@dataclass
class Picture:
    """Nodes, edges and clusters of a picture, independent of the output format."""

    title: str
    nodes: dict[int, PictureNode] = field(default_factory=dict)
    edges: list[tuple[int, int]] = field(default_factory=list)
    clusters: dict[int, Cluster] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Picture({self.title!r}, nodes={len(self.nodes)}, edges={len(self.edges)}, "
            f"clusters={len(self.clusters)})"
        )

    def ops(self) -> dict[str, int]:
        """How many boxes draw each op type."""
        out: dict[str, int] = {}
        for n in self.nodes.values():
            if n.kind == "op":
                out[n.op] = out.get(n.op, 0) + 1
        return dict(sorted(out.items()))

    def collapse(self, depth: int) -> Picture:
        """A copy where nodes sharing the first ``depth`` name-scope levels (per cluster) are one box."""
        if depth < 1:
            raise InvalidArgumentError(f"collapse depth must be at least 1, got {depth}")
        groups: dict[tuple[int | None, str], list[PictureNode]] = {}
        owner: dict[int, int] = {}
        out = Picture(self.title, clusters=dict(self.clusters))
        for n in self.nodes.values():
            parts = n.name.split("/")
            if n.kind != "op" or len(parts) <= depth:
                out.nodes[n.id] = n
                owner[n.id] = n.id
                continue
            groups.setdefault((n.cluster, "/".join(parts[:depth])), []).append(n)
        leaving: set[int] = set()
        for a, b in self.edges:
            leaving.add(a)
        for (cluster, scope), members in groups.items():
            if len(members) == 1:
                n = members[0]
                out.nodes[n.id] = PictureNode(
                    id=n.id, op=n.op, name=n.name, kind=n.kind, shapes=n.shapes,
                    folded=n.folded, cluster=n.cluster, detail=n.detail,
                    caption=scope.rsplit("/", 1)[-1],
                )
                owner[n.id] = n.id
                continue
            gid = members[0].id
            for m in members:
                owner[m.id] = gid
            counts: dict[str, int] = {}
            for m in members:
                counts[m.op] = counts.get(m.op, 0) + 1
            main = _main_op(counts)
            exits = [m for m in members if m.id in leaving]
            last = exits[-1] if exits else members[-1]
            weights = [f for m in members for f in m.folded if not f.startswith("const")]
            folded = weights[:MAX_FOLDED_LINES]
            if len(weights) > MAX_FOLDED_LINES:
                folded.append(f"+{len(weights) - MAX_FOLDED_LINES} more weights")
            ops_text = ", ".join(
                f"{op}×{c}" if c > 1 else op for op, c in sorted(counts.items(), key=lambda kv: -kv[1])
            )
            out.nodes[gid] = PictureNode(
                id=gid,
                op=main,
                name=scope,
                kind="scope",
                shapes=last.shapes,
                folded=folded,
                cluster=cluster,
                detail=clip(ops_text, 60),
            )
        seen: set[tuple[int, int]] = set()
        for a, b in self.edges:
            e = (owner[a], owner[b])
            if e[0] != e[1] and e not in seen:
                seen.add(e)
                out.edges.append(e)
        return out

    def scope_depth(self) -> int:
        """The deepest name-scope nesting of any op box."""
        return max((n.name.count("/") for n in self.nodes.values() if n.kind == "op"), default=0)


def _main_op(counts: dict[str, int]) -> str:
    """The op that names a collapsed scope: the heaviest family first (conv, matmul, ...)."""
    rank = ["conv", "matmul", "pool", "norm", "act"]
    for fam in rank:
        hits = [op for op in counts if _FAMILY.get(op) == fam]
        if hits:
            return min(hits, key=lambda op: (-counts[op], op))
    return min(counts, key=lambda op: (-counts[op], op))



def shape_text(shape: Shape) -> str:
    if shape is None:
        return "?"
    if not shape:
        return "scalar"
    return "×".join("?" if d is None else str(d) for d in shape)


def dtype_text(dt: int) -> str:
    """``float32`` for DT_FLOAT; empty for DT_INVALID."""
    return dtypes.python_name(dt) if dt else ""


def clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
