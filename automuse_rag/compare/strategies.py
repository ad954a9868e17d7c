"""The four context strategies compared by ``automuse compare``.

For every chunk position ``i`` each strategy builds the context a model would get to
write chunk ``i + 1``. All of them read the same story memory (the per-chunk
summaries recorded at ingest), so only the way memory reaches the prompt differs:

- ``rolling_unbounded``: the original AutoMuse approach. The outline, *every*
  summary so far appended in order, and the last chunk. It is never cut, so it
  grows linearly and passes the budget at some position.
- ``rolling_recursive``: the original's second approach. Summaries are appended to
  a running summary; whenever it passes ``limit`` tokens (default: the room the
  prompt has for memory at this budget, :func:`memory_room`) it is re-summarized
  well below it (:meth:`RecursiveSummary.next_target`: at least
  :data:`RESUMMARY_FLOOR` of it, the seed's half plus a little, or enough to leave
  room for :data:`RESUMMARY_ROOM` mean chunk summaries), so the next chunk summaries
  fill the room again before the next re-summary: hysteresis, re-summaries every few
  chunks rather than at every chunk, with the summary still filling most of the
  room. If the prompt is over the budget it is cut by :func:`fit_prompt`.
- ``retrieval``: this project's assembler (``automuse_rag.assemble.build_prompt``)
  at the same budget, the last chunk served whole first (:func:`whole_last_chunk`);
  the ablations (:data:`ABLATIONS`) switch its activations off one by one.
- ``last_chunk``: the outline and the last chunk only, the floor, cut by the same
  rule if it does not fit.

Every strategy keeps the last chunk whole before it adds any memory; cutting it
is the last resort (when not even the outline is left to cut).

The rolling strategies are pure functions over a list of summaries (:mod:`.rolling`),
tested without any store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from automuse_rag.assemble import ACTIVATIONS, Template, build_prompt, load_template as load_prompt_template
from automuse_rag.assemble.budget import CountTokens
from automuse_rag.compare.rolling import (  # noqa: F401  (re-exported: the public names of compare)
    OUTLINE_SHARE,
    RESUMMARY_FLOOR,
    RESUMMARY_ROOM,
    MemoryCost,
    RecursiveSummary,
    Resummarizer,
    extractive_resummarizer,
    fit_prompt,
    join_summaries,
    keep_head,
    keep_tail,
    llm_resummarizer,
    recursive_states,
    render_rolling,
    rolling_unbounded_prompt,
)
from automuse_rag.memory.api import StoryView

__all__ = [
    "ABLATIONS",
    "LAST_CHUNK",
    "OUTLINE_SHARE",
    "RESUMMARY_FLOOR",
    "RESUMMARY_ROOM",
    "RETRIEVAL",
    "ROLLING_RECURSIVE",
    "ROLLING_UNBOUNDED",
    "STRATEGIES",
    "CountTokens",
    "LastChunk",
    "MemoryCost",
    "RecursiveSummary",
    "Resummarizer",
    "Retrieval",
    "RollingRecursive",
    "RollingUnbounded",
    "Strategy",
    "StrategyContext",
    "extractive_resummarizer",
    "fit_prompt",
    "join_summaries",
    "keep_head",
    "keep_tail",
    "llm_resummarizer",
    "memory_room",
    "recursive_states",
    "render_rolling",
    "rolling_unbounded_prompt",
    "whole_last_chunk",
]

ROLLING_UNBOUNDED = "rolling_unbounded"
ROLLING_RECURSIVE = "rolling_recursive"
RETRIEVAL = "retrieval"
LAST_CHUNK = "last_chunk"
STRATEGIES: tuple[str, ...] = (ROLLING_UNBOUNDED, ROLLING_RECURSIVE, RETRIEVAL, LAST_CHUNK)


@dataclass(frozen=True)
class StrategyContext:
    """The context one strategy gives for predicting chunk ``position + 1``."""

    strategy: str
    position: int
    text: str
    tokens: int
    budget: int
    cost: MemoryCost = field(default_factory=MemoryCost)
    notes: tuple[str, ...] = ()
    resummaries: int | None = None
    """Re-summaries of a running summary made up to this position (None: the
    strategy has no running summary)."""

    @property
    def over_budget(self) -> bool:
        return self.tokens > self.budget


# --- strategies over a story ------------------------------------------------------------


class Strategy(Protocol):
    name: str

    def context(self, i: int) -> StrategyContext:
        """The context for predicting chunk ``i + 1``."""
        ...


def _records_texts(story: StoryView) -> tuple[list[str], list[str]]:
    records = story.latest().records()
    return [r.summary for r in records], [r.text for r in records]


class RollingUnbounded:
    """Outline + every summary so far + the last chunk, never cut."""

    name = ROLLING_UNBOUNDED

    def __init__(self, story: StoryView, budget: int, count_tokens: CountTokens, base_costs: Sequence[MemoryCost]) -> None:
        self._outline = story.outline
        self._summaries, self._texts = _records_texts(story)
        self._budget = budget
        self._count = count_tokens
        self._base = base_costs

    def context(self, i: int) -> StrategyContext:
        text = rolling_unbounded_prompt(self._outline, self._summaries[: i + 1], self._texts[i])
        return StrategyContext(self.name, i, text, self._count(text), self._budget, self._base[i])


def memory_room(story: StoryView, budget: int, count_tokens: CountTokens, sample: int = 40) -> int:
    """Tokens a rolling prompt has for its summary at ``budget``: the budget less the
    mean size of the last-chunk prompt (template, outline cut as by :func:`fit_prompt`,
    whole last chunk) over up to ``sample`` evenly spread chunks, less the summary
    section's own header."""
    texts = [r.text for r in story.latest().records()]
    if not texts:
        return max(2, budget // 2)
    step = max(1, len(texts) // sample)
    picked = texts[::step][:sample]
    base = sum(fit_prompt(story.outline, "", t, budget, count_tokens)[1] for t in picked) / len(picked)
    header = count_tokens(render_rolling("o", "s", "c")) - count_tokens(render_rolling("o", "", "c"))
    return max(2, int(budget - base - header))


class RollingRecursive:
    """Outline + a running summary re-summarized past ``limit`` tokens + the last chunk,
    cut to the budget by :func:`fit_prompt`.

    By default ``limit`` is the room the prompt has for memory (:func:`memory_room`),
    so the summary fills the same budget that retrieval's memory sections fill, and a
    re-summary shortens well below it (:meth:`RecursiveSummary.next_target`;
    hysteresis: not one re-summary per chunk)."""

    name = ROLLING_RECURSIVE

    def __init__(
        self,
        story: StoryView,
        budget: int,
        count_tokens: CountTokens,
        base_costs: Sequence[MemoryCost],
        resummarize: Resummarizer,
        limit: int | None = None,
    ) -> None:
        self._outline = story.outline
        self._summaries, self._texts = _records_texts(story)
        self._budget = budget
        self._count = count_tokens
        self._base = base_costs
        limit = limit or memory_room(story, budget, count_tokens)
        self.roller = RecursiveSummary(limit, count_tokens, resummarize)

    def context(self, i: int) -> StrategyContext:
        while len(self.roller.states) <= i:
            self.roller.extend(self._summaries[len(self.roller.states)])
        text, tokens, notes = fit_prompt(self._outline, self.roller.states[i], self._texts[i], self._budget, self._count)
        cost = self._base[i] + self.roller.costs[i]
        return StrategyContext(self.name, i, text, tokens, self._budget, cost, notes, self.roller.counts[i])


class LastChunk:
    """The floor: outline + last chunk (cut by :func:`fit_prompt` if over the budget)."""

    name = LAST_CHUNK

    def __init__(self, story: StoryView, budget: int, count_tokens: CountTokens) -> None:
        self._outline = story.outline
        self._texts = [r.text for r in story.latest().records()]
        self._budget = budget
        self._count = count_tokens

    def context(self, i: int) -> StrategyContext:
        text, tokens, notes = fit_prompt(self._outline, "", self._texts[i], self._budget, self._count)
        return StrategyContext(self.name, i, text, tokens, self._budget, MemoryCost(), notes)


ABLATIONS: dict[str, frozenset[str]] = {
    "retrieval_no_graph": ACTIVATIONS - {"graph"},
    "retrieval_no_vector": ACTIVATIONS - {"vector"},
    "retrieval_no_recency": ACTIVATIONS - {"recency"},
    "retrieval_no_cast": ACTIVATIONS - {"cast"},
    "retrieval_names_only": frozenset({"names"}),
}
"""Retrieval with one activation switched off (or with the named entities only)."""


def whole_last_chunk(template: Template) -> Template:
    """``template`` with its last chunk served first and in full (quota 1), then the
    outline up to :data:`OUTLINE_SHARE` of the budget (as the rolling prompts), then
    memory: the last chunk is kept whole and the outline is not displaced by memory, so
    strategies differ in their memory only; the last chunk is cut only as the last
    resort."""

    def fix(s: Any) -> Any:
        if s.name == "last_chunk":
            return replace(s, quota=1.0, priority=0)
        if s.name == "outline":
            return replace(s, quota=max(s.quota, OUTLINE_SHARE), priority=1)
        return s

    return Template(template.name, tuple(fix(s) for s in template.sections))


class Retrieval:
    """This project's assembler at the same budget, with the last chunk kept whole
    before any memory (:func:`whole_last_chunk`). Its memory cost adds, to the
    per-chunk summarization, every text embedded: the summaries and entity cards
    stored up to ``i`` and the queries embedded to assemble this prompt.
    ``activations`` switches retrieval activations off (the ablations)."""

    def __init__(
        self,
        story: StoryView,
        budget: int,
        count_tokens: CountTokens,
        base_costs: Sequence[MemoryCost],
        stored_embeddings: Sequence[int],
        *,
        name: str = RETRIEVAL,
        activations: frozenset[str] = ACTIVATIONS,
        template: Template | None = None,
    ) -> None:
        self.name = name
        self._story = story
        self._budget = budget
        self._count = count_tokens
        self._base = base_costs
        self._stored = stored_embeddings
        self._activations = activations
        self._template = template or whole_last_chunk(load_prompt_template())

    def context(self, i: int) -> StrategyContext:
        snap = self._story.at(i)
        prompt = build_prompt(
            snap, budget=self._budget, count_tokens=self._count, template=self._template, activations=self._activations
        )
        queries = snap.queries_embedded
        cost = self._base[i] + MemoryCost(embeddings=self._stored[i] + queries)
        notes = tuple(d.reason for d in prompt.decisions if d.candidate_id == "last_chunk" and d.fate != "included")
        return StrategyContext(self.name, i, prompt.text, self._count(prompt.text), self._budget, cost, notes)
