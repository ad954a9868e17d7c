"""Compare retrieval with rolling summaries on Pride and Prejudice or Frankenstein (extractive memory).

Ingests the book (``--book 1342`` P&P, the default, or ``--book 84`` Frankenstein, from the shared mirror) with ``--llm extractive`` and the
shared outline into a home outside the repo (once; ingest is resumable), then runs
``run_compare`` with the local model (tokens and NLL) at each budget, writing
docs/compare/pp-BUDGET/ or frank-BUDGET/ (report.md, report.json, plots) and the figures between the
``bench:compare`` markers of docs/benchmarks.md.

    .venv/bin/python benchmarks/compare_pp.py [--book 84] [--home /tmp/automuse-pp] [--budgets 1024 2048] [--nll-samples 20] [--max-positions 100]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AUTOMUSE_SHARED_DATA", REPO.parent / "shared" / "data"))
DOCS = REPO / "docs"


BOOKS = {1342: ("pp", "Pride and Prejudice"), 84: ("frank", "Frankenstein")}


def ensure_ingested(home: Path, story: str, book: int = 1342) -> float:
    """Ingest P&P if its store is not complete; returns the seconds it took (0 if done)."""
    manifest = home / "stores" / story / "story.json"
    if manifest.is_file() and '"complete": true' in manifest.read_text():
        return 0.0
    started = time.perf_counter()
    cmd = [
        str(REPO / ".venv" / "bin" / "automuse"),
        "--home",
        str(home),
        "ingest",
        str(book),
        "--story",
        story,
        "--llm",
        "extractive",
        "--outline",
        str(SHARED / "outlines" / f"pg{book}.txt"),
        "--mirror",
        str(SHARED / "gutenberg"),
        "--json",
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def run_one(home: Path, story: str, budget: int, args: argparse.Namespace) -> None:
    from automuse_rag.compare import run_compare
    from automuse_rag.memory.story import StoryMemory
    from automuse_rag.models.registry import get_chat_model
    from automuse_rag.settings import get_settings

    cfg = get_settings(home=home, llm="local", budget=budget, n_ctx=budget + 1024, n_threads=args.threads)
    memory = StoryMemory.open(cfg, story)
    llm = get_chat_model("local", cfg)
    out = DOCS / "compare" / f"{BOOKS[args.book][0]}-{budget}"
    started = time.perf_counter()
    run_compare(
        memory,
        llm=llm,
        budget=budget,
        positions=args.positions,
        nll_samples=args.nll_samples,
        out_dir=out,
        resummarizer="extractive",
        progress=_progress,
        max_positions=args.max_positions,
        ablations=not args.no_ablations,
    )
    print(f"\nbudget {budget}: {time.perf_counter() - started:.0f} s", file=sys.stderr)


def _progress(stage: str, done: int, total: int) -> None:
    print(f"\r{stage} {done}/{total}", end="", file=sys.stderr, flush=True)


def section(ingest_seconds: float, args: argparse.Namespace) -> str:
    """The benchmarks.md section, from every docs/compare/{pp,frank}-*/report.json on disk (so
    budgets and books run by separate invocations all appear)."""
    lines = [
        "### compare: Pride and Prejudice and Frankenstein, extractive memory",
        "",
        "Command: `"
        + (
            args.command
            or f".venv/bin/python benchmarks/compare_pp.py --budgets "
            f"{' '.join(map(str, args.budgets))} --nll-samples {args.nll_samples} --max-positions {args.max_positions}"
        )
        + "`"
        + (f" (ingest of the store with `--llm extractive`: {ingest_seconds:.0f} s)" if ingest_seconds else ""),
        "Reports and plots: [docs/compare/](compare/README.md). Times are wall-clock on the shared 2-core "
        "machine while other jobs ran (query embeddings and NLL scoring dominate).",
        "",
        "| book | budget | positions | NLL samples | contexts (s) | NLL (s) | strategy | mean/max tokens | over budget | entity recall | mean NLL |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    reports = [p for prefix, _ in BOOKS.values() for p in (DOCS / "compare").glob(f"{prefix}-*/report.json")]
    titles = dict(BOOKS.values())
    for path in sorted(reports, key=lambda p: (p.parent.name.split("-")[0], int(p.parent.name.split("-")[1]))):
        rep = json.loads(path.read_text(encoding="utf-8"))
        book = titles[path.parent.name.split("-")[0]]
        for name, entry in rep["strategies"].items():
            row = entry["summary"]
            recall = "n/a" if row["mean_entity_recall"] is None else f"{row['mean_entity_recall']:.3f}"
            nll = "n/a" if row["mean_nll"] is None else f"{row['mean_nll']:.3f}"
            lines.append(
                f"| {book} | {rep['budget']} | {len(rep['positions'])} | {len(rep['nll_positions'])} "
                f"| {rep['seconds']['contexts']:.0f} | {rep['seconds']['nll']:.0f} | {name} "
                f"| {row['mean_prompt_tokens']:.0f}/{row['max_prompt_tokens']} "
                f"| {row['over_budget_count']}/{row['positions']} | {recall} | {nll} |"
            )
    return "\n".join(lines)


def write_section(text: str) -> None:
    path = DOCS / "benchmarks.md"
    doc = path.read_text(encoding="utf-8")
    pattern = re.compile(r"(<!-- bench:compare -->\n).*?(<!-- /bench:compare -->)", re.DOTALL)
    if not pattern.search(doc):
        raise SystemExit("docs/benchmarks.md has no bench:compare markers")
    path.write_text(pattern.sub(lambda m: m.group(1) + text + "\n" + m.group(2), doc), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", type=int, choices=sorted(BOOKS), default=1342)
    parser.add_argument("--home", type=Path, default=Path("/tmp/automuse-pp"))
    parser.add_argument("--story", default=None, help="store name (default: pp or frank)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--nll-samples", type=int, default=20)
    parser.add_argument("--positions", default="all")
    parser.add_argument("--max-positions", type=int, default=100, help="cap for --positions all (evenly sampled)")
    parser.add_argument("--no-ablations", action="store_true", help="skip retrieval's ablations (about half the NLL time)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: the core count)")
    parser.add_argument("--command", default=None, help="command line to show in docs/benchmarks.md (default: this one)")
    parser.add_argument("--section-only", action="store_true", help="only rewrite docs/benchmarks.md from the reports on disk")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.story = args.story or BOOKS[args.book][0]
    ingest_seconds = 0.0
    if not args.section_only:
        ingest_seconds = ensure_ingested(args.home, args.story, args.book)
        for budget in args.budgets:
            run_one(args.home, args.story, budget, args)
    text = section(ingest_seconds, args)
    write_section(text)
    print(text)


if __name__ == "__main__":
    main()
