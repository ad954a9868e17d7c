"""Write a novel from a premise: plan, then a memory-backed loop one chunk at a time.

Each step assembles a token-budgeted prompt (the current chapter's plan, the cast,
lore cards and memories retrieved as of the last chunk, the last chunk itself), asks
the model for the next passage, strips chat artefacts, and runs the degeneration
guard. A failing candidate is logged to ``rejections.jsonl`` and regenerated with a
higher temperature and penalties (and a new seed), up to ``guard_retries`` times; it
is never stored. An accepted chunk is summarized and its lore extracted exactly as
ingest does (:func:`automuse_rag.memory.ingest.analyze_chunk`), committed through
:meth:`StoryMemory.commit_chunk` (atomic), and only then are ``manuscript.md`` and
``generation.json`` rewritten (temp file + rename). On restart the position comes
from the committed chunks, so a kill at any moment neither loses nor repeats one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from string import Template as StrTemplate
from typing import Any

from pydantic import BaseModel

from automuse_rag.errors import AutomuseError, InputError, ModelError, StoreError
from automuse_rag.fsutil import write_text_atomic
from automuse_rag.generate import guard
from automuse_rag.generate.artefacts import drop_echoes, strip_artefacts
from automuse_rag.generate.plan import Plan, load_plan, make_plan, save_plan
from automuse_rag.models.base import ChatModel, Embedder, Message, Sampling, sampling_from_settings
from automuse_rag.settings import Settings

STATE_FILE = "generation.json"
REJECTIONS_FILE = "rejections.jsonl"
PREMISE_FILE = "premise.txt"
MANUSCRIPT_FILE = "manuscript.md"
GUARD_WINDOW = 40  # earlier chunks the guard compares a candidate with
MIN_CHUNKS_BEFORE_ASKING = 2  # chunks written in a chapter before the model is asked if it is done


@dataclass
class GenerationProgress:
    """What the loop reports after each accepted chunk and each rejection."""

    done: int
    total: int
    words: int
    rejections: int
    chapter: int
    event: str  # "chunk" | "rejected" | "start"
    note: str = ""


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GenerationOptions:
    chunks: int
    budget: int
    sampling: Sampling
    chunk_words: int = 220
    chunks_per_chapter: int = 4
    retries: int = 4
    chapters: int = 4  # asked of the model when planning
    style: str | None = None
    thresholds: guard.Thresholds = field(default_factory=guard.Thresholds)


Progress = Callable[[GenerationProgress], None]


class ChapterDone(BaseModel):
    done: bool


# -- small file helpers --------------------------------------------------------------


def _template(name: str) -> str:
    return resources.files("automuse_rag.templates").joinpath(name).read_text(encoding="utf-8")


def read_premise(spec: str) -> str:
    """The premise: the text of file ``spec`` if it names one, else ``spec`` itself."""
    path = Path(spec).expanduser()
    try:
        is_file = len(spec) < 4096 and "\n" not in spec and path.is_file()
    except OSError:
        is_file = False
    if is_file:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the premise file {path}: {exc}") from None
    else:
        if len(spec.split()) < 3 and ("/" in spec or spec.endswith(".txt")):
            raise InputError(f"premise file not found: {spec}")
        text = spec
    text = " ".join(text.split())
    if len(text.split()) < 5:
        raise InputError("the premise is too short: give a few sentences (a text or a file holding them)")
    return text


def _check_premise(directory: Path, premise: str) -> None:
    """Record the premise on first run; refuse a different one for the same story,
    and refuse a store that holds an ingested book."""
    if (directory / "state.sqlite").is_file() or (directory / "story.json").is_file():
        from automuse_rag.memory.catalog import read_manifest

        try:
            generated = read_manifest(directory).get("generated")
        except StoreError:
            generated = None
        if not generated:
            raise StoreError(f"story {directory.name} holds an ingested book, not a generated story; use another --story")
    path = directory / PREMISE_FILE
    if path.exists():
        old = " ".join(path.read_text(encoding="utf-8").split())
        if old != premise:
            raise InputError(
                f"story {directory.name} was started from another premise (see {path}); "
                "use a new --story, or the same premise to continue"
            )
    else:
        directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, premise + "\n")


# -- state on disk ---------------------------------------------------------------------


def read_state(directory: Path) -> dict[str, Any]:
    try:
        return json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # a damaged state file is rebuilt from the store


def write_state(directory: Path, state: dict[str, Any]) -> None:
    write_text_atomic(directory / STATE_FILE, json.dumps(state, indent=1, sort_keys=True))


def log_rejection(directory: Path, entry: dict[str, Any]) -> None:
    with open(directory / REJECTIONS_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_rejections(directory: Path) -> list[dict[str, Any]]:
    """Every logged rejection (a line cut short by a kill is skipped)."""
    out = []
    try:
        lines = (directory / REJECTIONS_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


# -- prompts ---------------------------------------------------------------------------


def chapter_heading(plan: Plan, number: int) -> str:
    return f"Chapter {number}: {plan.chapter(number).title}"


def write_template(plan: Plan, chapter: int, first: bool, opts: GenerationOptions):
    """The assembler template for the next chunk, with style, cast and cue filled in."""
    from automuse_rag.assemble import parse_template

    heading = chapter_heading(plan, chapter)
    cue_file = "write_cue_first.txt" if first else "write_cue_next.txt"
    cue = StrTemplate(_template(cue_file)).substitute(chapter=heading, words=opts.chunk_words).strip()
    style = f"Write in this style: {opts.style.strip()}. " if opts.style else ""
    text = (
        _template("write_prompt.txt")
        .replace("<<STYLE>>", style)
        .replace("<<CAST>>", plan.cast_text() or "(none planned)")
        .replace("<<CHAPTER>>", heading.upper())
        .replace("<<CHAPTER_PLAN>>", plan.chapter(chapter).plan)
        .replace("<<CUE>>", cue)
    )
    return parse_template(text, "write_prompt.txt")


def chunk_messages(template: Any, prompt: Any) -> list[Message]:
    system, user = template.messages(prompt.sections)
    messages: list[Message] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user or prompt.text})
    return messages


def escalate(base: Sampling, attempt: int, chunk_index: int) -> Sampling:
    """Sampling for the ``attempt``-th try (0 = first): hotter and more penalised after
    each rejection, with a new seed so a retry never replays a rejected candidate."""
    seed = None if base.seed is None else base.seed + 1009 * chunk_index + 7 * attempt
    return base.with_(
        temperature=round(min(base.temperature + 0.15 * attempt, 1.3), 3),
        frequency_penalty=round(min(base.frequency_penalty + 0.35 * attempt, 2.0), 3),
        presence_penalty=round(min(base.presence_penalty + 0.25 * attempt, 2.0), 3),
        seed=seed,
    )


# -- the writer --------------------------------------------------------------------------


class Writer:
    """One story being generated: its store, models, plan and options."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        memory: Any,
        llm: ChatModel,
        analysis_llm: ChatModel | None,
        plan: Plan,
        opts: GenerationOptions,
        progress: Progress | None,
    ) -> None:
        self.settings, self.name, self.memory, self.llm = settings, name, memory, llm
        self.analysis_llm = analysis_llm
        self.plan, self.opts, self.progress = plan, opts, progress
        self.dir = memory.dir
        self.rejected = 0
        self.total_rejections = len(read_rejections(self.dir))
        self._vectors: dict[str, list[float]] = {}
        self._nlp: Any = None

    # embeddings for the guard, cached by text
    def embed(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            for t, v in zip(missing, self.memory.embedder.embed(missing)):
                self._vectors[t] = v
        return [self._vectors[t] for t in texts]

    def records(self) -> list[Any]:
        return self.memory.records()

    def next_chapter(self, records: list[Any]) -> int:
        """The chapter of the next chunk: from the state file if it was decided after
        the last committed chunk, else decided now (after a kill between the commit
        and the state write)."""
        if not records:
            return 1
        state = read_state(self.dir)
        decided = state.get("next_chapter_after")
        if decided == records[-1].index and isinstance(state.get("next_chapter"), int):
            return int(state["next_chapter"])
        return self.decide_chapter(records)

    def decide_chapter(self, records: list[Any]) -> int:
        current = records[-1].chapter
        last = self.plan.chapters[-1].number
        if current >= last:
            return last
        written = [r for r in records if r.chapter == current]
        if len(written) >= self.opts.chunks_per_chapter:
            return current + 1
        if len(written) >= MIN_CHUNKS_BEFORE_ASKING and self.ask_chapter_done(current, written):
            return current + 1
        return current

    def ask_chapter_done(self, chapter: int, written: list[Any]) -> bool:
        """Ask the model whether the chapter's plan is fulfilled (False when it cannot say)."""
        summaries = "\n".join(f"- {r.summary}" for r in written)
        text = StrTemplate(_template("write_chapter_done.txt")).substitute(
            chapter=chapter_heading(self.plan, chapter), plan=self.plan.chapter(chapter).plan, written=summaries
        )
        sampling = self.opts.sampling.with_(temperature=0.0, max_tokens=16)
        try:
            reply = self.llm.structured([{"role": "user", "content": text}], ChapterDone, sampling)
        except AutomuseError:
            return False
        return bool(reply and reply.done)

    def prompt_for(self, records: list[Any], chapter: int) -> tuple[Any, list[Message]]:
        from automuse_rag.assemble import build_prompt

        at = len(records) - 1
        opening = not records or records[-1].chapter != chapter
        template = write_template(self.plan, chapter, opening, self.opts)
        prompt = build_prompt(
            self.memory, at, budget=self.opts.budget, count_tokens=self.llm.count_tokens, template=template, chapter=chapter
        )
        return prompt, chunk_messages(template, prompt)

    def write_one(self, records: list[Any], chapter: int) -> str:
        """A candidate that passes the guard, or ModelError after every retry failed."""
        index = len(records)
        prompt, messages = self.prompt_for(records, chapter)
        previous = [r.text for r in records[-GUARD_WINDOW:]]
        limit = self.opts.thresholds.similarity_limit(self.memory.embedder.name)
        reasons: list[str] = []
        for attempt in range(self.opts.retries + 1):
            sampling = escalate(self.opts.sampling, attempt, index)
            raw = self.llm.chat(messages, sampling)
            candidate = drop_echoes(strip_artefacts(raw), [prompt.text, *previous[-3:]])
            result = guard.check(
                candidate,
                previous=previous,
                prompt=prompt.text,
                embed=self.embed if limit is not None else None,
                thresholds=self.opts.thresholds,
                embedder_name=self.memory.embedder.name,
            )
            if result.ok:
                return candidate
            reasons = result.reasons
            self.reject(index, attempt, sampling, candidate or raw, result)
        raise ModelError(
            f"could not write chunk {index}: all {self.opts.retries + 1} candidates failed the degeneration guard "
            f"(last: {reasons[0]}); nothing bad was stored, run the command again to retry"
        )

    def reject(self, index: int, attempt: int, sampling: Sampling, text: str, result: guard.GuardResult) -> None:
        self.rejected += 1
        self.total_rejections += 1
        log_rejection(
            self.dir,
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "chunk": index,
                "attempt": attempt,
                "reasons": result.reasons,
                "metrics": {k: round(v, 4) for k, v in result.metrics.items()},
                "sampling": {k: v for k, v in sampling.as_dict().items() if k != "stop"},
                "text": text[:600],
            },
        )
        self.report("rejected", len(self.records()), note=result.reasons[0] if result.reasons else "")

    def commit(self, records: list[Any], chapter: int, text: str) -> Any:
        from automuse_rag.memory.ingest import analyze_chunk
        from automuse_rag.memory.ner import get_nlp
        from automuse_rag.text.types import Chunk

        index = len(records)
        start = sum(len(r.text) + 2 for r in records)
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
        chunk = Chunk(
            index=index,
            id=f"{self.name}:{index:05d}:{digest}",
            chapter=chapter,
            chapter_title=chapter_heading(self.plan, chapter),
            start=start,
            end=start + len(text),
            text=text,
        )
        if self._nlp is None:
            self._nlp = get_nlp()
        analysis = analyze_chunk(chunk, self.analysis_llm, self._nlp, self.opts.sampling)
        self.memory.commit_chunk(chunk, analysis)
        return chunk

    def after_commit(self) -> list[Any]:
        """Manuscript and state, rewritten from the store after each commit."""
        records = self.records()
        write_manuscript_file(self.dir, self.plan, records)
        nxt = self.decide_chapter(records) if len(records) < self.opts.chunks else records[-1].chapter
        write_state(
            self.dir,
            {
                "story": self.name,
                "chunks_done": len(records),
                "chunks_target": self.opts.chunks,
                "next_chapter_after": records[-1].index,
                "next_chapter": nxt,
                "rejections": self.total_rejections,
                "words": sum(len(r.text.split()) for r in records),
                "llm": self.llm.name,
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )
        return records

    def report(self, event: str, done: int, chapter: int = 0, note: str = "", words: int | None = None) -> None:
        if self.progress is None:
            return
        if words is None:
            words = sum(len(r.text.split()) for r in self.records())
        self.progress(
            GenerationProgress(done, self.opts.chunks, words, self.total_rejections, chapter, event, note)
        )

    def run(self) -> int:
        records = self.records()
        write_manuscript_file(self.dir, self.plan, records)
        self.report("start", len(records), note="resumed" if records else "")
        written = 0
        while len(records) < self.opts.chunks:
            chapter = self.next_chapter(records)
            text = self.write_one(records, chapter)
            self.commit(records, chapter, text)
            records = self.after_commit()
            written += 1
            self.report("chunk", len(records), chapter, words=sum(len(r.text.split()) for r in records))
        return written


def write_manuscript_file(directory: Path, plan: Plan, records: list[Any]) -> Path:
    from automuse_rag.export import manuscript_from_records, render_md

    path = directory / MANUSCRIPT_FILE
    write_text_atomic(path, render_md(manuscript_from_records(plan.title or directory.name, records)))
    return path


# -- the public entry point ----------------------------------------------------------------


def _resolve_llm(llm: str | ChatModel | None, settings: Settings) -> ChatModel:
    if llm is None or isinstance(llm, str):
        from automuse_rag.models.registry import get_chat_model

        return get_chat_model(llm or settings.llm, settings)
    return llm


def _resolve_embedder(embedder: str | Embedder | None, settings: Settings, directory: Path) -> Embedder:
    if embedder is not None and not isinstance(embedder, str):
        return embedder
    from automuse_rag.models.registry import get_embedder

    if embedder is None and (directory / "story.json").is_file():
        recorded = json.loads((directory / "story.json").read_text(encoding="utf-8"))["embedder"]["name"]
        return get_embedder(recorded, settings)
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


def _store_outline(memory: Any, plan: Plan) -> None:
    from automuse_rag.memory.api import OutlinePart

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
    from automuse_rag.memory.locking import StoryBusyError, StoryLock
    from automuse_rag.memory.story import StoryMemory, story_dir

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
        _check_premise(directory, text)
        model = _resolve_llm(llm, settings)
        plan, _ = obtain_plan(directory, text, model, opts)
        if plan_only:
            return _result(name, directory, plan, [], 0, 0, plan_only=True, t0=t0)
        memory = StoryMemory.create(
            settings, name, embedder=_resolve_embedder(embedder, settings, directory), llm_name=model.name,
            source=f"premise:{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}", extra={"generated": True},
        )
        _store_outline(memory, plan)
        analyst = model if analysis_llm is None else _resolve_llm(analysis_llm, settings)
        try:
            writer = Writer(settings, name, memory, model, analyst, plan, opts, progress)
            written = writer.run()
            memory.save_manifest(chunks_total=chunks, complete=len(memory) >= chunks)
            return _result(name, directory, plan, writer.records(), written, writer.rejected, plan_only=False, t0=t0)
        finally:
            memory.write_exports()
            memory.close()
    finally:
        lock.release()


def _result(name, directory, plan, records, written, rejected, *, plan_only, t0) -> GenerationResult:
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
