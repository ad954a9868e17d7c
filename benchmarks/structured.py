"""Structured lore from the embedded model: how often is its answer usable?

Over the first N chunks of the sample story (chunked at 1,500 characters), asks the
local model (SmolLM2-135M by default, or --model PATH.gguf) for each chunk's lore
through exactly ingest's call (:func:`automuse_rag.lore.extract.request_lore`:
strict JSON grammar, max_tokens sized to the schema, one repair attempt) and counts:

* valid JSON: the answer validated against ChunkLoreReply (after the repair at most);
* usable: valid and its summary matches the passage (what ingest keeps);

with ``--legacy``, also the old call (llama-cpp's own grammar, whose strings admit raw
control characters, and max_tokens 128) for comparison. No call cache.

Run: .venv/bin/python benchmarks/structured.py [--chunks 12] [--legacy] [--model PATH]
Writes its figures between the bench:structured markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from automuse_rag.errors import StructuredOutputError
from automuse_rag.lore.extract import (
    ChunkLoreReply,
    analysis_messages,
    lore_reply_problem,
)
from automuse_rag.models.base import Sampling, sampling_from_settings
from automuse_rag.models.local import LocalChatModel
from automuse_rag.settings import get_settings


def sample_chunks(n: int) -> list[Any]:
    from automuse_rag.books import load_book
    from automuse_rag.text.chunk import chunk_book

    settings = get_settings()
    book = load_book(str(REPO / "books" / "sample" / "story.txt"), settings)
    return chunk_book(book, "bench", size=1500)[:n]


def hints(chunk: Any) -> list[str]:
    from automuse_rag.lore.ner import get_nlp, ner_mentions, ner_text

    nlp = get_nlp()
    return [m.name for m in ner_mentions(nlp(ner_text(nlp, chunk.text)))]


def run(model: CountingModel, chunks: list[Any], sampling: Sampling, legacy: bool) -> dict[str, Any]:
    valid = usable = first_try = tokens = 0
    problems: list[str] = []
    start = time.perf_counter()
    for chunk in chunks:
        names = hints(chunk)
        try:
            if legacy:
                raw = model._complete(  # the old path: llama-cpp's grammar, 128 tokens, no repair
                    analysis_messages(chunk, names),
                    sampling.with_(temperature=0.2, max_tokens=128),
                    response_format={"type": "json_object", "schema": ChunkLoreReply.model_json_schema()},
                )
                tokens += raw.usage.completion_tokens
                reply = ChunkLoreReply.model_validate_json(raw.text)
                first_try += 1
            else:
                before = model.requests
                full = model.structured_reply(analysis_messages(chunk, names), ChunkLoreReply, sampling.with_(temperature=0.2))
                tokens += full.usage.completion_tokens
                reply = full.value
                first_try += int(model.requests - before == 1)
        except (StructuredOutputError, ValueError) as exc:
            problems.append(" ".join(str(exc).split())[:120])
            continue
        valid += 1
        problem = lore_reply_problem(reply, chunk)
        if problem is None:
            usable += 1
        else:
            problems.append(problem)
    seconds = time.perf_counter() - start
    return {
        "valid": valid,
        "usable": usable,
        "first_try": first_try,
        "n": len(chunks),
        "seconds": seconds,
        "tokens": tokens,
        "problems": problems,
    }


class CountingModel(LocalChatModel):
    """Counts model requests (a repair is a second one)."""

    requests = 0

    def _complete(self, messages, sampling, **extra):  # type: ignore[override]
        self.requests += 1
        return super()._complete(messages, sampling, **extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=12)
    parser.add_argument("--legacy", action="store_true", help="also measure the old call (loose grammar, 128 tokens)")
    parser.add_argument("--model", type=Path, default=None, help="a GGUF file (default: the shipped SmolLM2-135M)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    settings = get_settings()
    model = CountingModel(settings, args.model)
    chunks = sample_chunks(args.chunks)
    sampling = sampling_from_settings(settings)
    hints(chunks[0])  # load spaCy before timing
    rows = [("now: strict grammar, max_tokens fits the schema", run(model, chunks, sampling, legacy=False))]
    if args.legacy:
        rows.append(("before: llama-cpp grammar, max_tokens 128", run(model, chunks, sampling, legacy=True)))
    lines = [
        f"Structured lore from {model.name} on the first {len(chunks)} chunks of the sample story (1,500 characters), "
        "through ingest's call. Command: `.venv/bin/python benchmarks/structured.py"
        + (" --legacy" if args.legacy else "")
        + f" --chunks {len(chunks)}`",
        "",
        "| call | valid JSON | usable (summary matches) | valid on 1st try | s/chunk | completion tokens/chunk |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, r in rows:
        lines.append(
            f"| {label} | {r['valid']}/{r['n']} | {r['usable']}/{r['n']} | {r['first_try']}/{r['n']} | "
            f"{r['seconds'] / r['n']:.1f} | {r['tokens'] / r['n']:.0f} |"
        )
    for label, r in rows:
        if r["problems"]:
            lines.append(f"\n{label}, first problems: " + "; ".join(sorted(set(r["problems"]))[:3]))
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write(text)


def write(text: str) -> None:
    doc = REPO / "docs" / "benchmarks.md"
    content = doc.read_text(encoding="utf-8")
    pattern = re.compile(r"(<!-- bench:structured -->\n).*?(<!-- /bench:structured -->)", re.DOTALL)
    if pattern.search(content):
        content = pattern.sub(lambda m: m.group(1) + text + m.group(2), content)
    else:
        content = (
            content.rstrip("\n") + "\n\n## Structured lore from the embedded model\n\n"
            "What `automuse doctor`'s lore probe decides from: the share of chunks for which the model's "
            "structured answer is usable. Below the probe's bar, `ingest` (AUTOMUSE_LORE_MODE=auto) "
            "uses extractive summaries, NER lore and parsed relations instead.\n\n"
            "<!-- bench:structured -->\n" + text + "<!-- /bench:structured -->\n"
        )
    doc.write_text(content, encoding="utf-8")


if __name__ == "__main__":
    main()
