"""The compare report: per-strategy results, ``report.json``, ``report.md`` and PNG plots.

``report.json`` layout::

    {"story": ..., "budget": ..., "llm": ..., "n_chunks": ..., "positions": [...],
     "nll_positions": [...], "settings": {...}, "notes": [...],
     "strategies": {NAME: {"positions": [...], "prompt_tokens": [...],
                           "over_budget": [...], "entity_recall": [... or null],
                           "nll": [... or null], "nll_tokens": [...],
                           "memory_calls": [...], "memory_tokens": [...],
                           "memory_embeddings": [...], "notes": [...],
                           "summary": {...}}}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automuse_rag.compare.metrics import mean
from automuse_rag.compare.strategies import STRATEGIES, StrategyContext
from automuse_rag.fsutil import atomic_path, write_text_atomic

PLOTS = {
    "tokens": "prompt_tokens_by_position.png",
    "recall": "entity_recall_by_position.png",
    "nll": "nll_by_strategy.png",
}
_COLORS = {
    "rolling_unbounded": "tab:red",
    "rolling_recursive": "tab:orange",
    "retrieval": "tab:blue",
    "last_chunk": "tab:gray",
}


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

    def set_nll(self, position: int, nll: float, tokens: int) -> None:
        k = self.positions.index(position)
        self.nll[k] = nll
        self.nll_tokens[k] = tokens

    def summary(self) -> dict[str, Any]:
        over = [p for p, o in zip(self.positions, self.over_budget) if o]
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
            "strategies": {name: res.to_dict() for name, res in self.strategies.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CompareReport":
        """Read back a report.json (e.g. to redraw its plots)."""
        fields = ("positions", "prompt_tokens", "over_budget", "entity_recall", "nll", "nll_tokens",
                  "memory_calls", "memory_tokens", "memory_embeddings", "notes")
        results = {}
        for name, entry in data["strategies"].items():
            res = StrategyResult(name)
            for key in fields:
                setattr(res, key, list(entry.get(key, [])))
            results[name] = res
        return cls(
            story=data["story"], budget=int(data["budget"]), llm=data["llm"], n_chunks=int(data["n_chunks"]),
            positions=list(data["positions"]), nll_positions=list(data["nll_positions"]), strategies=results,
            settings=dict(data.get("settings", {})), notes=list(data.get("notes", [])),
            seconds=dict(data.get("seconds", {})), files=dict(data.get("files", {})),
        )

    def summary_rows(self) -> list[dict[str, Any]]:
        """One flat row per strategy (for the terminal table and report.md)."""
        return [{"strategy": name, **res.summary()} for name, res in self.strategies.items()]

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
    lines += [
        "",
        "| strategy | mean tokens | max tokens | over budget | first over | entity recall | mean NLL | memory calls | memory tokens | embedded texts |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report.summary_rows():
        lines.append(
            f"| {row['strategy']} | {fmt_value(row['mean_prompt_tokens'], 0)} | {fmt_value(row['max_prompt_tokens'])} "
            f"| {row['over_budget_count']}/{row['positions']} | {fmt_value(row['first_over_budget'])} "
            f"| {fmt_value(row['mean_entity_recall'])} (n={row['entity_recall_positions']}) "
            f"| {fmt_value(row['mean_nll'])} (n={row['nll_samples']}) | {row['final_memory_calls']} "
            f"| {row['final_memory_tokens']} | {row['final_memory_embeddings']} |"
        )
    lines += [
        "",
        "Entity recall: of the characters and places named in chunk i+1 that were known by chunk i, "
        "the share the context names (any known name or alias, whole words, case-sensitive); positions "
        "with no such entity are left out of the mean. Memory cost is what building the memory up to "
        "the last position cost (model calls, their tokens, texts embedded). NLL is the mean negative "
        "log-likelihood per token of chunk i+1 given the context (lower is better).",
    ]
    if report.files:
        pngs = [Path(p).name for k, p in report.files.items() if k in PLOTS]
        if pngs:
            lines += ["", "## Plots", ""] + [f"![{name}]({name})" for name in pngs]
    notes = list(report.notes) + [f"{n}: {note}" for n, r in report.strategies.items() for note in r.notes]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    if report.seconds:
        lines += ["", "Time: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())]
    return "\n".join(lines) + "\n"


def _span(positions: list[int]) -> str:
    if not positions:
        return "none"
    return f"{positions[0]}..{positions[-1]}"


# --- plots ------------------------------------------------------------------------------


def write_plots(report: CompareReport, out_dir: Path) -> dict[str, str]:
    """Three PNGs: prompt tokens by position (with the budget line), entity recall by
    position (points and a running mean) and NLL by strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {}
    for key, draw in (("tokens", _plot_tokens), ("recall", _plot_recall), ("nll", _plot_nll)):
        fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
        try:
            draw(report, ax)
            ax.set_title(f"{ax.get_title()} ({report.story}, budget {report.budget})")
            fig.tight_layout()
            path = out_dir / PLOTS[key]
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format="png")
            files[key] = str(path)
        finally:
            plt.close(fig)
    return files


def _ordered(report: CompareReport) -> list[StrategyResult]:
    return [report.strategies[n] for n in STRATEGIES if n in report.strategies]


def _plot_tokens(report: CompareReport, ax: Any) -> None:
    for res in _ordered(report):
        ax.plot(res.positions, res.prompt_tokens, label=res.name, color=_COLORS.get(res.name), linewidth=1.6)
    ax.axhline(report.budget, color="black", linestyle="--", linewidth=1.2, label=f"budget ({report.budget})")
    top = max((t for res in _ordered(report) for t in res.prompt_tokens), default=0)
    if top > 5 * report.budget:  # the unbounded line would flatten the others: log scale
        ax.set_yscale("log")
    ax.set_xlabel("chunk position i (context for predicting chunk i+1)")
    ax.set_ylabel("prompt tokens")
    ax.set_title("Prompt tokens by position")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")


def _running_mean(values: list[float | None], window: int) -> list[float | None]:
    out: list[float | None] = []
    for k in range(len(values)):
        out.append(mean(values[max(0, k - window + 1) : k + 1]))
    return out


def _plot_recall(report: CompareReport, ax: Any) -> None:
    window = max(1, len(report.positions) // 15)
    for res in _ordered(report):
        color = _COLORS.get(res.name)
        pts = [(p, r) for p, r in zip(res.positions, res.entity_recall) if r is not None]
        if pts:
            ax.scatter([p for p, _ in pts], [r for _, r in pts], s=10, alpha=0.25, color=color)
        smooth = _running_mean(res.entity_recall, window)
        xs = [p for p, s in zip(res.positions, smooth) if s is not None]
        ys = [s for s in smooth if s is not None]
        ax.plot(xs, ys, label=f"{res.name} (running mean of {window})", color=color, linewidth=1.8)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("chunk position i")
    ax.set_ylabel("entity recall (share of known entities of chunk i+1 named)")
    ax.set_title("Entity recall by position")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")


def _plot_nll(report: CompareReport, ax: Any) -> None:
    """Mean NLL per strategy (bar labels) as the paired difference from the
    ``last_chunk`` floor at the same positions (points: each position), so the
    position-to-position spread of the text itself does not hide the comparison."""
    results = _ordered(report)
    names = [r.name for r in results]
    floor = report.strategies.get("last_chunk")
    base = dict(zip(floor.positions, floor.nll)) if floor else {}
    any_nll = False
    for k, res in enumerate(results):
        pairs = [(v, base.get(p)) for p, v in zip(res.positions, res.nll) if v is not None]
        if not pairs:
            continue
        any_nll = True
        diffs = [v - b for v, b in pairs if b is not None]
        avg = sum(v for v, _ in pairs) / len(pairs)
        mean_diff = sum(diffs) / len(diffs) if diffs else 0.0
        ax.bar(k, mean_diff, color=_COLORS.get(res.name), alpha=0.6, width=0.6)
        jitter = [k + 0.05 * ((j % 7) - 3) for j in range(len(diffs))]
        ax.scatter(jitter, diffs, s=14, color="black", alpha=0.5, zorder=3)
        names[k] = f"{res.name}\nmean NLL {avg:.3f}\ndiff {mean_diff:+.3f}"
    if not any_nll:
        ax.text(0.5, 0.5, "no NLL samples (--nll-samples 0 or no log-probabilities)", ha="center", va="center",
                transform=ax.transAxes)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("NLL per token of chunk i+1 minus last_chunk's\n(same position; below 0 = predicts better)")
    ax.set_title(f"Next-chunk NLL by strategy ({len(report.nll_positions)} positions)")
    ax.grid(alpha=0.3, axis="y")
