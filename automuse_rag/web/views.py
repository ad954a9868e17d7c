"""What the web page shows, as plain JSON-ready data, each view as known at chunk ``at``.

Pure functions over a :class:`~automuse_rag.memory.api.StoryView` (the public read
API only): they read ``records(upto=at)``, ``entities(as_of=at)`` and
``graph(as_of=at)``, so nothing from a later chunk appears; ``at = -1`` means nothing
has been read yet. The FastAPI routes in :mod:`automuse_rag.web.app` return them
unchanged, so the JSON API and the page show the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from automuse_rag.assemble import build_prompt
from automuse_rag.errors import InputError
from automuse_rag.lore.entity import Entity

KIND_ORDER = {"character": 0, "place": 1, "thing": 2}


class NotFound(InputError):
    """Something the reader cannot see (yet): a chunk after ``at``, an unknown file."""


def check_at(story: Any, at: int | None) -> int:
    """``at`` resolved (None: the last chunk) and checked against the story's chunks."""
    size = len(story)
    at = size - 1 if at is None else at
    if not -1 <= at < size:
        raise InputError(f"at={at} is outside story {story.name!r}, which has chunks 0..{size - 1} (use -1 for before the first)")
    return at


def _chapters(story: Any, at: int) -> dict[int, int]:
    return {r.index: r.chapter for r in story.records(upto=at)} if at >= 0 else {}


def entity_card(ent: Entity, chapters: dict[int, int]) -> dict[str, Any]:
    """One as-of lore card: names, kind, every alias and description with where it was said."""

    def where(c: int) -> dict[str, int]:
        return {"chunk": c, "chapter": chapters.get(c, 0)}

    return {
        "id": ent.id,
        "name": ent.name,
        "kind": ent.kind,
        "mentions": len(ent.mentions),
        "first_chunk": ent.first_chunk,
        "last_chunk": ent.last_chunk,
        "mention_chunks": list(ent.mentions),
        "aliases": [
            {"name": a, **where(c)} for a, c in sorted(ent.aliases.items(), key=lambda kv: (kv[1], kv[0])) if a != ent.name
        ],
        "description": ent.description,
        "descriptions": [{"text": d, **where(c)} for c, d in ent.descriptions],
    }


def _matches(card: dict[str, Any], query: str) -> bool:
    q = query.lower()
    texts = [card["name"], *(a["name"] for a in card["aliases"]), *(d["text"] for d in card["descriptions"])]
    return any(q in t.lower() for t in texts)


def characters(story: Any, at: int, query: str = "", kind: str = "") -> list[dict[str, Any]]:
    """Entities known at ``at``, most mentioned first; ``query`` filters by name, alias
    or description (case-insensitive), ``kind`` by kind."""
    if at < 0:
        return []
    chapters = _chapters(story, at)
    cards = [entity_card(e, chapters) for e in story.entities(as_of=at)]
    if kind:
        cards = [c for c in cards if c["kind"] == kind]
    if query.strip():
        cards = [c for c in cards if _matches(c, query.strip())]
    return cards


def graph(story: Any, at: int, layout_seed: int = 7) -> dict[str, Any]:
    """The character graph as of ``at`` with a spring layout in [-1, 1]: nodes (id,
    name, kind, aliases, mentions, first/last chunk, x, y) and edges (source, target,
    weight, chunks, relations with labels and chunks)."""
    if at < 0:
        return {"at": at, "nodes": [], "edges": []}
    g = story.graph(as_of=at)
    pos: dict[str, Any] = {}
    if g.number_of_nodes():
        import networkx as nx

        k = 1.8 / max(1.0, g.number_of_nodes() ** 0.5)
        pos = nx.spring_layout(g, seed=layout_seed, k=k, weight="weight", iterations=80)
    nodes = []
    for nid, data in g.nodes(data=True):
        x, y = (float(v) for v in pos.get(nid, (0.0, 0.0)))
        nodes.append(
            {
                "id": nid,
                "name": data.get("name", nid),
                "kind": data.get("kind", "thing"),
                "aliases": list(data.get("aliases", [])),
                "mentions": int(data.get("mentions", 0)),
                "first_chunk": data.get("first_chunk"),
                "last_chunk": data.get("last_chunk"),
                "x": round(x, 4),
                "y": round(y, 4),
            }
        )
    nodes.sort(key=lambda n: (-n["mentions"], n["name"]))
    edges = [
        {
            "source": a,
            "target": b,
            "weight": int(d.get("weight", 1)),
            "chunks": list(d.get("chunks", [])),
            "relations": [dict(r) for r in d.get("relations", [])],
        }
        for a, b, d in g.edges(data=True)
    ]
    edges.sort(key=lambda e: (-e["weight"], e["source"], e["target"]))
    return {"at": at, "nodes": nodes, "edges": edges}


def timeline(story: Any, at: int) -> dict[str, Any]:
    """Chapters and chunks read by ``at``, and who appears where."""
    records = story.records(upto=at) if at >= 0 else []
    ents = story.entities(as_of=at) if at >= 0 else []
    chapters: list[dict[str, Any]] = []
    for r in records:
        if not chapters or chapters[-1]["chapter"] != r.chapter:
            chapters.append({"chapter": r.chapter, "title": r.chapter_title, "first_chunk": r.index, "last_chunk": r.index})
        chapters[-1]["last_chunk"] = r.index
    by_chunk: dict[int, list[str]] = {}
    for e in ents:
        for c in e.mentions:
            by_chunk.setdefault(c, []).append(e.id)
    people = sorted(ents, key=lambda e: (e.first_chunk, KIND_ORDER.get(e.kind, 3), e.name))
    return {
        "at": at,
        "chapters": chapters,
        "chunks": [{"index": r.index, "chapter": r.chapter, "entities": sorted(by_chunk.get(r.index, []))} for r in records],
        "entities": [{"id": e.id, "name": e.name, "kind": e.kind, "chunks": list(e.mentions)} for e in people],
    }


def chunk(story: Any, index: int, at: int) -> dict[str, Any]:
    """One chunk read by ``at``: chapter, summary, text, who is named in it and by
    which names (longest first, for highlighting).
    NotFound for a chunk after ``at`` (the reader has not got there)."""
    if not 0 <= index <= at:
        raise NotFound(f"chunk {index} is not read yet at chunk {at}" if index > at else f"no chunk {index}")
    rec = next((r for r in story.records(upto=index) if r.index == index), None)
    if rec is None:
        raise NotFound(f"no chunk {index}")
    named = [e for e in story.entities(as_of=index) if index in e.mentions]
    return {
        "index": rec.index,
        "id": rec.id,
        "chapter": rec.chapter,
        "chapter_title": rec.chapter_title,
        "summary": rec.summary,
        "text": rec.text,
        "entities": [e.name for e in named],
        "names": sorted({n for e in named for n in e.names()}, key=lambda n: (-len(n), n)),
    }


def prompt(story: Any, at: int, *, budget: int, count_tokens: Callable[[str], int], k: int = 8) -> dict[str, Any]:
    """The prompt for chunk ``at + 1`` exactly as ``automuse prompt --json`` builds it
    (same template, retrieval and tokenizer), plus each section's own token count."""
    result = build_prompt(story, at, budget=budget, count_tokens=count_tokens, k=k)
    data = {"story": story.name, "at": at, **result.to_dict()}
    data["section_tokens"] = {name: count_tokens(text) for name, text in result.sections.items()}
    return data
