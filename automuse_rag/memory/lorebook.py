"""A writer's own lorebook stored with a story (``automuse lorebook import``): the
``lorebook`` table of ``state.sqlite``, replaced whole by each import, under the
story's lock. Its entries are the writer's, known from before the first chunk: every
snapshot has them all (:meth:`~automuse_rag.memory.snapshot.StorySnapshot.lorebook`),
and retrieval puts those that are constant or whose key the last chunk names in the
prompt's lore (:mod:`automuse_rag.assemble.retrieve`)."""

from __future__ import annotations

from collections.abc import Sequence

from automuse_rag.lore.lorebook import LoreEntry
from automuse_rag.memory.locking import StoryLock
from automuse_rag.memory.schema import connect
from automuse_rag.memory.story import STATE, StoryMemory, story_dir
from automuse_rag.settings import Settings


def import_lorebook(settings: Settings, story: str, entries: Sequence[LoreEntry]) -> int:
    """Store ``entries`` as story ``story``'s lorebook (replacing any earlier one) and
    rewrite its exports (a new state version). Returns how many were stored."""
    with StoryMemory.open(settings, story, verify=False) as ro:  # the story's own errors (missing, old format)
        embedder = ro.embedder
    with StoryLock(story_dir(settings, story), story):
        db = connect(story_dir(settings, story) / STATE, readonly=False)
        try:
            mem = StoryMemory(settings, story, db, embedder, writable=True)
        except BaseException:
            db.close()
            raise
        try:
            assert mem.writer is not None
            mem.writer.set_lorebook(entries)
            mem.write_exports()
        finally:
            mem.close()
    return len(entries)
