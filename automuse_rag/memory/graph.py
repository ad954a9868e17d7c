"""The character graph (networkx), built as of a chunk from entities and relations.

Nodes are entity ids; an edge joins two entities mentioned in the same chunk
(co-occurrence) or related by the model (``relations``), and carries every chunk
index where it holds, so the graph as of chunk ``i`` uses nothing after ``i``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from automuse_rag.fsutil import write_json_atomic
from automuse_rag.lore.entity import Entity, Relation

if TYPE_CHECKING:
    import networkx as nx


class _EdgeData(TypedDict):
    chunks: set[int]
    relations: list[dict[str, Any]]


def build_graph(entities: Iterable[Entity], relations: Iterable[Relation] = (), at: int | None = None) -> nx.Graph[str]:
    """A ``networkx.Graph`` of characters and places as of chunk ``at`` (all if None)."""
    import networkx as nx

    g: nx.Graph[str] = nx.Graph()
    by_chunk: dict[int, list[str]] = defaultdict(list)
    for ent in entities:
        view = ent if at is None else ent.at(at)
        if view is None:
            continue
        g.add_node(
            view.id,
            name=view.name,
            kind=view.kind,
            aliases=sorted(view.aliases),
            mentions=len(view.mentions),
            first_chunk=view.first_chunk,
            last_chunk=view.last_chunk,
        )
        for c in view.mentions:
            by_chunk[c].append(view.id)
    edges: dict[tuple[str, str], _EdgeData] = {}

    def edge(a: str, b: str) -> _EdgeData:
        key = (a, b) if a <= b else (b, a)
        return edges.setdefault(key, {"chunks": set(), "relations": []})

    for c, ids in by_chunk.items():
        ids = sorted(set(ids))
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                edge(a, b)["chunks"].add(c)
    for rel in relations:
        if at is not None and rel.chunk > at:
            continue
        if rel.source == rel.target or rel.source not in g or rel.target not in g:
            continue
        data = edge(rel.source, rel.target)
        data["chunks"].add(rel.chunk)
        data["relations"].append({"label": rel.label, "chunk": rel.chunk, "source": rel.source, "via": rel.via})
    for (a, b), data in edges.items():
        chunks = sorted(data["chunks"])
        g.add_edge(a, b, chunks=chunks, weight=len(chunks), relations=data["relations"])
    return g


def graph_to_json(g: nx.Graph[str]) -> dict[str, Any]:
    """Node-link JSON of a graph (``networkx.node_link_data``, edges under "links")."""
    import networkx as nx

    return nx.node_link_data(g, edges="links")


def graph_from_json(data: dict[str, Any]) -> nx.Graph[str]:
    import networkx as nx

    return nx.node_link_graph(data, edges="links")


def save_graph(g: nx.Graph[str], path: Path) -> None:
    """Write node-link JSON atomically (temp file + ``os.replace``)."""
    write_json_atomic(path, graph_to_json(g), indent=None)


def load_graph(path: str | Path) -> nx.Graph[str]:
    import json

    return graph_from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def export_graphml(g: nx.Graph[str], path: str | Path) -> None:
    """GraphML export; list/dict attributes (aliases, chunks, relations) become JSON strings."""
    import json

    import networkx as nx

    def flat(attrs: dict[str, Any]) -> dict[str, Any]:
        return {k: (json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict, tuple)) else v) for k, v in attrs.items()}

    h: nx.Graph[str] = nx.Graph()
    h.add_nodes_from((n, flat(d)) for n, d in g.nodes(data=True))
    h.add_edges_from((a, b, flat(d)) for a, b, d in g.edges(data=True))
    nx.write_graphml(h, str(path))


def relation_lines(relations: Iterable[Relation], names: dict[str, str]) -> dict[str, list[tuple[int, str]]]:
    """Per entity id, its (chunk, "Source label Target") lines, sorted, each line once
    (at its first chunk), with the names given in ``names`` (entity id -> name, as of
    the position being read: nothing later can show)."""
    out: dict[str, dict[str, int]] = {}
    for r in sorted(relations, key=lambda r: r.chunk):
        if r.source not in names or r.target not in names:
            continue
        line = f"{names[r.source]} {r.label} {names[r.target]}"
        for eid in (r.source, r.target):
            out.setdefault(eid, {}).setdefault(line, r.chunk)
    return {eid: sorted((c, line) for line, c in lines.items()) for eid, lines in out.items()}
