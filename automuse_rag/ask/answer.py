"""Answer a question about a story as known at chunk ``at``, with checked citations.

1. :func:`~automuse_rag.ask.evidence.retrieve_evidence` finds memories and lore
   cards from chunks ``0..at`` only.
2. Every sentence of that evidence is scored for *support*: the question's names
   (capitalised words) it mentions and its content words it shares. When no
   sentence supports the question, the answer says the story has not told it yet,
   and no model is asked (a small model would guess).
3. With a language model, the evidence behind the best-supported sentences goes
   into a prompt (templates ``ask_system.txt``, ``ask_user.txt``) and the model
   replies with one to three sentences, each with the chunk it cites, under a JSON
   schema whose only chunk choices are the notes' (a grammar-constrained backend
   such as the local model cannot invent one). The reply is checked sentence by
   sentence: a sentence citing no note (or a chunk after ``at``), whose words are
   mostly not in the note it cites, or repeating another, is dropped; the rest are
   written with their citations as ``[chunk N, chapter C]``. If nothing survives,
   or there is no usable model (``extractive``, or a model error), the answer is
   the best-supported sentences themselves, each with its citation.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema, create_model

from automuse_rag import templates
from automuse_rag.ask.evidence import (
    Evidence,
    content_words,
    question_names,
    retrieve_evidence,
    stem,
)
from automuse_rag.errors import InputError, ModelError
from automuse_rag.memory.snapshot import StorySnapshot
from automuse_rag.models.base import ChatModel, Sampling, capable

CITATION = re.compile(r"\[\s*chunk\s+(\d+)\s*,\s*chapter\s+(\d+)\s*\]", re.IGNORECASE)
_ANY_BRACKET = re.compile(r"\[[^\]]{0,40}\]")
MAX_SENTENCES = 3
MAX_SENTENCE_WORDS = 60
NOTES_FOR_MODEL = 4
NOTE_WORDS = 50
#: Share of a model sentence's content words that must occur in the evidence it cites.
GROUNDING = 0.5
#: Two quoted sentences sharing this share of the shorter one's words say the same thing.
NEAR_DUPLICATE = 0.8
MAX_REPLY_CHARS = 240
MIN_REPLY_CHARS = 12


@dataclass(frozen=True)
class Citation:
    chunk: int
    chapter: int
    kind: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"chunk": self.chunk, "chapter": self.chapter, "kind": self.kind, "text": self.text}


@dataclass
class Answer:
    """An answer as known at ``at``. ``method`` says how it was made: ``model``,
    ``extractive`` or ``not-told``; ``note`` why a model answer was not used."""

    question: str
    at: int
    answer: str
    citations: list[Citation]
    method: str
    note: str = ""
    evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``ask --json`` shape: question, at, answer, citations."""
        return {
            "question": self.question,
            "at": self.at,
            "answer": self.answer,
            "citations": [c.to_dict() for c in self.citations],
        }


@dataclass(frozen=True)
class _Scored:
    sentence: str
    evidence: Evidence
    support: float


def _stems(words: list[str]) -> set[str]:
    return {stem(w) for w in words}


def sentence_support(sentence: str, names: set[str], terms: set[str]) -> float:
    """How well ``sentence`` supports a question with these ``names`` and ``terms``
    (stems): 0 when it mentions none of the names (if the question has any) or
    none of the terms; else 2 per name and 1 per other term it shares."""
    stems = _stems(content_words(sentence))
    name_hits = {n for n in names if stem(n) in stems}
    if names and not name_hits:
        return 0.0
    term_hits = (terms - {stem(n) for n in names}) & stems
    if not name_hits and not term_hits:
        return 0.0
    return 2.0 * len(name_hits) + len(term_hits)


def _required_terms(terms: set[str]) -> int:
    return max(1, math.ceil(len(terms) / 3))


def rank_sentences(question: str, evidence: list[Evidence]) -> list[_Scored]:
    """Evidence sentences that support the question, best first (support, then
    retrieval score, then the later chunk: the latest knowledge)."""
    names = question_names(question, "\n".join(ev.text for ev in evidence))
    terms = _stems(content_words(question))
    need = _required_terms(terms - {stem(n) for n in names})
    out: dict[str, _Scored] = {}
    for ev in evidence:
        for sentence in ev.sentences:
            support = sentence_support(sentence, names, terms)
            if support <= 0:
                continue
            if not names and support < need:
                continue
            key = " ".join(sentence.lower().split())
            if key not in out or out[key].support < support:
                out[key] = _Scored(sentence, ev, support)
    return sorted(out.values(), key=lambda s: (-s.support, -s.evidence.score, -s.evidence.chunk, s.evidence.id))


def _clip(sentence: str, words: int = MAX_SENTENCE_WORDS) -> str:
    """At most ``words`` words, without a dangling opening quote left by sentence splitting."""
    parts = " ".join(sentence.split()).split(" ")
    text = " ".join(parts[:words]) + ("…" if len(parts) > words else "")
    return text.rstrip(" “‘\"'(")


def _body_words(sentence: str) -> set[str]:
    """A sentence's words without a lore card's head ("Name (kind; ...): ")."""
    head, sep, tail = sentence.partition("): ")
    return {w.lower() for w in content_words(tail if sep and "(" in head else sentence)}


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def _citation(ev: Evidence, quoted: list[str] | tuple[str, ...] = ()) -> Citation:
    """The evidence as cited: its text, plus each quoted sentence it does not already
    show (a lore card's text leads with its introduction, not every sentence it holds)."""
    text = ev.text
    for sentence in quoted:
        if sentence not in text:
            text = f"{text} … {sentence}"
    return Citation(ev.chunk, ev.chapter, ev.kind, text)


def extractive_answer(scored: list[_Scored], limit: int = MAX_SENTENCES) -> tuple[str, list[Citation]]:
    """The best-supported sentences (two at most from one piece of evidence), each
    followed by its citation."""
    picked: list[_Scored] = []
    bodies: list[set[str]] = []
    per_evidence: dict[str, int] = {}
    for s in scored:
        body = _body_words(s.sentence)
        if per_evidence.get(s.evidence.id, 0) >= 2 or any(_overlap(body, b) >= NEAR_DUPLICATE for b in bodies):
            continue
        bodies.append(body)
        picked.append(s)
        per_evidence[s.evidence.id] = per_evidence.get(s.evidence.id, 0) + 1
        if len(picked) == limit:
            break
    text = " ".join(f"{_clip(s.sentence).rstrip()} {s.evidence.cite}" for s in picked)
    quoted: dict[str, list[str]] = {}
    for s in picked:
        quoted.setdefault(s.evidence.id, []).append(s.sentence)
    cites = {s.evidence.id: _citation(s.evidence, quoted[s.evidence.id]) for s in picked}
    return text, list(cites.values())


def not_told(at: int, chapter: int | None) -> str:
    if at < 0:
        return "The story has not told that yet: nothing has been read so far."
    where = f"chunk {at}" + (f", chapter {chapter}" if chapter is not None else "")
    return f"The story has not told that yet (as of {where})."


# -- model answers --------------------------------------------------------------


def notes_for_model(scored: list[_Scored], limit: int = NOTES_FOR_MODEL) -> list[Evidence]:
    """The evidence behind the best-supported sentences, at most ``limit`` pieces."""
    notes: dict[str, Evidence] = {}
    for s in scored:
        notes.setdefault(s.evidence.id, s.evidence)
        if len(notes) == limit:
            break
    return sorted(notes.values(), key=lambda e: (e.chunk, e.kind))


def model_messages(question: str, notes: list[Evidence]) -> list[dict[str, str]]:
    """The ask prompt (templates ``ask_system.txt`` and ``ask_user.txt``)."""
    lines = []
    for ev in notes:
        label = "lore card" if ev.kind == "entity" else "memory"
        lines.append(f"{ev.cite} {label}: {_clip(ev.text, NOTE_WORDS)}")
    user = templates.render("ask_user.txt", notes="\n".join(lines), question=question.strip())
    system = templates.render("ask_system.txt")
    return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user.strip()}]


def reply_schema(chunks: list[int]) -> type[BaseModel]:
    """The reply the model must give: up to three sentences, each with the chunk it
    cites. The JSON schema lists the notes' chunks as the only choices (a grammar-
    constrained backend cannot write another), but validation accepts any integer or
    null so that an invented or missing citation is dropped here, not failed on."""
    allowed = sorted(set(chunks))
    # An annotated type held in a variable: a type form mypy cannot check inside create_model's tuple.
    chunk_type: Any = Annotated[int | None, WithJsonSchema({"type": "integer", "enum": allowed})]
    sentence = create_model(
        "AskSentence",
        text=(str, Field(min_length=MIN_REPLY_CHARS, max_length=MAX_REPLY_CHARS)),
        chunk=(chunk_type, ...),
    )
    return create_model("AskReply", sentences=(list[sentence], Field(min_length=1, max_length=MAX_SENTENCES)))  # type: ignore[valid-type]


def check_model_reply(
    sentences: list[tuple[str, int | None]], notes: list[Evidence], question: str, at: int
) -> tuple[str, list[Citation]]:
    """Keep the model's sentences that cite one of the ``notes`` (chunk <= at) and whose
    content words are mostly in the note it cites (or the question), with at least
    one from the note that the question does not already say; drop the rest:
    uncited, invented citations, ungrounded, echoing or repeated sentences."""
    by_chunk: dict[int, list[Evidence]] = {}
    for ev in notes:
        if ev.chunk <= at:
            by_chunk.setdefault(ev.chunk, []).append(ev)
    q_stems = _stems(content_words(question))
    kept: list[str] = []
    cites: dict[str, Citation] = {}
    seen: list[set[str]] = []
    for raw, chunk in sentences:
        text = " ".join(_ANY_BRACKET.sub("", CITATION.sub("", raw)).split()).strip()
        stems = _stems(content_words(text))
        if chunk not in by_chunk or len(text.split()) < 3 or not stems:
            continue
        best = max(by_chunk[chunk], key=lambda ev: len(stems & _stems(content_words(ev.text))))
        note_stems = _stems(content_words(best.text))
        if not (stems & note_stems) - q_stems:  # it only echoes the question
            continue
        if len(stems & (note_stems | q_stems)) / len(stems) < GROUNDING or any(
            _overlap(stems, s) >= NEAR_DUPLICATE for s in seen
        ):
            continue
        seen.append(stems)
        sentence = text if text[-1:] in ".!?…" else text + "."
        kept.append(f"{sentence} {best.cite}")
        cites.setdefault(best.id, _citation(best))
    return " ".join(kept), list(cites.values())


def model_answer(llm: ChatModel, question: str, notes: list[Evidence], at: int, max_tokens: int) -> tuple[str, list[Citation]]:
    """Ask ``llm`` for a cited answer from ``notes`` and check it. ("", []) when the
    backend has no structured output or nothing survives the checks."""
    schema = reply_schema([ev.chunk for ev in notes])
    reply = llm.structured(
        model_messages(question, notes), schema, Sampling(temperature=0.2, top_p=0.9, max_tokens=max_tokens, seed=1)
    )
    if reply is None:
        return "", []
    pairs: list[tuple[str, int | None]] = [(str(s["text"]), s.get("chunk")) for s in reply.model_dump()["sentences"]]
    return check_model_reply(pairs, notes, question, at)


def _uses_model(llm: ChatModel | None) -> bool:
    return llm is not None and capable(llm, "can_structure")


def answer_question(
    snap: StorySnapshot,
    question: str,
    *,
    llm: ChatModel | None = None,
    k: int = 8,
    max_tokens: int = 160,
) -> Answer:
    """Answer ``question`` from what the story knew at the snapshot (``story.at(i)``).
    ``llm`` is a ChatModel; None or ``extractive`` gives an extractive answer. Raises
    InputError for an empty question."""
    if not question.strip():
        raise InputError("the question is empty")
    at = snap.at
    evidence = retrieve_evidence(snap, question, k=k)
    chapter = next(iter(snap.chapters([at]).values()), None)
    scored = rank_sentences(question, evidence)
    if not scored:
        return Answer(question, at, not_told(at, chapter), [], "not-told", evidence=evidence)
    note = ""
    if _uses_model(llm):
        try:
            assert llm is not None  # _uses_model
            text, cites = model_answer(llm, question, notes_for_model(scored), at, max_tokens)
        except ModelError as exc:  # includes StructuredOutputError
            note = f"no usable model answer ({exc}); extractive answer"
        else:
            if text:
                return Answer(question, at, text, cites, "model", evidence=evidence)
            note = "the model gave no sentence with a checked citation; extractive answer"
    text, cites = extractive_answer(scored)
    return Answer(question, at, text, cites, "extractive", note=note, evidence=evidence)
