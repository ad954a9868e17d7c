"""An in-memory StoryView: a first-class test double, and the naive reference the
store is checked against.

Two ways to make one:

- ``InMemoryStory(name, records, entities, embedder, relations=...)``: entities given
  with their whole history; at chunk i (``story.at(i)``) each is ``Entity.at(i)``.
- :meth:`InMemoryStory.from_analyses`: chunks with their analyses, resolved the
  naive way: the entities as of chunk i are a from-scratch
  :func:`~automuse_rag.lore.resolve.resolve` of chunks ``0..i`` (what
  :class:`~automuse_rag.memory.story.StoryMemory` must equal), and vector search
  goes over one record per name mention, as the store's does.

Search is brute-force cosine over the given embedder.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import cast

from automuse_rag.lore.continuity import KnownFact
from automuse_rag.lore.entity import Entity, Relation
from automuse_rag.lore.facts import Fact
from automuse_rag.lore.lorebook import LoreEntry
from automuse_rag.lore.stats import Correction
from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.facts import REPLACED, fact_key, resolved, stated_facts
from automuse_rag.memory.graph import build_graph
from automuse_rag.memory.oracle import NaiveLore
from automuse_rag.memory.records import mention_doc
from automuse_rag.memory.snapshot import ACTIVE_KINDS, StorySnapshot, Views, check_position
from automuse_rag.memory.state import merged_mentions
from automuse_rag.memory.types import ChunkRecord, EdgeData, Edges, Hit, OutlinePart
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
        self.lorebook_entries: list[LoreEntry] = []  # a writer's imported lorebook (none unless set)
        self.stated: list[Fact] = []  # state facts, with their chunks (when made without analyses)

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
        corrections: Sequence[Correction] = (),
    ) -> InMemoryStory:
        """A story resolved from its analyses (and the writer's ``corrections``):
        ``mode="scratch"`` re-resolves chunks ``0..i`` from nothing for each position
        (the definition), ``"fold"`` folds once."""
        story = cls(name, [r for r, _ in chunks], [], embedder, outline=outline, parts=parts)
        story._naive = NaiveLore([(r.index, a) for r, a in chunks], mode, corrections)
        docs = [
            (idx, mname, mention_doc(mname, desc))
            for idx, a in story._naive.analyses
            for mname, desc in sorted((n, r.description) for n, r in merged_mentions(a.mentions).items())
        ]
        vecs = embedder.embed([d for _, _, d in docs]) if docs else []
        story._mention_vecs = [(idx, mname, v) for (idx, mname, _), v in zip(docs, vecs)]
        return story

    def _lore(self, at: int) -> tuple[list[Entity], list[Relation]]:
        """(entities, relations) as of ``at``."""
        if self._naive is None:
            views = [e.at(at) for e in self._entities]
            return [v for v in views if v is not None], [r for r in self._relations if r.chunk <= at]
        return self._naive.entities(at), self._naive.relations(at)

    def analyses(self, upto: int | None = None) -> list[tuple[int, ChunkAnalysis]]:
        return [(i, a) for i, a in (self._naive.analyses if self._naive else []) if upto is None or i <= upto]

    def corrections(self) -> list[Correction]:
        return list(self._naive.corrections) if self._naive else []

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

    def at(self, i: int) -> StorySnapshot:
        at = check_position(self.name, i, self.last_index())
        return StorySnapshot(self.name, at, self.last_index(), self, outline=self._outline, outline_parts=tuple(self._parts))

    def latest(self) -> StorySnapshot:
        return self.at(self.last_index())

    # ------------------------------------------------------------------ PositionReader

    def records(self, upto: int | None = None) -> list[ChunkRecord]:
        return [r for r in self._records if upto is None or r.index <= upto]

    def records_at(self, indices: Iterable[int]) -> dict[int, ChunkRecord]:
        wanted = set(indices)
        return {r.index: r for r in self._records if r.index in wanted}

    def chapters(self, indices: Iterable[int]) -> dict[int, int]:
        return {i: r.chapter for i, r in self.records_at(indices).items()}

    def entities(self, at: int, ids: Sequence[str] | None = None) -> list[Entity]:
        if self._naive is not None:
            return self._naive.entities(at, ids)
        ents = self._lore(at)[0]
        if ids is not None:
            wanted = set(ids)
            ents = [e for e in ents if e.id in wanted]
        return sorted(ents, key=lambda e: (-len(e.mentions), e.name, e.id))

    def entity_names(self, ids: Iterable[str], at: int) -> dict[str, str]:
        return {e.id: e.name for e in self.entities(at, list(ids))}

    def relations(self, at: int) -> list[Relation]:
        return list(self._lore(at)[1])

    def named_in(self, text: str, at: int) -> dict[str, int]:
        return named_entities(text, self._lore(at)[0])

    def active(self, at: int, window: int, limit: int) -> list[tuple[str, str, int]]:
        """Naively: each entity's mentions as of ``at`` counted in the window."""
        out = []
        for e in self.entities(at):
            n = sum(1 for c in e.mentions if at - window < c <= at)
            if n and e.kind in ACTIVE_KINDS:
                out.append((e.id, e.name, n))
        return sorted(out, key=lambda t: (-t[2], t[1], t[0]))[:limit]

    def neighbours(self, ids: Sequence[str], at: int) -> dict[str, Edges]:
        if self._naive is not None:
            return {e: self._naive.edges(e, at) for e in ids}
        g = build_graph(*self._lore(at))
        return {e: ({o: cast(EdgeData, dict(d)) for o, d in g[e].items()} if e in g else {}) for e in ids}

    def embed_query(self, text: str) -> list[float]:
        return self._embedder.embed([text])[0]

    def facts(self, at: int, ids: Sequence[str] | None = None) -> list[KnownFact]:
        """Naively: every fact of chunks ``<= at`` resolved by the names as of ``at``,
        kept if it is the first of its entity and kind (of its value too, for kin),
        or, for a kind a later value replaces, unless a later one says otherwise or it
        restates the one before it (memory/facts.py's rule, by its definition)."""
        if self._naive is not None:
            stated = [f for idx, a in self._naive.analyses if idx <= at for f in stated_facts(idx, a)]
            states = self._naive.states(at)
            owner = self._naive.name_map(at)
            display = {eid: ent.name for eid, ent in states.items()}
        else:
            stated = [f for f in self.stated if f.chunk <= at]
            views = self._lore(at)[0]
            owner = {n: e.id for e in views for n in e.names()}
            display = {e.id: e.name for e in views}
        known = [k for k in resolved(stated, owner, display) if ids is None or k.entity in ids]
        out = []
        for i, k in enumerate(known):
            same = [j for j, other in enumerate(known) if fact_key(other) == fact_key(k)]
            before = [j for j in same if j < i]
            if k.fact.kind not in REPLACED:
                if not before:
                    out.append(k)
                continue
            replaced = any(j > i and known[j].fact.value != k.fact.value for j in same)
            if not replaced and not (before and known[before[-1]].fact.value == k.fact.value):
                out.append(k)
        return out

    def lorebook(self, at: int) -> list[LoreEntry]:
        return sorted(self.lorebook_entries, key=lambda e: -e.importance)

    def search(self, vector: list[float], k: int, at: int, kinds: Sequence[str], views: Views | None = None) -> list[Hit]:
        """The naive reference's search: every view built here (``views`` is not used)."""
        if k <= 0 or not self._records:
            return []
        hits: list[Hit] = []
        if "summary" in kinds:
            for rec, vec in zip(self._records, self._summary_vecs):
                if rec.index <= at:
                    hits.append(
                        Hit(f"summary:{rec.index:05d}", "summary", rec.summary, rec.index, rec.chapter, _cos(vector, vec))
                    )
        if "entity" in kinds:
            hits += self._entity_hits(vector, at)
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:k]

    def _entity_hits(self, qv: list[float], at: int) -> list[Hit]:
        views = {v.id: v for v in self.entities(at)}
        best: dict[str, float] = {}
        if self._naive is not None:
            names = {n: e.id for e in views.values() for n in e.aliases}
            for idx, mname, vec in self._mention_vecs:
                if idx <= at and mname in names:
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
            last = view.last_described
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
