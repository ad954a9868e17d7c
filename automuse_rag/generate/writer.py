"""One story being written (:class:`Writer`): the prompt for the next chunk, the
model's candidates checked by the degeneration guard and against the story's facts
(generate/continuity.py; a rejected one is logged and retried hotter, with a new
seed, a broken fact pinned in the prompt), and the accepted chunk analysed and
committed."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from automuse_rag import templates
from automuse_rag.assemble import build_prompt, parse_template
from automuse_rag.errors import AutomuseError, ModelError
from automuse_rag.generate import continuity, guard
from automuse_rag.generate.artefacts import drop_echoes, strip_artefacts
from automuse_rag.generate.files import (
    GenerationState,
    log_rejection,
    read_rejections,
    read_state,
    write_manuscript_file,
    write_state,
)
from automuse_rag.generate.plan import Plan
from automuse_rag.lore.extract import analyze_chunk
from automuse_rag.lore.ner import get_nlp
from automuse_rag.models.base import ChatModel, Message, Sampling
from automuse_rag.settings import Settings
from automuse_rag.text.types import Chunk

if TYPE_CHECKING:
    from automuse_rag.assemble.assembler import AssembledPrompt
    from automuse_rag.assemble.templates import Template
    from automuse_rag.memory.api import StoryWriter
    from automuse_rag.memory.types import ChunkRecord
    from automuse_rag.text.types import Chunk

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
    continuity: int = 0  # candidates rejected by this run for contradicting the story's facts


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
    continuity: str = "retry"  # "retry" | "warn" | "off" (generate/continuity.py)
    confirm: str = "auto"  # put what the check finds to the model: "auto" (a served model) | "on" | "off"


Progress = Callable[[GenerationProgress], None]


class ChapterDone(BaseModel):
    done: bool


# -- prompts ---------------------------------------------------------------------------


def chapter_heading(plan: Plan, number: int) -> str:
    return f"Chapter {number}: {plan.chapter(number).title}"


def write_template(plan: Plan, chapter: int, first: bool, opts: GenerationOptions) -> Template:
    """The assembler template for the next chunk, with style, cast and cue filled in."""
    heading = chapter_heading(plan, chapter)
    cue = templates.render(
        "write_cue_first.txt" if first else "write_cue_next.txt", chapter=heading, words=opts.chunk_words
    ).strip()
    style = f"Write in this style: {opts.style.strip()}. " if opts.style else ""
    values = {
        "style": style,
        "cast": plan.cast_text() or "(none planned)",
        "chapter": heading.upper(),
        "chapter_plan": plan.chapter(chapter).plan,
        "cue": cue,
    }
    return parse_template(templates.text("write_prompt.txt"), "write_prompt.txt", values)


def chunk_messages(prompt: AssembledPrompt) -> list[Message]:
    system, user = prompt.messages()
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
        memory: StoryWriter,
        llm: ChatModel,
        analysis_llm: ChatModel | None,
        plan: Plan,
        opts: GenerationOptions,
        progress: Progress | None,
    ) -> None:
        self.settings, self.name, self.memory, self.llm = settings, name, memory, llm
        self.analysis_llm = analysis_llm
        self.plan, self.opts, self.progress = plan, opts, progress
        self.plan_facts = continuity.plan_facts(plan)  # roles the plan fixes, held to from the first chunk
        self.dir = memory.dir
        self.rejected = 0
        self.continuity_rejected = 0
        # a contradiction kept by --continuity warn is logged too, but was not rejected
        self.total_rejections = sum(1 for e in read_rejections(self.dir) if not e.get("accepted"))
        self._vectors: dict[str, list[float]] = {}
        self._nlp: Any = None

    # embeddings for the guard, cached by text
    def embed(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            for t, v in zip(missing, self.memory.embedder.embed(missing)):
                self._vectors[t] = v
        return [self._vectors[t] for t in texts]

    def records(self) -> list[ChunkRecord]:
        return self.memory.latest().records()

    def next_chapter(self, records: list[ChunkRecord]) -> int:
        """The chapter of the next chunk: from the state file if it was decided after
        the last committed chunk, else decided now (after a kill between the commit
        and the state write)."""
        if not records:
            return 1
        state = read_state(self.dir)
        if state is not None and state.next_chapter_after == records[-1].index and state.next_chapter is not None:
            return state.next_chapter
        return self.decide_chapter(records)

    def decide_chapter(self, records: list[ChunkRecord]) -> int:
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

    def ask_chapter_done(self, chapter: int, written: list[ChunkRecord]) -> bool:
        """Ask the model whether the chapter's plan is fulfilled (False when it cannot say)."""
        summaries = "\n".join(f"- {r.summary}" for r in written)
        text = templates.render(
            "write_chapter_done.txt",
            chapter=chapter_heading(self.plan, chapter),
            plan=self.plan.chapter(chapter).plan,
            written=summaries,
        )
        sampling = self.opts.sampling.with_(temperature=0.0, max_tokens=16)
        try:
            reply = self.llm.structured([{"role": "user", "content": text}], ChapterDone, sampling)
        except AutomuseError:
            return False
        return bool(reply and reply.done)

    def prompt_for(self, records: list[ChunkRecord], chapter: int) -> tuple[AssembledPrompt, list[Message]]:
        at = len(records) - 1
        opening = not records or records[-1].chapter != chapter
        template = write_template(self.plan, chapter, opening, self.opts)
        prompt = build_prompt(
            self.memory.at(at), budget=self.opts.budget, count_tokens=self.llm.count_tokens, template=template, chapter=chapter
        )
        return prompt, chunk_messages(prompt)

    def write_one(self, records: list[ChunkRecord], chapter: int) -> str:
        """A candidate that passes the guard, or ModelError after every retry failed."""
        index = len(records)
        prompt, messages = self.prompt_for(records, chapter)
        previous = [r.text for r in records[-GUARD_WINDOW:]]
        limit = self.opts.thresholds.similarity_limit(self.memory.embedder.name)
        reasons: list[str] = []
        before = self.memory.at(index - 1)  # the facts the candidate must keep to
        pins: list[str] = []  # the facts a rejected candidate broke, pinned in the retries' prompt
        for attempt in range(self.opts.retries + 1):
            sampling = escalate(self.opts.sampling, attempt, index)
            raw = self.llm.chat(continuity.pinned(messages, pins), sampling)
            candidate = drop_echoes(strip_artefacts(raw), [prompt.text, *previous[-3:]])
            result = guard.check(
                candidate,
                previous=previous,
                prompt=prompt.text,
                embed=self.embed if limit is not None else None,
                thresholds=self.opts.thresholds,
                embedder_name=self.memory.embedder.name,
            )
            if not result.ok:
                reasons = result.reasons
                self.reject(index, attempt, sampling, candidate or raw, result)
                continue
            found = (
                []
                if self.opts.continuity == "off"
                else continuity.contradictions(candidate, index, before, self.nlp(), self.plan_facts)
            )
            if found and continuity.confirms(self.llm, self.opts.confirm):
                found, dismissed = continuity.sift(self.llm, found)
                if dismissed:  # logged as kept, with the model's word
                    kept = guard.GuardResult(True, continuity.reasons(dismissed, "dismissed by the model"), result.metrics)
                    self.reject(index, attempt, sampling, candidate, kept, continuity.citations(dismissed, chapter))
            if not found:
                return candidate
            broken = guard.GuardResult(self.opts.continuity == "warn", continuity.reasons(found), result.metrics)
            self.reject(index, attempt, sampling, candidate, broken, continuity.citations(found, chapter))
            if broken.ok:
                return candidate
            reasons = broken.reasons
            pins += [line for line in continuity.pin_lines(found) if line not in pins]
        check = "the continuity check" if reasons[0].startswith("continuity:") else "the degeneration guard"
        raise ModelError(
            f"could not write chunk {index}: all {self.opts.retries + 1} candidates failed {check} "
            f"(last: {reasons[0]}); nothing bad was stored, run the command again to retry"
        )

    def nlp(self) -> Any:
        """spaCy's NER pipeline (loaded on first use), for chunk analysis and the continuity check."""
        if self._nlp is None:
            self._nlp = get_nlp()
        return self._nlp

    def reject(
        self,
        index: int,
        attempt: int,
        sampling: Sampling,
        text: str,
        result: guard.GuardResult,
        contradictions: list[dict[str, Any]] | None = None,
    ) -> None:
        """Log a rejected candidate (or, ``result.ok``, a contradiction kept by ``--continuity warn``)."""
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "chunk": index,
            "attempt": attempt,
            "reasons": result.reasons,
            "metrics": {k: round(v, 4) for k, v in result.metrics.items()},
            "sampling": {k: v for k, v in sampling.as_dict().items() if k != "stop"},
            "text": text[:600],
        }
        if contradictions is not None:  # both citations: the candidate's sentence, the fact's chunk and sentence
            entry.update(check="continuity", contradictions=contradictions, accepted=result.ok)
        log_rejection(self.dir, entry)
        if result.ok:
            return
        self.rejected += 1
        self.total_rejections += 1
        if contradictions is not None:
            self.continuity_rejected += 1
        self.report("rejected", len(self.records()), note=result.reasons[0] if result.reasons else "")

    def commit(self, records: list[ChunkRecord], chapter: int, text: str) -> Chunk:
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
        previous = records[-1].text if records else ""
        analysis = analyze_chunk(chunk, self.analysis_llm, self.nlp(), self.opts.sampling, previous=previous)
        self.memory.commit_chunk(chunk, analysis)
        return chunk

    def after_commit(self) -> list[ChunkRecord]:
        """Manuscript and state, rewritten from the store after each commit."""
        records = self.records()
        write_manuscript_file(self.dir, self.plan, records)
        nxt = self.decide_chapter(records) if len(records) < self.opts.chunks else records[-1].chapter
        write_state(
            self.dir,
            GenerationState(
                story=self.name,
                chunks_done=len(records),
                chunks_target=self.opts.chunks,
                next_chapter_after=records[-1].index,
                next_chapter=nxt,
                rejections=self.total_rejections,
                words=sum(len(r.text.split()) for r in records),
                llm=self.llm.name,
                updated=time.strftime("%Y-%m-%dT%H:%M:%S"),
            ),
        )
        return records

    def report(self, event: str, done: int, chapter: int = 0, note: str = "", words: int | None = None) -> None:
        if self.progress is None:
            return
        if words is None:
            words = sum(len(r.text.split()) for r in self.records())
        self.progress(
            GenerationProgress(
                done, self.opts.chunks, words, self.total_rejections, chapter, event, note, self.continuity_rejected
            )
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
