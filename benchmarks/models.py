"""Model backend speed on this machine: the local model's prompt and generation tokens
per second, and the default embedder's texts per second at batch sizes 1, 32, 128.

Run: .venv/bin/python benchmarks/models.py [--no-write]
Writes its table into docs/benchmarks.md between the bench:models markers.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from automuse_rag.models.embedders import MiniLMEmbedder  # noqa: E402
from automuse_rag.models.local import LocalChatModel  # noqa: E402
from automuse_rag.settings import get_settings  # noqa: E402

SHARED = Path(os.environ.get("AUTOMUSE_SHARED_DATA", REPO.parent / "shared" / "data"))
BOOK = SHARED / "gutenberg" / "cache" / "epub" / "84" / "pg84.txt"
PROMPT_TOKENS = 1024
GEN_TOKENS = 128
REPEATS = 3


def book_text() -> str:
    return BOOK.read_text(encoding="utf-8-sig")[30_000:90_000]


def bench_local(text: str) -> dict[str, float]:
    model = LocalChatModel(get_settings())
    llama = model.llama
    tokens = model.tokenize(text)[:PROMPT_TOKENS]
    prompt_rates, gen_rates = [], []
    for _ in range(REPEATS):
        llama.reset()
        start = time.perf_counter()
        llama.eval(tokens)
        prompt_rates.append(len(tokens) / (time.perf_counter() - start))
        llama.reset()
        start = time.perf_counter()
        out = llama.create_completion("Once upon a time", max_tokens=GEN_TOKENS, temperature=0.7, seed=1)
        elapsed = time.perf_counter() - start
        gen_rates.append(out["usage"]["completion_tokens"] / elapsed)
    return {"prompt": max(prompt_rates), "generation": max(gen_rates), "threads": model._threads}


def bench_embedder(text: str) -> dict[int, float]:
    embedder = MiniLMEmbedder(get_settings())
    words = text.split()
    texts = [" ".join(words[i : i + 60]) for i in range(0, 60 * 256, 60)]
    embedder.embed(texts[:4])  # load and warm up
    rates = {}
    for batch, count in ((1, 64), (32, 256), (128, 256)):
        embedder.batch_size = batch
        start = time.perf_counter()
        if batch == 1:
            for t in texts[:count]:
                embedder.embed([t])
        else:
            embedder.embed(texts[:count])
        rates[batch] = count / (time.perf_counter() - start)
    return rates


def render(local: dict[str, float], embed: dict[int, float]) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "Command: `.venv/bin/python benchmarks/models.py`",
        f"({platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at start; best of {REPEATS}.)",
        "",
        "| what | figure |",
        "| --- | --- |",
        f"| local SmolLM2-135M Q4_1, prompt ({PROMPT_TOKENS} tokens, {local['threads']} threads) | {local['prompt']:.0f} tokens/s |",
        f"| local SmolLM2-135M Q4_1, generation ({GEN_TOKENS} tokens) | {local['generation']:.0f} tokens/s |",
    ]
    for batch, rate in embed.items():
        lines.append(f"| minilm (all-MiniLM-L6-v2) embeddings, batch {batch}, ~60-word texts | {rate:.0f} texts/s |")
    return "\n".join(lines)


def write(section: str) -> None:
    doc = REPO / "docs" / "benchmarks.md"
    text = doc.read_text(encoding="utf-8")
    pattern = re.compile(r"(<!-- bench:models -->\n).*?(<!-- /bench:models -->)", re.DOTALL)
    doc.write_text(pattern.sub(lambda m: m.group(1) + section + "\n" + m.group(2), text), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-write", action="store_true", help="Print only; leave docs/benchmarks.md alone.")
    args = parser.parse_args()
    text = book_text()
    section = render(bench_local(text), bench_embedder(text))
    print(section)
    if not args.no_write:
        write(section)


if __name__ == "__main__":
    main()
