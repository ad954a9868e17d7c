"""The compare report: per-strategy results, ``report.json``, ``report.md`` and PNG plots.

``report.json`` layout::

    {"story": ..., "budget": ..., "llm": ..., "n_chunks": ..., "positions": [...],
     "nll_positions": [...], "settings": {...}, "notes": [...],
     "strategies": {NAME: {"positions": [...], "prompt_tokens": [...],
                           "over_budget": [...], "entity_recall": [... or null],
                           "nll": [... or null], "nll_tokens": [...],
                           "memory_calls": [...], "memory_tokens": [...],
                           "memory_embeddings": [...], "resummaries": [... or null],
                           "notes": [...],
                           "summary": {..., "resummaries", "resummaries_per_chunk",
                                       "nll_vs_last_chunk": {"baseline", "n",
                                       "mean_diff", "ci95": [lo, hi], "better_at"} or null}}},
     "ablations": {NAME: {... the same shape as a strategy ...}}}

``nll_vs_last_chunk`` pairs each strategy's NLL with ``last_chunk``'s at the same
positions: the mean difference (below 0: predicts the next chunk better), its
percentile-bootstrap 95% interval over positions, and how many positions it wins.
``resummaries`` counts a running summary's re-summaries up to each position (null for a
strategy without one); the summary gives the count up to the last position and
``resummaries_per_chunk``, that count over the chunks rolled in (last position + 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automuse_rag.compare.metrics import mean, paired_nll
from automuse_rag.compare.plots import PLOTS, write_plots
from automuse_rag.compare.strategies import StrategyContext
from automuse_rag.fsutil import write_text_atomic


@dataclass
class StrategyResult:
    name: str
    positions: list[int] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    over_budget: list[bool] = field(default_factory=list)
    entity_recall: list[float | None] = field(default_factory=list)
    nll: list[float | None] = field(default_factory=list)
    nll_tokens: list[int | None] = field(default_factory=list)
    memory_calls: list[int] = field(default_factory=list)
    memory_tokens: list[int] = field(default_factory=list)
    memory_embeddings: list[int] = field(default_factory=list)
    resummaries: list[int | None] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, ctx: StrategyContext, recall: float | None) -> None:
        self.positions.append(ctx.position)
        self.prompt_tokens.append(ctx.tokens)
        self.over_budget.append(ctx.over_budget)
        self.entity_recall.append(recall)
        self.nll.append(None)
        self.nll_tokens.append(None)
        self.memory_calls.append(ctx.cost.calls)
        self.memory_tokens.append(ctx.cost.tokens)
        self.memory_embeddings.append(ctx.cost.embeddings)
        self.resummaries.append(ctx.resummaries)

    def set_nll(self, position: int, nll: float, tokens: int) -> None:
        k = self.positions.index(position)
        self.nll[k] = nll
        self.nll_tokens[k] = tokens

    def summary(self) -> dict[str, Any]:
        over = [p for p, o in zip(self.positions, self.over_budget) if o]
        resummaries = self.resummaries[-1] if self.resummaries and self.positions else None
        return {
            "positions": len(self.positions),
            "mean_prompt_tokens": mean(self.prompt_tokens),
            "max_prompt_tokens": max(self.prompt_tokens, default=None),
            "over_budget_count": len(over),
            "first_over_budget": over[0] if over else None,
            "mean_entity_recall": mean(self.entity_recall),
            "entity_recall_positions": sum(r is not None for r in self.entity_recall),
            "mean_nll": mean(self.nll),
            "nll_samples": sum(v is not None for v in self.nll),
            "final_memory_calls": self.memory_calls[-1] if self.memory_calls else 0,
            "final_memory_tokens": self.memory_tokens[-1] if self.memory_tokens else 0,
            "final_memory_embeddings": self.memory_embeddings[-1] if self.memory_embeddings else 0,
            "resummaries": resummaries,
            "resummaries_per_chunk": None if resummaries is None else resummaries / (self.positions[-1] + 1),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "positions": self.positions,
            "prompt_tokens": self.prompt_tokens,
            "over_budget": self.over_budget,
            "entity_recall": self.entity_recall,
            "nll": self.nll,
            "nll_tokens": self.nll_tokens,
            "memory_calls": self.memory_calls,
            "memory_tokens": self.memory_tokens,
            "memory_embeddings": self.memory_embeddings,
            "resummaries": self.resummaries,
            "notes": self.notes,
            "summary": self.summary(),
        }


@dataclass
class CompareReport:
    story: str
    budget: int
    llm: str
    n_chunks: int
    positions: list[int]
    nll_positions: list[int]
    strategies: dict[str, StrategyResult]
    settings: dict[str, Any] = field(default_factory=dict)
    ablations: dict[str, StrategyResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "story": self.story,
            "budget": self.budget,
            "llm": self.llm,
            "n_chunks": self.n_chunks,
            "positions": self.positions,
            "nll_positions": self.nll_positions,
            "settings": self.settings,
            "notes": self.notes,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "files": {k: Path(v).name for k, v in self.files.items()},  # beside report.json
            "strategies": {name: self._entry(res) for name, res in self.strategies.items()},
            "ablations": {name: self._entry(res) for name, res in self.ablations.items()},
        }

    def paired(self, res: StrategyResult) -> dict[str, Any] | None:
        """``res``'s NLL paired with ``last_chunk``'s (see the module docstring)."""
        base = self.strategies.get("last_chunk")
        return paired_nll(res, base) if base is not None else None

    def _entry(self, res: StrategyResult) -> dict[str, Any]:
        entry = res.to_dict()
        entry["summary"]["nll_vs_last_chunk"] = self.paired(res)
        return entry

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompareReport:
        """Read back a report.json (e.g. to redraw its plots)."""
        fields = (
            "positions",
            "prompt_tokens",
            "over_budget",
            "entity_recall",
            "nll",
            "nll_tokens",
            "memory_calls",
            "memory_tokens",
            "memory_embeddings",
            "resummaries",
            "notes",
        )

        def read(entries: dict[str, Any]) -> dict[str, StrategyResult]:
            results = {}
            for name, entry in entries.items():
                res = StrategyResult(name)
                for key in fields:
                    setattr(res, key, list(entry.get(key, [])))
                results[name] = res
            return results

        results = read(data["strategies"])
        return cls(
            story=data["story"],
            budget=int(data["budget"]),
            llm=data["llm"],
            n_chunks=int(data["n_chunks"]),
            positions=list(data["positions"]),
            nll_positions=list(data["nll_positions"]),
            strategies=results,
            settings=dict(data.get("settings", {})),
            notes=list(data.get("notes", [])),
            seconds=dict(data.get("seconds", {})),
            files=dict(data.get("files", {})),
            ablations=read(data.get("ablations", {})),
        )

    def summary_rows(self, ablations: bool = False) -> list[dict[str, Any]]:
        """One flat row per strategy (or per ablation) for the terminal table and report.md."""
        results = self.ablations if ablations else self.strategies
        return [{"strategy": name, **res.summary(), "nll_vs_last_chunk": self.paired(res)} for name, res in results.items()]

    def write(self, out_dir: Path, plots: bool = True) -> dict[str, str]:
        """Write report.json, report.md and (unless ``plots`` is false) the PNGs."""
        out_dir.mkdir(parents=True, exist_ok=True)
        files: dict[str, str] = {}
        if plots:
            files.update(write_plots(self, out_dir))
        files["markdown"] = str(out_dir / "report.md")
        files["json"] = str(out_dir / "report.json")
        self.files = files
        write_text_atomic(out_dir / "report.md", render_markdown(self))
        write_text_atomic(out_dir / "report.json", json.dumps(self.to_dict(), indent=2) + "\n")
        return files


# --- markdown ---------------------------------------------------------------------------


def fmt_value(value: Any, digits: int = 3, missing: str = "n/a") -> str:
    """A table cell: floats to ``digits`` places, None as ``missing``."""
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_markdown(report: CompareReport) -> str:
    lines = [
        f"# Retrieval vs rolling summaries: {report.story}",
        "",
        f"- budget: {report.budget} tokens (counted with the tokenizer of `{report.llm}`)",
        f"- chunks: {report.n_chunks}; positions evaluated: {len(report.positions)}"
        f" ({_span(report.positions)}); NLL positions: {len(report.nll_positions)}"
        + (f" ({', '.join(map(str, report.nll_positions))})" if report.nll_positions else ""),
    ]
    for key, value in report.settings.items():
        lines.append(f"- {key}: {value}")
    lines += ["", *_table(report.summary_rows())]
    resummaries = resummary_lines(report)
    if resummaries:
        lines += ["", *resummaries]
    if report.ablations:
        lines += [
            "",
            "## Ablations of retrieval",
            "",
            (
                "Retrieval with one activation switched off (graph neighbours, vector search, recency), "
                "and with the entities named in the last chunk only."
            ),
            "",
            *_table(report.summary_rows(ablations=True)),
        ]
    lines += [
        "",
        "Entity recall: of the characters and places named in chunk i+1 that were known by chunk i, "
        "the share the context names (any known name or alias, whole words, case-sensitive); positions "
        "with no such entity are left out of the mean. Memory cost is what building the memory up to "
        "the last position cost (model calls, their tokens, texts embedded). NLL is the mean negative "
        "log-likelihood per token of chunk i+1 given the context (lower is better); *vs last_chunk* is "
        "the mean of the paired differences from last_chunk's NLL at the same positions, with a "
        "percentile-bootstrap 95% interval over positions and the number of positions where the strategy "
        "is lower (an interval that excludes 0 is a difference beyond the position-to-position spread).",
    ]
    if report.files:
        pngs = [Path(p).name for k, p in report.files.items() if k in PLOTS]
        if pngs:
            lines += ["", "## Plots", ""] + [f"![{name}]({name})" for name in pngs]
    results = {**report.strategies, **report.ablations}
    notes = list(report.notes) + [f"{n}: {note}" for n, r in results.items() for note in r.notes]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    if report.seconds:
        lines += ["", "Time: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())]
    return "\n".join(lines) + "\n"


def resummary_lines(report: CompareReport) -> list[str]:
    """One line per strategy with a running summary: its re-summaries up to the last
    position and per chunk rolled in."""
    return [
        f"{row['strategy']}: {row['resummaries']} re-summaries over {report.positions[-1] + 1} chunks "
        f"({row['resummaries_per_chunk']:.2f} per chunk)"
        for row in report.summary_rows()
        if row["resummaries"] is not None
    ]


def _paired_cell(paired: dict[str, Any] | None) -> str:
    if not paired:
        return "n/a"
    ci = paired["ci95"]
    interval = f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""
    return f"{paired['mean_diff']:+.3f}{interval} ({paired['better_at']}/{paired['n']} lower)"


def _table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        (
            "| strategy | mean tokens | max tokens | over budget | first over | entity recall | mean NLL "
            "| NLL vs last_chunk [95% CI] | memory calls | memory tokens | embedded texts |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['strategy']} | {fmt_value(row['mean_prompt_tokens'], 0)} | {fmt_value(row['max_prompt_tokens'])} "
            f"| {row['over_budget_count']}/{row['positions']} | {fmt_value(row['first_over_budget'])} "
            f"| {fmt_value(row['mean_entity_recall'])} (n={row['entity_recall_positions']}) "
            f"| {fmt_value(row['mean_nll'])} (n={row['nll_samples']}) | {_paired_cell(row['nll_vs_last_chunk'])} "
            f"| {row['final_memory_calls']} | {row['final_memory_tokens']} | {row['final_memory_embeddings']} |"
        )
    return lines


def _span(positions: list[int]) -> str:
    if not positions:
        return "none"
    return f"{positions[0]}..{positions[-1]}"
