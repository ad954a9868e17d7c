"""Local fine-tuning benchmark; writes the ``bench:finetune`` section of docs/benchmarks.md.

1. Ingest Pride and Prejudice (``--llm extractive --embedder hash:64``) into a temp home
   and export a chat dataset with ``automuse dataset`` (prompts counted with SmolLM2's
   tokenizer, ``--budget``, a seeded 10% validation split).
2. LoRA-tune the shipped SmolLM2-135M-Instruct on the training split
   (:func:`automuse_rag.finetune.local.train_local`) for ``--steps`` steps, measuring the
   validation completions' NLL per token (float32) under the base model (step 0) and
   the tuned one, and the seconds per step on this machine.
3. Cross-check in llama.cpp: the same validation tokens scored under the base GGUF,
   the merged GGUF written by the trainer (f32) and the adapter merged again at f16.

Run: .venv/bin/python benchmarks/finetune.py [--steps 100] [--work DIR] [--no-doc]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from automuse_rag.finetune.data import encode, read_records
from automuse_rag.finetune.gguf_merge import (
    deltas_from_adapter,
    head_counts,
    write_merged_gguf,
)
from automuse_rag.finetune.local import LocalOptions, load_base, train_local
from automuse_rag.models.local import find_gguf
from automuse_rag.settings import get_settings

DOC = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:finetune -->", "<!-- /bench:finetune -->"
NOTE = (
    "What the gain means: the validation samples are other chunks of the same book, so this measures "
    "adaptation to the dataset's task and Pride and Prejudice's prose (the assistant turn continuing the "
    "novel instead of answering like a chat assistant), not a better writer in general. {early} and every "
    "training sample was seen at most once, so more steps may lower it further. The seconds per step are "
    "wall time with the two cores shared with other work (see the load averages above)."
)
BOOK = REPO.parent / "shared" / "data" / "gutenberg" / "cache" / "epub" / "1342" / "pg1342.txt"


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def cli(home: Path, *args: str) -> float:
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    subprocess.run(
        [sys.executable, "-m", "automuse_rag", "--home", str(home), *args], check=True, env=env, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def llama_nll(path: Path, examples: list, n_ctx: int) -> float:
    """Token-weighted NLL per completion token of ``examples`` (token ids from the
    trainer's encoder, so both runtimes score the very same tokens) under a GGUF."""
    scored = per_example_nll(path, examples, n_ctx)
    return sum(s for s, _ in scored) / sum(n for _, n in scored)


def per_example_nll(path: Path, examples: list, n_ctx: int) -> list[tuple[float, int]]:
    """(summed NLL, completion tokens) of each example under a GGUF (llama.cpp)."""
    import numpy as np
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=n_ctx, logits_all=True, verbose=False, n_threads=os.cpu_count() or 1)
    out = []
    try:
        for ex in examples:
            llm.reset()
            llm.eval(ex.ids)
            logits = np.asarray(llm.scores[ex.start - 1 : len(ex.ids) - 1], dtype=np.float64)
            peak = logits.max(axis=1, keepdims=True)
            log_norm = peak[:, 0] + np.log(np.exp(logits - peak).sum(axis=1))
            target = logits[np.arange(len(logits)), np.array(ex.ids[ex.start :])]
            out.append((float((log_norm - target).sum()), len(logits)))
    finally:
        llm.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--budget", type=int, default=384, help="prompt token budget of the dataset")
    parser.add_argument("--val-max", type=int, default=16, help="validation examples scored")
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--work", type=Path, default=None, help="reuse this directory (store, dataset, outputs)")
    parser.add_argument("--no-doc", action="store_true", help="print the section instead of writing docs/benchmarks.md")
    parser.add_argument("--render", action="store_true", help="only rewrite the section from --work's bench.json")
    args = parser.parse_args()
    if args.render:
        saved = json.loads((args.work / "bench.json").read_text())
        meta = json.loads((args.work / "pride.meta.json").read_text())
        write(
            render(args, meta, saved["facts"], saved["report"], saved["llama"], sizes_of(args.work, saved["report"])), args.no_doc
        )
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    work.mkdir(parents=True, exist_ok=True)
    home, data = work / "home", work / "pride.jsonl"
    val = data.with_name("pride.val.jsonl")
    facts: dict = {"load_start": load(), "cores": os.cpu_count()}
    setup = work / "setup.json"  # timings of the ingest and export, kept when --work reuses them
    done = json.loads(setup.read_text()) if setup.is_file() else {}
    if not (home / "stores" / "pride" / "story.json").is_file():
        done["ingest_s"] = cli(home, "ingest", str(BOOK), "--story", "pride", "--llm", "extractive", "--embedder", "hash:64")
    if not data.is_file():
        done["dataset_s"] = cli(
            home,
            "dataset",
            "--story",
            "pride",
            "--out",
            str(data),
            "--format",
            "chat",
            "--llm",
            "local",
            "--budget",
            str(args.budget),
            "--val-fraction",
            "0.1",
            "--seed",
            "1",
        )
    setup.write_text(json.dumps(done))
    facts.update(done)
    meta = json.loads(data.with_name("pride.meta.json").read_text())
    print(f"dataset: {meta['train']} train, {meta['validation']} validation samples (audit {meta['audit']})", flush=True)

    settings = get_settings(home=home)
    start = time.perf_counter()
    loaded = load_base(settings)
    facts["load_s"] = time.perf_counter() - start
    tokenizer = loaded[1]
    options = LocalOptions(
        steps=args.steps,
        lr=args.lr,
        rank=args.rank,
        max_length=args.max_length,
        val_max=args.val_max,
        eval_every=max(1, args.steps // 3),
        targets="all",
        gguf_dtype="f32",
    )

    def progress(kind: str, details: dict) -> None:
        if kind == "step" and (details["step"] % 10 == 0 or details["step"] == 1):
            print(
                f"step {details['step']}/{details['total']} loss {details['loss']:.3f} {details['seconds']:.1f}s "
                f"ETA {details['eta'] / 60:.1f} min (load {load()})",
                flush=True,
            )
        elif kind == "eval":
            print(f"eval at step {details['step']}: val NLL {details['val_nll']:.4f} ({details['seconds']:.0f}s)", flush=True)

    result = train_local(settings, data, work / "tuned", options, val=val, progress=progress, loaded=loaded)
    report = result.report
    facts["load_end"] = load()

    # llama.cpp: the same validation tokens under the base GGUF, the f32 merge and an f16 merge
    held = [encode(tokenizer, r, "chat", args.max_length) for r in read_records(val)[: args.val_max]]
    base_gguf, tuned_gguf = find_gguf(settings), Path(result.gguf)
    n_head, n_kv = head_counts(base_gguf)
    half = write_merged_gguf(
        base_gguf, work / "tuned" / "tuned-f16.gguf", deltas_from_adapter(Path(result.adapter), n_head, n_kv), dtype="f16"
    )
    n_ctx = max(len(e.ids) for e in held) + 8
    llama = {
        name: llama_nll(path, held, n_ctx)
        for name, path in (("base (Q4_1 GGUF)", base_gguf), ("tuned, f32 merge", tuned_gguf), ("tuned, f16 merge", half))
    }
    (work / "bench.json").write_text(json.dumps({"facts": facts, "llama": llama, "report": report}, indent=1))
    write(render(args, meta, facts, report, llama, sizes_of(work, report)), args.no_doc)


def early(report: dict) -> str:
    """How much of the validation gain the first evaluation after step 0 already had."""
    evals = report["evals"]
    total = evals[0]["val_nll"] - evals[-1]["val_nll"]
    if len(evals) < 3 or total <= 0:
        return "The gain is small at this step count"
    first = evals[0]["val_nll"] - evals[1]["val_nll"]
    return f"{first / total:.0%} of the gain was there by step {evals[1]['step']}"


def sizes_of(work: Path, report: dict) -> dict:
    return {
        "base (Q4_1 GGUF)": Path(report["base"]["gguf"]).stat().st_size,
        "tuned, f32 merge": Path(report["outputs"]["gguf"]).stat().st_size,
        "tuned, f16 merge": (work / "tuned" / "tuned-f16.gguf").stat().st_size,
    }


def write(body: str, no_doc: bool) -> None:
    write_section(body, no_doc, BEGIN, END)


def write_section(body: str, no_doc: bool, begin: str, end_mark: str) -> None:
    """Put ``body`` between the ``begin`` and ``end_mark`` markers of docs/benchmarks.md
    (added at its end when missing), or print it with ``no_doc``."""
    if no_doc:
        print(body)
        return
    text = DOC.read_text(encoding="utf-8")
    if begin not in text:
        text = text.rstrip("\n") + f"\n\n{begin}\n{end_mark}\n"
    start, end = text.index(begin) + len(begin), text.index(end_mark)
    DOC.write_text(text[:start] + "\n" + body + "\n" + text[end:], encoding="utf-8")
    print(f"wrote the {begin[5:-4]} section of {DOC}")


def render(args, meta: dict, facts: dict, report: dict, llama: dict, sizes: dict) -> str:
    steps = report["steps"]
    secs = [s["seconds"] for s in steps]
    tokens = [s["tokens"] for s in steps]
    losses = [s["loss"] for s in steps]
    k = max(1, min(10, len(losses) // 4))
    base, final = report["base_val_nll"], report["final_val_nll"]
    s = report["settings"]
    lines = [
        (
            "LoRA fine-tune of the shipped SmolLM2-135M-Instruct on CPU (`automuse finetune local`), on a chat dataset "
            "built from Pride and Prejudice. Command: `.venv/bin/python benchmarks/finetune.py "
            f"--steps {args.steps} --lr {args.lr:g} --budget {args.budget}`."
        ),
        "",
        (
            f"Machine: x86_64, {facts['cores']} cores shared with other processes (load average "
            f"{facts['load_start']} at the start, {facts['load_end']} at the end of training); "
            f"torch {s['threads']} threads, training precision {s['precision']}, validation in float32."
        ),
        "",
        "| measure | value |",
        "| --- | --- |",
        (
            f"| dataset | P&P ingested with `--llm extractive --embedder hash:64`, `automuse dataset --format chat --budget "
            f"{args.budget} --llm local --val-fraction 0.1 --seed 1`: {meta['train']} training / {meta['validation']} "
            f"validation samples, leakage audit {meta['audit']} |"
        ),
        (
            f"| training | {len(steps)} steps x {s['batch']} example (each seen at most once: "
            f"{len(steps) * s['batch']} of {report['data']['train_examples']}), LoRA rank {s['rank']} alpha {s['alpha']:g} "
            f"on {s['targets']} linear layers ({s['trainable_parameters']:,} parameters), lr {s['lr']:g} "
            f"(warm-up {s['warmup']}, cosine to 10%), max length {s['max_length']} |"
        ),
        f"| scored (completion) tokens per step | mean {statistics.mean(tokens):.0f} |",
        (
            f"| **seconds per step** | mean **{statistics.mean(secs):.1f} s**, median {statistics.median(secs):.1f} s, "
            f"min {min(secs):.1f} s, max {max(secs):.1f} s; training {report['train_seconds'] / 60:.1f} min in all "
            f"(with {len(report['evals'])} validations) |"
        ),
        f"| loading the base (GGUF -> float32 through transformers) | {facts['load_s']:.0f} s |",
        f"| training loss, first {k} / last {k} steps | {statistics.mean(losses[:k]):.3f} / {statistics.mean(losses[-k:]):.3f} |",
        (
            f"| **validation NLL per completion token** ({report['evals'][0]['tokens']:,} tokens, "
            f"{report['data']['val_examples']} held-out samples) | base **{base:.4f}** -> tuned **{final:.4f}** "
            f"(**{final - base:+.4f}** nats, perplexity {math.exp(base):.2f} -> {math.exp(final):.2f}) |"
        ),
    ]
    if "ingest_s" in facts:
        lines.append(f"| ingest / dataset export | {facts['ingest_s']:.0f} s / {facts.get('dataset_s', 0):.0f} s |")
    delta = final - base
    verdict = (
        f"Tuning lowered the validation NLL by {-delta:.3f} nats per token ({-delta / base:.1%})"
        if delta < -0.01
        else f"At {len(steps)} steps tuning did not lower the validation NLL ({delta:+.4f} nats)"
    )
    lines += ["", verdict + f" after {report['train_seconds'] / 60:.0f} minutes of training (wall time on the shared cores)."]
    lines += [
        "",
        "Validation NLL per token during training (float32, same held-out samples):",
        "",
        "| step | validation NLL | seconds to score |",
        "| ---: | ---: | ---: |",
    ]
    lines += [f"| {e['step']} | {e['val_nll']:.4f} | {e['seconds']:.0f} |" for e in report["evals"]]
    lines += [
        "",
        "The same validation tokens scored by llama.cpp (what `--llm local:FILE.gguf` runs):",
        "",
        "| model | NLL per token | file size |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {value:.4f} | {sizes[name] / 1e6:.0f} MB |" for name, value in llama.items()]
    names = list(llama)
    lines += [
        "",
        (
            f"llama.cpp agrees with the trainer: base {llama[names[0]] - base:+.4f} nats (the Q4_1 file against its "
            f"float32 dequantization), tuned {llama[names[1]] - final:+.4f}; the f16 merge is "
            f"{llama[names[2]] - llama[names[1]]:+.4f} from the f32 one at half the size, so f16 is the default "
            "(`--gguf-dtype`)."
        ),
        "",
        NOTE.format(early=early(report)),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
