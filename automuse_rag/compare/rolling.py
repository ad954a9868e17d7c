"""The rolling-summary side of ``automuse compare``, as pure functions over text.

- :func:`render_rolling` renders the rolling (or last-chunk) prompt in the
  assembler's default template (package data ``prompt_default.txt``), the framing
  retrieval's prompts have;
- :func:`fit_prompt` fits it to a budget. The last chunk is kept whole before any
  memory: the outline is cut to a quarter of the budget, then the summary loses its
  oldest words, then the outline is cut further, and only then (the last resort) the
  last chunk loses its first words;
- :class:`RecursiveSummary` is the original's second approach (a running summary
  re-summarized past a limit) and the re-summarizers it can use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from automuse_rag import templates
from automuse_rag.assemble.budget import CountTokens
from automuse_rag.assemble.templates import load_template as load_prompt_template
from automuse_rag.errors import BudgetError
from automuse_rag.models.base import ChatModel, Sampling
from automuse_rag.models.extractive import extractive_summary, split_sentences

if TYPE_CHECKING:
    from automuse_rag.assemble.templates import Template


_PIECE = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class MemoryCost:
    """What building the memory behind a context cost: model calls, the tokens those
    calls read and wrote, and texts embedded."""

    calls: int = 0
    tokens: int = 0
    embeddings: int = 0

    def __add__(self, other: MemoryCost) -> MemoryCost:
        return MemoryCost(self.calls + other.calls, self.tokens + other.tokens, self.embeddings + other.embeddings)


# --- prompt rendering and the cut rule -------------------------------------------------


@cache
def _frame() -> Template:
    return load_prompt_template()


def render_rolling(outline: str, summary: str, last_chunk: str) -> str:
    """The rolling-summary prompt in the assembler's default template (the same
    instructions, section headers and ``NEXT CHUNK:`` cue as retrieval's prompts, so
    strategies differ only in their memory): the summary is the ``STORY SO FAR``
    section; without a summary it is the last-chunk prompt."""
    contents = {"outline": outline.strip(), "memories": summary.strip(), "last_chunk": last_chunk.strip()}
    text, _ = _frame().render(contents)
    return text


def keep_tail(text: str, pieces: int) -> str:
    """The last ``pieces`` whitespace-separated words of ``text`` (whitespace kept)."""
    if pieces <= 0:
        return ""
    words = _PIECE.findall(text)
    return "".join(words[-pieces:]).strip()


def keep_head(text: str, pieces: int) -> str:
    """The first ``pieces`` whitespace-separated words of ``text`` (whitespace kept)."""
    if pieces <= 0:
        return ""
    return "".join(_PIECE.findall(text)[:pieces]).strip()


def _largest_fitting(n: int, fits: Callable[[int], bool]) -> int:
    """Largest k in [0, n] with fits(k), assuming fits is monotone (True then False)."""
    lo, hi = 0, n
    if fits(n):
        return n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


OUTLINE_SHARE = 0.25  # a rolling prompt over the budget first cuts the outline to this share


def fit_prompt(
    outline: str, summary: str, last_chunk: str, budget: int, count_tokens: CountTokens
) -> tuple[str, int, tuple[str, ...]]:
    """Render the rolling prompt inside ``budget`` tokens.

    The last chunk is kept whole before any memory; cut rule, in order, each step only
    if still over: cut the outline from its end to at most :data:`OUTLINE_SHARE` of the
    budget (as the assembler, it keeps the outline's start); drop the summary's oldest
    words (keep its end, the most recent events), down to none; cut the outline
    further, down to none; last resort, drop the last chunk's first words (keep the
    passage that leads into the next one). Returns (text, tokens, notes on each cut)."""
    text = render_rolling(outline, summary, last_chunk)
    tokens = count_tokens(text)
    if tokens <= budget:
        return text, tokens, ()
    notes: list[str] = []

    def over(o: str, s: str, c: str) -> bool:
        return count_tokens(render_rolling(o, s, c)) > budget

    def cut_outline(limit_fits: Callable[[str], bool], what: str) -> None:
        nonlocal outline
        n = len(_PIECE.findall(outline))
        k = _largest_fitting(n, lambda k: limit_fits(keep_head(outline, k)))
        if k < n:
            notes.append(f"outline cut to its first {k} of {n} words{what}")
            outline = keep_head(outline, k)

    share = int(budget * OUTLINE_SHARE)
    if count_tokens(outline) > share:
        cut_outline(lambda o: count_tokens(o) <= share, f" ({OUTLINE_SHARE:.0%} of the budget)")
    if summary.strip() and over(outline, summary, last_chunk):
        n = len(_PIECE.findall(summary))
        k = _largest_fitting(n, lambda k: not over(outline, keep_tail(summary, k), last_chunk))
        notes.append(f"summary cut to its last {k} of {n} words")
        summary = keep_tail(summary, k)
    if over(outline, summary, last_chunk):
        cut_outline(lambda o: not over(o, summary, last_chunk), " (the last chunk kept whole)")
    if over(outline, summary, last_chunk):
        n = len(_PIECE.findall(last_chunk))
        k = _largest_fitting(n, lambda k: not over(outline, summary, keep_tail(last_chunk, k)))
        notes.append(f"last chunk cut to its last {k} of {n} words (last resort: no memory or outline left)")
        last_chunk = keep_tail(last_chunk, k)
    text = render_rolling(outline, summary, last_chunk)
    tokens = count_tokens(text)
    if tokens > budget:
        raise BudgetError(f"a budget of {budget} tokens cannot hold even the empty prompt template ({tokens} tokens)")
    return text, tokens, tuple(notes)


# --- the rolling strategies as pure functions ------------------------------------------


def join_summaries(summaries: Sequence[str]) -> str:
    """Summaries appended in story order, one per line (the rolling summary)."""
    return "\n".join(s.strip() for s in summaries if s.strip())


def rolling_unbounded_prompt(outline: str, summaries: Sequence[str], last_chunk: str) -> str:
    """The first approach: all summaries so far between the outline and the last chunk."""
    return render_rolling(outline, join_summaries(summaries), last_chunk)


Resummarizer = Callable[[str, int], tuple[str, MemoryCost]]
"""``(running_summary, max_tokens) -> (shorter_summary, cost_of_doing_it)``."""

RESUMMARY_FLOOR = 0.55
"""The least a re-summary shortens the running summary to, as a share of its limit
(the seed shortened it to half): the rest of the room is left for the next chunk
summaries, so re-summaries come every few chunks rather than at every chunk, while
the summary still fills most of its room on average."""

RESUMMARY_ROOM = 2
"""Where the limit holds many chunk summaries, a re-summary shortens only enough to
leave room for this many of the mean size so far (when that keeps more than
:data:`RESUMMARY_FLOOR`): the summary stays fuller, and a re-summary still comes only
about every third chunk."""


class RecursiveSummary:
    """The second approach's running summary, built incrementally, re-summarized with
    hysteresis.

    ``extend(summary)`` appends one chunk summary; when the running summary passes
    ``limit`` tokens it is re-summarized to at most ``target`` tokens. The gap between
    the two is the hysteresis: the next chunk summaries fill it before the summary
    passes the limit again, so a re-summary is not needed at every chunk (a target just
    under the limit re-summarized at almost every chunk). Without a fixed ``target`` it
    is :meth:`next_target`: :data:`RESUMMARY_FLOOR` of the limit, or the limit less
    :data:`RESUMMARY_ROOM` mean chunk summaries if that is more. If the re-summarizer
    returns more than the target its output is cut to its last words that fit, so the
    summary never passes the limit. ``states[j]`` is the running summary after chunk
    ``j``, ``costs[j]`` the re-summarization cost spent up to then and ``counts[j]``
    the re-summaries made up to then; ``targets`` lists the target of each re-summary.
    """

    def __init__(self, limit: int, count_tokens: CountTokens, resummarize: Resummarizer, target: int | None = None) -> None:
        if limit < 2:
            raise BudgetError(f"the rolling summary limit must be at least 2 tokens, got {limit}")
        self.limit = limit
        self.fixed_target = min(limit, target) if target else None
        self._count = count_tokens
        self._resummarize = resummarize
        self.text = ""
        self.cost = MemoryCost()
        self.resummaries = 0
        self.states: list[str] = []
        self.costs: list[MemoryCost] = []
        self.counts: list[int] = []
        self.targets: list[int] = []
        self._summary_tokens = 0

    def next_target(self) -> int:
        """The size the next re-summary shortens to (see the class docstring)."""
        if self.fixed_target:
            return self.fixed_target
        floor = int(self.limit * RESUMMARY_FLOOR)
        mean = self._summary_tokens / max(1, len(self.states) + 1)
        return max(1, floor, int(self.limit - RESUMMARY_ROOM * mean))

    def extend(self, summary: str) -> str:
        self._summary_tokens += self._count(summary)
        self.text = join_summaries([self.text, summary])
        if self._count(self.text) > self.limit:
            target = self.next_target()
            shorter, cost = self._resummarize(self.text, target)
            self.cost = self.cost + cost
            self.resummaries += 1
            self.targets.append(target)
            self.text = self._cap(shorter.strip(), target)
        self.states.append(self.text)
        self.costs.append(self.cost)
        self.counts.append(self.resummaries)
        return self.text

    def target_rule(self) -> str:
        """How re-summaries chose their target, in words, with the targets used."""
        if self.fixed_target:
            return f"to at most {self.fixed_target} tokens"
        used = f"; targets {min(self.targets)}..{max(self.targets)}" if self.targets else ""
        return f"to the larger of {RESUMMARY_FLOOR:.0%} of it and it less {RESUMMARY_ROOM} mean chunk summaries{used}"

    def per_chunk(self) -> float:
        """Re-summaries per chunk rolled in so far (0.0 before any chunk)."""
        return self.resummaries / len(self.states) if self.states else 0.0

    def _cap(self, text: str, tokens: int) -> str:
        if self._count(text) <= tokens:
            return text
        n = len(_PIECE.findall(text))
        k = _largest_fitting(n, lambda k: self._count(keep_tail(text, k)) <= tokens)
        return keep_tail(text, k)


def recursive_states(summaries: Sequence[str], limit: int, count_tokens: CountTokens, resummarize: Resummarizer) -> list[str]:
    """The running summary after each chunk (a pure helper over a list of summaries)."""
    roller = RecursiveSummary(limit, count_tokens, resummarize)
    for s in summaries:
        roller.extend(s)
    return roller.states


# --- re-summarizers ---------------------------------------------------------------------


def extractive_resummarizer(count_tokens: CountTokens) -> Resummarizer:
    """Re-summarize with the project's extractive summarizer (no model calls: cost 0)."""

    def run(text: str, max_tokens: int) -> tuple[str, MemoryCost]:
        return _extractive(text, max_tokens, count_tokens), MemoryCost()

    return run


def _extractive(text: str, max_tokens: int, count_tokens: CountTokens) -> str:
    """The most sentences the extractive summarizer can keep within ``max_tokens``
    (its top-k sentences are nested in k, so the count grows with k)."""
    n = len(split_sentences(text))
    if n == 0:
        return ""
    k = _largest_fitting(n, lambda k: k >= 1 and count_tokens(extractive_summary(text, k)) <= max_tokens)
    return extractive_summary(text, max(1, k))


def llm_resummarizer(llm: ChatModel, count_tokens: CountTokens) -> Resummarizer:
    """Re-summarize with a chat model (its cache, if any, makes reruns free). The cost
    is one call plus the tokens of the prompt and of the reply."""

    def run(text: str, max_tokens: int) -> tuple[str, MemoryCost]:
        words = max(10, int(max_tokens * 0.7))
        prompt = templates.render("compare_resummarize.txt", words=words, summary=text.strip())
        messages = [{"role": "user", "content": prompt}]
        reply = llm.chat(messages, Sampling(temperature=0.0, max_tokens=max_tokens, seed=1234))
        reply = reply.strip()
        if not reply:  # a model that says nothing: keep the most recent part instead
            reply = keep_tail(text, words)
        return reply, MemoryCost(calls=1, tokens=count_tokens(prompt) + count_tokens(reply))

    return run
