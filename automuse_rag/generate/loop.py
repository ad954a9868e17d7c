"""Write a novel from a premise: plan, then a memory-backed loop one chunk at a time.

Each step assembles a token-budgeted prompt (the current chapter's plan, the cast,
lore cards and memories retrieved as of the last chunk, the last chunk itself), asks
the model for the next passage, strips chat artefacts, and runs the degeneration
guard and the continuity check (generate/continuity.py: the facts the story has
stated). A failing candidate is logged to ``rejections.jsonl`` and regenerated with a
higher temperature and penalties (and a new seed; a broken fact pinned in the
prompt), up to ``guard_retries`` times; it is never stored. An accepted chunk is summarized and its lore extracted exactly as
ingest does (:func:`automuse_rag.lore.extract.analyze_chunk`), committed through
:meth:`StoryMemory.commit_chunk` (atomic), and only then are ``manuscript.md`` and
``generation.json`` rewritten (temp file + rename). On restart the position comes
from the committed chunks, so a kill at any moment neither loses nor repeats one.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automuse_rag.errors import InputError, StoreError
from automuse_rag.generate.files import MANUSCRIPT_FILE, check_premise, read_premise
from automuse_rag.generate.plan import Plan, load_plan, make_plan, save_plan
from automuse_rag.generate.writer import GenerationOptions, GenerationProgress, Progress, Writer, chapter_heading
from automuse_rag.memory.catalog import Manifest
from automuse_rag.memory.locking import StoryBusyError, StoryLock
from automuse_rag.memory.story import StoryMemory, story_dir
from automuse_rag.memory.types import ChunkRecord, OutlinePart
from automuse_rag.models.base import ChatModel, Embedder, sampling_from_settings
from automuse_rag.models.registry import get_chat_model, get_embedder
from automuse_rag.settings import Settings

if TYPE_CHECKING:
    from automuse_rag.memory.api import StoryWriter

__all__ = [
    "GenerationOptions",
    "GenerationProgress",
    "GenerationResult",
    "generate_story",
    "options_from_settings",
    "read_premise",
]


@dataclass
class GenerationResult:
    story: str
    path: str
    chunks: int  # chunks in the story now
    new_chunks: int  # written by this run
    words: int
    rejections: int  # candidates rejected by this run
    chapter: int
    manuscript: str
    plan_fallback: bool
    plan_only: bool
    seconds: float
    outline: str = ""
    cast: str = ""
    continuity_rejections: int = 0  # of ``rejections``: candidates that contradicted the story's facts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- the public entry point ----------------------------------------------------------------


def _resolve_llm(llm: str | ChatModel | None, settings: Settings) -> ChatModel:
    if llm is None or isinstance(llm, str):
        return get_chat_model(llm or settings.llm, settings)
    return llm


def _resolve_embedder(embedder: str | Embedder | None, settings: Settings, directory: Path) -> Embedder:
    if embedder is not None and not isinstance(embedder, str):
        return embedder

    if embedder is None and (directory / "story.json").is_file():
        recorded = Manifest.read(directory).embedder
        if recorded is None:
            raise StoreError(f"story {directory.name}: its manifest records no embedder")
        return get_embedder(recorded.name, settings)
    return get_embedder(embedder or settings.embedder, settings)


def options_from_settings(settings: Settings, chunks: int, **overrides: Any) -> GenerationOptions:
    sampling = sampling_from_settings(settings).with_(max_tokens=int(settings.chunk_tokens))
    clean = {k: v for k, v in overrides.items() if v is not None}
    return GenerationOptions(
        chunks=chunks,
        budget=int(clean.pop("budget", settings.budget)),
        sampling=clean.pop("sampling", sampling),
        chunks_per_chapter=int(clean.pop("chunks_per_chapter", settings.chunks_per_chapter)),
        retries=int(clean.pop("retries", settings.guard_retries)),
        **clean,
    )


def obtain_plan(directory: Path, premise: str, llm: ChatModel, opts: GenerationOptions) -> tuple[Plan, bool]:
    """The edited plan files if they exist, else a new plan from the model (saved).
    Returns (plan, created_now)."""
    existing = load_plan(directory)
    if existing is not None:
        return existing, False
    plan = make_plan(premise, llm, style=opts.style, chapters=opts.chapters, sampling=opts.sampling)
    save_plan(plan, directory)
    return plan, True


def _store_outline(memory: StoryWriter, plan: Plan) -> None:
    parts = [OutlinePart(ch.number, chapter_heading(plan, ch.number), ch.plan) for ch in plan.chapters]
    memory.set_outline(plan.outline_text(), parts, origin="plan")


def generate_story(
    settings: Settings,
    name: str,
    premise: str,
    *,
    chunks: int,
    style: str | None = None,
    llm: str | ChatModel | None = None,
    budget: int | None = None,
    embedder: str | Embedder | None = None,
    analysis_llm: str | ChatModel | None = None,
    options: GenerationOptions | None = None,
    plan_only: bool = False,
    progress: Progress | None = None,
) -> GenerationResult:
    """Plan (or read the edited plan) and write the story up to ``chunks`` chunks.

    ``premise``: the premise text (or a path to a file holding it). ``llm``: a chat
    model or backend spec (default: ``settings.llm``); ``analysis_llm``: the model
    that summarizes each chunk and extracts its lore (default: ``llm``; ``extractive``
    is fastest). Resumable: running it again continues where it stopped. Raises
    ModelError when a chunk cannot pass the guard after every retry."""
    if chunks < 1:
        raise InputError("--chunks must be at least 1")
    t0 = time.time()
    directory = story_dir(settings, name)
    text = read_premise(premise)
    opts = options or options_from_settings(settings, chunks, budget=budget, style=style)
    opts.chunks = chunks
    lock = StoryLock(directory, name)
    try:
        lock.acquire()
    except StoryBusyError:
        raise StoreError(f"story {name} is being written by another process; wait for it or use another --story") from None
    try:
        check_premise(directory, text)
        model = _resolve_llm(llm, settings)
        plan, _ = obtain_plan(directory, text, model, opts)
        if plan_only:
            return _result(name, directory, plan, [], 0, 0, plan_only=True, t0=t0)
        with StoryMemory.create(
            settings,
            name,
            embedder=_resolve_embedder(embedder, settings, directory),
            llm_name=model.name,
            source=f"premise:{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}",
            extra={"generated": True},
        ) as memory:
            _store_outline(memory, plan)
            analyst = model if analysis_llm is None else _resolve_llm(analysis_llm, settings)
            try:
                writer = Writer(settings, name, memory, model, analyst, plan, opts, progress)
                written = writer.run()
                memory.settle_index()
                memory.save_manifest(chunks_total=chunks, complete=len(memory) >= chunks)
                result = _result(name, directory, plan, writer.records(), written, writer.rejected, plan_only=False, t0=t0)
                result.continuity_rejections = writer.continuity_rejected
                return result
            finally:
                memory.write_exports()
    finally:
        lock.release()


def _result(
    name: str,
    directory: Path,
    plan: Plan,
    records: list[ChunkRecord],
    written: int,
    rejected: int,
    *,
    plan_only: bool,
    t0: float,
) -> GenerationResult:
    return GenerationResult(
        story=name,
        path=str(directory),
        chunks=len(records),
        new_chunks=written,
        words=sum(len(r.text.split()) for r in records),
        rejections=rejected,
        chapter=records[-1].chapter if records else 1,
        manuscript=str(directory / MANUSCRIPT_FILE),
        plan_fallback=plan.fallback,
        plan_only=plan_only,
        seconds=round(time.time() - t0, 2),
        outline=str(directory / "outline.md"),
        cast=str(directory / "cast.toml"),
    )
