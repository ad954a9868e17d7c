"""The compare report's PNG plots: prompt tokens and entity recall by position, NLL by
strategy (as the paired difference from ``last_chunk``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from automuse_rag.compare.metrics import mean
from automuse_rag.compare.strategies import STRATEGIES
from automuse_rag.fsutil import atomic_path

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


# --- plots ------------------------------------------------------------------------------


def write_plots(report: Any, out_dir: Path) -> dict[str, str]:
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


def _ordered(report: Any) -> list[Any]:
    return [report.strategies[n] for n in STRATEGIES if n in report.strategies]


def _plot_tokens(report: Any, ax: Any) -> None:
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


def _plot_recall(report: Any, ax: Any) -> None:
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


def _plot_nll(report: Any, ax: Any) -> None:
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
        ax.text(
            0.5, 0.5, "no NLL samples (--nll-samples 0 or no log-probabilities)", ha="center", va="center", transform=ax.transAxes
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("NLL per token of chunk i+1 minus last_chunk's\n(same position; below 0 = predicts better)")
    ax.set_title(f"Next-chunk NLL by strategy ({len(report.nll_positions)} positions)")
    ax.grid(alpha=0.3, axis="y")
