"""Speed and false alarms of the offline fact reader and continuity rules on whole,
unedited shared books (the development half of books/casts/split.toml: the rules were
written against these; never pass a test-half book to tune them).

Each book is chunked as ingest does, each chunk gets the NER pass, then
``find_contradictions`` against the facts of the chunks before it (names resolved by a
plain exact / one-full-name-per-word map), then ``extract_facts``. Every alarm on an
unedited book is a false alarm. Prints chars/s of the NER pass, of fact extraction and
of the check, the facts per kind and the alarms per 100 chunks (``--alarms`` lists them).

    .venv/bin/python benchmarks/continuity_dev.py 84 1342 786 [--alarms]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from automuse_rag.books import read_book_file  # noqa: E402
from automuse_rag.lore.continuity import Contradiction, KnownFact, find_contradictions  # noqa: E402
from automuse_rag.lore.facts import extract_facts  # noqa: E402
from automuse_rag.lore.names import PERSON_LABELS, TITLES, clean_name, parse_name  # noqa: E402
from automuse_rag.lore.ner import get_nlp, ner_text  # noqa: E402
from automuse_rag.lore.parse import get_parser  # noqa: E402
from automuse_rag.text.chunk import chunk_book  # noqa: E402


def shared_data() -> Path:
    env = os.environ.get("AUTOMUSE_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


class Names:
    """Surface name -> entity key: a gendered title and surname ("mrs Bennet"), a full
    name as written, a single word the one full name seen so far that holds it."""

    def __init__(self) -> None:
        self.full: dict[str, set[str]] = {}

    def learn(self, name: str) -> None:
        p = parse_name(name)
        if len(p.words) >= 2 and p.title is None:
            for w in p.words:
                self.full.setdefault(w, set()).add(" ".join(p.words))

    def __call__(self, name: str) -> str | None:
        p = parse_name(name)
        if p.title and TITLES[p.title][1]:
            return f"{TITLES[p.title][0]} {p.words[-1]}"
        key = " ".join(p.words)
        owners = self.full.get(key, set()) if len(p.words) == 1 else set()
        return next(iter(owners)) if len(owners) == 1 else key


def run(book_id: int) -> tuple[dict[str, float], list[Contradiction]]:
    path = shared_data() / "gutenberg" / "cache" / "epub" / str(book_id) / f"pg{book_id}.txt"
    chunks = chunk_book(read_book_file(path, book_id), f"b{book_id}")
    nlp = get_nlp()
    get_parser()
    names = Names()
    known: list[KnownFact] = []
    alarms: list[Contradiction] = []
    t = {"ner": 0.0, "facts": 0.0, "check": 0.0, "chars": 0.0, "chunks": float(len(chunks)), "facts_n": 0.0}
    for c in chunks:
        t0 = time.perf_counter()
        doc = nlp(ner_text(nlp, c.text))
        t1 = time.perf_counter()
        for e in doc.ents:
            if e.label_ in PERSON_LABELS and (n := clean_name(e.text)):
                names.learn(n)
        alarms += find_contradictions(doc, c.index, known, names)
        t2 = time.perf_counter()
        facts = extract_facts(doc, c.index)
        t3 = time.perf_counter()
        t["ner"] += t1 - t0
        t["check"] += t2 - t1
        t["facts"] += t3 - t2
        t["chars"] += len(c.text)
        t["facts_n"] += len(facts)
        known += [KnownFact(f, e, e) for f in facts if (e := names(f.name))]
    return t, alarms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("books", type=int, nargs="+")
    ap.add_argument("--alarms", action="store_true", help="list every alarm")
    args = ap.parse_args()
    dev = set(tomllib.loads((REPO / "books" / "casts" / "split.toml").read_text())["dev"])
    if not dev.issuperset(args.books):
        sys.exit(f"error: only development-half books (books/casts/split.toml): {sorted(set(args.books) - dev)}")
    print("| book | chunks | NER chars/s | facts chars/s | check chars/s | facts | alarms | per 100 chunks |")
    print("|---|---|---|---|---|---|---|---|")
    total_alarms = total_chunks = 0.0
    for b in args.books:
        t, alarms = run(b)
        total_alarms += len(alarms)
        total_chunks += t["chunks"]
        print(
            f"| {b} | {t['chunks']:.0f} | {t['chars'] / t['ner']:.0f} | {t['chars'] / t['facts']:.0f} | "
            f"{t['chars'] / t['check']:.0f} | {t['facts_n']:.0f} | {len(alarms)} | {100 * len(alarms) / t['chunks']:.2f} |",
            flush=True,
        )
        for a in alarms if args.alarms else []:
            print(
                f"    [{a.kind}] chunk {a.chunk} {a.display}: {a.text[:160]!r} <- chunk {a.fact.chunk}: {a.fact.sentence[:160]!r}"
            )
    print(
        f"all: {total_alarms:.0f} alarms in {total_chunks:.0f} chunks = {100 * total_alarms / max(total_chunks, 1):.2f} per 100 chunks"
    )


if __name__ == "__main__":
    main()
