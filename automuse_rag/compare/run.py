"""``run_compare``: evaluate every strategy at every chosen position of a story."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from automuse_rag.compare.costs import ingest_costs, stored_embeddings
from automuse_rag.compare.metrics import (
    continuation_nll,
    entity_recall,
    even_sample,
    has_logprobs,
    parse_positions,
    recall_targets_for,
)
from automuse_rag.compare.report import CompareReport, StrategyResult
from automuse_rag.compare.strategies import (
    ABLATIONS,
    LastChunk,
    Resummarizer,
    Retrieval,
    RollingRecursive,
    RollingUnbounded,
    Strategy,
    extractive_resummarizer,
    llm_resummarizer,
)
from automuse_rag.errors import InputError, ModelError
from automuse_rag.memory.api import StoryView
from automuse_rag.models.base import ChatModel

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages: ``contexts``, ``nll``."""

RESUMMARIZERS = ("auto", "llm", "extractive")

SCORE_JOIN = "\n"
"""Put between a context and the next chunk when scoring: every prompt ends with the
template's ``NEXT CHUNK:`` cue, and a chunk is written on the line after it. Glued
straight to the cue, the next chunk's first tokens read as the cue's own line, which
costs them far more than anything in the memory does (see docs/compare/README.md)."""


def choose_resummarizer(kind: str, llm: ChatModel) -> tuple[str, Resummarizer]:
    """``auto`` re-summarizes with the LLM unless it is the extractive backend (which
    writes no prose); ``extractive`` and ``llm`` force one."""
    if kind not in RESUMMARIZERS:
        raise InputError(f"unknown re-summarizer {kind!r}; choose one of: {', '.join(RESUMMARIZERS)}")
    name = str(getattr(llm, "name", ""))
    if kind == "extractive" or (kind == "auto" and not getattr(llm, "can_chat", True)):
        return "extractive", extractive_resummarizer(llm.count_tokens)
    return f"llm ({name})", llm_resummarizer(llm, llm.count_tokens)


def _positions(story: StoryView, positions: Sequence[int] | str | None, max_positions: int) -> list[int]:
    n = len(story)
    if positions is None or isinstance(positions, str):
        return parse_positions(positions, n, max_positions)
    out = sorted(set(int(p) for p in positions))
    bad = [p for p in out if not 0 <= p < n - 1]
    if bad or not out:
        raise InputError(f"positions must lie in 0..{n - 2} for a story of {n} chunks (got {bad[:3] or 'none'})")
    return out


def run_compare(
    story: StoryView,
    *,
    llm: ChatModel,
    budget: int,
    positions: Sequence[int] | str | None = None,
    nll_samples: int = 0,
    out_dir: Path | None = None,
    progress: Progress | None = None,
    resummarizer: str = "auto",
    recursive_limit: int | None = None,
    max_positions: int = 300,
    plots: bool = True,
    ablations: bool = True,
) -> CompareReport:
    """Compare the four strategies on ``story`` (a ``StoryView``) at ``budget`` tokens,
    counting tokens with ``llm.count_tokens`` and scoring NLL with
    ``llm.continuation_nll`` on ``nll_samples`` evenly spread positions. With
    ``ablations``, retrieval is also run with each activation switched off
    (:data:`~automuse_rag.compare.strategies.ABLATIONS`), measured the same way.
    Writes report.json, report.md and the plots to ``out_dir`` when given."""
    if budget < 16:
        raise InputError(f"--budget must be at least 16 tokens, got {budget}")
    if nll_samples < 0:
        raise InputError(f"--nll-samples must be 0 or more, got {nll_samples}")
    if nll_samples and not has_logprobs(llm):
        raise ModelError(
            f"the model {getattr(llm, 'name', '?')!r} gives no log-probabilities; "
            "use --llm local (or a server with prompt logprobs) or --nll-samples 0"
        )
    pos = _positions(story, positions, max_positions)
    nll_pos = even_sample(pos, nll_samples)
    resum_name, resum = choose_resummarizer(resummarizer, llm)
    count = llm.count_tokens
    base = ingest_costs(story, count)
    stored = stored_embeddings(story)
    recursive = RollingRecursive(story, budget, count, base, resum, recursive_limit)
    strategies: list[Strategy] = [
        RollingUnbounded(story, budget, count, base),
        recursive,
        Retrieval(story, budget, count, base, stored),
        LastChunk(story, budget, count),
    ]
    if ablations:
        strategies += [
            Retrieval(story, budget, count, base, stored, name=name, activations=acts) for name, acts in ABLATIONS.items()
        ]
    results = {s.name: StrategyResult(s.name) for s in strategies}
    started = time.perf_counter()
    texts = _contexts(story, strategies, results, pos, set(nll_pos), progress)
    seconds = {"contexts": time.perf_counter() - started}
    started = time.perf_counter()
    notes = _score_nll(story, llm, results, texts, nll_pos, progress)
    seconds["nll"] = time.perf_counter() - started
    if nll_pos:
        seconds["nll per scoring"] = seconds["nll"] / (len(nll_pos) * len(results))
    roller = recursive.roller
    limit = roller.limit
    report = CompareReport(
        story=str(getattr(story, "name", "story")),
        budget=budget,
        llm=str(getattr(llm, "name", "?")),
        n_chunks=len(story),
        positions=pos,
        nll_positions=nll_pos,
        strategies={name: res for name, res in results.items() if name not in ABLATIONS},
        ablations={name: res for name, res in results.items() if name in ABLATIONS},
        settings={
            "rolling_recursive limit": f"{limit} tokens{'' if recursive_limit else ' (the room for memory at this budget)'}, "
            f"re-summarized well below it (hysteresis: {roller.target_rule()}); {roller.resummaries} re-summaries over "
            f"{len(roller.states)} chunks ({roller.per_chunk():.2f} per chunk); re-summarizer: {resum_name}",
            "cut rule": "every strategy keeps the last chunk whole before any memory: rolling and last_chunk "
            "prompts over the budget cut the outline from its end to a quarter of the budget, then lose the "
            "summary's oldest words, then more of the outline, and only then the last chunk's first words; "
            "retrieval serves the last chunk first and in full, then the outline up to a quarter of the budget, "
            "then memories and lore",
        },
        notes=notes,
        seconds=seconds,
    )
    if out_dir is not None:
        report.write(Path(out_dir), plots=plots)
    return report


def _contexts(
    story: StoryView,
    strategies: list[Strategy],
    results: dict[str, StrategyResult],
    positions: list[int],
    keep: set[int],
    progress: Progress | None,
) -> dict[tuple[str, int], str]:
    """Build every context, record tokens, budget and recall; keep the texts needed for NLL."""
    texts: dict[tuple[str, int], str] = {}
    cuts: dict[str, list[str]] = {}
    for done, i in enumerate(positions, 1):
        targets = recall_targets_for(story, i)
        for strategy in strategies:
            ctx = strategy.context(i)
            results[strategy.name].add(ctx, entity_recall(ctx.text, targets))
            if ctx.notes:
                cuts.setdefault(strategy.name, []).append(f"position {i}: {'; '.join(ctx.notes)}")
            if i in keep:
                texts[(strategy.name, i)] = ctx.text
        if progress:
            progress("contexts", done, len(positions))
    for name, where in cuts.items():
        results[name].notes.append(f"prompt cut to fit the budget at {len(where)} position(s), e.g. {where[-1]}")
    return texts


def _score_nll(
    story: StoryView,
    llm: ChatModel,
    results: dict[str, StrategyResult],
    texts: dict[tuple[str, int], str],
    positions: list[int],
    progress: Progress | None,
) -> list[str]:
    notes: list[str] = []
    if not positions:
        return notes
    records = story.latest().records()
    window = int(getattr(llm, "context_window", 0) or 0)
    truncated: dict[str, int] = {}
    total = len(positions) * len(results)
    done = 0
    for i in positions:
        nxt = records[i + 1].text
        nxt_tokens = llm.count_tokens(nxt)
        # similar contexts one after another: a scorer that keeps its cache (the local
        # model) re-evaluates only what differs from the previous context
        for name in sorted(results, key=lambda n: texts[(n, i)]):
            res, context = results[name], texts[(name, i)] + SCORE_JOIN
            if window and llm.count_tokens(context) + nxt_tokens + 1 > window:
                truncated[name] = truncated.get(name, 0) + 1
            nll, n = continuation_nll(llm, context, nxt)
            res.set_nll(i, nll, n)
            done += 1
            if progress:
                progress("nll", done, total)
    for name, k in truncated.items():
        notes.append(
            f"{name}: at {k} of {len(positions)} NLL positions the context was longer than the model's "
            f"{window}-token window and was truncated from the left for scoring"
        )
    return notes
