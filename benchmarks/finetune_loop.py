"""Close the loop (issue 28, part 4): does tuning on memory-backed prompts help?

Writes the ``bench:finetune-loop`` section of docs/benchmarks.md. Every stage keeps its
output in ``--work`` and is skipped when that output is there, so a run interrupted at
any point goes on from where it stopped (the tuning itself with ``--resume``).

1. Ingest the development half of the cast benchmark's books (books/casts/split.toml)
   with ``automuse corpus ingest`` (extractive lore, hash embeddings) and export one
   chat dataset across them (``automuse dataset --all``, split by book).
2. Tune the embedded SmolLM2-135M on it with ``automuse finetune local``.
3. Ingest the first ``--eval-books`` books of the test half, which the tuned model
   never saw, export their memory prompts the same way, and score ``--per-book``
   evenly spaced samples of each under the base GGUF and the tuned one (llama.cpp,
   the very same tokens): NLL per completion token, with a paired bootstrap interval
   of the difference (resampling samples).
4. Generate ``--chunks`` chunks from each of the first ``--premises`` premises of the
   shared data with each model, from one plan (written by the base model, copied to
   the tuned story, so only the writer differs): the guard's pass rate (candidates
   it let through) and the cast kept (planned characters named in the chunks, and in
   their second half).

Run: .venv/bin/python benchmarks/finetune_loop.py --work DIR [--steps 240] [--no-doc]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from finetune import load, per_example_nll, write_section  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
MIRROR = SHARED / "gutenberg"
SPLIT = REPO / "books" / "casts" / "split.toml"
BEGIN, END = "<!-- bench:finetune-loop -->", "<!-- /bench:finetune-loop -->"
CHAT = ("--format", "chat", "--llm", "local", "--val-fraction", "0.1", "--seed", "1")


def cli(home: Path, *args: str, out: Path | None = None) -> float:
    """Run ``automuse --home HOME ARGS`` (stdout to ``out`` when given); seconds."""
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "automuse_rag", "--home", str(home), *args]
    print("$", " ".join(cmd[2:]), flush=True)
    with open(out, "w") if out else open(os.devnull, "w") as sink:
        subprocess.run(cmd, check=True, env=env, stdout=sink)
    return time.perf_counter() - start


def stage(done: dict, key: str, path: Path, run) -> None:
    """Run a stage once: its seconds are kept in ``done`` (saved by the caller)."""
    if key not in done or not path.exists():
        done[key] = run()


def corpus(home: Path, books: list[int], data: Path, budget: int, done: dict, tag: str) -> dict:
    stage(
        done,
        f"{tag}_ingest_s",
        home / "stores",
        lambda: cli(
            home,
            "corpus",
            "ingest",
            *map(str, books),
            "--llm",
            "extractive",
            "--embedder",
            "hash:64",
            "--mirror",
            str(MIRROR),
            "--json",
            out=data.with_name(f"{tag}-ingest.json"),
        ),
    )
    stage(
        done, f"{tag}_dataset_s", data, lambda: cli(home, "dataset", "--all", "--out", str(data), "--budget", str(budget), *CHAT)
    )
    return json.loads(data.with_name(data.stem + ".meta.json").read_text())


# -- scoring ---------------------------------------------------------------------------


def paired_bootstrap(base: list[tuple[float, int]], tuned: list[tuple[float, int]], rounds: int = 10000, seed: int = 0):
    """Token-weighted NLL difference (tuned - base) and its 95% percentile interval,
    resampling examples with replacement (both models on the same draw)."""
    rng = random.Random(seed)
    n = len(base)

    def diff(idx: list[int]) -> float:
        tokens = sum(base[i][1] for i in idx)
        return (sum(tuned[i][0] for i in idx) - sum(base[i][0] for i in idx)) / tokens

    point = diff(list(range(n)))
    stats = sorted(diff([rng.randrange(n) for _ in range(n)]) for _ in range(rounds))
    return point, stats[int(0.025 * rounds)], stats[int(0.975 * rounds) - 1]


def pick(records: list[dict], count: int) -> list[dict]:
    """``count`` evenly spaced records (the export writes each book's samples in
    chunk order, so this spreads them over the books and their length)."""
    step = max(1, len(records) // count)
    return records[::step][:count]


# -- generation ------------------------------------------------------------------------


def cast_names(story_dir: Path) -> list[list[str]]:
    """Each planned cast member's names (its name and aliases) from cast.toml."""
    data = tomllib.loads((story_dir / "cast.toml").read_text(encoding="utf-8"))
    rows = data.get("characters") or data.get("cast") or []
    return [[r["name"], *r.get("aliases", [])] for r in rows if r.get("name")]


def chunk_texts(home: Path, story: str) -> list[str]:
    from automuse_rag.memory.story import StoryMemory
    from automuse_rag.settings import get_settings

    mem = StoryMemory.open(get_settings(home=home), story)
    return [r.text for r in mem.latest().records()]


def named(names: list[str], text: str) -> bool:
    words = {w for n in names for w in n.split() if w[:1].isupper() and len(w) > 2}
    return any(re.search(rf"\b{re.escape(w)}\b", text) for w in words)


def generate_args(premise: Path, story: str, llm: str, *extra: str) -> tuple[str, ...]:
    """``automuse generate`` of ``story`` from ``premise`` with ``llm`` writing, the
    chunks analysed extractively with hash embeddings."""
    return (
        "generate",
        "--premise",
        str(premise),
        "--story",
        story,
        "--llm",
        llm,
        "--memory-llm",
        "extractive",
        "--embedder",
        "hash:64",
        "--seed",
        "1",
        *extra,
    )


def generate(home: Path, premise: Path, tag: str, llm: str, plan_from: str | None, chunks: int, done: dict) -> dict:
    story = f"{tag}-{premise.stem}"
    if plan_from:  # the same plan for both writers
        src, dst = home / "stores" / plan_from, home / "stores" / story
        dst.mkdir(parents=True, exist_ok=True)
        for name in ("outline.md", "cast.toml"):
            if not (dst / name).exists():
                shutil.copy(src / name, dst / name)
    out = home / f"{story}.json"

    def run() -> float:
        start = time.perf_counter()
        try:
            cli(home, *generate_args(premise, story, llm, "--chunks", str(chunks), "--json"), out=out)
        except subprocess.CalledProcessError:  # the writer stopped (every candidate of a chunk failed): a row, not a crash
            out.write_text(json.dumps({"stopped": True}))
        return time.perf_counter() - start

    stage(done, f"gen_{story}_s", out, run)
    result = json.loads(out.read_text())
    texts = chunk_texts(home, story)
    cast = cast_names(home / "stores" / story)
    half = texts[len(texts) // 2 :]
    rejected = home / "stores" / story / "rejections.jsonl"
    rejections = result.get("rejections", sum(1 for line in rejected.open() if line.strip()) if rejected.is_file() else 0)
    candidates = len(texts) + rejections - result.get("continuity_rejections", 0)
    return {
        "story": story,
        "chunks": len(texts),
        "stopped": bool(result.get("stopped")),
        "rejections": rejections,
        "guard_pass": len(texts) / candidates if candidates else 0.0,
        "cast": len(cast),
        "cast_named": sum(named(n, "\n".join(texts)) for n in cast),
        "cast_named_second_half": sum(named(n, "\n".join(half)) for n in cast),
        "words": sum(len(t.split()) for t in texts),
        "seconds": done[f"gen_{story}_s"],
    }


def plan(home: Path, premise: Path, done: dict) -> str:
    story = f"base-{premise.stem}"
    stage(
        done,
        f"plan_{story}_s",
        home / "stores" / story / "cast.toml",
        lambda: cli(home, *generate_args(premise, story, "local", "--plan-only")),
    )
    return story


# -- main ------------------------------------------------------------------------------


STAGES = ("dev", "tune", "test", "nll", "base-gen", "tuned-gen", "doc")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="keeps every stage's output; a rerun resumes")
    ap.add_argument("--budget", type=int, default=384, help="prompt token budget of both datasets")
    ap.add_argument("--steps", type=int, default=240)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--eval-books", type=int, default=4)
    ap.add_argument("--per-book", type=int, default=20)
    ap.add_argument("--premises", type=int, default=2)
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument(
        "--only",
        default=",".join(STAGES),
        help=f"run these stages (comma-separated, of {', '.join(STAGES)}); two runs with different stages may share "
        "a --work, as long as each stage's inputs are there (the generation from one plan, base then tuned)",
    )
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    only = set(args.only.split(","))
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "done.json"
    done: dict = json.loads(saved.read_text()) if saved.is_file() else {}
    done.setdefault("load_start", load())

    def keep() -> None:  # merged with what another run of other stages saved meanwhile
        now = json.loads(saved.read_text()) if saved.is_file() else {}
        now.update(done)
        done.update(now)
        tmp = saved.with_suffix(".tmp")
        tmp.write_text(json.dumps(now, indent=1))
        tmp.replace(saved)

    split = tomllib.loads(SPLIT.read_text())
    eval_books = split["test"][: args.eval_books]
    tuned = work / "tuned"
    if "dev" in only:
        corpus(work / "dev-home", split["dev"], work / "dev.jsonl", args.budget, done, "dev")
        keep()
    if "tune" in only and not (tuned / "report.json").is_file():
        tune(args, work, done)
        keep()
    if "test" in only:
        corpus(work / "test-home", eval_books, work / "test.jsonl", args.budget, done, "test")
        keep()
    if "nll" in only:
        score(args, work, eval_books)
    gen_home = work / "gen-home"
    premises = sorted((SHARED / "premises").glob("*.txt"))[: args.premises]
    rows = []
    for premise in premises:
        if only & {"base-gen", "doc"}:  # the doc reads each run's stored result (a run not done yet runs now)
            plan(gen_home, premise, done)
            keep()
            rows.append(("base", generate(gen_home, premise, "base", "local", None, args.chunks, done)))
            keep()
        if only & {"tuned-gen", "doc"}:
            llm = json.loads((tuned / "report.json").read_text())["llm"]
            rows.append(("tuned", generate(gen_home, premise, "tuned", llm, f"base-{premise.stem}", args.chunks, done)))
            keep()
    if "doc" in only:
        done["load_end"] = load()
        keep()
        rows.sort(key=lambda r: (r[1]["story"].split("-", 1)[1], r[0]))
        report = json.loads((tuned / "report.json").read_text())
        nll = json.loads((work / "nll.json").read_text())
        point, lo, hi = paired_bootstrap([tuple(x) for x in nll["base"]], [tuple(x) for x in nll["tuned"]])
        dev_meta = json.loads((work / "dev.meta.json").read_text())
        test_meta = json.loads((work / "test.meta.json").read_text())
        body = render(args, done, dev_meta, test_meta, report, nll, (point, lo, hi), rows, eval_books)
        write_section(body, args.no_doc, BEGIN, END)


def tune(args, work: Path, done: dict) -> None:
    tuned = work / "tuned"
    resume = ("--resume",) if (tuned / "checkpoints").is_dir() and any((tuned / "checkpoints").iterdir()) else ()
    secs = cli(
        work / "dev-home",
        "finetune",
        "local",
        "--data",
        str(work / "dev.jsonl"),
        "--val",
        str(work / "dev.val.jsonl"),
        "--out",
        str(tuned),
        "--steps",
        str(args.steps),
        "--lr",
        str(args.lr),
        "--eval-every",
        str(args.steps),
        "--checkpoint-every",
        "20",
        *resume,
        out=work / "tune.log",
    )
    done["tune_s"] = done.get("tune_s", 0) + secs


def score(args, work: Path, eval_books: list[int]) -> None:
    """Next-chunk NLL of the unseen books' memory prompts, base against tuned."""
    nll_file = work / "nll.json"
    if nll_file.is_file():
        return
    from automuse_rag.finetune.data import encode, read_records
    from automuse_rag.finetune.local import load_base
    from automuse_rag.settings import get_settings

    report = json.loads((work / "tuned" / "report.json").read_text())
    records = read_records(work / "test.jsonl") + read_records(work / "test.val.jsonl")
    chosen = pick(records, args.per_book * len(eval_books))
    _, tokenizer, base_gguf = load_base(get_settings(home=work / "test-home"))
    examples = [encode(tokenizer, r, "chat", 1024) for r in chosen]
    n_ctx = max(len(e.ids) for e in examples) + 8
    t0 = time.perf_counter()
    base = per_example_nll(base_gguf, examples, n_ctx)
    tuned = per_example_nll(Path(report["outputs"]["gguf"]), examples, n_ctx)
    nll_file.write_text(json.dumps({"samples": len(chosen), "base": base, "tuned": tuned, "seconds": time.perf_counter() - t0}))


def render(args, done, dev_meta, test_meta, report, nll, diff, rows, eval_books) -> str:
    point, lo, hi = diff
    tokens = sum(c for _, c in nll["base"])
    base = sum(s for s, _ in nll["base"]) / tokens
    tuned = sum(s for s, _ in nll["tuned"]) / tokens
    s = report["settings"]
    lines = [
        "Fine-tuning on memory-backed prompts, judged on novels the tuned model never saw (issue 28, part 4). "
        f"Command: `.venv/bin/python benchmarks/finetune_loop.py --work DIR --steps {args.steps} --budget {args.budget} "
        f"--eval-books {args.eval_books} --per-book {args.per_book} --premises {args.premises} --chunks {args.chunks}`.",
        "",
        f"Machine: x86_64, {os.cpu_count()} cores, load average {done['load_start']} at the start and "
        f"{done.get('load_end', '?')} at the end.",
        "",
        "| stage | what | figure |",
        "| --- | --- | --- |",
        f"| dataset | the development half ({dev_meta['stories'].__len__()} books), `corpus ingest --llm extractive "
        f"--embedder hash:64`, `dataset --all --format chat --budget {args.budget}` | {dev_meta['train']} training / "
        f"{dev_meta['validation']} validation samples, split by book; audit {dev_meta['audit']}; ingest "
        f"{done['dev_ingest_s'] / 60:.1f} min, export {done['dev_dataset_s'] / 60:.1f} min |",
        f"| tuning | `finetune local`, {len(report['steps'])} steps x {s['batch']} sample, LoRA rank {s['rank']} on "
        f"{s['targets']} linear layers, lr {s['lr']:g}, {s['precision']} | {report['train_seconds'] / 60:.1f} min of training "
        f"({done.get('tune_s', 0) / 60:.1f} min with loading and merging); validation NLL (development books) "
        f"{report['base_val_nll']:.4f} -> {report['final_val_nll']:.4f} |",
        f"| **unseen novels** | test-half books {', '.join(map(str, eval_books))} ({', '.join(test_meta['stories'])}): "
        f"{nll['samples']} memory prompts (evenly spaced over the books' samples), {tokens:,} completion tokens, "
        f"llama.cpp, the same tokens for both | NLL per token base **{base:.4f}** -> tuned **{tuned:.4f}**: "
        f"**{point:+.4f}** nats, 95% paired bootstrap interval [{lo:+.4f}, {hi:+.4f}] |",
        "",
        f"Generation, {args.chunks} chunks per premise from one plan (written by the base model), "
        "`--memory-llm extractive --embedder hash:64 --seed 1`:",
        "",
        "| premise | writer | chunks | candidates rejected | guard pass rate | planned cast named (all / second half) | words | minutes |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for writer, r in rows:
        chunks = f"{r['chunks']}{' (stopped)' if r['stopped'] else ''}"
        lines.append(
            f"| {r['story'].split('-', 1)[1]} | {writer} | {chunks} | {r['rejections']} | {r['guard_pass']:.2f} | "
            f"{r['cast_named']}/{r['cast']} / {r['cast_named_second_half']}/{r['cast']} | {r['words']} | {r['seconds'] / 60:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
