"""What the web page shows, as plain JSON-ready data, each view as known at a chunk.

Pure functions over a :class:`~automuse_rag.memory.snapshot.StorySnapshot` (the story
as known after chunk ``at``), so nothing from a later chunk appears; ``at = -1`` means
nothing has been read yet. The FastAPI routes in :mod:`automuse_rag.web.app` return
them unchanged, so the JSON API and the page show the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from automuse_rag.assemble.cards import facts_by_entity
from automuse_rag.assemble.retrieve import build_prompt
from automuse_rag.errors import InputError
from automuse_rag.lore.continuity import Contradiction, KnownFact
from automuse_rag.lore.entity import Entity
from automuse_rag.memory.continuity import fold_repeats
from automuse_rag.memory.facts import fact_phrase
from automuse_rag.memory.snapshot import StorySnapshot

KIND_ORDER = {"character": 0, "place": 1, "thing": 2}


class NotFound(InputError):
    """Something the reader cannot see (yet): a chunk after ``at``, an unknown file."""


def _chapters(snap: StorySnapshot) -> dict[int, int]:
    return {r.index: r.chapter for r in snap.records()}


def entity_card(ent: Entity, chapters: dict[int, int], facts: Sequence[KnownFact] = ()) -> dict[str, Any]:
    """One as-of lore card: names, kind, every alias and description with where it was
    said, and the state facts in force with the chunk where each became true."""

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
        "facts": [
            {
                "kind": k.fact.kind,
                "value": k.fact.value,
                "text": fact_phrase(k.fact.kind, k.fact.value),
                "sentence": k.fact.sentence,
                **where(k.fact.chunk),
            }
            for k in facts
        ],
    }


def _matches(card: dict[str, Any], query: str) -> bool:
    q = query.lower()
    texts = [card["name"], *(a["name"] for a in card["aliases"]), *(d["text"] for d in card["descriptions"])]
    return any(q in t.lower() for t in texts)


def characters(snap: StorySnapshot, query: str = "", kind: str = "") -> list[dict[str, Any]]:
    """Entities known at the snapshot, most mentioned first; ``query`` filters by name,
    alias or description (case-insensitive), ``kind`` by kind."""
    if snap.empty:
        return []
    chapters = _chapters(snap)
    ents = snap.entities()
    facts = facts_by_entity(snap, [e.id for e in ents])
    cards = [entity_card(e, chapters, facts.get(e.id, ())) for e in ents]
    if kind:
        cards = [c for c in cards if c["kind"] == kind]
    if query.strip():
        cards = [c for c in cards if _matches(c, query.strip())]
    return cards


def graph(snap: StorySnapshot, layout_seed: int = 7) -> dict[str, Any]:
    """The character graph at the snapshot with a spring layout in [-1, 1]: nodes (id,
    name, kind, aliases, mentions, first/last chunk, x, y) and edges (source, target,
    weight, chunks, relations with labels and chunks)."""
    at = snap.at
    if snap.empty:
        return {"at": at, "nodes": [], "edges": []}
    g = snap.graph()
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
    edges: list[dict[str, Any]] = [
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


def timeline(snap: StorySnapshot) -> dict[str, Any]:
    """Chapters and chunks read by the snapshot's chunk, and who appears where."""
    at = snap.at
    records = snap.records()
    ents = snap.entities()
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


def chunk(snap: StorySnapshot, index: int) -> dict[str, Any]:
    """One chunk read by the snapshot's chunk: chapter, summary, text, who is named in
    it and by which names (longest first, for highlighting), as known at the snapshot.
    NotFound for a chunk after it (the reader has not got there)."""
    at = snap.at
    if not 0 <= index <= at:
        raise NotFound(f"chunk {index} is not read yet at chunk {at}" if index > at else f"no chunk {index}")
    rec = snap.records_at([index]).get(index)
    if rec is None:
        raise NotFound(f"no chunk {index}")
    named = [e for e in snap.entities() if index in e.mentions]
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


def continuity(snap: StorySnapshot, found: Sequence[Contradiction]) -> list[dict[str, Any]]:
    """The story's contradictions (``found``: :func:`~automuse_rag.memory.continuity.check_story`
    over the whole story, unfolded) in chunks read by the snapshot's chunk, folded as
    ``automuse continuity --to`` that chunk folds them (nothing after it counts), each
    citing its sentence and the fact it breaks, both with their chunk and chapter."""
    shown = fold_repeats([c for c in found if c.chunk <= snap.at])
    chapters = snap.chapters({x for c in shown for x in (c.chunk, c.fact.chunk)})
    out = []
    for c in shown:
        row = c.to_json(chapters.get(c.chunk, 0))
        row["fact"]["chapter"] = chapters.get(c.fact.chunk, 0)
        row["again"] = list(c.again)
        out.append(row)
    return out


def prompt(snap: StorySnapshot, *, budget: int, count_tokens: Callable[[str], int], k: int = 8) -> dict[str, Any]:
    """The prompt for the chunk after the snapshot's exactly as ``automuse prompt --json``
    builds it (same template, retrieval and tokenizer), plus each section's own token count."""
    result = build_prompt(snap, budget=budget, count_tokens=count_tokens, k=k)
    data = {"story": snap.name, "at": snap.at, **result.to_dict()}
    data["section_tokens"] = {name: count_tokens(text) for name, text in result.sections.items()}
    return data
