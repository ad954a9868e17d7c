"""Write the plot-hole set's edited books: each shared Gutenberg novel with the passages
of books/continuity/injections.toml inserted after their anchor paragraphs.

An injection names a fact the book states (``fact``: a short quote of its sentence), an
anchor well after it (``anchor``: a short quote of the paragraph after which the
passage goes) and the passage (our own prose) that breaks the fact, or, for a control
(``control = true``), mentions it legitimately (mourning, a memory, "the late X").
Quotes are matched with whitespace, line breaks and curly quotes ignored; a quote that
is not found, or found more than once, is an error naming the injection.

Run: .venv/bin/python benchmarks/inject.py [--out DIR] [--books 244 514]
Prints one line per edited book: its id, the number of passages and the file written.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AUTOMUSE_SHARED_DATA", REPO.parent / "shared" / "data"))
INJECTIONS = REPO / "books" / "continuity" / "injections.toml"
SPLIT = REPO / "books" / "casts" / "split.toml"
KINDS = ("dead", "eyes", "hair", "kin", "place")
#: Characters between the fact's sentence and the anchor: more than a chunk (1500), so
#: the passage lands in a later chunk than the fact.
MIN_GAP = 3000
#: Characters between two passages of one book, so each lands in chunks of its own.
MIN_APART = 1500


class InjectError(Exception):
    """A list entry that cannot be applied (the message names it)."""


@dataclass(frozen=True)
class Injection:
    id: str
    book: int
    kind: str
    entity: str
    fact: str
    anchor: str
    passage: str
    control: bool = False
    other: str = ""  # kin: the second person of the tie
    aliases: tuple[str, ...] = ()


@dataclass
class InjectionSet:
    injections: list[Injection]
    halves: dict[str, list[int]]  # "test"/"dev" -> books (the cast split plus the list's extras)
    controls: list[int]  # unedited books, for false alarms
    notes: dict[str, str] = field(default_factory=dict)

    def half_of(self, book: int) -> str:
        for half, books in self.halves.items():
            if book in books:
                return half
        raise InjectError(f"book {book} is in neither half of the split")

    def books(self) -> list[int]:
        return sorted({i.book for i in self.injections})


def load_injections(path: Path = INJECTIONS, split: Path = SPLIT) -> InjectionSet:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    halves_raw = tomllib.loads(split.read_text(encoding="utf-8")) if split.is_file() else {"dev": [], "test": []}
    extra = data.get("split", {})
    halves = {h: [int(b) for b in halves_raw.get(h, [])] + [int(b) for b in extra.get(h, [])] for h in ("test", "dev")}
    out: list[Injection] = []
    seen: set[str] = set()
    for raw in data.get("injection", []):
        inj = Injection(
            id=str(raw["id"]),
            book=int(raw["book"]),
            kind=str(raw["kind"]),
            entity=str(raw["entity"]),
            fact=str(raw["fact"]),
            anchor=str(raw["anchor"]),
            passage=str(raw["passage"]).strip(),
            control=bool(raw.get("control", False)),
            other=str(raw.get("other", "")),
            aliases=tuple(str(a) for a in raw.get("aliases", [])),
        )
        if inj.id in seen:
            raise InjectError(f"{inj.id}: id used twice")
        if inj.kind not in KINDS:
            raise InjectError(f"{inj.id}: kind {inj.kind!r} is not one of {', '.join(KINDS)}")
        seen.add(inj.id)
        out.append(inj)
    result = InjectionSet(out, halves, [int(b) for b in data.get("controls", {}).get("books", [])])
    for inj in out:
        result.half_of(inj.book)
    return result


_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\ufeff": " "})


def normalized(text: str) -> tuple[str, list[int]]:
    """``text`` with curly quotes made straight and every whitespace run one space, and
    for each character of the result its offset in ``text``."""
    chars: list[str] = []
    where: list[int] = []
    space = False
    for i, ch in enumerate(text.translate(_QUOTES)):
        if ch.isspace():
            if not space and chars:
                chars.append(" ")
                where.append(i)
            space = True
            continue
        space = False
        chars.append(ch)
        where.append(i)
    return "".join(chars), where


def norm(text: str) -> str:
    return normalized(text)[0].strip()


def locate(text: str, quote: str, what: str, flat: tuple[str, list[int]] | None = None) -> int:
    """Offset in ``text`` where ``quote`` starts; it must occur exactly once."""
    body, where = flat or normalized(text)
    q = norm(quote)
    first = body.find(q)
    if not q or first < 0:
        raise InjectError(f"{what} not found: {quote!r}")
    if body.find(q, first + 1) >= 0:
        raise InjectError(f"{what} found more than once (quote more of it): {quote!r}")
    return where[first]


_BLANK = re.compile(r"\r?\n[ \t]*\r?\n")


def paragraph_end(text: str, pos: int) -> int:
    """The end of the paragraph holding ``pos`` (where its blank line begins)."""
    m = _BLANK.search(text, pos)
    return m.start() if m else len(text)


def inject_text(text: str, injections: list[Injection]) -> str:
    """``text`` with each passage inserted as its own paragraph after its anchor's."""
    flat = normalized(text)
    newline = "\r\n" if "\r\n" in text[:5000] else "\n"
    inserts: list[tuple[int, int, str]] = []
    for n, inj in enumerate(injections):
        fact_at = locate(text, inj.fact, f"{inj.id}: fact quote", flat)
        anchor_at = locate(text, inj.anchor, f"{inj.id}: anchor quote", flat)
        if anchor_at - fact_at < MIN_GAP:
            raise InjectError(
                f"{inj.id}: the anchor must come at least {MIN_GAP} characters after the fact (it is {anchor_at - fact_at})"
            )
        end = paragraph_end(text, anchor_at)
        if text[anchor_at:end].rstrip().endswith((":", ":\u2014", ":--")):
            raise InjectError(
                f"{inj.id}: the anchor paragraph ends with a colon; the passage would part it from what it introduces"
            )
        inserts.append((end, n, inj.passage))
    inserts.sort()
    for (a, i, _), (b, j, _) in zip(inserts, inserts[1:]):
        if b - a < MIN_APART:
            raise InjectError(
                f"{injections[j].id}: its passage would be {b - a} characters after {injections[i].id}'s (keep them {MIN_APART} apart)"
            )
    for at, _, passage in reversed(inserts):
        text = f"{text[:at]}{newline}{newline}{passage}{text[at:]}"
    return text


def book_path(book: int, shared: Path = SHARED) -> Path:
    return shared / "gutenberg" / "cache" / "epub" / str(book) / f"pg{book}.txt"


def write_edited(book: int, injections: list[Injection], out_dir: Path, shared: Path = SHARED) -> Path:
    """Write ``book`` with its injections applied to ``out_dir/pgBOOK-edited.txt``."""
    src = book_path(book, shared)
    if not src.is_file():
        raise InjectError(f"book {book}: {src} does not exist")
    text = src.read_text(encoding="utf-8")
    mine = [i for i in injections if i.book == book]
    edited = inject_text(text, mine)
    out = out_dir / f"pg{book}-edited.txt"
    out.write_text(edited, encoding="utf-8", newline="")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="directory for the edited books (default: a new temp dir)")
    parser.add_argument("--books", type=int, nargs="*", help="only these books")
    parser.add_argument("--injections", type=Path, default=INJECTIONS)
    args = parser.parse_args(argv)
    try:
        sets = load_injections(args.injections)
        out = args.out or Path(tempfile.mkdtemp(prefix="automuse-plotholes-"))
        out.mkdir(parents=True, exist_ok=True)
        for book in sets.books():
            if args.books and book not in args.books:
                continue
            mine = [i for i in sets.injections if i.book == book]
            path = write_edited(book, mine, out)
            print(f"{book}\t{len(mine)}\t{path}")
    except (InjectError, OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
