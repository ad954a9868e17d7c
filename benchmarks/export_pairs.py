"""The dataset export's speed, two checkouts in alternation on one ingested store.

On a shared machine one export against another says little: the same run moved by
10-20 % from one minute to the next here. This ingests Pride and Prejudice once (as
``memory_core.py --only dataset`` does: extractive lore, 64-dimension hash vectors,
the shared outline), then exports it (budget 2,048, the local model's tokenizer)
with each checkout in turn, ``--pairs`` times, in fresh processes, and prints each
run's samples per CPU second and whether the two checkouts wrote the same bytes.

Run: .venv/bin/python benchmarks/export_pairs.py --before CHECKOUT [--after .] [--pairs 3]
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AUTOMUSE_SHARED_DATA", REPO.parent / "shared" / "data"))

INGEST = r"""
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

EXPORT = r"""
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
print(json.dumps({"samples": n, "seconds": dt, "cpu_seconds": cpu, "per_cpu_second": n / cpu,
                  "leaks": s.leakage_violations}))
"""


def _python(code: str, *args: str, checkout: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=checkout)
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'failed'}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code to compare against")
    parser.add_argument("--after", type=Path, default=REPO, help="the checkout measured (default: this one)")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args(argv)
    checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
    rates: dict[str, list[float]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        home = str(Path(tmp) / "home")
        _python(INGEST, str(checkouts["after"]), str(SHARED), home, checkout=checkouts["after"])
        outs = {k: Path(tmp) / f"{k}.jsonl" for k in checkouts}
        for i in range(args.pairs):
            for label, code in checkouts.items():
                run = json.loads(_python(EXPORT, str(code), home, str(outs[label]), checkout=code))
                rates[label].append(run["per_cpu_second"])
                print(json.dumps({"pair": i + 1, "code": label, **run, "load": os.getloadavg()[0]}), flush=True)
        same = all(
            filecmp.cmp(
                outs["before"].with_name(outs["before"].stem + suffix),
                outs["after"].with_name(outs["after"].stem + suffix),
                shallow=False,
            )
            for suffix in (".jsonl", ".val.jsonl")
        )
    summary = {k: round(statistics.median(v), 1) for k, v in rates.items()}
    print(json.dumps({"median_per_cpu_second": summary, "same_bytes": same}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
