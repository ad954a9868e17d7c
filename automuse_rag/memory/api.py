"""The read/write interface of a story's memory, as the rest of the project uses it.

``automuse_rag.memory.story.StoryMemory`` implements it over a store directory
(``$AUTOMUSE_HOME/stores/NAME``: ``story.json`` manifest, Chroma collections, the
graph, the outline). Assembly, dataset export, generation and compare code against
this protocol only.

As-of rule: every read takes ``as_of=i`` and then returns only what was known after
chunk ``i`` (chunks ``0..i``); nothing from a later chunk may leak through texts,
entity cards, aliases or graph edges. For a store that resolves its lore
(:class:`~automuse_rag.memory.story.StoryMemory`, or
:meth:`~automuse_rag.memory.inmemory.InMemoryStory.from_analyses`) the entities as of
``i`` are the resolution of chunks ``0..i`` alone: a merge of two names revealed at
chunk 40 is not visible at chunk 39.

The targeted reads (``records_at``, ``named_in``, ``neighbours``, ``entity_names``,
``chapters``, ``active``, ``entities(ids=...)``) let retrieval cost what a prompt needs, not
what the story holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from automuse_rag.lore.entity import Entity

#: The entity kinds :meth:`StoryView.active` lists (things are left out).
from automuse_rag.memory.types import ChunkRecord, Hit

ACTIVE_KINDS = ("character", "place")

if TYPE_CHECKING:  # networkx is light, but keep the import out of module import paths
    from pathlib import Path

    import networkx as nx

    from automuse_rag.lore.types import ChunkAnalysis
    from automuse_rag.models.base import Embedder
    from automuse_rag.text.types import Chunk


@dataclass(frozen=True)
class OutlinePart:
    chapter: int
    title: str
    text: str


class StoryView(Protocol):
    name: str

    @property
    def outline(self) -> str:
        """The whole outline (given, planned or built by hierarchical summarization)."""
        ...

    def outline_parts(self) -> list[OutlinePart]:
        """The outline split by chapter (one part with chapter 0 if it has no chapters)."""
        ...

    def __len__(self) -> int:
        """Number of chunks stored (chunk indices are 0..len-1)."""
        ...

    def records(self, upto: int | None = None) -> list[ChunkRecord]:
        """Chunk records 0..upto inclusive (all if None), in story order."""
        ...

    def last_index(self) -> int:
        """The highest chunk index stored (-1 when empty)."""
        ...

    def records_at(self, indices: Sequence[int]) -> dict[int, ChunkRecord]:
        """The stored records among ``indices``, by index."""
        ...

    def chapters(self, indices: Sequence[int]) -> dict[int, int]:
        """Chunk index -> chapter, for the stored ones among ``indices``."""
        ...

    def entities(self, as_of: int | None = None, ids: Sequence[str] | None = None) -> list[Entity]:
        """Entities as known after chunk ``as_of`` (all, or those in ``ids``), most mentioned first."""
        ...

    def entity_names(self, ids: Sequence[str], as_of: int | None = None) -> dict[str, str]:
        """Entity id -> the name it goes by as of ``as_of`` (ids unknown then are left out)."""
        ...

    def named_in(self, text: str, as_of: int | None = None) -> dict[str, int]:
        """Entity id -> how often one of its names (as known at ``as_of``) occurs in
        ``text`` as a whole word, the longest name winning at each place."""
        ...

    def active(self, as_of: int, window: int, limit: int) -> list[tuple[str, str, int]]:
        """The characters and places named most in chunks ``as_of - window + 1 ..
        as_of``, as entities are known at ``as_of``: (id, name, chunks naming it), most
        chunks first, then name and id; at most ``limit``."""
        ...

    def neighbours(self, ids: Sequence[str], as_of: int | None = None) -> dict[str, dict[str, dict[str, Any]]]:
        """For each id, its graph edges as of ``as_of``: other id -> {"chunks", "weight",
        "relations"} (the same data as ``graph(as_of)[id]``)."""
        ...

    def graph(self, as_of: int | None = None) -> nx.Graph[str]:
        """Character graph as of a chunk. Nodes: entity ids with attributes name, kind,
        aliases (list), mentions (int), first_chunk, last_chunk. Edges: attributes
        ``chunks`` (sorted list of chunk indices where they co-occur or are related),
        ``weight`` (= len(chunks)), ``relations`` (list of {"label", "chunk"})."""
        ...

    def search(
        self,
        query: str,
        k: int = 8,
        as_of: int | None = None,
        kinds: tuple[str, ...] = ("summary", "entity"),
    ) -> list[Hit]:
        """Vector search over memories from chunks <= as_of, best first. Entity hits
        carry the entity's card as of ``as_of`` and ``metadata["entity_id"]``."""
        ...


class StoryWriter(StoryView, Protocol):
    """A story being written chunk by chunk (``automuse generate``): a StoryView that
    also commits chunks, stores the outline and keeps its manifest and exports.
    :class:`~automuse_rag.memory.story.StoryMemory` implements it."""

    dir: Path
    embedder: Embedder

    def commit_chunk(self, chunk: Chunk, analysis: ChunkAnalysis) -> None:
        """Store one chunk and its analysis atomically (the next index)."""
        ...

    def set_outline(self, text: str, parts: list[OutlinePart] | None = None, origin: str = "given") -> None: ...

    def save_manifest(self, **changes: Any) -> None: ...

    def write_exports(self) -> None: ...

    def close(self) -> None: ...
