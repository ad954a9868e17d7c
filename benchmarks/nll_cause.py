"""Why does retrieval predict the next chunk worse than the last chunk alone?

Scores the next chunk's NLL (local model) after context variants that separate the
suspects, at evenly spread positions of a stored story:

- ``last_chunk``: compare's floor (outline + whole last chunk, rolling framing);
- ``retrieval``: compare's retrieval (last chunk whole, default template);
- ``retrieval_before``: retrieval as compare ran it before issue 12 (the default
  template's last-chunk quota of 35%, which cuts the chunk's start to make room);
- ``frame_only``: the default template with no memories: its framing (instructions,
  section headers, the ``NEXT CHUNK:`` cue), the outline and the whole last chunk;
- ``memory_rolling_frame``: retrieval's lore and memories, placed in the rolling
  template (the floor's framing) between the outline and the whole last chunk.
- ``memory_far``: retrieval's lore and memories *before* the outline, the last chunk
  after: as ``memory_rolling_frame`` with the memory further from the continuation.

The table in docs/compare/README.md was made at commit ba1c3f6, before every strategy
got the assembler's framing; since then ``last_chunk`` and ``memory_rolling_frame`` are
rendered in the default template too, so the framing no longer differs between them.

For each variant: mean NLL, paired difference from ``last_chunk`` (bootstrap 95%
interval), and the difference on the continuation's first 16 tokens vs the rest
(a framing or boundary effect shows at the start; a content effect all along).

Run: .venv/bin/python benchmarks/nll_cause.py --home HOME --story NAME [--budget 1024] [--positions 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HEAD = 16


def token_nlls(model, context: str, continuation: str):  # type: ignore[no-untyped-def]
    """Per-token NLL of ``continuation`` after ``context`` (fresh cache each time)."""
    import numpy as np

    llama = model.llama
    bos = llama.tokenize(b"", add_bos=True, special=False)
    ctx = bos + model.tokenize(context)
    cont = model.tokenize(continuation)
    llama.reset()
    llama.eval(ctx[:-1])
    tokens = [ctx[-1]] + cont[:-1]
    out = []
    n_vocab = llama.n_vocab()
    for start in range(0, len(tokens), llama.n_batch):
        batch = tokens[start : start + llama.n_batch]
        n_past = llama.n_tokens
        llama._batch.set_batch(batch=batch, n_past=n_past, logits_all=True)
        llama._ctx.decode(llama._batch)
        llama.n_tokens += len(batch)
        rows = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(len(batch) * n_vocab,)).reshape(len(batch), n_vocab)
        rows = rows.astype(np.float64)
        peak = rows.max(axis=1)
        lse = peak + np.log(np.exp(rows - peak[:, None]).sum(axis=1))
        out.append(lse - rows[np.arange(len(batch)), np.array(cont[start : start + len(batch)])])
    llama.reset()
    return np.concatenate(out)


def variants(story, i: int, budget: int, count):  # type: ignore[no-untyped-def]
    from automuse_rag.assemble import build_prompt, load_template
    from automuse_rag.compare.costs import ingest_costs
    from automuse_rag.compare.rolling import fit_prompt
    from automuse_rag.compare.strategies import LastChunk, Retrieval

    base = ingest_costs(story, count)
    stored = [0] * len(story)
    rec = story.latest().records()[i]
    retr = Retrieval(story, budget, count, base, stored)
    prompt = build_prompt(story.at(i), budget=budget, count_tokens=count, template=retr._template)
    memory = "\n\n".join(prompt.sections[s] for s in ("lore", "memories") if s in prompt.sections)
    before = build_prompt(story.at(i), budget=budget, count_tokens=count, template=load_template())
    frame = build_prompt(story.at(i), budget=budget, count_tokens=count, template=retr._template, activations=frozenset())
    rolling = fit_prompt(story.outline, memory, rec.text, budget, count)[0]
    far = memory + "\n\n" + fit_prompt(story.outline, "", rec.text, max(64, budget - count(memory) - 2), count)[0]
    return {
        "last_chunk": LastChunk(story, budget, count).context(i).text,
        "retrieval": prompt.text,
        "retrieval_before": before.text,
        "frame_only": frame.text,
        "memory_rolling_frame": rolling,
        "memory_far": far,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--story", required=True)
    ap.add_argument("--budget", type=int, default=1024)
    ap.add_argument("--positions", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--continuation", type=int, default=0, help="score only the next chunk's first N tokens (0: all)")
    ap.add_argument("--variants", nargs="+", default=None, help="the variants to score (default: all)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np

    from automuse_rag.compare.metrics import bootstrap_ci, even_sample
    from automuse_rag.memory.story import StoryMemory
    from automuse_rag.models.local import LocalChatModel
    from automuse_rag.settings import get_settings

    extra = {"n_threads": args.threads} if args.threads else {}
    cfg = get_settings(home=args.home, n_ctx=args.budget + 1024, cache=False, **extra)
    model = LocalChatModel(cfg)
    story = StoryMemory.open(cfg, args.story)
    positions = even_sample(list(range(1, len(story) - 1)), args.positions)
    records = story.latest().records()
    scores: dict[str, list] = {}
    tokens: dict[str, list[int]] = {}
    started = time.perf_counter()
    for i in positions:
        texts = variants(story, i, args.budget, model.count_tokens)
        nxt = records[i + 1].text
        if args.continuation:
            nxt = model.llama.detokenize(model.tokenize(nxt)[: args.continuation]).decode("utf-8", "replace")
        for name, text in texts.items():
            if args.variants and name not in args.variants:
                continue
            scores.setdefault(name, []).append(token_nlls(model, text, nxt))
            tokens.setdefault(name, []).append(model.count_tokens(text))
            row = scores[name][-1]
            print(
                f"position {i} {name}: tokens {tokens[name][-1]} nll {row.mean():.4f} first{HEAD} "
                f"{row[:HEAD].mean():.4f} rest {row[HEAD:].mean():.4f} ({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    base = scores["last_chunk"]
    print(f"{args.story}, budget {args.budget}, positions {positions}")
    print("| variant | mean tokens | mean NLL | vs last_chunk [95% CI] | first 16 tokens vs last_chunk | rest vs last_chunk |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, rows in scores.items():
        diffs = [float(r.mean() - b.mean()) for r, b in zip(rows, base)]
        head = np.mean([float(r[:HEAD].mean() - b[:HEAD].mean()) for r, b in zip(rows, base)])
        rest = np.mean([float(r[HEAD:].mean() - b[HEAD:].mean()) for r, b in zip(rows, base)])
        ci = bootstrap_ci(diffs) or (0.0, 0.0)
        print(
            f"| {name} | {np.mean(tokens[name]):.0f} | {np.mean([r.mean() for r in rows]):.3f} "
            f"| {np.mean(diffs):+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}] | {head:+.3f} | {rest:+.3f} |"
        )


if __name__ == "__main__":
    main()
