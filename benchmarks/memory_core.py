"""Memory core benchmarks; writes the ``bench:memory`` section of docs/benchmarks.md.

1. ``build_prompt`` latency (retrieval as of a random position + assembly at 2,048
   tokens, counted with SmolLM2's llama.cpp tokenizer) with 1k, 10k and 100k stored
   memories (synthetic chunk summaries, two of n/20 characters per chunk, committed
   through the ingest path) in embedded Chroma with 384-dimension vectors; then the
   100k store served by ``chroma run`` on loopback.
2. Generation's per-chunk memory commit over 1,000 chunks written by a scripted model
   (real prose, spaCy NER lore): mean over chunks 100-200 and 900-1000.
3. ``export_dataset`` over Pride and Prejudice (extractive memory), samples per second
   (``--code DIR`` runs that part against another checkout, for the before figure).
4. Reachability probes (``automuse check``: a search per record for its own embedding)
   over every collection of part 1's 10k store and the whole summary collection of its
   100k store (``--stores``), and the end-of-run settle of part 2's generation.

Run: .venv/bin/python benchmarks/memory_core.py [--quick] [--only prompt|generate|dataset|probe] [--sizes 1000,10000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:memory -->", "<!-- /bench:memory -->"
RESULTS = REPO / "docs" / "bench-memory.json"
CHAPTERS = 40
WORDS = (
    "harbour storm keeper island letter captain chess table walnut lamp quay boat tide "
    "granite syndicate doctor cafe photograph launch inquiry grant seal cave stair light"
).split()


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def synthetic_store(n: int, home: Path, dim: int = 384, seed: int = 0):
    """A StoryMemory with ``n`` synthetic chunks, committed in batches through the
    same path as ingest (hash embeddings of ``dim`` dimensions)."""
    sys.path.insert(0, str(REPO))
    from automuse_rag.lore.types import ChunkAnalysis, LoreMention
    from automuse_rag.memory.story import StoryMemory
    from automuse_rag.memory.types import OutlinePart
    from automuse_rag.models.fake import HashEmbedder
    from automuse_rag.settings import get_settings
    from automuse_rag.text.types import Chunk

    rng = random.Random(seed)
    names = [f"Person{j}" for j in range(max(2, n // 20))]
    mem = StoryMemory.create(
        get_settings(home=home), f"bench{n}", embedder=HashEmbedder(dim), llm_name="extractive", source="synthetic"
    )
    parts = [
        OutlinePart(c, f"CHAPTER {c}", f"Chapter {c}: " + " ".join(rng.choice(WORDS) for _ in range(60)))
        for c in range(1, CHAPTERS + 1)
    ]
    mem.set_outline("\n".join(p.text for p in parts), parts)
    batch = []
    for i in range(n):
        who = rng.sample(names, 2)
        text = " ".join(rng.choice(WORDS) for _ in range(220)) + f" {who[0]} spoke to {who[1]}."
        summary = f"{who[0]} and {who[1]} " + " ".join(rng.choice(WORDS) for _ in range(40)) + "."
        chapter = i * CHAPTERS // n + 1
        mentions = [
            LoreMention(
                name=nm,
                kind="character",
                labels={"PERSON": 1},
                count=1,
                description=f"{nm} was seen near the {WORDS[i % len(WORDS)]}.",
            )
            for nm in who
        ]
        batch.append((Chunk(i, f"c{i}", chapter, f"CHAPTER {chapter}", 0, len(text), text), ChunkAnalysis(summary, mentions)))
        if len(batch) == 1000:
            mem.commit_chunks(batch)
            batch = []
    mem.commit_chunks(batch)
    mem.close()
    return f"bench{n}"


def counter():
    sys.path.insert(0, str(REPO))
    from automuse_rag.models.local import LocalChatModel
    from automuse_rag.settings import get_settings

    model = LocalChatModel(get_settings(n_ctx=512))
    model.count_tokens("warm up")
    return model.count_tokens


def time_prompts(stores: list[tuple[Path, str]], runs: int, count, url: str | None = None) -> list[dict]:
    """Time ``runs`` prompts at random positions in each store, interleaved (one
    prompt in each store in turn), so a slow spell of a shared machine falls on
    every size alike rather than on whichever store was being timed then. ``url``
    (one store only) reads its collections from that Chroma server."""
    from automuse_rag.assemble import build_prompt
    from automuse_rag.memory.store import tier_bound
    from automuse_rag.memory.story import StoryMemory
    from automuse_rag.settings import get_settings

    opened = []
    for home, name in stores:
        _point_at_server(home, name, url)  # or back at its own chroma/ directory
        opened.append(StoryMemory.open(get_settings(home=home), name))
    rngs = [random.Random(1) for _ in opened]
    # Warm up: the first search of each collection in a process loads its HNSW index
    # (a prefix tier of 65,536 chunks: about 1 s); that cost is measured apart, as
    # ``cold_ms``, and the timed prompts are those of a process that has served one
    # prompt per tier (as generation, the dataset export and the web page do).
    cold: list[list[float]] = []
    for story in opened:
        n = len(story)
        ats = sorted({n - 1, *(min(n, tier_bound(t)) - 1 for t in story.store.tiers("summary"))})
        cold.append([build_prompt(story.at(at), budget=2048, count_tokens=count).timings_ms["total"] for at in ats])
    timings: list[dict[str, list[float]]] = [{"total": [], "retrieval": [], "assembly": []} for _ in opened]
    for _ in range(runs):
        for story, rng, times in zip(opened, rngs, timings):
            p = build_prompt(story.at(rng.randrange(0, len(story))), budget=2048, count_tokens=count)
            for key, values in times.items():
                values.append(p.timings_ms[key])
    rows = []
    for story, times, first in zip(opened, timings, cold):
        total = times["total"]
        third = len(total) // 3
        rows.append(
            {
                "n": len(story),
                "runs": runs,
                "p50": statistics.median(total),
                "p95": _pct(total, 0.95),
                "p95_thirds": [_pct(total[k * third : (k + 1) * third], 0.95) for k in range(3)] if third else [],
                "retrieval_p50": statistics.median(times["retrieval"]),
                "retrieval_p95": _pct(times["retrieval"], 0.95),
                "assembly_p50": statistics.median(times["assembly"]),
                "assembly_p95": _pct(times["assembly"], 0.95),
                "cold_ms": max(first),
            }
        )
        story.close()
    return rows


def _point_at_server(home: Path, name: str, url: str | None) -> None:
    """Make the store read its collections from a Chroma server serving its own
    ``chroma/`` directory (the benchmark's shortcut for a server-held store), or
    with ``url=None`` from that directory again."""
    import sqlite3

    db = sqlite3.connect(home / "stores" / name / "state.sqlite")
    man = json.loads(db.execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()[0])
    man["chroma_url"] = url
    db.execute("UPDATE meta SET value = ? WHERE key = 'manifest'", (json.dumps(man),))
    db.commit()
    db.close()


def serve_chroma(path: Path) -> tuple[subprocess.Popen, str]:
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("chroma run did not start")


def prompt_latency(sizes: list[int], runs: int, server: bool, stores: Path | None = None) -> list[dict]:
    count = counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="automuse-bench-") as tmp:
        built: dict[int, float | None] = {}
        homes = []
        for n in sizes:
            home = (stores or Path(tmp)) / f"h{n}"
            t0 = time.perf_counter()
            name, built[n] = f"bench{n}", None
            if not (home / "stores" / name / "story.json").is_file():
                shutil.rmtree(home, ignore_errors=True)  # a build that was interrupted
                name = synthetic_store(n, home)
                built[n] = time.perf_counter() - t0
            homes.append((home, name))
        for n, (home, name), row in zip(sizes, homes, time_prompts(homes, runs, count)):
            row.update({"where": "embedded", "build_s": built[n], "store_mb": _size(home / "stores" / name)})
            rows.append(row)
            print(json.dumps(row), flush=True)
        if server:
            home, name = homes[sizes.index(max(sizes))]
            proc, url = serve_chroma(home / "stores" / name / "chroma")
            try:
                (row,) = time_prompts([(home, name)], runs, count, url=url)
                row.update({"where": "chroma run (loopback)"})
                rows.append(row)
                print(json.dumps(row), flush=True)
            finally:
                proc.terminate()
                _point_at_server(home, name, None)
    return rows


def _size(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def generation_commits(chunks: int) -> dict:
    """Run a real generation with a scripted model and time each memory commit."""
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tests"))
    from gen_helpers import PREMISE, ProseScript

    from automuse_rag.generate import loop
    from automuse_rag.memory.story import StoryMemory
    from automuse_rag.models.fake import HashEmbedder, ScriptedChatModel
    from automuse_rag.settings import get_settings

    times: list[float] = []
    settles: list[float] = []
    real, real_settle = StoryMemory.commit_chunk, StoryMemory.settle_index

    def timed(self, chunk, analysis):
        t = time.perf_counter()
        real(self, chunk, analysis)
        times.append((time.perf_counter() - t) * 1000)

    def timed_settle(self):
        t = time.perf_counter()
        notes = real_settle(self)
        settles.append(time.perf_counter() - t)
        return notes

    StoryMemory.commit_chunk = timed
    StoryMemory.settle_index = timed_settle
    with tempfile.TemporaryDirectory(prefix="automuse-gen-") as tmp:
        cfg = get_settings(home=tmp, chunks_per_chapter=400)
        model = ScriptedChatModel(ProseScript(), name="prose")
        t0 = time.perf_counter()
        loop.generate_story(
            cfg, "flat", PREMISE, chunks=chunks, llm=model, embedder=HashEmbedder(384), analysis_llm="extractive", budget=1024
        )
        total = time.perf_counter() - t0
    StoryMemory.commit_chunk, StoryMemory.settle_index = real, real_settle
    early, late = times[100:200], times[900:1000] if len(times) >= 1000 else times[-100:]
    return {
        "chunks": len(times),
        "seconds": total,
        "early_mean_ms": statistics.mean(early),
        "late_mean_ms": statistics.mean(late),
        "ratio": statistics.mean(late) / statistics.mean(early),
        "p95_ms": _pct(times, 0.95),
        "settle_s": sum(settles),
    }


def probe_cost(stores: Path, sizes: list[int]) -> list[dict]:
    """Time a reachability probe of every record, per collection, in part 1's stores."""
    sys.path.insert(0, str(REPO))
    from automuse_rag.memory.store import KINDS
    from automuse_rag.memory.story import StoryMemory
    from automuse_rag.settings import get_settings

    rows = []
    for n in sizes:
        home = stores / f"h{n}"
        if not (home / "stores" / f"bench{n}" / "story.json").is_file():
            continue
        _point_at_server(home, f"bench{n}", None)
        mem = StoryMemory.open(get_settings(home=home), f"bench{n}")
        try:
            # every collection at 10k; at 100k the whole summary collection (all of them
            # would take about a quarter of an hour at the rate it shows)
            for kind in KINDS if n < 100_000 else ("summary",):
                for tier in mem.store.collections(kind) if n < 100_000 else [None]:
                    records = mem.store.count(kind, tier)
                    t = time.perf_counter()
                    lost = mem.store.probe(kind, tier)[0]
                    dt = time.perf_counter() - t
                    row = {"n": n, "kind": kind, "tier": tier, "records": records, "seconds": dt, "lost": len(lost)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            mem.close()
    return rows


# Pride and Prejudice ingested for the export's speed (argv: checkout, shared data, home):
# extractive lore, 64-dimension hash vectors, the shared outline.
INGEST_SCRIPT = r"""
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from automuse_rag.settings import get_settings
from automuse_rag.memory.ingest import ingest
from automuse_rag.models.base import sampling_from_settings
from automuse_rag.models.fake import HashEmbedder
from automuse_rag.models.registry import get_chat_model
shared, cfg = Path(sys.argv[2]), get_settings(home=sys.argv[3])
ingest(cfg, "1342", "pride", llm=get_chat_model("extractive", cfg), embedder=HashEmbedder(64),
       sampling=sampling_from_settings(cfg), outline_file=str(shared / "outlines" / "pg1342.txt"),
       mirror=str(shared / "gutenberg"))
"""

# Its export, timed (argv: checkout, home, output file): budget 2,048, the local tokenizer.
EXPORT_SCRIPT = r"""
import sys, time, json
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from automuse_rag.settings import get_settings
from automuse_rag.memory.story import StoryMemory
from automuse_rag.models.registry import get_chat_model
from automuse_rag.finetune.dataset import export_dataset
home = sys.argv[2]
count = get_chat_model("local", get_settings(home=home, n_ctx=512)).count_tokens
story = StoryMemory.open(get_settings(home=home), "pride")
t, c = time.perf_counter(), time.process_time()
s = export_dataset([story], Path(sys.argv[3]), budget=2048, count_tokens=count, val_fraction=0.1)
dt, cpu = time.perf_counter() - t, time.process_time() - c
n = s.samples + s.invalid
print(json.dumps({"samples": n, "seconds": dt, "per_second": n / dt, "cpu_seconds": cpu,
                  "per_cpu_second": n / cpu, "leaks": s.leakage_violations}))
"""


def run_script(script: str, *args: str, code: Path) -> str:
    """Run one of the scripts above with checkout ``code`` first on the path; its last line."""
    out = subprocess.run(
        [sys.executable, "-c", script, str(code), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(code), "PYTHONDONTWRITEBYTECODE": "1"},
        cwd=code,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def dataset_speed(code: Path) -> dict:
    shared = Path(os.environ.get("AUTOMUSE_SHARED_DATA", REPO.parent / "shared" / "data"))
    with tempfile.TemporaryDirectory() as tmp:
        run_script(INGEST_SCRIPT, str(shared), tmp, code=code)
        return json.loads(run_script(EXPORT_SCRIPT, tmp, str(Path(tmp) / "d.jsonl"), code=code))


def render(results: dict) -> str:
    lines = [
        "Memory core (issue 10). Command: `.venv/bin/python benchmarks/memory_core.py`; raw figures in",
        "`docs/bench-memory.json`. Load average while measuring: " + results.get("load", "?") + ".",
        "",
    ]
    if "prompt" in results:
        lines += [
            "`build_prompt` (as-of retrieval + assembly, 2,048-token budget, SmolLM2's tokenizer) at random positions",
            "over the whole story, synthetic stories committed through the ingest path, 384-dimension vectors:",
            "",
            "| stored memories | Chroma | p50 (ms) | p95 (ms) | retrieval p50/p95 (ms) | assembly p50/p95 (ms) | store (MB) | cold (ms) |",
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in results["prompt"]:
            lines.append(
                f"| {r['n']:,} | {r['where']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['retrieval_p50']:.1f} / "
                f"{r['retrieval_p95']:.1f} | {r['assembly_p50']:.1f} / {r['assembly_p95']:.1f} | "
                f"{r.get('store_mb', 0):.0f} | {r['cold_ms']:.0f} |"
                if "cold_ms" in r
                else f"{r.get('store_mb', 0):.0f} | |"
            )
        lines += [
            "",
            "Before the rework (same benchmark, 64-dimension vectors, positions in the second half): p50/p95",
            "69/135 ms at 1k, 882/1,303 ms at 10k, 10.5/12.8 s at 100k.",
            "",
            "The timed prompts come after one prompt per collection (the whole one and each prefix tier): the first",
            "search of a collection in a process loads its HNSW index. The slowest of those first prompts is the",
            "cold column. A one-shot `automuse prompt` pays it every time; generation, the dataset export and the",
            "web page pay it once per process.",
            "",
        ]
    if "generate" in results:
        g = results["generate"]
        lines += [
            f"Generation with a scripted model (real prose, NER lore, 384-dim hash vectors): {g['chunks']} chunks in "
            f"{g['seconds']:.0f} s; memory commit mean {g['early_mean_ms']:.1f} ms over chunks 100-200 and "
            f"{g['late_mean_ms']:.1f} ms over chunks 900-1000 (ratio {g['ratio']:.2f}; p95 {g['p95_ms']:.1f} ms)"
            + (
                f"; the end-of-run settle (probing every record the run wrote) took {g['settle_s']:.1f} s."
                if "settle_s" in g
                else "."
            ),
            "",
        ]
    if "dataset" in results:
        d = results["dataset"]
        lines += [
            f"`export_dataset` over Pride and Prejudice (extractive memory, local tokenizer, budget 2,048): "
            f"{_rate(d['after'])}"
            + (f"; before ({d.get('before_label', 'the rework')}) {_rate(d['before'])}" if d.get("before") else "")
            + "."
        ]
    if results.get("probe"):
        rows = results["probe"]
        lines += [
            "",
            "Reachability probe (`automuse check`: each record searched by its own embedding, in batches of",
            "256) over the synthetic stores of the first table, per collection:",
            "",
            "| stored memories | collection | records | seconds | records/s | no search finds |",
            "| ---: | --- | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            where = r["kind"] + ("" if r["tier"] is None else f" tier {r['tier']}")
            lines.append(
                f"| {r['n']:,} | {where} | {r['records']:,} | {r['seconds']:.1f} | "
                f"{r['records'] / max(r['seconds'], 1e-9):,.0f} | {r['lost']} |"
            )
    return "\n".join(lines)


def _rate(run: dict) -> str:
    """A dataset run's speed: samples per second of wall time, and per CPU second (per
    core: the export runs on one) where measured."""
    text = f"{run['per_second']:.1f} samples/s ({run['samples']} samples in {run['seconds']:.1f} s"
    if "per_cpu_second" in run:
        text += f"; {run['per_cpu_second']:.1f} samples per CPU second, {run['cpu_seconds']:.1f} s of CPU"
    return text + ")"


def write_section(body: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text:
        text += f"\n\n## Memory core\n\n{BEGIN}\n{END}\n"
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + body + "\n" + text[end:], encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; does not write the doc")
    parser.add_argument("--only", choices=["prompt", "generate", "dataset", "probe"])
    parser.add_argument("--sizes", default="1000,10000,100000", help="stored memories per prompt-latency run, comma-separated")
    parser.add_argument("--stores", type=Path, help="keep the synthetic stores here and reuse them on the next run")
    parser.add_argument("--before", type=Path, help="a checkout of the code before the rework, for the dataset figure")
    parser.add_argument("--before-label", default="the rework", help="what --before is, as the doc names it")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() and not args.quick else {}
    results["load"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    if args.only in (None, "prompt"):
        results["prompt"] = prompt_latency(
            [1_000, 10_000] if args.quick else [int(n) for n in args.sizes.split(",")],
            20 if args.quick else 300,
            server=True,
            stores=args.stores,
        )
    if args.only in (None, "generate"):
        results["generate"] = generation_commits(300 if args.quick else 1000)
        print(json.dumps(results["generate"]), flush=True)
    if args.only in (None, "dataset"):
        results["dataset"] = {
            "after": dataset_speed(REPO),
            "before": dataset_speed(args.before) if args.before else results.get("dataset", {}).get("before"),
            "before_label": args.before_label if args.before else results.get("dataset", {}).get("before_label", "the rework"),
        }
        print(json.dumps(results["dataset"]), flush=True)
    if args.only in (None, "probe") and args.stores:
        results["probe"] = probe_cost(args.stores, [n for n in (10_000, 100_000) if not args.quick or n < 100_000])
    body = render(results)
    print(body)
    if not args.quick:
        RESULTS.write_text(json.dumps(results, indent=1))
        write_section(body)


if __name__ == "__main__":
    main()
