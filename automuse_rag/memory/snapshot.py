"""StorySnapshot: a story as known after one chunk, a handle for one position.

``story.at(i)`` checks ``i`` once (``-1 <= i <= last``; -1 is "before the first chunk")
and returns a frozen handle whose reads take no position: everything it returns comes
from chunks ``0..i`` and the entities as resolved from those chunks alone. It is to a
story what a Chroma ``Collection`` is to a client: the position travels with it.

A snapshot keeps what one position reads more than once (entity views, graph edges,
name owners, query vectors): a prompt asks for the same entities for its vector hits
and its candidates, and for the same edges for its links and its graph activation.
So a snapshot is meant to live for one task (one prompt, one answer, one page), and
its caches die with it. Callers must not change the views they get.

The backends (:class:`~automuse_rag.memory.story.StoryMemory` over ``state.sqlite`` and
Chroma, :class:`~automuse_rag.memory.inmemory.InMemoryStory`, the naive reference)
answer through :class:`PositionReader`, whose calls take the position the snapshot
checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from automuse_rag.errors import InputError
from automuse_rag.lore.continuity import KnownFact
from automuse_rag.lore.entity import Entity, Relation
from automuse_rag.lore.lorebook import LoreEntry
from automuse_rag.memory.graph import build_graph
from automuse_rag.memory.types import ChunkRecord, Edges, Hit, OutlinePart

if TYPE_CHECKING:
    import networkx as nx

#: The entity kinds :meth:`StorySnapshot.active` lists (things are left out).
ACTIVE_KINDS = ("character", "place")
#: Entity views as of the position, for ids (a snapshot's kept views: an entity hit's
#: card and the candidate built from the same hit read one view).
Views = Callable[[Sequence[str]], list[Entity]]
#: What :meth:`StorySnapshot.search` searches by default.
SEARCH_KINDS = ("summary", "entity")


class PositionError(InputError):
    """A position outside the story (one message, wherever it is given)."""


def check_position(name: str, at: int, last: int) -> int:
    """``at`` as an int if ``-1 <= at <= last``, else :class:`PositionError`."""
    try:
        i = int(at)
    except (TypeError, ValueError):
        raise PositionError(f"position {at!r} is not a chunk index") from None
    if i < -1 or i > last:
        has = f"chunks 0..{last}" if last >= 0 else "no chunks yet"
        raise PositionError(f"position {i} is outside story {name!r}, which has {has} (use -1 for before the first)")
    return i


class PositionReader(Protocol):
    """What a backend answers for a position already checked (``0 <= at <= last``).

    Every read returns only what was known after chunk ``at``; see
    :class:`StorySnapshot` for each read's meaning."""

    def records(self, upto: int) -> list[ChunkRecord]: ...

    def records_at(self, indices: Iterable[int]) -> dict[int, ChunkRecord]: ...

    def chapters(self, indices: Iterable[int]) -> dict[int, int]: ...

    def entities(self, at: int, ids: Sequence[str] | None = None) -> list[Entity]: ...

    def entity_names(self, ids: Iterable[str], at: int) -> dict[str, str]: ...

    def named_in(self, text: str, at: int) -> dict[str, int]: ...

    def neighbours(self, ids: Sequence[str], at: int) -> dict[str, Edges]: ...

    def active(self, at: int, window: int, limit: int) -> list[tuple[str, str, int]]: ...

    def relations(self, at: int) -> list[Relation]: ...

    def embed_query(self, text: str) -> list[float]: ...

    def lorebook(self, at: int) -> list[LoreEntry]: ...

    def facts(self, at: int, ids: Sequence[str] | None = None) -> list[KnownFact]: ...

    def search(self, vector: list[float], k: int, at: int, kinds: Sequence[str], views: Views | None = None) -> list[Hit]: ...


@dataclass(frozen=True, eq=False)
class StorySnapshot:
    """The story ``name`` as known after chunk ``at`` (-1: before the first chunk).

    Made by ``story.at(i)``, which checks the position; never built by hand."""

    name: str
    at: int
    last: int
    reads: PositionReader = field(repr=False)
    outline: str = field(repr=False, default="")
    outline_parts: tuple[OutlinePart, ...] = field(repr=False, default=())
    _records: dict[int, ChunkRecord | None] = field(default_factory=dict, repr=False)
    _entities: dict[str, Entity | None] = field(default_factory=dict, repr=False)
    _edges: dict[str, Edges] = field(default_factory=dict, repr=False)
    _vectors: dict[str, list[float]] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------ the story's text

    @property
    def empty(self) -> bool:
        """Nothing written yet as of this position (``at == -1``)."""
        return self.at < 0

    def outline_part(self, chapter: int | None) -> OutlinePart:
        """The outline part for ``chapter``: an exact match, else the latest part before
        it, else the first part (``chapter=None`` gives the first part)."""
        parts = list(self.outline_parts) or [OutlinePart(0, "", self.outline)]
        if chapter is None:
            return parts[0]
        exact = [p for p in parts if p.chapter == chapter]
        if exact:
            return exact[0]
        before = [p for p in parts if p.chapter <= chapter]
        return max(before, key=lambda p: p.chapter) if before else parts[0]

    def records(self) -> list[ChunkRecord]:
        """Chunk records ``0..at`` in story order."""
        return [] if self.empty else self.reads.records(self.at)

    def records_at(self, indices: Iterable[int]) -> dict[int, ChunkRecord]:
        """The records among ``indices`` known at this position (``<= at``), by index.
        Kept for the snapshot's life (a prompt reads its window twice)."""
        wanted = sorted({i for i in indices if 0 <= i <= self.at})
        missing = [i for i in wanted if i not in self._records]
        if missing:
            got = self.reads.records_at(missing)
            self._records.update((i, got.get(i)) for i in missing)
        return {i: r for i in wanted if (r := self._records[i]) is not None}

    def window(self, size: int) -> dict[int, ChunkRecord]:
        """The records of the last ``size + 1`` chunks: ``at - size .. at``."""
        return self.records_at(range(max(0, self.at - size), self.at + 1))

    def chapters(self, indices: Iterable[int]) -> dict[int, int]:
        """Chunk index -> chapter, for the known ones among ``indices``."""
        wanted = [i for i in indices if 0 <= i <= self.at]
        got = self.reads.chapters(wanted) if wanted else {}
        return {i: c for i, c in got.items() if 0 <= i <= self.at}

    # ------------------------------------------------------------ lore

    def entities(self, ids: Iterable[str] | None = None) -> list[Entity]:
        """Entities known at this position (all, or those in ``ids``), most mentioned
        first. The views of ``ids`` are kept for the snapshot's life."""
        if self.empty:
            return []
        if ids is None:
            return self.reads.entities(self.at)
        wanted = list(dict.fromkeys(ids))
        missing = [e for e in wanted if e not in self._entities]
        if missing:
            got = {e.id: e for e in self.reads.entities(self.at, missing)}
            self._entities.update((e, got.get(e)) for e in missing)
        found = [v for v in (self._entities.get(e) for e in wanted) if v is not None]
        return sorted(found, key=lambda e: (-len(e.mentions), e.name, e.id))

    def names(self, ids: Iterable[str]) -> dict[str, str]:
        """Entity id -> the name it goes by at this position (ids unknown then are left out)."""
        wanted = sorted(set(ids))
        return self.reads.entity_names(wanted, self.at) if wanted and not self.empty else {}

    def named_in(self, text: str) -> dict[str, int]:
        """Entity id -> how often one of its names (as known at this position) occurs in
        ``text`` as a whole word, the longest name winning at each place."""
        return {} if self.empty or not text else self.reads.named_in(text, self.at)

    def neighbours(self, ids: Iterable[str]) -> dict[str, Edges]:
        """For each id, its graph edges at this position: other id -> {"chunks",
        "weight", "relations"} (the same data as ``graph()[id]``). Kept for the snapshot's life."""
        wanted = list(dict.fromkeys(ids))
        missing = sorted(set(wanted) - set(self._edges))
        if missing:
            got = {} if self.empty else self.reads.neighbours(missing, self.at)
            self._edges.update((e, got.get(e, {})) for e in missing)
        return {e: self._edges[e] for e in wanted}

    def active(self, window: int, limit: int) -> list[tuple[str, str, int]]:
        """The characters and places named most in chunks ``at - window + 1 .. at``, as
        entities are known at this position: (id, name, chunks naming it), most chunks
        first, then name and id; at most ``limit``."""
        return [] if self.empty or limit <= 0 else self.reads.active(self.at, window, limit)

    def relations(self) -> list[Relation]:
        """Relations between entities known at this position, in chunk order."""
        return [] if self.empty else self.reads.relations(self.at)

    def lorebook(self) -> list[LoreEntry]:
        """The writer's imported lorebook (``automuse lorebook import``), most important
        first. Its entries are the writer's own, known from before the first chunk
        (as of chunk -1), so every position, even -1, has them all."""
        return self.reads.lorebook(self.at)

    def facts(self, ids: Iterable[str] | None = None) -> list[KnownFact]:
        """State facts in force at this position (of every entity, or of those in
        ``ids``), in story order: each from chunks ``<= at``, resolved to the entity its
        name belongs to now, shown by that entity's name now; a married name, place or
        age replaced by a later one of the same entity is left out, the fixed kinds keep
        their first statement ("dead" never ends), "kin" facts accumulate. See
        memory/facts.py."""
        if self.empty:
            return []
        return self.reads.facts(self.at, None if ids is None else sorted(set(ids)))

    def graph(self) -> nx.Graph[str]:
        """Character graph at this position. Nodes: entity ids with attributes name,
        kind, aliases (list), mentions (int), first_chunk, last_chunk. Edges:
        ``chunks`` (sorted chunk indices where they co-occur or are related),
        ``weight`` (= len(chunks)), ``relations`` (list of {"label", "chunk"})."""
        return build_graph(self.entities(), self.relations())

    # ------------------------------------------------------------ vector search

    def query_vector(self, text: str) -> list[float]:
        """The embedding of a query, computed once per snapshot (retrieval asks twice)."""
        vec = self._vectors.get(text)
        if vec is None:
            vec = self._vectors[text] = self.reads.embed_query(text)
        return vec

    @property
    def queries_embedded(self) -> int:
        """How many distinct queries this snapshot has embedded (a memory cost)."""
        return len(self._vectors)

    def search(self, query: str, k: int = 8, kinds: Sequence[str] = SEARCH_KINDS) -> list[Hit]:
        """Vector search over memories of chunks ``<= at``, best first. Entity hits
        carry the entity's card at this position and ``metadata["entity_id"]``."""
        if k <= 0 or self.empty:
            return []
        hits = self.reads.search(self.query_vector(query), k, self.at, tuple(kinds), views=self.entities)
        return [h for h in hits if h.chunk <= self.at][:k]
