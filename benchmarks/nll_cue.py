"""Where the next chunk's NLL is lost at the prompt's end: the same last-chunk prompt
with different endings (the floor's instruction line, the default template's
``NEXT CHUNK:`` cue, each with and without a line break before the continuation).

The prompt body (outline + whole last chunk) is shared, so the local scorer evaluates it
once per position and only the ending and the continuation per variant.

Run: .venv/bin/python benchmarks/nll_cue.py --home HOME --story NAME [--positions 6] [--continuation 160]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ENDINGS = {
    "instruction (last_chunk)": "\n\nContinue the story with the next passage.",
    "instruction + blank line": "\n\nContinue the story with the next passage.\n\n",
    "NEXT CHUNK: (retrieval)": "\n\nNEXT CHUNK:",
    "NEXT CHUNK: + line break": "\n\nNEXT CHUNK:\n",
    "blank line only": "\n\n",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--story", required=True)
    ap.add_argument("--positions", type=int, default=6)
    ap.add_argument("--continuation", type=int, default=160)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from automuse_rag.compare.metrics import bootstrap_ci, even_sample
    from automuse_rag.compare.rolling import fit_prompt
    from automuse_rag.memory.story import StoryMemory
    from automuse_rag.models.local import LocalChatModel
    from automuse_rag.settings import get_settings

    cfg = get_settings(home=args.home, n_ctx=2048, cache=False)
    model = LocalChatModel(cfg)
    story = StoryMemory.open(cfg, args.story)
    records = story.latest().records()
    positions = even_sample(list(range(1, len(story) - 1)), args.positions)
    scores: dict[str, list[float]] = {name: [] for name in ENDINGS}
    for i in positions:
        floor = fit_prompt(story.outline, "", records[i].text, 1024, model.count_tokens)[0]
        body = floor.rsplit("\n\n", 1)[0]  # without the instruction line
        nxt = model.llama.detokenize(model.tokenize(records[i + 1].text)[: args.continuation]).decode("utf-8", "replace")
        for name, ending in ENDINGS.items():
            nll, _ = model.continuation_nll(body + ending, nxt)
            scores[name].append(nll)
            print(f"position {i} {name}: {nll:.4f}", file=sys.stderr, flush=True)
    base = scores["instruction (last_chunk)"]
    print(f"{args.story}: positions {positions}, first {args.continuation} tokens of the next chunk")
    print("| prompt ending | mean NLL | vs the floor's ending [95% CI] |")
    print("| --- | ---: | ---: |")
    for name, vals in scores.items():
        diffs = [v - b for v, b in zip(vals, base)]
        ci = bootstrap_ci(diffs) or (0.0, 0.0)
        print(f"| {name!s} | {sum(vals) / len(vals):.3f} | {sum(diffs) / len(diffs):+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}] |")


if __name__ == "__main__":
    main()
