"""Find a story's compare reports (``automuse compare --out DIR``) for the web page.

A report is a directory holding ``report.json`` whose ``story`` is the story's name.
Looked for, in order: directories given explicitly (``serve --compare DIR``),
``HOME/stores/NAME/compare*`` (where ``automuse demo`` writes it), and the
``compare --out`` default ``compare-NAME-BUDGET`` in HOME and in the current
directory. Only ``report.json``, ``report.md`` and the known plot files are served.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automuse_rag.compare.plots import PLOTS
from automuse_rag.compare.report import CompareReport

SERVED_FILES = frozenset({"report.json", "report.md", *PLOTS.values()})


@dataclass(frozen=True)
class Report:
    """One compare report directory and its parsed ``report.json``."""

    directory: Path
    data: dict[str, Any]

    def plots(self) -> list[str]:
        return [name for name in PLOTS.values() if (self.directory / name).is_file()]


def _candidates(home: Path, story: str, extra: Iterable[Path]) -> list[Path]:
    dirs = [Path(p) for p in extra]
    stores = home / "stores" / story
    dirs += sorted(p for p in stores.glob("compare*") if p.is_dir())
    for base in dict.fromkeys([home.resolve(), Path.cwd().resolve()]):
        dirs += sorted(p for p in base.glob(f"compare-{story}-*") if p.is_dir())
    return list(dict.fromkeys(p.resolve() for p in dirs))


def find_reports(home: Path, story: str, extra: Iterable[Path] = ()) -> list[Report]:
    """The compare reports of ``story`` that can be read (others are skipped)."""
    found = []
    for directory in _candidates(home, story, extra):
        try:
            data = json.loads((directory / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("story") == story and isinstance(data.get("strategies"), dict):
            found.append(Report(directory, data))
    return found


def _shown(directory: Path, home: Path | None) -> str:
    if home is not None:
        try:
            return str(directory.relative_to(Path(home).resolve()))
        except ValueError:
            pass
    return str(directory)


def _value_at(values: list[Any], k: int) -> Any:
    return values[k] if 0 <= k < len(values) else None


def describe(report: Report, index: int, at: int, home: Path | None = None) -> dict[str, Any]:
    """A report for the page: its summary rows per strategy, its plots (by URL), and
    each strategy's figures at the latest evaluated position <= ``at``. The directory
    is shown relative to ``home`` when it is inside it."""
    rep = CompareReport.from_dict(report.data)
    positions = [p for p in rep.positions if p <= at]
    pos = positions[-1] if positions else None
    at_rows = []
    if pos is not None:
        for name, res in rep.strategies.items():
            k = res.positions.index(pos) if pos in res.positions else -1
            at_rows.append(
                {
                    "strategy": name,
                    "position": pos,
                    "prompt_tokens": _value_at(res.prompt_tokens, k),
                    "over_budget": _value_at(res.over_budget, k),
                    "entity_recall": _value_at(res.entity_recall, k),
                    "nll": _value_at(res.nll, k),
                }
            )
    return {
        "id": index,
        "directory": _shown(report.directory, home),
        "budget": rep.budget,
        "llm": rep.llm,
        "n_chunks": rep.n_chunks,
        "positions": len(rep.positions),
        "notes": list(rep.notes),
        "summary": rep.summary_rows(),
        "at_position": pos,
        "at_rows": at_rows,
        "plots": [{"name": name, "url": f"/api/compare/{index}/files/{name}"} for name in report.plots()],
        "markdown_url": f"/api/compare/{index}/files/report.md" if (report.directory / "report.md").is_file() else None,
    }
