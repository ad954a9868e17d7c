"""Export a story's character graph: GraphML (for Gephi) or a PNG picture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automuse_rag.errors import InputError
from automuse_rag.fsutil import atomic_path

if TYPE_CHECKING:
    import networkx as nx

FORMATS = (".graphml", ".png")


def graphml_ready(g: nx.Graph[str]) -> nx.Graph[str]:
    """A copy whose attributes GraphML can hold: lists become ``; ``-joined strings,
    relations JSON text, ``None`` an empty string."""
    out = g.copy()
    for _, data in out.nodes(data=True):
        _flatten(data)
    for _, _, data in out.edges(data=True):
        _flatten(data)
    return out


def _flatten(data: dict[str, Any]) -> None:
    for key, value in list(data.items()):
        if value is None:
            data[key] = ""
        elif key == "relations":
            data[key] = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, (list, tuple, set)):
            data[key] = "; ".join(str(v) for v in value)
        elif not isinstance(value, (str, int, float, bool)):
            data[key] = str(value)


def write_graph(g: nx.Graph[str], path: Path, title: str = "") -> Path:
    """Write ``g`` to ``path``; the suffix chooses GraphML or PNG."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"--out must end in .graphml or .png, got {path.name!r}")

    with atomic_path(path) as tmp:  # a reader never sees half a file
        if suffix == ".graphml":
            import networkx as nx

            nx.write_graphml(graphml_ready(g), tmp)
        else:
            draw_png(g, tmp, title)
    return path


def draw_png(g: Any, path: Path, title: str = "", max_nodes: int = 60) -> None:
    """Draw the ``max_nodes`` most mentioned entities: node size by mentions, colour by
    kind, edge width by co-occurrence weight, labelled with names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    keep = sorted(g.nodes, key=lambda n: -int(g.nodes[n].get("mentions", 0) or 0))[:max_nodes]
    sub = g.subgraph(keep)
    colors = {"character": "tab:blue", "place": "tab:green", "thing": "tab:orange"}
    fig, ax = plt.subplots(figsize=(11, 8), dpi=110)
    try:
        if sub.number_of_nodes():
            pos = nx.spring_layout(sub, seed=7, k=1.2 / max(1, sub.number_of_nodes()) ** 0.5, weight="weight")
            mentions = [int(sub.nodes[n].get("mentions", 1) or 1) for n in sub]
            top = max(mentions)
            sizes = [120 + 1400 * m / top for m in mentions]
            widths = [
                0.4 + 3.0 * d.get("weight", 1) / max(1, max((e.get("weight", 1) for *_, e in sub.edges(data=True)), default=1))
                for *_, d in sub.edges(data=True)
            ]
            nx.draw_networkx_edges(sub, pos, ax=ax, width=widths, alpha=0.35, edge_color="gray")
            nx.draw_networkx_nodes(
                sub,
                pos,
                ax=ax,
                node_size=sizes,
                alpha=0.85,
                node_color=[colors.get(sub.nodes[n].get("kind", ""), "tab:purple") for n in sub],
            )
            nx.draw_networkx_labels(sub, pos, ax=ax, labels={n: sub.nodes[n].get("name", n) for n in sub}, font_size=8)
            for kind, color in colors.items():
                ax.scatter([], [], color=color, label=kind)
            ax.legend(loc="lower right")
        else:
            ax.text(0.5, 0.5, "no entities yet at this position", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title or "character graph")
        ax.axis("off")
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
