"""The ingest pipeline: book -> chunks -> per-chunk analysis -> StoryMemory.

Per chunk, spaCy NER gives the lore candidates (so lore works offline and with a
weak model) and one structured model call gives the summary plus lore items and
relations (:func:`analyze_chunk`). The model's answer is never trusted: names that
do not occur in the chunk are dropped, texts are clipped, and when the model returns
nothing usable the summary is extractive and the lore is NER alone.

Resumable: chunks already committed are skipped; each chunk is committed (Chroma,
then SQLite) before it counts as done; the lore, graph and outline are rebuilt
deterministically at the end. A lock keeps a second ingest of the same story out.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from automuse_rag.books import load_book
from automuse_rag.errors import AutomuseError, InputError, ModelError, StoreError
from automuse_rag.lore.extract import analyses_with_model, analyze_chunk
from automuse_rag.lore.ner import get_nlp, ner_text
from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.locking import StoryLock
from automuse_rag.memory.outline import build_outline, model_summarizer
from automuse_rag.memory.story import StoryMemory, story_dir
from automuse_rag.memory.types import ChunkRecord, OutlinePart
from automuse_rag.models.base import ChatModel, Embedder, Sampling
from automuse_rag.settings import Settings
from automuse_rag.text.chunk import chunk_book
from automuse_rag.text.types import Book, Chunk

Progress = Callable[[int, int], None]  # (done, total)

__all__ = [
    "IngestResult",
    "analyses",
    "book_chunks",
    "ensure_outline",
    "finish_store",
    "ingest",
    "ingest_chunks",
    "model_counts",
    "open_book_store",
]

# ------------------------------------------------------------------ pipeline


@dataclass
class IngestResult:
    story: str
    path: str
    chunks: int
    new_chunks: int
    entities: int
    seconds: float
    model_calls: int
    cache_hits: int
    top: list[dict[str, Any]] = field(default_factory=list)
    outline_built: bool = False
    lore: str = "model"  # "model": chunks analysed by the model; "extractive": summaries, NER lore, parsed relations


def model_counts(llm: ChatModel | None) -> tuple[int, int]:
    calls = getattr(llm, "calls", 0) or 0
    calls = len(calls) if isinstance(calls, list) else int(calls)  # ScriptedChatModel records a list
    return calls, int(getattr(llm, "cache_hits", 0) or 0)


def analyses(
    pending: list[Chunk], llm: ChatModel | None, sampling: Sampling, concurrency: int, texts: Mapping[int, str]
) -> Iterator[tuple[Chunk, ChunkAnalysis]]:
    """Analyses in chunk order; NER runs through ``nlp.pipe``; model calls run in a
    thread pool of ``concurrency`` (1 = inline). ``texts``: every chunk's text by
    index (a chunk's analysis reads the end of the previous one)."""
    nlp = get_nlp()
    docs = nlp.pipe((ner_text(nlp, c.text) for c in pending), batch_size=16)
    if concurrency <= 1 or not analyses_with_model(llm):
        for chunk, doc in zip(pending, docs):
            yield chunk, analyze_chunk(chunk, llm, nlp, sampling, doc=doc, previous=texts.get(chunk.index - 1, ""))
        return
    window: deque[tuple[Chunk, Future[ChunkAnalysis]]] = deque()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        try:
            for chunk, doc in zip(pending, docs):
                previous = texts.get(chunk.index - 1, "")
                window.append((chunk, pool.submit(analyze_chunk, chunk, llm, nlp, sampling, doc=doc, previous=previous)))
                if len(window) >= concurrency * 2:
                    c, fut = window.popleft()
                    yield c, fut.result()
            while window:
                c, fut = window.popleft()
                yield c, fut.result()
        finally:
            for _, fut in window:
                fut.cancel()


def ingest_chunks(
    memory: StoryMemory,
    chunks: list[Chunk],
    llm: ChatModel | None,
    sampling: Sampling,
    *,
    concurrency: int = 1,
    progress: Progress | None = None,
) -> int:
    """Analyse and commit the chunks not yet committed; returns how many were new.
    Commits in chunk order, in small batches (one embedding call per batch)."""
    done = memory.done_indices()
    pending = [c for c in chunks if c.index not in done]
    total, finished = len(chunks), len(chunks) - len(pending)
    if progress:
        progress(finished, total)
    batch: list[tuple[Chunk, ChunkAnalysis]] = []
    size = 1 if analyses_with_model(llm) else 16
    texts = {c.index: c.text for c in chunks}
    for chunk, analysis in analyses(pending, llm, sampling, concurrency, texts):
        batch.append((chunk, analysis))
        if len(batch) >= size:
            memory.commit_chunks(batch)
            finished += len(batch)
            batch = []
            if progress:
                progress(finished, total)
    if batch:
        memory.commit_chunks(batch)
        finished += len(batch)
        if progress:
            progress(finished, total)
    return len(pending)


def ingest(
    settings: Settings,
    book_spec: str,
    story: str,
    *,
    llm: ChatModel | None,
    embedder: Embedder,
    sampling: Sampling,
    size: int | None = None,
    outline_file: str | None = None,
    mirror: str | None = None,
    chroma_url: str | None = None,
    concurrency: int = 1,
    progress: Progress | None = None,
    lore: Literal["model", "extractive"] = "model",
) -> IngestResult:
    """Ingest ``book_spec`` (path, catalog name or Gutenberg ID) into story ``story``.
    Idempotent and resumable; a finished story returns at once with no model calls.

    ``lore="extractive"`` analyses (and outlines) without asking ``llm``, as the
    extractive backend does: for a model that cannot return valid lore
    (:func:`automuse_rag.lore.probe.lore_mode`)."""
    started = time.monotonic()
    calls0, hits0 = model_counts(llm)
    size = size or settings.chunk_size
    # Read and chunk the book before the store directory exists, so bad input leaves nothing behind.
    book = load_book(book_spec, settings, mirror=mirror)
    outline_text = _read_outline(outline_file) if outline_file else None
    chunks = book_chunks(book, book_spec, story, size)
    analyst = llm if lore == "model" else None
    with StoryLock(story_dir(settings, story), story):
        memory = open_book_store(
            settings, story, book, book_spec, chunks, embedder=embedder, llm=llm, chroma_url=chroma_url, size=size, lore=lore
        )
        try:
            new = ingest_chunks(memory, chunks, analyst, sampling, concurrency=concurrency, progress=progress)
            built = ensure_outline(memory, outline_text, analyst, sampling)
            calls, hits = model_counts(llm)
            return finish_store(memory, new, built, started, calls - calls0, hits - hits0, analyses_with_model(analyst))
        finally:
            memory.close()


def book_chunks(book: Book, book_spec: str, story: str, size: int) -> list[Chunk]:
    """The book's chunks; an error if it has none."""
    chunks = chunk_book(book, story, size=size)
    if not chunks:
        raise AutomuseError(f"{book_spec}: the book has no text to ingest")
    return chunks


def open_book_store(
    settings: Settings,
    story: str,
    book: Book,
    book_spec: str,
    chunks: list[Chunk],
    *,
    embedder: Embedder,
    llm: ChatModel | None,
    chroma_url: str | None,
    size: int,
    lore: str,
) -> StoryMemory:
    """Create (or reopen, to resume) ``story``'s store for ``book`` chunked as
    ``chunks``; the caller holds the story's lock and closes the store."""
    memory = StoryMemory.create(
        settings,
        story,
        embedder=embedder,
        llm_name="extractive" if llm is None else llm.name,
        source=book.source or book_spec,
        chroma_url=chroma_url,
        extra={
            "title": book.title,
            "author": book.author,
            "gutenberg_id": book.gutenberg_id,
            "source_sha1": hashlib.sha1(book.text.encode("utf-8")).hexdigest(),
            "chunk_size": size,
            "chunks_total": len(chunks),
            "chars": len(book.text),
            "chapters": len(book.chapters),
            "lore": lore if analyses_with_model(llm) else "extractive",
        },
    )
    try:
        _check_chunking(memory, chunks)
    except BaseException:
        memory.close()
        raise
    return memory


def finish_store(
    memory: StoryMemory, new: int, built: bool, started: float, calls: int, hits: int, with_model: bool
) -> IngestResult:
    """Settle the index, mark the store complete (adding this run's ``calls``) and
    write its exports: the end of an ingest, once every chunk and the outline are in."""
    memory.settle_index()
    prior = memory.manifest.get("model_calls", 0)
    memory.save_manifest(complete=True, model_calls=prior + calls)
    memory.write_exports()
    ents = memory.latest().entities()
    return IngestResult(
        story=memory.name,
        path=str(memory.dir),
        chunks=len(memory),
        new_chunks=new,
        entities=len(ents),
        seconds=time.monotonic() - started,
        model_calls=calls,
        cache_hits=hits,
        top=[{"name": e.name, "kind": e.kind, "mentions": len(e.mentions)} for e in ents[:10]],
        outline_built=built,
        lore="model" if with_model else "extractive",
    )


def _check_chunking(memory: StoryMemory, chunks: list[Chunk]) -> None:
    """A resumed ingest must chunk the book the same way (same ids)."""
    stored = dict(memory.db.execute("SELECT idx, id FROM chunks"))
    for c in chunks:
        if c.index in stored and stored[c.index] != c.id:
            raise StoreError(
                f"story {memory.name} was chunked differently (chunk {c.index} differs); "
                f"use the same --size as before ({memory.manifest.get('chunk_size')}) or a new --story"
            )


def _read_outline(path: str) -> str:
    from pathlib import Path

    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"outline file {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read outline file {p}: {exc}") from None
    if not text.strip():
        raise InputError(f"outline file {p} is empty")
    return text


OutlineBuilder = Callable[[list[ChunkRecord]], tuple[str, list[OutlinePart]]]


def ensure_outline(
    memory: StoryMemory, given: str | None, llm: ChatModel | None, sampling: Sampling, build: OutlineBuilder | None = None
) -> bool:
    """Store the given outline, or build one if none is stored yet (with ``build``
    when given: a corpus worker's; else here with ``llm``). True if built."""
    if given is not None:
        if given != memory.outline:
            memory.set_outline(given, origin="given")
        memory.save_manifest(outline="given")
        return False
    if memory.has_outline():
        return False
    text, parts = (build or outline_builder(llm, sampling))(memory.reader.records())
    memory.set_outline(text, parts, origin="built")
    memory.save_manifest(outline="built")
    return True


def outline_builder(llm: ChatModel | None, sampling: Sampling) -> OutlineBuilder:
    """Builds the outline of a store's records with ``llm`` (extractively if it does not
    analyse, or fails)."""

    def build(records: list[ChunkRecord]) -> tuple[str, list[OutlinePart]]:
        try:
            return build_outline(records, model_summarizer(llm if analyses_with_model(llm) else None, sampling))
        except ModelError:
            return build_outline(records, model_summarizer(None, sampling))

    return build
