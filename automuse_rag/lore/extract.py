"""Chunk analysis: one chunk's summary and lore. spaCy NER always runs; a model that
declares structured output adds a summary, descriptions, kinds, aliases and
relations in one call (:func:`analyze_chunk`). Its answer is never trusted: names
that do not occur in the chunk are dropped, texts are clipped, and when the answer
is unusable the summary is extractive and the lore is NER alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from automuse_rag import templates
from automuse_rag.errors import StructuredOutputError
from automuse_rag.lore.facts import extract_facts
from automuse_rag.lore.names import clean_name
from automuse_rag.lore.ner import get_nlp, ner_mentions, ner_text
from automuse_rag.lore.parse import ChunkFacts, chunk_facts
from automuse_rag.lore.real_names import add_real_names
from automuse_rag.lore.types import MAX_DESCRIPTION, ChunkAnalysis, LoreMention
from automuse_rag.models.base import ChatModel, Sampling, capable
from automuse_rag.models.extractive import extractive_summary
from automuse_rag.text import clip
from automuse_rag.text.types import Chunk

MAX_SUMMARY = 700
MAX_ITEMS = 8
MAX_RELATIONS = 4
MODEL_TEXT_CHARS = 2000  # the small local model reads at most this much of a chunk (NER reads all)

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
    chunk: Chunk,
    llm: ChatModel | None,
    nlp: Any = None,
    sampling: Sampling | None = None,
    *,
    doc: Any = None,
    previous: str = "",
) -> ChunkAnalysis:
    """Summary and lore of one chunk. NER always runs (``doc`` if already parsed,
    else ``nlp(chunk.text)``); the model (one structured call) adds a summary,
    descriptions, kinds, aliases and relations. Falls back to an extractive summary
    and NER lore when the model returns None or invalid output. ``previous``: the
    previous chunk's text, where a real-name statement opening this chunk may find
    whose name it gives (lore/real_names.py)."""
    if doc is None:
        nlp = nlp or get_nlp()
        doc = nlp(ner_text(nlp, chunk.text))
    mentions = ner_mentions(doc)
    add_real_names(doc.text, {m.name: m for m in mentions}, previous)
    facts = chunk_facts(doc, mentions)
    facts.facts = [f.to_dict() for f in extract_facts(doc, chunk.index, mentions)]
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
    a.facts = list(facts.facts)
    return a


def _with_calls(a: ChunkAnalysis, calls: int) -> ChunkAnalysis:
    a.calls = calls
    return a
