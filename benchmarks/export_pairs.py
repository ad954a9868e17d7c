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
import tempfile
from pathlib import Path

from memory_core import EXPORT_SCRIPT, INGEST_SCRIPT, run_script

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AUTOMUSE_SHARED_DATA", REPO.parent / "shared" / "data"))


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
        run_script(INGEST_SCRIPT, str(SHARED), home, code=checkouts["after"])
        outs = {k: Path(tmp) / f"{k}.jsonl" for k in checkouts}
        for i in range(args.pairs):
            for label, code in checkouts.items():
                run = json.loads(run_script(EXPORT_SCRIPT, home, str(outs[label]), code=code))
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
