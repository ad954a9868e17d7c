"""Ingest throughput.

1. ``extractive`` ingest of Pride and Prejudice with MiniLM: chunks per second, next
   to the raw embedding throughput of the same texts (so the pipeline's own overhead
   shows as a ratio), with a profile of where the time goes.
2. Chunks per minute with the embedded local model (SmolLM2-135M) on the sample story.

Run: .venv/bin/python benchmarks/ingest.py [--local-chunks N] [--skip-local]
Writes its figures between the bench:ingest markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from automuse_rag.memory.ingest import ingest  # noqa: E402
from automuse_rag.memory.story import StoryMemory  # noqa: E402
from automuse_rag.models.base import sampling_from_settings  # noqa: E402
from automuse_rag.models.registry import get_chat_model, get_embedder  # noqa: E402
from automuse_rag.settings import get_settings  # noqa: E402

SHARED = Path(os.environ.get("AUTOMUSE_SHARED_DATA", REPO.parent / "shared" / "data"))
PP = SHARED / "gutenberg" / "cache" / "epub" / "1342" / "pg1342.txt"
SAMPLE = REPO / "books" / "sample" / "story.txt"

# Profile buckets: (label, function-name pattern in pstats keys).
BUCKETS = [
    ("spaCy NER (nlp.pipe)", ("language.py", "pipe")),
    ("embedding (MiniLM)", ("embedders.py", "embed")),
    ("Chroma upserts", ("store.py", "upsert")),
    ("Chroma reads (entity sync)", ("store.py", "get_all")),
    ("alias resolution", ("lore.py", "resolve")),
    ("extractive summaries", ("extractive.py", "extractive_summary")),
    ("outline", ("outline.py", "build_outline")),
    ("commit_chunks (embed + upsert + SQLite)", ("story.py", "commit_chunks")),
]


def _cumulative(stats: pstats.Stats, file_part: str, func: str) -> float:
    total = 0.0
    for (filename, _, name), (_, _, _, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
        if name == func and filename.endswith(file_part):
            total = max(total, ct)
    return total


def bench_extractive(home: Path) -> dict:
    settings = get_settings(home=home, llm="extractive", embedder="minilm")
    embedder = get_embedder("minilm", settings)
    embedder.embed(["warm up"])  # model load is not ingest throughput
    llm = get_chat_model("extractive", settings)
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    result = ingest(settings, str(PP), "bench-pp", llm=llm, embedder=embedder, sampling=sampling_from_settings(settings))
    prof.disable()
    seconds = time.perf_counter() - start
    stats = pstats.Stats(prof)
    memory = StoryMemory.open(settings, "bench-pp", embedder=embedder)
    records = memory.latest().records()
    texts = [r.summary for r in records] + [r.text for r in records]
    texts += [doc for doc, _ in memory.store.get_all("entity").values()]
    memory.close()
    t0 = time.perf_counter()
    for i in range(0, len(texts), 256):
        embedder.embed(texts[i : i + 256])
    embed_seconds = time.perf_counter() - t0
    profile = [(label, _cumulative(stats, f, fn)) for label, (f, fn) in BUCKETS]
    return {
        "chunks": result.chunks,
        "entities": result.entities,
        "seconds": seconds,
        "texts": len(texts),
        "embed_seconds": embed_seconds,
        "profile": profile,
    }


def bench_local(home: Path, limit: int) -> dict:
    """Analysis of the first ``limit`` chunks of the sample with the local model (no cache)."""
    from automuse_rag.books import load_book
    from automuse_rag.lore.extract import analyze_chunk
    from automuse_rag.lore.ner import get_nlp
    from automuse_rag.text.chunk import chunk_book

    settings = get_settings(home=home, llm="local", cache=False)
    llm = get_chat_model("local", settings, cache=False)
    chunks = chunk_book(load_book(str(SAMPLE), settings), "bench", size=1500)[:limit]
    nlp = get_nlp()
    llm.chat([{"role": "user", "content": "Hi"}], sampling_from_settings(settings).with_(max_tokens=1))  # load
    fallbacks = 0
    start = time.perf_counter()
    for chunk in chunks:
        fallbacks += bool(analyze_chunk(chunk, llm, nlp, sampling_from_settings(settings)).fallback)
    seconds = time.perf_counter() - start
    return {"chunks": len(chunks), "seconds": seconds, "fallbacks": fallbacks}


def render(ex: dict, local: dict | None) -> str:
    rate = ex["chunks"] / ex["seconds"]
    embed_rate = ex["texts"] / ex["embed_seconds"]
    lines = [
        "",
        f"Command: `.venv/bin/python benchmarks/ingest.py` ({platform.machine()}, {os.cpu_count()} cores; "
        "other processes may share the cores).",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| `extractive` ingest of Pride and Prejudice (MiniLM) | {ex['chunks']} chunks, {ex['entities']} entities "
        f"in {ex['seconds']:.1f} s = **{rate:.2f} chunks/s** |",
        f"| raw MiniLM embedding of the same {ex['texts']} texts (summaries, chunks, entity events) "
        f"| {ex['embed_seconds']:.1f} s = {embed_rate:.0f} texts/s |",
        f"| pipeline time / raw embedding time | **{ex['seconds'] / ex['embed_seconds']:.2f}x** |",
    ]
    if local:
        per_min = local["chunks"] / local["seconds"] * 60
        lines.append(
            f"| local model (SmolLM2-135M, llama.cpp), one structured call per 1500-char chunk | "
            f"{local['chunks']} chunks in {local['seconds']:.1f} s = **{per_min:.1f} chunks/min** ({local['fallbacks']} fell back to extractive) |"
        )
    lines += [
        "",
        "Where the extractive ingest's time goes (cumulative, cProfile; buckets overlap where one calls another):",
        "",
        "| part | seconds | share |",
        "| --- | --- | --- |",
    ]
    for label, sec in ex["profile"]:
        lines.append(f"| {label} | {sec:.1f} | {sec / ex['seconds']:.0%} |")
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    doc = REPO / "docs" / "benchmarks.md"
    content = doc.read_text(encoding="utf-8")
    pattern = re.compile(r"(<!-- bench:ingest -->\n).*?(<!-- /bench:ingest -->)", re.S)
    doc.write_text(pattern.sub(lambda m: m.group(1) + text + m.group(2), content), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local-chunks", type=int, default=6)
    parser.add_argument("--skip-local", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ex = bench_extractive(Path(tmp))
        local = None if args.skip_local else bench_local(Path(tmp), args.local_chunks)
    text = render(ex, local)
    print(text)
    write_section(text)


if __name__ == "__main__":
    main()
