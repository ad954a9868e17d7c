"""Memory cost: what building a story's memory up to each chunk cost.

Per-chunk summarization (and lore extraction) calls and tokens are recorded by ingest
with each chunk's analysis; a story without that record (an in-memory double, or
an extractive ingest) costs 0 model calls. Embedded texts are counted by the store's
rule (see :func:`stored_embeddings`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from automuse_rag.compare.strategies import MemoryCost
from automuse_rag.memory.api import StoryView


def _cumulative(per_chunk: list[MemoryCost]) -> list[MemoryCost]:
    out: list[MemoryCost] = []
    total = MemoryCost()
    for cost in per_chunk:
        total = total + cost
        out.append(total)
    return out


def _as_cost(entry: Any) -> MemoryCost:
    if isinstance(entry, MemoryCost):
        return entry
    if isinstance(entry, dict):
        tokens = entry.get("tokens")
        if tokens is None:
            tokens = int(entry.get("prompt_tokens", 0) or 0) + int(entry.get("completion_tokens", 0) or 0)
        return MemoryCost(calls=int(entry.get("calls", 0) or 0), tokens=int(tokens or 0))
    return MemoryCost()


def per_chunk_costs(story: StoryView, count_tokens: Callable[[str], int] | None = None) -> list[MemoryCost]:
    """Model calls/tokens spent on each chunk at ingest (0 where nothing is recorded).

    A :class:`~automuse_rag.memory.story.StoryMemory` records each chunk's model
    calls in its analysis, not their tokens; for a chunk with calls the tokens are
    estimated as its text plus its summary under ``count_tokens`` (a lower bound:
    the prompt's instructions and the lore JSON are not counted)."""
    n = len(story)
    analyses = getattr(story, "analyses", None)
    if callable(analyses):
        texts = {r.index: (r.text, r.summary) for r in story.latest().records()}
        costs = [MemoryCost()] * n
        for i, analysis in analyses():
            calls = int(getattr(analysis, "calls", 0) or 0)
            if 0 <= i < n and calls:
                text, summary = texts.get(i, ("", ""))
                tokens = (count_tokens(text) + count_tokens(summary)) if count_tokens else 0
                costs[i] = MemoryCost(calls=calls, tokens=tokens)
        return costs
    recorded = getattr(story, "chunk_costs", None)
    entries: Iterable[Any] = recorded() if callable(recorded) else (recorded or [])
    costs = [_as_cost(e) for e in entries][:n]
    return costs + [MemoryCost()] * (n - len(costs))


def ingest_costs(story: StoryView, count_tokens: Callable[[str], int] | None = None) -> list[MemoryCost]:
    """Cumulative ingest cost after each chunk: ``result[i]`` = cost of chunks 0..i."""
    return _cumulative(per_chunk_costs(story, count_tokens))


def stored_embeddings(story: StoryView) -> list[int]:
    """Cumulative number of texts embedded into the store after each chunk: its
    summary, its raw text (a StoryMemory stores chunks too) and one entity record per
    entity mentioned in it."""
    n = len(story)
    per_chunk = [2 if callable(getattr(story, "analyses", None)) else 1] * n
    for ent in story.latest().entities():
        for c in set(ent.mentions):
            if 0 <= c < n:
                per_chunk[c] += 1
    out, total = [], 0
    for k in per_chunk:
        total += k
        out.append(total)
    return out
