"""The continuity benchmark: plot holes injected into shared Gutenberg novels
(books/continuity/injections.toml, written by benchmarks/inject.py), found or missed by
`automuse continuity`, and its false alarms on unedited novels.

Per edited book: an extractive ingest (``--llm extractive --embedder hash``: spaCy NER,
parse and facts, no model) into a temp home, then ``automuse continuity --story NAME
--json``. A report finds an injection when the report's chunk holds the injected
passage (or, for a colour or a tie, the fact it cites as broken is the injected one: a
later original statement contradicting it), its entity is the injected character (a cast name or alias; for kinship either
person of the tie) and its kind matches (dead -> dead_acts with a "dead" fact, eyes/hair
-> attribute with that fact, kin -> kin). Any other report on an edited book is a false
alarm; so is a report on a control passage (a legitimate later mention).

Figures: precision, recall and F1 per kind, test half first (totals only: its cases are
never printed, so nobody fits a rule to them), then dev (with its misses and false
alarms); hard negatives flagged; false alarms per 100 chunks on the unedited control
books; fact extraction speed (chars/s) against the NER pass over the same chunks.

Run: .venv/bin/python benchmarks/continuity.py [--half test|dev|both] [--jobs 2] [--books 244 35] [--no-write]
Writes its figures between the bench:continuity markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from guard_thresholds import write_section  # noqa: E402  (the project's section writer)
from inject import (  # noqa: E402
    INJECTIONS,
    SHARED,
    InjectError,
    Injection,
    InjectionSet,
    book_path,
    inject_text,
    load_injections,
    norm,
)

CASTS = REPO / "books" / "casts"
GROUPS = ("dead", "attribute", "kin", "place")
GROUP_OF = {"dead": "dead", "eyes": "attribute", "hair": "attribute", "kin": "kin", "place": "place"}
REPORT_KIND = {"dead": "dead_acts", "attribute": "attribute", "kin": "kin", "place": "two_places"}
FACT_KINDS = {"dead": {"dead"}, "eyes": {"eyes"}, "hair": {"hair"}, "kin": {"kin", "married_name"}, "place": {"place"}}
TITLES = {
    "mr", "mrs", "miss", "ms", "dr", "doctor", "sir", "lady", "lord", "captain", "master", "mistress", "madame",
    "monsieur", "m", "colonel", "major", "aunt", "uncle", "old", "young", "little", "brother", "sister", "the",
}  # fmt: skip
DEFAULT_CMD = f"{shlex.quote(sys.executable)} -m automuse_rag"


# --------------------------------------------------------------------------- matching (pure)


def _words(name: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", name.lower().replace("’", "'").replace("'s", "")) if w not in TITLES}


def _key(name: str) -> str:
    return " ".join(re.findall(r"[a-z]+", name.lower()))


def same_entity(display: str, names: Iterable[str], other_cast_names: Iterable[str] = ()) -> bool:
    """Whether a report's entity (its display name) is the character known by ``names``:
    one of them exactly (titles and case aside), or words of one of them ("Stangerson"
    for "Joseph Stangerson") unless the display name is exactly another cast member's."""
    names = [n for n in names if n]
    if _key(display) in {_key(n) for n in names}:
        return True
    if _key(display) in {_key(n) for n in other_cast_names}:
        return False
    words = _words(display)
    return bool(words) and any(words <= _words(n) for n in names)


PROBE = 50


def passage_probes(passage: str) -> set[str]:
    """The passage's first and last PROBE characters (normalized): a chunk holding either
    holds (part of) the passage. The set's test checks no book holds them of its own."""
    flat = norm(passage)
    return {flat[:PROBE], flat[-PROBE:]}


def passage_chunks(chunks: Mapping[int, str], passage: str) -> list[int]:
    """The chunks holding the passage (its start or its end; both chunks when it straddles
    a boundary)."""
    probes = passage_probes(passage)
    return sorted(i for i, text in chunks.items() if any(p in norm(text) for p in probes))


@dataclass
class Outcome:
    """How the reports on one book fall against its injections."""

    found: dict[str, list[int]] = field(default_factory=dict)  # injection id -> indices of reports finding it
    flagged: dict[str, list[int]] = field(default_factory=dict)  # control id -> indices of reports on it
    false: list[int] = field(default_factory=list)  # indices of reports finding no injection


def injection_names(inj: Injection, cast: Mapping[str, list[str]]) -> list[str]:
    names = [inj.entity, *inj.aliases, *cast.get(inj.entity, [])]
    if inj.other:
        names += [inj.other, *cast.get(inj.other, [])]
    return names


def report_finds(report: Mapping[str, Any], inj: Injection, chunks: Sequence[int], names: list[str], others: list[str]) -> bool:
    cited = (report.get("fact") or {}).get("chunk")
    if inj.control or (report.get("chunk") not in chunks and (inj.kind == "dead" or cited not in chunks)):
        return False
    group = GROUP_OF[inj.kind]
    if report.get("kind") != REPORT_KIND[group]:
        return False
    fact_kind = (report.get("fact") or {}).get("kind")
    if fact_kind is not None and fact_kind not in FACT_KINDS[inj.kind]:
        return False
    return same_entity(str(report.get("entity", "")), names, others)


def match_reports(
    reports: Sequence[Mapping[str, Any]],
    injections: Sequence[Injection],
    placed: Mapping[str, Sequence[int]],
    cast: Mapping[str, list[str]] | None = None,
) -> Outcome:
    """Match one book's reports to its injections and controls (see the module docstring)."""
    cast = cast or {}
    out = Outcome(found={i.id: [] for i in injections if not i.control}, flagged={i.id: [] for i in injections if i.control})
    names = {i.id: injection_names(i, cast) for i in injections}
    all_cast = [n for v in cast.values() for n in v] + list(cast)
    others = {i.id: [n for n in all_cast if n not in names[i.id]] for i in injections}
    for r_idx, report in enumerate(reports):
        hits = [i for i in injections if report_finds(report, i, placed.get(i.id, ()), names[i.id], others[i.id])]
        for inj in hits:
            out.found[inj.id].append(r_idx)
        if hits:
            continue
        out.false.append(r_idx)
        for inj in injections:
            if (
                inj.control
                and report.get("chunk") in placed.get(inj.id, ())
                and same_entity(str(report.get("entity", "")), names[inj.id], others[inj.id])
            ):
                out.flagged[inj.id].append(r_idx)
    return out


@dataclass
class KindScore:
    injections: int = 0
    found: int = 0
    reports: int = 0
    true_reports: int = 0

    @property
    def precision(self) -> float | None:
        return self.true_reports / self.reports if self.reports else None

    @property
    def recall(self) -> float | None:
        return self.found / self.injections if self.injections else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return (
            2 * p * r / (p + r)
            if p is not None and r is not None and p + r
            else (0.0 if p is not None and r is not None else None)
        )


def score(runs: Sequence[tuple[Sequence[Injection], Sequence[Mapping[str, Any]], Outcome]]) -> dict[str, KindScore]:
    """Per kind group and "all": injections found and reports that find one."""
    scores = {g: KindScore() for g in (*GROUPS, "all")}
    for injections, reports, outcome in runs:
        for inj in injections:
            if inj.control:
                continue
            for g in (GROUP_OF[inj.kind], "all"):
                scores[g].injections += 1
                scores[g].found += bool(outcome.found.get(inj.id))
        true = {r for ids in outcome.found.values() for r in ids}
        for r_idx, report in enumerate(reports):
            group = next((g for g, k in REPORT_KIND.items() if k == report.get("kind")), "all")
            for g in {group, "all"}:
                scores[g].reports += 1
                scores[g].true_reports += r_idx in true
    return scores


# --------------------------------------------------------------------------- running one book


@dataclass
class BookRun:
    book: int
    edited: bool
    title: str = ""
    chunks: int = 0
    chars: int = 0
    ingest_s: float = 0.0
    check_s: float = 0.0
    reports: list[dict[str, Any]] = field(default_factory=list)
    placed: dict[str, list[int]] = field(default_factory=dict)
    error: str = ""


def load_cast(book: int) -> dict[str, list[str]]:
    """Character name -> aliases from books/casts/pgBOOK.toml ({} when there is none)."""
    path = CASTS / f"pg{book}.toml"
    if not path.is_file():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {str(c["name"]): [str(a) for a in c.get("aliases", [])] for c in data.get("characters", [])}


def read_chunks(store: Path) -> dict[int, str]:
    con = sqlite3.connect(f"file:{store / 'state.sqlite'}?mode=ro", uri=True)
    try:
        return {int(i): str(t) for i, t in con.execute("SELECT idx, text FROM chunks ORDER BY idx")}
    finally:
        con.close()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def _run(cmd: list[str], what: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    if proc.returncode not in ok:
        tail = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {tail}")
    return proc


def _book_text(book: int, injections: Sequence[Injection], edited: bool, shared: Path) -> str:
    src = book_path(book, shared)
    if not src.is_file():
        raise InjectError(f"book {book}: {src} does not exist")
    text = src.read_text(encoding="utf-8")
    return inject_text(text, list(injections)) if edited else text


def run_book(
    book: int,
    injections: Sequence[Injection],
    edited: bool,
    cmd: str = DEFAULT_CMD,
    shared: Path = SHARED,
    homes: Path | None = None,
) -> BookRun:
    """Ingest one book (edited with its injections, or as it is) and check it. With
    ``homes``, the store is kept in ``homes/STORY`` and reused while the book's text is
    the same (the check runs again; the ingest does not)."""
    out = BookRun(book, edited)
    prefix = shlex.split(cmd)
    story = f"pg{book}-edited" if edited else f"pg{book}"
    with tempfile.TemporaryDirectory(prefix="automuse-continuity-") as tmp:
        root = homes / story if homes else Path(tmp)
        try:
            text = _book_text(book, injections, edited, shared)
            path, home = root / f"{story}.txt", root / "home"
            manifest = home / "stores" / story / "story.json"
            same = path.is_file() and path.read_bytes() == text.encode("utf-8")
            if not (same and manifest.is_file() and '"complete": true' in manifest.read_text(encoding="utf-8")):
                shutil.rmtree(home, ignore_errors=True)
                root.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8", newline="")
                t0 = time.perf_counter()
                ingest = [*prefix, "--home", str(home), "ingest", str(path), "--story", story, "--llm", "extractive"]
                _run([*ingest, "--embedder", "hash", "--json"], f"ingest of {book}")
                out.ingest_s = time.perf_counter() - t0
            chunks = read_chunks(home / "stores" / story)
            out.chunks, out.chars = len(chunks), sum(len(t) for t in chunks.values())
            t0 = time.perf_counter()
            check = [*prefix, "--home", str(home), "continuity", "--story", story, "--json"]
            proc = _run(check, f"continuity on {book}", ok=(0, 1))
            out.check_s = time.perf_counter() - t0
            reports = json.loads(proc.stdout or "[]")
            if not isinstance(reports, list):
                raise RuntimeError(f"continuity on {book}: --json printed {type(reports).__name__}, not a list")
            out.reports = reports
            for inj in injections:
                out.placed[inj.id] = passage_chunks(chunks, inj.passage)
                if edited and not out.placed[inj.id]:
                    raise RuntimeError(f"{inj.id}: its passage is in no chunk of the ingested book")
        except (RuntimeError, InjectError, OSError, sqlite3.Error, json.JSONDecodeError) as exc:
            out.error = str(exc)
    return out


# --------------------------------------------------------------------------- speed


def measure_speed(books: Sequence[int], max_chars: int = 300_000, shared: Path = SHARED) -> dict[str, float]:
    """Chars/s of the NER pass (lore.ner's pipeline over the chunks) and of extract_facts
    over its docs, warm (models loaded before timing)."""
    from automuse_rag.books import read_book_file
    from automuse_rag.lore.ner import get_nlp
    from automuse_rag.text.chunk import chunk_book

    # the facts helper's module (issue 26), looked up by name so this file imports before it lands
    extract_facts = importlib.import_module("automuse_rag.lore.facts").extract_facts
    nlp = get_nlp()
    texts: list[str] = []
    for book in books:
        chunks = chunk_book(read_book_file(book_path(book, shared)), f"pg{book}")
        size = 0
        for c in chunks:
            if size >= max_chars:
                break
            texts.append(c.text)
            size += len(c.text)
    for d in nlp.pipe(texts[:2]):
        extract_facts(d, 0)
    t0 = time.perf_counter()
    docs = list(nlp.pipe(texts, batch_size=16))
    ner_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    facts = sum(len(extract_facts(d, i)) for i, d in enumerate(docs))
    facts_s = time.perf_counter() - t0
    chars = sum(len(t) for t in texts)
    return {"chars": chars, "ner_s": ner_s, "facts_s": facts_s, "facts": facts}


# --------------------------------------------------------------------------- report


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _snip(text: object, n: int = 110) -> str:
    s = re.sub(r"\s+", " ", str(text)).strip().replace("|", "/")
    return s if len(s) <= n else s[: n - 1] + "…"


Row = tuple[BookRun, list[Injection], Outcome]


def render_half(name: str, rows: Sequence[Row], show_cases: bool) -> list[str]:
    scores = score([(inj, run.reports, out) for run, inj, out in rows])
    goals = {"all": "P >= 0.9, R >= 0.7"}
    row = "| {} | {} | {} | {} | {} | {} | {} | {} | {} |"
    lines = [
        f"**{name} half ({len(rows)} edited books), totals:**",
        "",
        "| kind | injections | found | recall | reports | reports finding one | precision | F1 | goal |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for g in (*GROUPS, "all"):
        s = scores[g]
        if g != "all" and not s.injections and not s.reports:
            continue
        lines.append(
            row.format(
                g, s.injections, s.found, _f(s.recall), s.reports, s.true_reports, _f(s.precision), _f(s.f1), goals.get(g, "")
            )
        )
    controls = sum(1 for _, inj, _ in rows for i in inj if i.control)
    flagged = sum(1 for _, _, out in rows for ids in out.flagged.values() if ids)
    chunks = sum(run.chunks for run, _, _ in rows)
    false = sum(len(out.false) for _, _, out in rows)
    lines += [
        "",
        f"Hard negatives (legitimate later mentions) flagged: {flagged}/{controls}. "
        f"Reports finding no injection on the edited books: {false} over {chunks} chunks "
        f"({100 * false / chunks if chunks else 0:.2f} per 100 chunks).",
        "",
        "| book | chunks | ingest s | check s | injections found | reports | finding none | hard negatives flagged |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run, inj, out in rows:
        n = sum(not i.control for i in inj)
        found = sum(bool(v) for v in out.found.values())
        ctl = sum(i.control for i in inj)
        lines.append(
            f"| {run.book} | {run.chunks} | {run.ingest_s:.0f} | {run.check_s:.0f} | {found}/{n} | {len(run.reports)} | {len(out.false)} | "
            f"{sum(bool(v) for v in out.flagged.values())}/{ctl} |"
        )
    if show_cases:
        lines += ["", f"Cases in the {name} half (may be studied):", ""]
        for run, inj, out in rows:
            by_id = {i.id: i for i in inj}
            missed = [i for i, v in out.found.items() if not v]
            lines.append(f"- {run.book}: missed " + (", ".join(f"{i} ({by_id[i].entity})" for i in missed) if missed else "none"))
            for i, v in out.flagged.items():
                if v:
                    lines.append(f"  - hard negative {i} flagged: {_snip(run.reports[v[0]].get('text'))}")
            for r in out.false[:15]:
                rep = run.reports[r]
                fact = rep.get("fact") or {}
                lines.append(
                    f"  - false alarm chunk {rep.get('chunk')} {rep.get('kind')} {rep.get('entity')}: {_snip(rep.get('text'))} "
                    f"(breaks chunk {fact.get('chunk')}: {_snip(fact.get('text'), 80)})"
                )
            if len(out.false) > 15:
                lines.append(f"  - … {len(out.false) - 15} more false alarms")
    return lines + [""]


def render_controls(runs: Sequence[BookRun], halves: Mapping[str, list[int]]) -> list[str]:
    chunks = sum(r.chunks for r in runs)
    reports = sum(len(r.reports) for r in runs)
    kinds: dict[str, int] = {}
    for r in runs:
        for rep in r.reports:
            kinds[str(rep.get("kind"))] = kinds.get(str(rep.get("kind")), 0) + 1
    lines = [
        f"**Unedited control books ({len(runs)}): {reports} reports over {chunks} chunks = "
        f"{100 * reports / chunks if chunks else 0:.2f} false alarms per 100 chunks** (goal <= 1)"
        + (" — by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) if kinds else ""),
        "",
        "| book | half | chunks | reports | per 100 chunks |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in runs:
        half = next((h for h, b in halves.items() if r.book in b), "neither")
        lines.append(
            f"| {r.book} | {half} | {r.chunks} | {len(r.reports)} | {100 * len(r.reports) / r.chunks if r.chunks else 0:.2f} |"
        )
    cases = [r for r in runs if r.reports and r.book not in halves.get("test", [])]
    if cases:
        lines += ["", "False alarms on control books outside the test half (may be studied):", ""]
        for r in cases:
            for rep in r.reports[:10]:
                lines.append(
                    f"- {r.book} chunk {rep.get('chunk')} {rep.get('kind')} {rep.get('entity')}: {_snip(rep.get('text'))}"
                )
            if len(r.reports) > 10:
                lines.append(f"- {r.book}: … {len(r.reports) - 10} more")
    return lines + [""]


def render_speed(speed: Mapping[str, float], books: Sequence[int]) -> list[str]:
    ner, facts = speed["chars"] / speed["ner_s"], speed["chars"] / max(speed["facts_s"], 1e-9)
    return [
        f"**Fact extraction speed** (books {', '.join(map(str, books))}, {speed['chars']:.0f} chars, {speed['facts']:.0f} facts): "
        f"NER pass {ner:,.0f} chars/s, fact extraction {facts:,.0f} chars/s; fact extraction takes "
        f"{speed['facts_s'] / speed['ner_s']:.2f}x the NER pass's time (goal <= 1).",
        "",
    ]


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", choices=("test", "dev", "both"), default="both")
    parser.add_argument("--jobs", type=int, default=2, help="books ingested and checked at once")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--books", type=int, nargs="*", help="only these books (edited and control)")
    parser.add_argument("--no-controls", action="store_true", help="skip the unedited control books")
    parser.add_argument("--no-speed", action="store_true", help="skip the fact extraction speed")
    parser.add_argument("--speed-books", type=int, nargs="*", default=[84, 1342])
    parser.add_argument(
        "--homes",
        type=Path,
        help="keep each book's store in DIR/STORY and reuse it while the book's text is unchanged "
        "(delete DIR after changing how facts are extracted at ingest)",
    )
    parser.add_argument("--injections", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--continuity-cmd", default=DEFAULT_CMD, help=argparse.SUPPRESS)
    parser.add_argument("--shared", type=Path, default=SHARED, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        sets: InjectionSet = load_injections(args.injections) if args.injections else load_injections()
    except (InjectError, OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    halves = ["test", "dev"] if args.half == "both" else [args.half]
    wanted = set(args.books) if args.books else None
    edited = {h: [b for b in sets.books() if sets.half_of(b) == h and (wanted is None or b in wanted)] for h in halves}
    controls = [] if args.no_controls else [b for b in sets.controls if wanted is None or b in wanted]
    tasks = [(b, True) for h in halves for b in edited[h]] + [(b, False) for b in controls]
    load = f"{os.getloadavg()[0]:.1f}"
    t0 = time.perf_counter()

    def task(item: tuple[int, bool]) -> BookRun:
        book, is_edited = item
        mine = [i for i in sets.injections if i.book == book] if is_edited else []
        run = run_book(book, mine, is_edited, args.continuity_cmd, args.shared, args.homes)
        print(
            f"{book}{' (edited)' if is_edited else ''}: {run.error or f'{run.chunks} chunks, {len(run.reports)} reports'}",
            file=sys.stderr,
        )
        return run

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        runs = list(pool.map(task, tasks))
    failed = [r for r in runs if r.error]
    for r in failed:
        print(f"error: book {r.book}: {r.error}", file=sys.stderr)
    if failed:
        return 1
    by_book = {(r.book, r.edited): r for r in runs}
    speed = None
    if not args.no_speed:
        try:
            speed = measure_speed(args.speed_books, shared=args.shared)
        except ImportError as exc:
            print(f"error: fact extraction speed: {exc}", file=sys.stderr)
            return 1
    minutes = (time.perf_counter() - t0) / 60
    counts = {h: sum(1 for b in edited[h] for i in sets.injections if i.book == b and not i.control) for h in halves}
    lines = [
        "",
        f"Command: `.venv/bin/python benchmarks/continuity.py --half {args.half} --jobs {args.jobs}"
        + (f" --books {' '.join(map(str, args.books))}" if args.books else "")
        + f"` (extractive ingest, `--embedder hash`, then `automuse continuity --json`; {minutes:.0f} min, load average {load} at start). "
        f"Plot-hole set: {_shown(args.injections or INJECTIONS)} ({', '.join(f'{h} {counts[h]}' for h in halves)} injected contradictions; "
        "see docs/continuity.md). Test half first; its cases are not printed.",
        "",
    ]
    for h in halves:
        rows: list[Row] = []
        for b in edited[h]:
            run = by_book[(b, True)]
            mine = [i for i in sets.injections if i.book == b]
            rows.append((run, mine, match_reports(run.reports, mine, run.placed, load_cast(b))))
        lines += render_half(h, rows, show_cases=h == "dev")
    if controls:
        lines += render_controls([by_book[(b, False)] for b in controls], sets.halves)
    if speed:
        lines += render_speed(speed, args.speed_books)
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(REPO / "docs" / "benchmarks.md", "bench:continuity", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
