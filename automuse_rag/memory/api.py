"""The read/write interface of a story's memory, as the rest of the project uses it.

``automuse_rag.memory.story.StoryMemory`` implements it over a store directory
(``$AUTOMUSE_HOME/stores/NAME``: ``state.sqlite``, Chroma collections and exports);
:class:`~automuse_rag.memory.inmemory.InMemoryStory` is the in-memory reference.
Assembly, dataset export, generation, ask, compare and the web page code against
this protocol only.

As-of rule: reads go through a snapshot, ``story.at(i)``
(:class:`~automuse_rag.memory.snapshot.StorySnapshot`), which returns only what was
known after chunk ``i`` (chunks ``0..i``); nothing from a later chunk may leak through
texts, entity cards, aliases or graph edges. The entities at ``i`` are the resolution
of chunks ``0..i`` alone: a merge of two names revealed at chunk 40 is not visible at
chunk 39.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from automuse_rag.lore.stats import Correction
from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.snapshot import StorySnapshot
from automuse_rag.memory.types import OutlinePart

if TYPE_CHECKING:
    from pathlib import Path

    from automuse_rag.models.base import Embedder
    from automuse_rag.text.types import Chunk


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

    def last_index(self) -> int:
        """The highest chunk index stored (-1 when empty)."""
        ...

    def at(self, i: int) -> StorySnapshot:
        """The story as known after chunk ``i`` (``-1 <= i <= last_index()``, else
        :class:`~automuse_rag.memory.snapshot.PositionError`)."""
        ...

    def latest(self) -> StorySnapshot:
        """The story as known after its last chunk (``at(last_index())``)."""
        ...


@runtime_checkable
class AnalysedStory(Protocol):
    """A story that keeps each chunk's analysis and the writer's corrections (what its
    lore was resolved from)."""

    def analyses(self, upto: int | None = None) -> list[tuple[int, ChunkAnalysis]]: ...

    def corrections(self) -> list[Correction]:
        """The writer's corrections of who is who (in force from their chunk on)."""
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
