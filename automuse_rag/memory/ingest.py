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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from automuse_rag import templates
from automuse_rag.errors import AutomuseError, ModelError, StructuredOutputError
from automuse_rag.memory.analysis import MAX_DESCRIPTION, ChunkAnalysis, LoreMention
from automuse_rag.memory.locking import StoryLock
from automuse_rag.memory.names import clean_name
from automuse_rag.memory.ner import get_nlp, ner_mentions, ner_text
from automuse_rag.memory.outline import build_outline, model_summarizer
from automuse_rag.memory.parse import ChunkFacts, chunk_facts
from automuse_rag.memory.story import StoryMemory, story_dir
from automuse_rag.models.base import ChatModel, Embedder, Sampling, capable
from automuse_rag.settings import Settings
from automuse_rag.text import clip
from automuse_rag.text.types import Chunk

__all__ = ["ChunkAnalysis", "IngestResult", "analyze_chunk", "ingest", "ingest_chunks"]

MAX_SUMMARY = 700
MAX_ITEMS = 8
MAX_RELATIONS = 4
MODEL_TEXT_CHARS = 2000  # the small local model reads at most this much of a chunk (NER reads all)

Progress = Callable[[int, int], None]  # (done, total)
Name = Annotated[str, Field(max_length=60)]


class LoreItem(BaseModel):
    name: Name
    kind: Literal["character", "place", "thing"]
    aliases: list[Name] = Field(default_factory=list, max_length=3)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)


class RelationItem(BaseModel):
    source: Name
    target: Name
    label: str = Field(max_length=40)


class ChunkLoreReply(BaseModel):
    """The schema of the per-chunk structured call. Every string and list is bounded,
    so the longest valid answer is known and the call's max_tokens can fit it."""

    summary: str = Field(max_length=MAX_SUMMARY)
    items: list[LoreItem] = Field(default_factory=list, max_length=MAX_ITEMS)
    relations: list[RelationItem] = Field(default_factory=list, max_length=MAX_RELATIONS)


def analyses_with_model(llm: ChatModel | None) -> bool:
    """Whether chunk analysis asks ``llm`` (it declares structured output), or is
    extractive (extractive summaries, NER lore, parsed relations)."""
    return capable(llm, "can_structure")


def analysis_messages(chunk: Chunk, hints: list[str]) -> list[dict[str, str]]:
    user = templates.render(
        "ingest_analyze_user.txt",
        chapter=chunk.chapter,
        text=clip(chunk.text, MODEL_TEXT_CHARS),
        hints=", ".join(hints[:15]) or "(none)",
    )
    return [
        {"role": "system", "content": templates.render("ingest_analyze_system.txt").strip()},
        {"role": "user", "content": user},
    ]


def _in_text(name: str, text: str) -> bool:
    return bool(name) and name in text


def extractive_analysis(chunk: Chunk, mentions: list[LoreMention], reason: str = "") -> ChunkAnalysis:
    from automuse_rag.models.extractive import extractive_summary

    summary = extractive_summary(chunk.text, 3) or clip(chunk.text, 300)
    return ChunkAnalysis(summary=clip(summary, MAX_SUMMARY * 2), mentions=mentions, model="extractive", fallback=reason)


def _merge_model_items(reply: ChunkLoreReply, chunk: Chunk, mentions: list[LoreMention]) -> list[LoreMention]:
    """NER mentions enriched by the model's items (descriptions, kinds, aliases);
    model names that do not occur in the chunk are dropped."""
    by_name = {m.name: m for m in mentions}
    out = list(mentions)
    for item in reply.items:
        name = clean_name(item.name)
        if name is None or not _in_text(name, chunk.text):
            continue
        aliases = [a for a in (clean_name(x) for x in item.aliases) if a and a != name and _in_text(a, chunk.text)]
        m = by_name.get(name)
        if m is None:
            m = by_name[name] = LoreMention(name=name, count=max(1, chunk.text.count(name)), source="model")
            out.append(m)
        else:
            m.source = "ner+model"
        m.kind = item.kind
        m.aliases = sorted(set(m.aliases) | set(aliases))
        if item.description.strip():
            m.description, m.desc_kind = clip(item.description, MAX_DESCRIPTION), "model"
        for a in aliases:
            if a not in by_name:
                extra = by_name[a] = LoreMention(name=a, kind=item.kind, count=max(1, chunk.text.count(a)), source="model")
                out.append(extra)
    return out


def _valid_summary(summary: str, chunk: Chunk) -> bool:
    words = {w.lower() for w in summary.split() if len(w) > 3}
    text = chunk.text.lower()
    return len(summary.split()) >= 6 and sum(w.strip(".,;:!?\"'") in text for w in words) >= 2


def request_lore(llm: ChatModel, chunk: Chunk, hints: list[str], sampling: Sampling | None = None) -> ChunkLoreReply | None:
    """The one structured call of chunk analysis (also the lore probe's call): low
    temperature, and the backend sizes max_tokens to the schema's longest answer."""
    sampling = (sampling or Sampling()).with_(temperature=0.2)
    return llm.structured(analysis_messages(chunk, hints), ChunkLoreReply, sampling)


def lore_reply_problem(reply: ChunkLoreReply, chunk: Chunk) -> str | None:
    """Why a valid reply is still unusable, or None (the check ingest applies)."""
    if not _valid_summary(clip(reply.summary, MAX_SUMMARY), chunk):
        return "summary did not match the passage"
    return None


def analyze_chunk(
    chunk: Chunk, llm: ChatModel | None, nlp: Any = None, sampling: Sampling | None = None, *, doc: Any = None
) -> ChunkAnalysis:
    """Summary and lore of one chunk. NER always runs (``doc`` if already parsed,
    else ``nlp(chunk.text)``); the model (one structured call) adds a summary,
    descriptions, kinds, aliases and relations. Falls back to an extractive summary
    and NER lore when the model returns None or invalid output."""
    if doc is None:
        nlp = nlp or get_nlp()
        doc = nlp(ner_text(nlp, chunk.text))
    mentions = ner_mentions(doc)
    facts = chunk_facts(doc, mentions)
    if not analyses_with_model(llm):
        return _with_facts(extractive_analysis(chunk, mentions), facts)
    assert llm is not None
    try:
        reply = request_lore(llm, chunk, [m.name for m in mentions], sampling)
    except StructuredOutputError as exc:
        return _with_calls(_with_facts(extractive_analysis(chunk, mentions, f"invalid output: {exc}"[:200]), facts), 1)
    if reply is None:
        return _with_facts(extractive_analysis(chunk, mentions, "no structured output"), facts)
    merged = _merge_model_items(reply, chunk, mentions)
    relations = [
        {"source": clean_name(r.source) or "", "target": clean_name(r.target) or "", "label": clip(r.label, 40)}
        for r in reply.relations
        if _in_text(r.source, chunk.text) and _in_text(r.target, chunk.text)
    ]
    summary = clip(reply.summary, MAX_SUMMARY)
    problem = lore_reply_problem(reply, chunk)
    if problem:
        fallback = _with_facts(extractive_analysis(chunk, merged, problem), facts, relations)
        fallback.calls = 1
        return fallback
    return _with_facts(ChunkAnalysis(summary=summary, mentions=merged, model=llm.name, calls=1), facts, relations)


def _with_facts(a: ChunkAnalysis, facts: ChunkFacts, model_relations: Sequence[dict[str, str]] = ()) -> ChunkAnalysis:
    """The model's relations, then the parse's (those the model did not give); the
    parse's different-people pairs."""
    seen = {(r["source"], r["target"], r["label"].lower()) for r in model_relations}
    a.relations = [*model_relations, *(r for r in facts.relations if (r["source"], r["target"], r["label"].lower()) not in seen)]
    a.distinct = list(facts.distinct)
    return a


def _with_calls(a: ChunkAnalysis, calls: int) -> ChunkAnalysis:
    a.calls = calls
    return a


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


def _model_counts(llm: ChatModel | None) -> tuple[int, int]:
    calls = getattr(llm, "calls", 0) or 0
    calls = len(calls) if isinstance(calls, list) else int(calls)  # ScriptedChatModel records a list
    return calls, int(getattr(llm, "cache_hits", 0) or 0)


def _analyses(
    pending: list[Chunk], llm: ChatModel | None, sampling: Sampling, concurrency: int
) -> Iterator[tuple[Chunk, ChunkAnalysis]]:
    """Analyses in chunk order; NER runs through ``nlp.pipe``; model calls run in a
    thread pool of ``concurrency`` (1 = inline)."""
    nlp = get_nlp()
    docs = nlp.pipe((ner_text(nlp, c.text) for c in pending), batch_size=16)
    if concurrency <= 1 or not analyses_with_model(llm):
        for chunk, doc in zip(pending, docs):
            yield chunk, analyze_chunk(chunk, llm, nlp, sampling, doc=doc)
        return
    window: deque[tuple[Chunk, Future[ChunkAnalysis]]] = deque()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        try:
            for chunk, doc in zip(pending, docs):
                window.append((chunk, pool.submit(analyze_chunk, chunk, llm, nlp, sampling, doc=doc)))
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
    for chunk, analysis in _analyses(pending, llm, sampling, concurrency):
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
    (:func:`automuse_rag.models.capabilities.lore_mode`)."""
    from automuse_rag.books import load_book
    from automuse_rag.text.chunk import chunk_book

    started = time.monotonic()
    calls0, hits0 = _model_counts(llm)
    size = size or settings.chunk_size
    # Read and chunk the book before the store directory exists, so bad input leaves nothing behind.
    book = load_book(book_spec, settings, mirror=mirror)
    outline_text = _read_outline(outline_file) if outline_file else None
    chunks = chunk_book(book, story, size=size)
    if not chunks:
        raise AutomuseError(f"{book_spec}: the book has no text to ingest")
    analyst = llm if lore == "model" else None
    with StoryLock(story_dir(settings, story), story):
        llm_name = "extractive" if llm is None else llm.name
        memory = StoryMemory.create(
            settings,
            story,
            embedder=embedder,
            llm_name=llm_name,
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
            new = ingest_chunks(memory, chunks, analyst, sampling, concurrency=concurrency, progress=progress)
            built = _ensure_outline(memory, outline_text, analyst, sampling)
            calls, hits = _model_counts(llm)
            prior = memory.manifest.get("model_calls", 0)
            memory.save_manifest(complete=True, model_calls=prior + calls - calls0)
            memory.write_exports()
            ents = memory.entities()
            return IngestResult(
                story=story,
                path=str(memory.dir),
                chunks=len(memory),
                new_chunks=new,
                entities=len(ents),
                seconds=time.monotonic() - started,
                model_calls=calls - calls0,
                cache_hits=hits - hits0,
                top=[{"name": e.name, "kind": e.kind, "mentions": len(e.mentions)} for e in ents[:10]],
                outline_built=built,
                lore="model" if analyses_with_model(analyst) else "extractive",
            )
        finally:
            memory.close()


def _check_chunking(memory: StoryMemory, chunks: list[Chunk]) -> None:
    """A resumed ingest must chunk the book the same way (same ids)."""
    from automuse_rag.errors import StoreError

    stored = dict(memory.db.execute("SELECT idx, id FROM chunks"))
    for c in chunks:
        if c.index in stored and stored[c.index] != c.id:
            raise StoreError(
                f"story {memory.name} was chunked differently (chunk {c.index} differs); "
                f"use the same --size as before ({memory.manifest.get('chunk_size')}) or a new --story"
            )


def _read_outline(path: str) -> str:
    from pathlib import Path

    from automuse_rag.errors import InputError

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


def _ensure_outline(memory: StoryMemory, given: str | None, llm: ChatModel | None, sampling: Sampling) -> bool:
    """Store the given outline, or build one if none is stored yet. True if built."""
    if given is not None:
        if given != memory.outline:
            memory.set_outline(given, origin="given")
        memory.save_manifest(outline="given")
        return False
    if memory.has_outline():
        return False
    try:
        text, parts = build_outline(memory.records(), model_summarizer(llm if analyses_with_model(llm) else None, sampling))
    except ModelError:
        text, parts = build_outline(memory.records(), model_summarizer(None, sampling))
    memory.set_outline(text, parts, origin="built")
    memory.save_manifest(outline="built")
    return True
