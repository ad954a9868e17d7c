"""The writing half of a corpus ingest: one :class:`Committer` per story, in the
driver, is the only writer of its store (its lock held from open to close, so
SQLite keeps one writer). It opens the store as one book's ingest does
(:func:`automuse_rag.memory.ingest.open_book_store`), says which chunks are still to
do (a resumed book continues after its last committed chunk), commits the workers'
analyses in chunk order, and finishes the store as that ingest does
(``ensure_outline``, ``finish_store``)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from automuse_rag.corpus.specs import BookSpec
from automuse_rag.corpus.work import Analysed
from automuse_rag.lore.extract import analyses_with_model
from automuse_rag.memory.ingest import ensure_outline, finish_store, open_book_store
from automuse_rag.memory.layout import STATE, check_embedder, initialized, same_source, story_dir
from automuse_rag.memory.locking import StoryLock
from automuse_rag.memory.schema import connect
from automuse_rag.memory.story import StoryMemory
from automuse_rag.memory.types import ChunkRecord, OutlinePart
from automuse_rag.memory.views import StateReader
from automuse_rag.models.base import ChatModel, Embedder, sampling_from_settings
from automuse_rag.settings import Settings
from automuse_rag.text.types import Book, Chunk


@dataclass
class BookResult:
    """One book's line of the summary (and of ``--json``)."""

    name: str
    spec: str
    status: str = "pending"  # "done", "skipped" (finished before), "failed"
    chunks: int = 0
    new_chunks: int = 0
    entities: int = 0
    seconds: float = 0.0
    model_calls: int = 0
    cache_hits: int = 0
    error: str | None = None
    path: str = ""
    commit_seconds: float = 0.0
    top: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def finished_manifest(settings: Settings, book: BookSpec, size: int, embedder: Embedder) -> dict[str, Any] | None:
    """The manifest of ``book``'s store if a run already finished it (same book, chunk
    size and embedder), read without a lock and without opening Chroma; else None."""
    state = story_dir(settings, book.name) / STATE
    if not initialized(state):
        return None
    try:
        db = connect(state, readonly=True)
        try:
            manifest: dict[str, Any] = json.loads(StateReader(db).meta().get("manifest", "{}"))
        finally:
            db.close()
        check_embedder(book.name, manifest, embedder)
    except Exception:  # a damaged or foreign store is the committer's to report
        return None
    done = manifest.get("complete") and manifest.get("chunk_size") == size and same_source(manifest, book.source, None)
    return manifest if done else None


class Committer:
    """The writer of one story's store during a corpus run."""

    def __init__(self, settings: Settings, book: BookSpec, *, embedder: Embedder, llm: ChatModel | None, size: int) -> None:
        self.settings, self.book, self.embedder, self.llm, self.size = settings, book, embedder, llm, size
        self.result = BookResult(book.name, book.spec)
        self.started = time.monotonic()
        self.memory: StoryMemory | None = None
        self._lock: StoryLock | None = None
        self._waiting: dict[int, Analysed] = {}  # run number -> its analyses, until the runs before it are in
        self._next = 0
        self._runs = 0
        self.total = 0
        self.done = 0
        self.lore = "extractive"

    def open(self, book: Book, chunks: list[Chunk], lore: str, run: int) -> list[tuple[list[Chunk], str]]:
        """Take the story's lock and open its store; return the runs of chunks still to
        analyse (``run`` chunks each, with the text of the chunk before each run)."""
        self.lore = lore
        self._lock = StoryLock(story_dir(self.settings, self.book.name), self.book.name).acquire()
        self.memory = open_book_store(
            self.settings,
            self.book.name,
            book,
            self.book.spec,
            chunks,
            embedder=self.embedder,
            llm=self.llm,
            chroma_url=self.settings.chroma_url,
            size=self.size,
            lore=lore,
        )
        done = self.memory.done_indices()
        pending = [c for c in chunks if c.index not in done]
        self.total, self.done = len(chunks), len(chunks) - len(pending)
        texts = {c.index: c.text for c in chunks}
        runs = [pending[i : i + run] for i in range(0, len(pending), run)]
        self._runs = len(runs)
        return [(r, texts.get(r[0].index - 1, "")) for r in runs]

    def add(self, run: int, analysed: Analysed, calls: int, hits: int) -> int:
        """Take run number ``run``'s analyses; commit every run now in order. Returns
        how many chunks were committed."""
        assert self.memory is not None
        self.result.model_calls += calls
        self.result.cache_hits += hits
        self._waiting[run] = analysed
        committed = 0
        started = time.monotonic()
        while self._next in self._waiting:
            for items, vectors in self._waiting.pop(self._next).groups:
                self.memory.commit_chunks(items, vectors)
                committed += len(items)
            self._next += 1
        self.result.commit_seconds += time.monotonic() - started
        self.done += committed
        self.result.new_chunks += committed
        return committed

    @property
    def analysed(self) -> bool:
        """Whether every chunk is committed."""
        return self._next >= self._runs

    def needs_outline(self) -> list[ChunkRecord] | None:
        """The records to outline, if the store has no outline yet."""
        assert self.memory is not None
        return None if self.memory.has_outline() else self.memory.reader.records()

    def finish(self, outline: tuple[str, list[OutlinePart]] | None, calls: int = 0, hits: int = 0) -> BookResult:
        """Store the outline (``outline``, a worker's; else built here without a model),
        settle the index, mark the store complete and write its exports."""
        assert self.memory is not None
        started = time.monotonic()
        self.result.model_calls += calls
        self.result.cache_hits += hits
        built = ensure_outline(
            self.memory, None, None, sampling_from_settings(self.settings), build=None if outline is None else lambda _: outline
        )
        r = finish_store(
            self.memory,
            self.result.new_chunks,
            built,
            self.started,
            self.result.model_calls,
            self.result.cache_hits,
            self.lore == "model" and analyses_with_model(self.llm),
        )
        self.result.commit_seconds += time.monotonic() - started
        self.result.status, self.result.chunks, self.result.entities, self.result.path = "done", r.chunks, r.entities, r.path
        self.result.top = r.top
        self.result.seconds = time.monotonic() - self.started
        self.close()
        return self.result

    def fail(self, error: str) -> BookResult:
        self.result.status, self.result.error = "failed", error
        self.result.seconds = time.monotonic() - self.started
        self.close()
        return self.result

    def close(self) -> None:
        try:
            if self.memory is not None:
                self.memory.close()
        finally:
            self.memory = None
            if self._lock is not None:
                self._lock.release()
                self._lock = None
