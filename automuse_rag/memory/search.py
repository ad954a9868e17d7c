"""The store's reads as of a chunk (:class:`StoreReads`, the
:class:`~automuse_rag.memory.snapshot.PositionReader` of
:class:`~automuse_rag.memory.story.StoryMemory`): ``state.sqlite``'s targeted queries
plus vector search over the Chroma index.

Entity search: mention vectors as of a chunk, grouped by the entity each name
belongs to then, each entity scored by its best mention and shown by its card."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from automuse_rag.memory.records import name_hash
from automuse_rag.memory.snapshot import Views
from automuse_rag.memory.store import ChromaStore, Meta
from automuse_rag.memory.types import Hit
from automuse_rag.memory.views import StateReader
from automuse_rag.models.base import Embedder


class StoreReads(StateReader):
    """``state.sqlite`` read as of a chunk, and the Chroma index searched as of it."""

    def __init__(self, db: sqlite3.Connection, store: ChromaStore, embedder: Embedder) -> None:
        super().__init__(db)
        self.store, self.embedder = store, embedder

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed([text])[0]

    def search(self, vector: list[float], k: int, at: int, kinds: Sequence[str], views: Views | None = None) -> list[Hit]:
        """Vector search over memories of chunks <= ``at``. Entity hits are grouped by
        entity (its mentions as of ``at``) and carry its card as of ``at`` (from ``views``
        when given, else read here)."""
        last = self.last_index()
        if k <= 0 or last < 0:
            return []
        at = min(at, last)
        hits: list[Hit] = []
        for kind in kinds:
            if kind == "entity":
                hits.extend(entity_hits(self, self.store, vector, k, at, last, views))
                continue
            found = self.store.query(kind, vector, k, at, last, keep=lambda m: int(m["chunk"]) <= at)
            records = self.records_at(int(meta["chunk"]) for _, meta, _ in found)
            for id_, meta, score in found:
                rec = records.get(int(meta["chunk"]))
                if rec is not None:  # Chroma ahead of state.sqlite (check reports it)
                    text = rec.summary if kind == "summary" else rec.text
                    hits.append(Hit(id_, kind, text, rec.index, rec.chapter, score, {**meta, "chapter": rec.chapter}))
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:k]


def entity_hits(
    reader: StateReader, store: ChromaStore, qv: list[float], k: int, at: int, last: int, views: Views | None = None
) -> list[Hit]:
    """Entity hits for query vector ``qv`` as of chunk ``at`` (``last``: the story's last
    chunk); the cards come from ``views`` (entity views as of ``at``) when given."""
    names: dict[str, str] = {}
    by_hash: dict[tuple[int, str], str] = {}
    read: set[int] = set()

    def enrich(metas: list[Meta]) -> None:
        """Name each mention hit (its id holds its chunk and a hash of its name) and
        learn the entity each name belongs to as of ``at`` (each chunk read once,
        however often the query widens)."""
        chunks = sorted({int(m["chunk"]) for m in metas if int(m["chunk"]) <= at} - read)
        read.update(chunks)
        by_hash.update(((c, name_hash(n)), n) for c, n in reader.mention_names(chunks))
        for m in metas:
            name = by_hash.get((int(m["chunk"]), m.get("name_hash", "")))
            if name is not None:
                m["name"] = name
        names.update(reader.name_map(at, names=sorted({m["name"] for m in metas if "name" in m} - set(names))))

    raw = store.query(
        "mention",
        qv,
        k,
        at,
        last,
        keep=lambda m: int(m["chunk"]) <= at and m.get("name") in names,
        group=lambda m: names[m["name"]],
        enrich=enrich,
    )
    best: dict[str, float] = {}
    for _, meta, score in raw:
        eid = names[meta["name"]]
        if score > best.get(eid, -1.0):
            best[eid] = score
    # the search keeps the best k hits: only those need a view and a card
    ranked = sorted(best.items(), key=lambda kv: (-kv[1], f"entity:{kv[0]}"))[:k]
    wanted = sorted(eid for eid, _ in ranked)
    known = {e.id: e for e in (reader.entities(at, wanted) if views is None else views(wanted))}
    chapters = reader.chapters(v.last_described for v in known.values())
    hits = []
    for eid, score in ranked:
        view = known.get(eid)
        if view is None:
            continue
        last_desc = view.last_described
        hits.append(
            Hit(
                f"entity:{eid}",
                "entity",
                view.card(),
                last_desc,
                chapters.get(last_desc, 0),
                score,
                {"entity_id": eid, "entity_kind": view.kind},
            )
        )
    return hits
