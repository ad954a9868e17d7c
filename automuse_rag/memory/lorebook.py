"""A writer's own lorebook stored with a story (``automuse lorebook import``): the
``lorebook`` table of ``state.sqlite``, replaced whole by each import, under the
story's lock. Its entries are the writer's, known from before the first chunk: every
snapshot has them all (:meth:`~automuse_rag.memory.snapshot.StorySnapshot.lorebook`),
and retrieval puts those that are constant or whose key the last chunk names in the
prompt's lore (:mod:`automuse_rag.assemble.retrieve`)."""

from __future__ import annotations

from collections.abc import Sequence

from automuse_rag.lore.lorebook import LoreEntry
from automuse_rag.memory.story import editing
from automuse_rag.settings import Settings


def import_lorebook(settings: Settings, story: str, entries: Sequence[LoreEntry]) -> int:
    """Store ``entries`` as story ``story``'s lorebook (replacing any earlier one) and
    rewrite its exports (a new state version). Returns how many were stored."""
    with editing(settings, story) as mem:
        assert mem.writer is not None
        mem.writer.set_lorebook(entries)
        mem.write_exports()
    return len(entries)
