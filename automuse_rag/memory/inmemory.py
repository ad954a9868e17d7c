"""An in-memory StoryView: a first-class test double with the same as-of semantics
as the Chroma-backed store (brute-force cosine search over the given embedder)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from automuse_rag.memory.api import OutlinePart
from automuse_rag.memory.graph import Relation, build_graph
from automuse_rag.memory.types import ChunkRecord, Entity, Hit
from automuse_rag.models.base import Embedder


def _cos(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(y * y for y in b)) or 1.0
    return dot / (na * nb)


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

    @property
    def outline(self) -> str:
        return self._outline

    def outline_parts(self) -> list[OutlinePart]:
        return list(self._parts)

    def __len__(self) -> int:
        return len(self._records)

    def records(self, upto: int | None = None) -> list[ChunkRecord]:
        return [r for r in self._records if upto is None or r.index <= upto]

    def entities(self, as_of: int | None = None) -> list[Entity]:
        views = [e if as_of is None else e.as_of(as_of) for e in self._entities]
        return sorted((v for v in views if v is not None), key=lambda e: (-len(e.mentions), e.name))

    def graph(self, as_of: int | None = None):
        return build_graph(self._entities, self._relations, as_of)

    def search(self, query: str, k: int = 8, as_of: int | None = None, kinds=("summary", "entity")) -> list[Hit]:
        qv = self._embedder.embed([query])[0]
        hits: list[Hit] = []
        if "summary" in kinds:
            for rec, vec in zip(self._records, self._summary_vecs):
                if as_of is None or rec.index <= as_of:
                    hits.append(Hit(f"summary:{rec.index}", "summary", rec.summary, rec.index, rec.chapter, _cos(qv, vec)))
        if "entity" in kinds:
            views = self.entities(as_of)
            cards = [v.card() for v in views]
            for view, card, vec in zip(views, cards, self._embedder.embed(cards) if cards else []):
                last = max((c for c, _ in view.descriptions), default=view.last_chunk)
                chapter = next((r.chapter for r in self._records if r.index == last), 0)
                hits.append(Hit(f"entity:{view.id}", "entity", card, last, chapter, _cos(qv, vec), {"entity_id": view.id}))
        hits.sort(key=lambda h: -h.score)
        return hits[:k]
