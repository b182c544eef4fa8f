"""How a loaded SavedModel shows itself: a text summary for terminals, HTML for notebooks.

Both come from :func:`model_summary`, which reads only what is already parsed
plus the variables index (sizes come from the index; no tensor data is read).
Nothing here raises on a damaged model: what cannot be read is shown as such.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from savedmodel_io.errors import SavedModelError
from savedmodel_io.formats.object_paths import OBJECT_GRAPH_KEY

if TYPE_CHECKING:
    from savedmodel_io.model import SavedModel, Signature

__all__ = ["human_bytes", "model_html", "model_summary", "model_text"]

_MAX_SIGNATURES = 20


def human_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _spec_list(specs: dict[str, Any]) -> str:
    parts = []
    for s in specs.values():
        shape = "?" if s.shape is None else "[" + ",".join("?" if d is None else str(d) for d in s.shape) + "]"
        parts.append(f"{s.key}: {s.tf_dtype}{shape}")
    return ", ".join(parts)


def _signature_row(sig: Signature) -> dict[str, Any]:
    return {
        "key": sig.key,
        "inputs": _spec_list(sig.inputs),
        "outputs": _spec_list(sig.outputs),
        "method_name": sig.method_name,
    }


def model_summary(model: SavedModel) -> dict[str, Any]:
    """Tag-sets with their signatures, and the variables' count and bytes, as plain data."""
    meta_graphs = []
    for mg in model.meta_graphs:
        sigs = [_signature_row(s) for k, s in mg.signatures.items() if not k.startswith("__")]
        meta_graphs.append({
            "tags": list(mg.tags),
            "signatures": sigs,
            "functions": len(mg.proto.graph_def.library.function),
            "nodes": len(mg.proto.graph_def.node),
        })
    variables: dict[str, Any]
    try:
        if not model.has_variables:
            variables = {"count": 0, "bytes": 0}
        else:
            entries = [e for e in model.checkpoint.entries() if e.key != OBJECT_GRAPH_KEY]
            variables = {"count": len(entries), "bytes": sum(e.size for e in entries)}
    except SavedModelError as exc:
        variables = {"error": str(exc)}
    return {"path": str(model.path), "meta_graphs": meta_graphs, "variables": variables}


def _variables_text(v: dict[str, Any]) -> str:
    if "error" in v:
        return f"unreadable ({v['error']})"
    return f"{v['count']} tensors, {human_bytes(v['bytes'])}"


def model_text(model: SavedModel) -> str:
    """A few lines for ``repr``: first the one-line form, then tag-sets, signatures, variables."""
    tags = ", ".join("'" + ", ".join(t) + "'" for t in model.tag_sets)
    lines = [f"SavedModel({str(model.path)!r}, tag_sets=[{tags}])"]
    s = model_summary(model)
    for mg in s["meta_graphs"]:
        lines.append(
            f"  tag-set '{', '.join(mg['tags'])}': {len(mg['signatures'])} signature(s), "
            f"{mg['functions']} function(s), {mg['nodes']} node(s)"
        )
        for row in mg["signatures"][:_MAX_SIGNATURES]:
            lines.append(f"    {row['key']}({row['inputs']}) -> ({row['outputs']})")
        if len(mg["signatures"]) > _MAX_SIGNATURES:
            lines.append(f"    ... {len(mg['signatures']) - _MAX_SIGNATURES} more")
    lines.append(f"  variables: {_variables_text(s['variables'])}")
    return "\n".join(lines)


def model_html(model: SavedModel) -> str:
    """An HTML table per tag-set (signature, inputs, outputs, method) for Jupyter."""
    s = model_summary(model)
    e = html.escape
    out = [
        '<div class="savedmodel-io">',
        f"<b>SavedModel</b> <code>{e(s['path'])}</code>",
        f"<br/>variables: {e(_variables_text(s['variables']))}",
    ]
    for mg in s["meta_graphs"]:
        out.append(
            f"<p>tag-set <code>{e(', '.join(mg['tags']))}</code>: {mg['functions']} function(s), "
            f"{mg['nodes']} node(s)</p>"
        )
        if not mg["signatures"]:
            out.append("<p><i>no signatures</i></p>")
            continue
        out.append(
            "<table><thead><tr><th>signature</th><th>inputs</th><th>outputs</th><th>method</th>"
            "</tr></thead><tbody>"
        )
        for row in mg["signatures"]:
            out.append(
                f"<tr><td><code>{e(row['key'])}</code></td><td>{e(row['inputs'])}</td>"
                f"<td>{e(row['outputs'])}</td><td>{e(row['method_name'])}</td></tr>"
            )
        out.append("</tbody></table>")
    out.append("</div>")
    return "\n".join(out)
