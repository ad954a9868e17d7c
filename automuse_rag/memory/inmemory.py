"""An in-memory StoryView: a first-class test double, and the naive reference the
store is checked against.

Two ways to make one:

- ``InMemoryStory(name, records, entities, embedder, relations=...)``: entities given
  with their whole history; as of chunk i each is ``Entity.as_of(i)``.
- :meth:`InMemoryStory.from_analyses`: chunks with their analyses, resolved the
  naive way: the entities as of chunk i are a from-scratch
  :func:`~automuse_rag.lore.resolve.resolve` of chunks ``0..i`` (what
  :class:`~automuse_rag.memory.story.StoryMemory` must equal), and vector search
  goes over one record per name mention, as the store's does.

Search is brute-force cosine over the given embedder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from automuse_rag.lore.entity import Entity, Relation
from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.api import ACTIVE_KINDS, OutlinePart
from automuse_rag.memory.graph import build_graph
from automuse_rag.memory.oracle import NaiveLore
from automuse_rag.memory.records import mention_doc
from automuse_rag.memory.state import merged_mentions
from automuse_rag.memory.types import ChunkRecord, Hit
from automuse_rag.models.base import Embedder


def _cos(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(y * y for y in b)) or 1.0
    return dot / (na * nb)


def named_entities(text: str, entities: Sequence[Entity]) -> dict[str, int]:
    """Entity id -> how often any of its names occurs in ``text`` as a whole word
    (a longest-first alternation: at each place the longest name wins)."""
    import re

    owners: dict[str, str] = {}
    for ent in entities:
        for name in ent.names():
            if len(name) >= 2:
                owners.setdefault(name, ent.id)
    if not owners:
        return {}
    names = sorted(owners, key=lambda n: (-len(n), n))
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in names) + r")(?!\w)")
    counts: dict[str, int] = {}
    for match in pattern.finditer(text):
        eid = owners[match.group(0)]
        counts[eid] = counts.get(eid, 0) + 1
    return counts


class InMemoryStory:
    def __init__(
        self,
        name: str,
        records: list[ChunkRecord],
        entities: list[Entity],
        embedder: Embedder,
        relations: list[Relation] | None = None,
        outline: str = "",
        parts: list[OutlinePart] | None = None,
    ) -> None:
        self.name = name
        self._records = sorted(records, key=lambda r: r.index)
        self._entities = entities
        self._relations = relations or []
        self._embedder = embedder
        self._outline = outline
        self._parts = parts or [OutlinePart(0, "", outline)]
        texts = [r.summary for r in self._records]
        self._summary_vecs = embedder.embed(texts) if texts else []
        self._naive: NaiveLore | None = None
        self._mention_vecs: list[tuple[int, str, list[float]]] = []

    @classmethod
    def from_analyses(
        cls,
        name: str,
        chunks: list[tuple[ChunkRecord, ChunkAnalysis]],
        embedder: Embedder,
        *,
        outline: str = "",
        parts: list[OutlinePart] | None = None,
        mode: str = "scratch",
    ) -> InMemoryStory:
        """A story resolved from its analyses: ``mode="scratch"`` re-resolves chunks
        ``0..i`` from nothing for each position (the definition), ``"fold"`` folds once."""
        story = cls(name, [r for r, _ in chunks], [], embedder, outline=outline, parts=parts)
        story._naive = NaiveLore([(r.index, a) for r, a in chunks], mode)
        docs = [
            (idx, mname, mention_doc(mname, desc))
            for idx, a in story._naive.analyses
            for mname, desc in sorted((n, r.description) for n, r in merged_mentions(a.mentions).items())
        ]
        vecs = embedder.embed([d for _, _, d in docs]) if docs else []
        story._mention_vecs = [(idx, mname, v) for (idx, mname, _), v in zip(docs, vecs)]
        return story

    def _lore(self, as_of: int | None) -> tuple[list[Entity], list[Relation]]:
        """(entities, relations) as of ``as_of``."""
        if self._naive is None:
            views = [e if as_of is None else e.as_of(as_of) for e in self._entities]
            ents = [v for v in views if v is not None]
            return ents, [r for r in self._relations if as_of is None or r.chunk <= as_of]
        return self._naive.entities(as_of), self._naive.relations(as_of)

    def analyses(self, upto: int | None = None) -> list[tuple[int, ChunkAnalysis]]:
        return [(i, a) for i, a in (self._naive.analyses if self._naive else []) if upto is None or i <= upto]

    # ------------------------------------------------------------------ StoryView

    @property
    def outline(self) -> str:
        return self._outline

    def outline_parts(self) -> list[OutlinePart]:
        return list(self._parts)

    def __len__(self) -> int:
        return len(self._records)

    def last_index(self) -> int:
        return self._records[-1].index if self._records else -1

    def records(self, upto: int | None = None) -> list[ChunkRecord]:
        return [r for r in self._records if upto is None or r.index <= upto]

    def records_at(self, indices: Sequence[int]) -> dict[int, ChunkRecord]:
        wanted = set(indices)
        return {r.index: r for r in self._records if r.index in wanted}

    def chapters(self, indices: Sequence[int]) -> dict[int, int]:
        return {i: r.chapter for i, r in self.records_at(indices).items()}

    def entities(self, as_of: int | None = None, ids: Sequence[str] | None = None) -> list[Entity]:
        if self._naive is not None:
            return self._naive.entities(as_of, ids)
        ents = self._lore(as_of)[0]
        if ids is not None:
            wanted = set(ids)
            ents = [e for e in ents if e.id in wanted]
        return sorted(ents, key=lambda e: (-len(e.mentions), e.name, e.id))

    def entity_names(self, ids: Sequence[str], as_of: int | None = None) -> dict[str, str]:
        return {e.id: e.name for e in self.entities(as_of, ids)}

    def relations(self, as_of: int | None = None) -> list[Relation]:
        return list(self._lore(as_of)[1])

    def graph(self, as_of: int | None = None) -> Any:
        ents, rels = self._lore(as_of)
        return build_graph(ents, rels)

    def named_in(self, text: str, as_of: int | None = None) -> dict[str, int]:
        return named_entities(text, self._lore(as_of)[0])

    def active(self, as_of: int, window: int, limit: int) -> list[tuple[str, str, int]]:
        """Naively: each entity's mentions as of ``as_of`` counted in the window."""
        out = []
        for e in self.entities(as_of):
            n = sum(1 for c in e.mentions if as_of - window < c <= as_of)
            if n and e.kind in ACTIVE_KINDS:
                out.append((e.id, e.name, n))
        return sorted(out, key=lambda t: (-t[2], t[1], t[0]))[:limit]

    def neighbours(self, ids: Sequence[str], as_of: int | None = None) -> dict[str, dict[str, dict[str, Any]]]:
        if self._naive is not None:
            return {e: self._naive.edges(e, as_of) for e in ids}
        g = self.graph(as_of)
        return {e: ({o: dict(d) for o, d in g[e].items()} if e in g else {}) for e in ids}

    def search(
        self, query: str, k: int = 8, as_of: int | None = None, kinds: tuple[str, ...] = ("summary", "entity")
    ) -> list[Hit]:
        if k <= 0 or not self._records:
            return []
        qv = self._embedder.embed([query])[0]
        hits: list[Hit] = []
        if "summary" in kinds:
            for rec, vec in zip(self._records, self._summary_vecs):
                if as_of is None or rec.index <= as_of:
                    hits.append(Hit(f"summary:{rec.index:05d}", "summary", rec.summary, rec.index, rec.chapter, _cos(qv, vec)))
        if "entity" in kinds:
            hits += self._entity_hits(qv, as_of)
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:k]

    def _entity_hits(self, qv: list[float], as_of: int | None) -> list[Hit]:
        views = {v.id: v for v in self.entities(as_of)}
        best: dict[str, float] = {}
        if self._naive is not None:
            names = {n: e.id for e in views.values() for n in e.aliases}
            for idx, mname, vec in self._mention_vecs:
                if (as_of is None or idx <= as_of) and mname in names:
                    eid = names[mname]
                    best[eid] = max(best.get(eid, -1.0), _cos(qv, vec))
        else:
            cards = [v.card() for v in views.values()]
            for view, vec in zip(views.values(), self._embedder.embed(cards) if cards else []):
                best[view.id] = _cos(qv, vec)
        chapters = {r.index: r.chapter for r in self._records}
        hits = []
        for eid, score in best.items():
            view = views[eid]
            last = max((c for c, _ in view.descriptions), default=view.last_chunk)
            hits.append(
                Hit(
                    f"entity:{eid}",
                    "entity",
                    view.card(),
                    last,
                    chapters.get(last, 0),
                    score,
                    {"entity_id": eid, "entity_kind": view.kind},
                )
            )
        return hits
