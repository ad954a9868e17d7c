"""Next-chunk NLL scoring speed: one ``continuation_nll`` against plain prompt processing.

For contexts of several lengths (Frankenstein text) followed by a ~400-token
continuation, times with the local model (best of ``--repeats``):

- *prompt processing*: ``Llama.eval`` of the same context + continuation tokens, cache
  cleared (what the model needs just to read them, no logits copied);
- *scoring, cold*: ``LocalChatModel.continuation_nll`` with the cache cleared;
- *scoring, shared prefix*: the same continuation after a second context that shares
  all but its last quarter with the first one (as compare's strategies at one position
  often do), right after scoring the first;
- *scoring, previous method*: what compare used before (``logits_all`` rows of the
  continuation copied out whole, the context evaluated from scratch every call), for the
  record.

Goal (issue 12): a cold scoring within 2x the prompt processing of the same tokens.

Run: .venv/bin/python benchmarks/nll.py [--threads N] [--no-write]
Writes its table into docs/benchmarks.md between the bench:nll markers.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from automuse_rag.models.local import LocalChatModel
from automuse_rag.settings import get_settings

SHARED = Path(os.environ.get("AUTOMUSE_SHARED_DATA", REPO.parent / "shared" / "data"))
BOOK = SHARED / "gutenberg" / "cache" / "epub" / "84" / "pg84.txt"
CONTEXTS = (1000, 3000)
CONTINUATION = 400
N_CTX = 4096


def previous_nll(model: LocalChatModel, ctx_tokens: list[int], cont: list[int]) -> float:
    """The scoring compare used before this benchmark (kept here for comparison)."""
    import numpy as np

    llama = model.llama
    llama.reset()
    llama.eval(ctx_tokens[:-1])
    n_past = len(ctx_tokens) - 1
    tokens = [ctx_tokens[-1]] + cont[:-1]
    rows, n_vocab = [], llama.n_vocab()
    llama._ctx.kv_cache_seq_rm(-1, n_past, -1)
    for start in range(0, len(tokens), llama.n_batch):
        batch = tokens[start : start + llama.n_batch]
        llama._batch.set_batch(batch=batch, n_past=n_past, logits_all=True)
        llama._ctx.decode(llama._batch)
        flat = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(len(batch) * n_vocab,))
        rows.append(flat.reshape(len(batch), n_vocab).copy())
        n_past += len(batch)
    logits = np.concatenate(rows, axis=0).astype(np.float64)
    peak = logits.max(axis=1, keepdims=True)
    log_norm = peak[:, 0] + np.log(np.exp(logits - peak).sum(axis=1))
    llama.reset()
    return float(np.mean(log_norm - logits[np.arange(len(cont)), np.array(cont)]))


def measure(model: LocalChatModel, text_tokens: list[int], n_context: int, repeats: int) -> dict[str, float]:
    llama = model.llama
    ctx_tokens = text_tokens[:n_context]
    cont_tokens = text_tokens[n_context : n_context + CONTINUATION]
    context = llama.detokenize(ctx_tokens).decode("utf-8", "replace")
    continuation = llama.detokenize(cont_tokens).decode("utf-8", "replace")
    ctx_tokens, cont_tokens = model.tokenize(context), model.tokenize(continuation)  # as the scorer sees them
    keep = len(context) * 3 // 4
    other = context[:keep] + llama.detokenize(text_tokens[-(n_context // 4) :]).decode("utf-8", "replace")
    everything = ctx_tokens + cont_tokens
    times: dict[str, list[float]] = {"plain": [], "cold": [], "shared": [], "old": []}
    nll_new = nll_old = 0.0
    for _ in range(repeats):
        llama.reset()
        started = time.perf_counter()
        llama.eval(everything)
        times["plain"].append(time.perf_counter() - started)
        llama.reset()
        started = time.perf_counter()
        nll_new, _ = model.continuation_nll(context, continuation)
        times["cold"].append(time.perf_counter() - started)
        started = time.perf_counter()  # the cache now holds the first context: a shared prefix
        model.continuation_nll(other, continuation)
        times["shared"].append(time.perf_counter() - started)
        started = time.perf_counter()
        nll_old = previous_nll(model, ctx_tokens, cont_tokens)
        times["old"].append(time.perf_counter() - started)
    return {
        "context": len(ctx_tokens),
        "continuation": len(cont_tokens),
        "nll_new": nll_new,
        "nll_old": nll_old,
        **{k: min(v) for k, v in times.items()},
    }


def render(rows: list[dict[str, float]], threads: int, repeats: int, load: str, command: str) -> str:
    lines = [
        "Next-chunk NLL scoring (`LocalChatModel.continuation_nll`, used by `automuse compare`) against plain "
        "prompt processing (`Llama.eval`) of the same tokens: SmolLM2-135M Q4_1, "
        f"{threads} threads, n_ctx {N_CTX}, best of {repeats} ({platform.machine()}, load average {load} at start; "
        "other jobs shared the cores).",
        f"Command: `{command}`",
        "",
        "| context + continuation tokens | prompt processing (s) | scoring, cold (s) | cold / processing "
        "| scoring, 3/4 prefix shared (s) | previous method (s) | NLL now / before |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['context']} + {r['continuation']} | {r['plain']:.2f} | {r['cold']:.2f} "
            f"| **{r['cold'] / r['plain']:.2f}x** | {r['shared']:.2f} | {r['old']:.2f} "
            f"| {r['nll_new']:.4f} / {r['nll_old']:.4f} |"
        )
    lines += [
        "",
        "The scorer evaluates the context once without copying any logits, skips what the KV cache already "
        "holds from the previous scoring (a shared prefix), and reduces each continuation row of logits to "
        "one number as it is read.",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: the settings' threads)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--contexts", type=int, nargs="+", default=list(CONTEXTS), help="context lengths in tokens")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = ap.parse_args()
    load = f"{os.getloadavg()[0]:.1f}"
    extra = {"n_threads": args.threads} if args.threads else {}
    cfg = get_settings(n_ctx=N_CTX, cache=False, **extra)
    model = LocalChatModel(cfg)
    text = BOOK.read_text(encoding="utf-8-sig")[30_000:120_000]
    tokens = model.tokenize(text)
    rows = []
    for n in args.contexts:
        rows.append(measure(model, tokens, n, args.repeats))
        print(rows[-1], file=sys.stderr)
    command = (
        ".venv/bin/python benchmarks/nll.py"
        + (f" --threads {args.threads}" if args.threads else "")
        + (f" --repeats {args.repeats}" if args.repeats != 2 else "")
        + (f" --contexts {' '.join(map(str, args.contexts))}" if args.contexts != list(CONTEXTS) else "")
    )
    body = render(rows, int(cfg.threads), args.repeats, load, command)
    print(body)
    if not args.no_write:
        from guard_thresholds import write_section

        write_section(REPO / "docs" / "benchmarks.md", "bench:nll", body)


if __name__ == "__main__":
    main()
