"""Corpus ingest throughput on Ray (``automuse corpus ingest``): books per hour and
chunks per second with 1, 2, ... workers, the committer's share of the wall time.

Skeleton of issue 28's part 3: today it measures the extractive (CPU-bound) case on
small books, slices of the shared novels written to a temporary directory (never
into the repository). Each worker count runs in a fresh home and its own local Ray
instance, started by the command (its start-up is in the wall time and also given
apart, as the run's seconds minus the books' own).

Run: .venv/bin/python benchmarks/corpus.py [--workers 1 2] [--books 6] [--chars 40000]
Prints one JSON line per worker count (and the load average before each run).

``--latency S``: the model-call-bound case. A loopback OpenAI-compatible server
(tests/loopback.py, answering valid lore after S seconds, in this process) is the
model (``--llm openai:bench``, ``--concurrency`` calls per worker, ``--no-cache`` so
every run pays for its calls); it reports the most calls it had in flight.

``--committer``: the synthetic committer test instead. One worker's work (read, chunk,
analyse, embed) is timed in this process on ``--chars`` characters of a novel, then the
committer's (open the store, commit the runs, finish the store) on the same analyses
into ``--books`` fresh stores: the ratio is how many workers one committer keeps up with.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
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


def _watch_workers(peak: dict[int, int], stop: threading.Event) -> None:
    """The peak VmRSS (kB) of every ``ray::BookWorker`` process, polled twice a second."""
    while not stop.wait(0.5):
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if not Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::BookWorker"):
                    continue
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            peak[int(pid)] = max(peak.get(int(pid), 0), rss)


def run(workers: int, books: list[Path], home: Path, extra: list[str], env_extra: dict[str, str] | None = None) -> dict:
    cmd = [sys.executable, "-m", "automuse_rag", "--home", str(home), "corpus", "ingest", *map(str, books)]
    cmd += ["--workers", str(workers), "--json", *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    load = os.getloadavg()
    started = time.monotonic()
    peak: dict[int, int] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_workers, args=(peak, stop), daemon=True)
    watcher.start()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    finally:
        stop.set()
        watcher.join()
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
        "worker_rss_mb": [round(v / 1024) for v in sorted(peak.values())],  # each worker process's peak resident memory
    }


def committer_test(books: int, chars: int, embedder: str) -> dict:
    """Chunks per second of one worker and of the committer, on the same book."""
    sys.path.insert(0, str(REPO))
    from automuse_rag.corpus.commit import Committer
    from automuse_rag.corpus.specs import BookSpec
    from automuse_rag.corpus.work import BookWorker, WorkerConfig
    from automuse_rag.models.registry import get_chat_model, get_embedder
    from automuse_rag.settings import get_settings

    with tempfile.TemporaryDirectory(prefix="bench-committer-") as tmp:
        (path,) = write_books(Path(tmp), 1, chars)
        cfg = get_settings(home=Path(tmp) / "home", llm="extractive", embedder=embedder)
        worker = BookWorker(WorkerConfig(cfg, lore="extractive", threads=1))
        worker.analyse(*_first_run(worker, path, cfg.chunk_size))  # warm: spaCy and the embedder loaded
        started = time.monotonic()
        book, chunks = worker.prepare("w", path.read_bytes(), str(path), None, cfg.chunk_size).value  # type: ignore[misc]
        runs = [chunks[i : i + 16] for i in range(0, len(chunks), 16)]
        answers = [worker.analyse(run, chunks[run[0].index - 1].text if run[0].index else "") for run in runs]
        work_s = time.monotonic() - started
        llm, emb = get_chat_model("extractive", cfg), get_embedder(embedder, cfg)
        commit_s = 0.0
        for n in range(books + 1):  # the first, untimed, warms the committer as the worker was (chromadb's import)
            started = time.monotonic()
            spec = BookSpec(f"c{n}", str(path), str(path))
            committer = Committer(cfg, spec, embedder=emb, llm=llm, size=cfg.chunk_size)
            committer.open(book, chunks, "extractive", 16)
            for i, answer in enumerate(answers):
                committer.add(i, answer.value, 0, 0)  # type: ignore[arg-type]
            committer.finish(None)
            commit_s += (time.monotonic() - started) if n else 0.0
        commit_s /= books
    return {
        "chunks": len(chunks),
        "worker_chunks_per_s": round(len(chunks) / work_s, 2),
        "committer_chunks_per_s": round(len(chunks) / commit_s, 2),
        "workers_one_committer_serves": round(work_s / commit_s, 1),
        "embedder": embedder,
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def _first_run(worker: object, path: Path, size: int) -> tuple[list, str]:
    book, chunks = worker.prepare("w", path.read_bytes()[:5000], str(path), None, size).value  # type: ignore[attr-defined]
    return chunks[:2], ""


def latency_runs(args: argparse.Namespace) -> None:
    """The runs against a loopback server answering after ``args.latency`` seconds."""
    sys.path.insert(0, str(REPO / "tests"))
    from fault_server import lore_reply
    from loopback import Loopback, last_user

    def answer(body: dict, headers: dict) -> tuple[int, str, tuple[int, int]]:
        text = last_user(body)
        if text.startswith("Passage (chapter"):
            return 200, json.dumps(lore_reply(text)), (50, 20)
        return 200, "Merged: " + " ".join(text.split()[-40:]), (10, 5)

    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp, Loopback(answer, latency=args.latency) as server:
        books = write_books(Path(tmp), args.books, args.chars)
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "bench", "AUTOMUSE_LORE_MODE": "model"}
        for n in args.workers:
            server.max_in_flight, asked = 0, len(server.requests)
            extra = ["--llm", "openai:bench", "--embedder", args.embedder, "--concurrency", str(args.concurrency), "--no-cache"]
            row = run(n, books, Path(tmp) / f"home-{n}", extra, env)
            row.update(latency=args.latency, concurrency=args.concurrency, calls=len(server.requests) - asked)
            row.update(max_in_flight=server.max_in_flight)
            print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--books", type=int, default=6)
    parser.add_argument("--chars", type=int, default=40_000)
    parser.add_argument("--llm", default="extractive")
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--committer", action="store_true", help="The synthetic committer test.")
    parser.add_argument("--latency", type=float, default=None, help="Model-call-bound: a loopback server's latency (s).")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    if args.latency is not None:
        latency_runs(args)
        return
    if args.committer:
        print(json.dumps(committer_test(args.books, args.chars, args.embedder)), flush=True)
        return
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
        books = write_books(Path(tmp), args.books, args.chars)
        for n in args.workers:
            row = run(n, books, Path(tmp) / f"home-{n}", ["--llm", args.llm, "--embedder", args.embedder])
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
