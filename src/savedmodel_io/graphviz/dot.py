"""Graphviz DOT text for a picture: HTML-like labels, op-family colours, clusters per function."""

from __future__ import annotations

from savedmodel_io.errors import InvalidArgumentError
from savedmodel_io.graphviz.picture import Picture, PictureNode, clip, shape_text

__all__ = ["to_dot"]

# Fill colours by op family, so a reader sees the structure (convolutions, activations...).
_COLORS = {
    "conv": "#cfe2f3",
    "matmul": "#b4d7f0",
    "act": "#f8cbad",
    "norm": "#d9ead3",
    "pool": "#fff2cc",
    "shape": "#eeeeee",
    "io": "#ffe599",
    "call": "#ead1dc",
    "other": "#ffffff",
}


def _html(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _label(n: PictureNode) -> str:
    short = n.caption if n.caption is not None else n.name.rsplit("/", 1)[-1]
    rows = []
    if n.kind == "input":
        rows.append(f"<b>{_html(clip(short, 40))}</b>")
        if n.detail:
            rows.append(_html(n.detail))
    elif n.kind == "output":
        rows.append(f"<b>{_html(clip(n.name, 40))}</b>")
        if n.detail:
            rows.append(_html(n.detail))
    elif n.kind == "scope":
        rows.append(f"<b>{_html(clip(short, 40))}</b>")
        rows.append(f'<font point-size="8">{_html(n.detail)}</font>')
    else:
        rows.append(f"<b>{_html(n.op)}</b>")
        if short != n.op:
            rows.append(f'<font point-size="8">{_html(clip(short, 40))}</font>')
        if n.detail:
            rows.append(f'<font point-size="8">→ {_html(clip(n.detail, 60))}</font>')
    for f in n.folded:
        rows.append(f'<font point-size="8" color="#555555">{_html(f)}</font>')
    if n.shapes:
        text = ", ".join(shape_text(s) for s in n.shapes[:4])
        if len(n.shapes) > 4:
            text += f", +{len(n.shapes) - 4}"
        rows.append(f'<font point-size="8" color="#1f4e79">{_html(text)}</font>')
    return "<" + "<br/>".join(rows) + ">"


def _short_function(name: str) -> str:
    """``__inference___call___5210`` -> ``__call__`` (TF's traced-function naming)."""
    base = name
    if base.startswith("__inference_"):
        base = base[len("__inference_"):]
        head, sep, tail = base.rpartition("_")
        if sep and tail.isdigit():
            base = head
    return base or name


def to_dot(picture: Picture, *, rankdir: str = "TB") -> str:
    """Graphviz DOT text for a picture (clusters for function bodies, coloured op families)."""
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise InvalidArgumentError(f"rankdir must be TB, LR, BT or RL, got {rankdir!r}")
    lines = [
        "digraph savedmodel {",
        (f"  graph [rankdir={rankdir}, label={_quote(picture.title)}, labelloc=t, fontsize=12, "
        'fontname="Helvetica", newrank=true, nodesep=0.25, ranksep=0.3];'),
        ('  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, '
        'margin="0.08,0.03", penwidth=0.8];'),
        '  edge [arrowsize=0.6, color="#666666", penwidth=0.8];',
    ]
    members: dict[int | None, list[PictureNode]] = {}
    for n in picture.nodes.values():
        members.setdefault(n.cluster, []).append(n)
    children: dict[int | None, list[int]] = {}
    for c in picture.clusters.values():
        children.setdefault(c.parent, []).append(c.id)

    def node_line(n: PictureNode, indent: str) -> str:
        shape = "ellipse" if n.kind in ("input", "output") else "box"
        style = '"filled"' if shape == "ellipse" else '"rounded,filled"'
        if n.kind == "scope":
            style = '"rounded,filled,bold"'
        return (
            f"{indent}n{n.id} [label={_label(n)}, shape={shape}, style={style}, "
            f'fillcolor="{_COLORS[n.family]}", tooltip={_quote(n.name)}];'
        )

    def emit(cluster: int | None, indent: str) -> None:
        for n in members.get(cluster, []):
            lines.append(node_line(n, indent))
        for cid in children.get(cluster, []):
            c = picture.clusters[cid]
            lines.append(f"{indent}subgraph cluster_{cid} {{")
            lines.append(
                f"{indent}  label={_quote(_short_function(c.label))}; tooltip={_quote(c.label)}; "
                'style="rounded,dashed"; color="#999999"; fontsize=10;'
            )
            emit(cid, indent + "  ")
            lines.append(f"{indent}}}")

    emit(None, "  ")
    for a, b in picture.edges:
        lines.append(f"  n{a} -> n{b};")
    lines.append("}")
    return "\n".join(lines) + "\n"
