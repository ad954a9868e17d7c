"""Lore quality without a model, against hand-written ground truth.

Per book (the sample story and the four shared Gutenberg books): entity precision and
recall against the cast (books/sample/lore.toml, books/casts/pgID.toml), split and
merge errors, main characters found as exactly one entity, the offline relations and
their precision on the hand-checked list (books/casts/relations_checked.toml),
relation recall on the sample story, and how many sample cards a reader would accept
(memory/evaluate.py: ``accepted``). Then the cost of the dependency parse: an
extractive ingest of Pride and Prejudice (hash embedder) with and without it.

Run: .venv/bin/python benchmarks/lore.py [--skip-speed] [--dump-relations FILE]
Writes its figures between the bench:lore markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from automuse_rag.memory.evaluate import (
    accepted,
    analyse_book,
    entity_of,
    load_cast,
    lore_of,
    relation_recall,
    score_cast,
)
from automuse_rag.settings import get_settings

SHARED = Path(os.environ.get("AUTOMUSE_SHARED_DATA", REPO.parent / "shared" / "data"))
BOOKS = [
    ("sample", REPO / "books" / "sample" / "story.txt", REPO / "books" / "sample" / "lore.toml"),
    *[
        (f"pg{i}", SHARED / "gutenberg" / "cache" / "epub" / str(i) / f"pg{i}.txt", REPO / "books" / "casts" / f"pg{i}.toml")
        for i in (1342, 84, 64317, 11)
    ],
]
CHECKED = REPO / "books" / "casts" / "relations_checked.toml"


def load_checked() -> dict[tuple[str, str, str, str], dict]:
    data = tomllib.loads(CHECKED.read_text(encoding="utf-8")) if CHECKED.is_file() else {}
    return {(r["book"], r["source"], r["label"], r["target"]): r for r in data.get("relations", [])}


def offline_relations(book: str, analyses) -> dict[tuple[str, str, str, str], dict]:
    """Distinct offline relations of a book by (book, source, label, target) name, first occurrence."""
    out: dict[tuple[str, str, str, str], dict] = {}
    for idx, a in analyses:
        for r in a.relations:
            if r.get("via") in ("parse", "names"):
                out.setdefault((book, r["source"], r["label"], r["target"]), {**r, "chunk": idx})
    return out


def bench_book(book: str, text_path: Path, cast_path: Path, settings) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    analyses = analyse_book(str(text_path), settings)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    entities, relations = lore_of(analyses)
    cast = load_cast(cast_path)
    text = text_path.read_text(encoding="utf-8")
    score = score_cast(entities, cast, text)
    row = {
        "book": book,
        "title": cast.title,
        "chunks": len(analyses),
        "seconds": seconds,
        "cpu": cpu,
        "score": score,
        "relations": offline_relations(book, analyses),
    }
    if cast.relations:
        row["rel_recall"] = relation_recall(entities, relations, cast, text)
        row["rel_truth"] = len(cast.relations)
    if any(m.description for m in cast.members):
        verdicts = []
        for m in cast.members:
            ent = entity_of(entities, m, text)
            verdicts.append((m.name, *(accepted(ent, m) if ent else (False, "no single entity")), ent.description if ent else ""))
        row["cards"] = verdicts
    return row


def bench_speed(book: Path) -> dict:
    """Extractive ingest (hash embedder) with and without the dependency parse."""
    import automuse_rag.lore.extract as an
    import automuse_rag.memory.ingest as ing
    from automuse_rag.lore.parse import ChunkFacts, get_parser
    from automuse_rag.models.base import Sampling
    from automuse_rag.models.fake import HashEmbedder

    get_parser()  # model loads are not ingest time
    out = {}
    real = an.chunk_facts
    for label, facts in (("without parse", lambda doc, mentions: ChunkFacts()), ("with parse", real)):
        an.chunk_facts = facts
        try:
            with tempfile.TemporaryDirectory() as tmp:
                settings = get_settings(home=tmp)
                t0, c0 = time.perf_counter(), time.process_time()
                result = ing.ingest(settings, str(book), "speed", llm=None, embedder=HashEmbedder(64), sampling=Sampling())
                out[label] = (time.perf_counter() - t0, time.process_time() - c0, result.chunks)
        finally:
            an.chunk_facts = real
    return out


def render(rows: list[dict], checked: dict, speed: dict | None, load: str) -> str:
    judged = [(k, checked[k]) for row in rows for k in row["relations"] if k in checked]
    correct = sum(1 for _, j in judged if j["correct"])
    unjudged = sum(1 for row in rows for k in row["relations"] if k not in checked)
    lines = [
        "",
        (
            "Command: `.venv/bin/python benchmarks/lore.py` (extractive: spaCy NER + dependency parse, no model; "
            f"load average {load})."
        ),
        "",
        "| book | chunks | cast | found (recall) | entity precision | main characters as one entity | splits | merges "
        "| offline relations (parse / names) | judged correct | cards accepted |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        s = row["score"]
        rels = row["relations"]
        n_parse = sum(1 for r in rels.values() if r.get("via") == "parse")
        mine = [(k, checked[k]) for k in rels if k in checked]
        ok = sum(1 for _, j in mine if j["correct"])
        lines.append(
            f"| {row['title']} | {row['chunks']} | {s.members} | {s.found} ({s.recall:.2f}) | {s.precision:.2f} | "
            f"{s.main_exact}/{s.main} | {len(s.splits)} | {len(s.merges)} | {len(rels)} ({n_parse} / {len(rels) - n_parse}) | "
            f"{ok}/{len(mine)} | {sum(1 for c in row.get('cards', []) if c[1])}/{len(row.get('cards', []))} |"
        )
    prec = correct / len(judged) if judged else 0.0
    tail = f" ({unjudged} current relations not yet judged)." if unjudged else "."
    lines += [
        "",
        f"Relation precision on the hand-checked list (books/casts/relations_checked.toml): **{correct}/{len(judged)} = {prec:.2f}**{tail}",
        "",
    ]
    for row in rows:
        if "rel_recall" in row:
            n, found = row["rel_recall"]
            lines.append(
                f"Relation recall on the sample story (offline, {row['rel_truth']} relations in lore.toml): "
                f"**{n}/{row['rel_truth']}** ({'; '.join(found) or 'none'})."
            )
        if "cards" in row and row["book"] == "sample":
            ok = sum(1 for _, a, _, _ in row["cards"] if a)
            lines.append(
                f"Sample cards a reader would accept (describing sentence sharing two content words with lore.toml): "
                f"**{ok}/{len(row['cards'])}**."
            )
            lines += ["", "| entity | accepted | why | card leads with |", "| --- | --- | --- | --- |"]
            for name, a, why, desc in row["cards"]:
                lines.append(f"| {name} | {'yes' if a else 'no'} | {why} | {desc[:90].replace('|', '/')} |")
    lines += ["", "Split and merge errors (who is not one entity, and why):", ""]
    for row in rows:
        s = row["score"]
        errs = [f"split {x}" for x in s.splits] + [f"merge {x}" for x in s.merges] + [f"missing {x}" for x in s.missing]
        lines.append(f"- {row['title']}: " + ("; ".join(errs) if errs else "none"))
    if speed:
        lines += [
            "",
            SPEED_HEAD + "):",
            "",
            "| ingest | chunks | wall s | CPU s |",
            "| --- | --- | --- | --- |",
        ]
        for label, (wall, cpu, chunks) in speed.items():
            lines.append(f"| {label} | {chunks} | {wall:.1f} | {cpu:.1f} |")
        (_, c0, _), (_, c1, _) = speed["without parse"], speed["with parse"]
        lines.append(f"\nThe parse adds {c1 - c0:.1f} s CPU ({(c1 / c0 - 1):.0%}) to the ingest.")
    else:
        lines += kept_speed()
    return "\n".join(lines) + "\n"


SPEED_HEAD = "Cost of the dependency parse, extractive ingest of Pride and Prejudice (hash:64 embedder"


def kept_speed() -> list[str]:
    """The committed section's parse-cost table, kept by a ``--skip-speed`` run."""
    doc = REPO / "docs" / "benchmarks.md"
    content = doc.read_text(encoding="utf-8") if doc.exists() else ""
    m = re.search(r"<!-- bench:lore -->\n(.*?)<!-- /bench:lore -->", content, re.DOTALL)
    section = m.group(1) if m else ""
    at = section.find(SPEED_HEAD)
    if at < 0:
        return []
    old = section[at:].rstrip("\n").splitlines()
    head = SPEED_HEAD + "; from the previous full run, this one was `--skip-speed`):"
    return ["", head, *old[1:]]


def write_section(text: str) -> None:
    doc = REPO / "docs" / "benchmarks.md"
    content = doc.read_text(encoding="utf-8")
    pattern = re.compile(r"(<!-- bench:lore -->\n).*?(<!-- /bench:lore -->)", re.DOTALL)
    if pattern.search(content):
        content = pattern.sub(lambda m: m.group(1) + text + m.group(2), content)
    else:
        content = (
            content.rstrip("\n") + "\n\n## Lore quality (offline)\n\n<!-- bench:lore -->\n" + text + "<!-- /bench:lore -->\n"
        )
    doc.write_text(content, encoding="utf-8")


def dump_relations(rows: list[dict], checked: dict, path: Path) -> None:
    """Write every current offline relation as a TOML entry to judge (judged ones keep their verdict)."""
    import json

    def q(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    out = []
    for row in rows:
        for key, r in row["relations"].items():
            prev = checked.get(key, {})
            out.append(
                "[[relations]]\n"
                f"book = {q(key[0])}\nsource = {q(key[1])}\nlabel = {q(key[2])}\ntarget = {q(key[3])}\nchunk = {r['chunk']}\n"
                f"via = {q(r.get('via', ''))}\nevidence = {q(r.get('evidence', ''))}\n"
                f"correct = {str(prev.get('correct', False)).lower()}\nnote = {q(prev.get('note', 'TODO'))}\n"
            )
    path.write_text("\n".join(out), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--dump-relations", type=Path)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load = f"{os.getloadavg()[0]:.1f}"
    with tempfile.TemporaryDirectory() as tmp:
        settings = get_settings(home=tmp)
        rows = [bench_book(b, t, c, settings) for b, t, c in BOOKS]
    checked = load_checked()
    if args.dump_relations:
        dump_relations(rows, checked, args.dump_relations)
    speed = None if args.skip_speed else bench_speed(BOOKS[1][1])
    text = render(rows, checked, speed, load + f" at start, {os.getloadavg()[0]:.1f} at end")
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
