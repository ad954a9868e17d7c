"""Corpus ingest throughput on Ray (``automuse corpus ingest``): books per hour and
chunks per second with 1, 2, ... workers, the committer's share of the wall time.

Skeleton of issue 28's part 3: today it measures the extractive (CPU-bound) case on
small books, slices of the shared novels written to a temporary directory (never
into the repository). Each worker count runs in a fresh home and its own local Ray
instance, started by the command (its start-up is in the wall time and also given
apart, as the run's seconds minus the books' own).

Run: .venv/bin/python benchmarks/corpus.py [--workers 1 2] [--books 6] [--chars 40000]
Prints one JSON line per worker count (and the load average before each run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AUTOMUSE_SHARED_DATA", REPO.parent / "shared" / "data"))
NOVELS = (1342, 158, 161, 105, 121, 141, 1399, 2097)


def write_books(directory: Path, books: int, chars: int) -> list[Path]:
    """``books`` slices of ``chars`` characters from the shared novels (from 20% in,
    past the front matter)."""
    out = []
    for i in range(books):
        gid = NOVELS[i % len(NOVELS)]
        text = (SHARED / "gutenberg" / "cache" / "epub" / str(gid) / f"pg{gid}.txt").read_text(encoding="utf-8-sig")
        start = len(text) // 5 + (i // len(NOVELS)) * chars
        path = directory / f"b{i:03d}-pg{gid}.txt"
        path.write_text(text[start : start + chars], encoding="utf-8")
        out.append(path)
    return out


def run(workers: int, books: list[Path], home: Path, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "automuse_rag", "--home", str(home), "corpus", "ingest", *map(str, books)]
    cmd += ["--workers", str(workers), "--json", *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    load = os.getloadavg()
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"corpus ingest failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    chunks = report["chunks"]
    return {
        "workers": workers,
        "books": len(report["books"]),
        "chunks": chunks,
        "wall_s": round(wall, 1),
        "run_s": round(report["seconds"], 1),
        "books_per_hour": round(len(report["books"]) / wall * 3600, 1),
        "chunks_per_s": round(chunks / wall, 2),
        "committer_share": round(report["commit_seconds"] / report["seconds"], 3),
        "load_before": [round(x, 2) for x in load],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--books", type=int, default=6)
    parser.add_argument("--chars", type=int, default=40_000)
    parser.add_argument("--llm", default="extractive")
    parser.add_argument("--embedder", default="minilm")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
        books = write_books(Path(tmp), args.books, args.chars)
        for n in args.workers:
            row = run(n, books, Path(tmp) / f"home-{n}", ["--llm", args.llm, "--embedder", args.embedder])
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
