"""The stateless half of a corpus ingest: what a worker does for any book, with no
store. A :class:`BookWorker` loads its chat model (behind the call cache), embedder
and spaCy pipelines once; then it reads books (decode, clean, chunk), analyses runs
of chunks (NER, parse, the model's call per chunk with its own concurrency) and
embeds their records, and builds outlines. It is a plain class: the corpus driver
makes it a Ray actor (:mod:`automuse_rag.corpus.run`), and a test can call it as is.

Its answers are what one book's ``automuse ingest`` computes before it writes: the
same functions (:func:`automuse_rag.memory.ingest.analyses`, ``book_chunks``,
``outline_builder``, :func:`automuse_rag.memory.records.batch_records`), so that a
store committed from them equals that ingest's."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from automuse_rag.books import book_from_bytes
from automuse_rag.errors import AutomuseError
from automuse_rag.lore.extract import analyses_with_model
from automuse_rag.lore.probe import lore_mode
from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.ingest import analyses, book_chunks, model_counts, outline_builder
from automuse_rag.memory.records import batch_records, embed_texts, record_texts
from automuse_rag.memory.types import ChunkRecord, OutlinePart
from automuse_rag.models.base import capable, sampling_from_settings
from automuse_rag.models.registry import get_chat_model, get_embedder
from automuse_rag.settings import Settings
from automuse_rag.text.types import Book, Chunk

LoreMode = Literal["model", "extractive"]


@dataclass(frozen=True)
class WorkerConfig:
    settings: Settings
    no_cache: bool = False
    lore: LoreMode | None = None  # None: the worker decides (lore_mode) and says so in Answer.note
    threads: int | None = None  # the model's and embedder's threads (one: the CPU the worker reserves)


@dataclass
class Answer:
    """A worker's answer to one task: ``value``, or ``error`` (one line) when the book
    cannot be read or analysed; with its model calls, cache hits and seconds."""

    value: object = None
    error: str | None = None
    calls: int = 0
    hits: int = 0
    seconds: float = 0.0
    note: str | None = None
    pid: int = field(default_factory=os.getpid)


@dataclass(frozen=True)
class Analysed:
    """A run of chunks analysed: commit groups, each with the vectors of its records
    (:func:`~automuse_rag.memory.records.record_texts` order)."""

    groups: list[tuple[list[tuple[Chunk, ChunkAnalysis]], list[list[float]]]]


class BookWorker:
    """One worker: its models loaded once, then any number of tasks, one at a time."""

    def __init__(self, config: WorkerConfig) -> None:
        cfg = config.settings
        if config.threads and cfg.n_threads is None:
            cfg = cfg.model_copy(update={"n_threads": config.threads})
        self.settings = cfg
        self.llm = get_chat_model(cfg.llm, cfg, cache=False if config.no_cache else None)
        self.embedder = get_embedder(cfg.embedder, cfg)
        self.sampling = sampling_from_settings(cfg)
        self.note: str | None = None
        lore = config.lore
        if lore is None:
            lore, self.note = lore_mode(cfg, self.llm)
        self.lore: LoreMode = lore
        self.analyst = self.llm if lore == "model" else None
        self.concurrency = cfg.concurrency if capable(self.llm, "remote") else 1
        self.group = 1 if analyses_with_model(self.analyst) else 16  # chunks per commit, as ingest_chunks commits

    def describe(self) -> Answer:
        """The lore mode this worker analyses with (and the note why, if not the model's)."""
        return Answer(value=(self.lore, self.llm.name, self.group), note=self.note)

    def prepare(self, name: str, data: bytes, source: str, gutenberg_id: int | None, size: int) -> Answer:
        """Decode, clean and chunk one book: ``(book, chunks)``."""

        def work() -> tuple[Book, list[Chunk]]:
            book = book_from_bytes(data, source, gutenberg_id)
            return book, book_chunks(book, source, name, size)

        return self._run(work)

    def analyse(self, chunks: list[Chunk], previous: str) -> Answer:
        """Analyse a run of chunks (``previous``: the text of the chunk before the first)
        and embed their records, in commit groups."""

        def work() -> Analysed:
            texts = {c.index: c.text for c in chunks}
            if chunks:
                texts[chunks[0].index - 1] = previous
            done = list(analyses(chunks, self.analyst, self.sampling, self.concurrency, texts))
            groups = []
            for i in range(0, len(done), self.group):
                items = done[i : i + self.group]
                groups.append((items, embed_texts(self.embedder, record_texts(batch_records(items)[1]))))
            return Analysed(groups)

        return self._run(work)

    def outline(self, records: list[ChunkRecord]) -> Answer:
        """The outline of a story's records: ``(text, parts)``."""

        def work() -> tuple[str, list[OutlinePart]]:
            return outline_builder(self.analyst, self.sampling)(records)

        return self._run(work)

    def _run(self, work: Callable[[], object]) -> Answer:
        started = time.monotonic()
        calls0, hits0 = model_counts(self.llm)
        try:
            value, error = work(), None
        except AutomuseError as exc:
            value, error = None, str(exc)
        calls, hits = model_counts(self.llm)
        return Answer(value, error, calls - calls0, hits - hits0, time.monotonic() - started)
