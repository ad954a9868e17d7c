"""The wide cast benchmark: offline lore against hand-written casts of 30 novels,
split into a development half and a test half (books/casts/split.toml).

The split was committed before any rule was changed for these books. Rules may be
written and tuned against the development half only; the test half is run to report
its totals, test first, and its per-case errors are never printed (so nobody fixes
a rule for one of them). A rule that helps development but not test was fitted to
its cases.

Per book, from an extractive ingest's analyses (spaCy NER + dependency parse, no
model) folded into entities as the store reads them:

- main characters as one entity: a main (non-minor) cast character whose names
  present in the text are all held by one entity that holds no other member's names;
- merges of two main characters: one entity holding the names of two main characters;
- entity precision: of the entities holding any cast name, those holding one
  member's names and being that member's only entity;
- junk: character entities, mentioned in 3 or more chunks, whose name is a cast
  name glued to something that is not part of a name ("Bring Jane", "Van Helsing,
  Art", "I. Bessie") or a cast name in capitals ("LUCY"), over such entities;
- alias recall: of each cast member's forms present in the text, the share held by
  the member's main entity (the one holding most of its forms);
- relation coverage: of the kinship, marriage and service ties the cast lists
  between its characters, those the graph labels (an extracted relation between the
  two members' entities, either direction, any via, a keyword in its label);
- the model pass over candidate merges (``automuse characters --review``): the pairs it
  would ask, and main characters as one entity after it with a judge that is always
  right (a bound), one that always says yes (its cost without a capable model) and,
  with ``--judge LLM``, that chat model (its answers right, main as one, merges).

Run: .venv/bin/python benchmarks/cast.py [--half test|dev|both] [--jobs 2] [--no-write] [--judge LLM]
Writes its figures between the bench:cast markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
import tempfile
import time
import tomllib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from cast_forms import CLASSES, stray_forms  # noqa: E402
from guard_thresholds import write_section  # noqa: E402  (the project's section writer)

SHARED = Path(os.environ.get("AUTOMUSE_SHARED_DATA", REPO.parent / "shared" / "data"))
CASTS = REPO / "books" / "casts"
SPLIT = CASTS / "split.toml"
MIN_JUNK_CHUNKS = 3
QUESTIONS = 50  # pairs a model judge is asked per book, as `characters --review` asks by default


def load_split() -> dict[str, list[int]]:
    data = tomllib.loads(SPLIT.read_text(encoding="utf-8"))
    return {"dev": [int(i) for i in data["dev"]], "test": [int(i) for i in data["test"]]}


def book_path(book: int) -> Path:
    return SHARED / "gutenberg" / "cache" / "epub" / str(book) / f"pg{book}.txt"


@dataclass
class BookScore:
    book: int
    title: str
    chunks: int = 0
    seconds: float = 0.0
    main: int = 0
    main_exact: int = 0
    main_merges: int = 0
    with_cast_names: int = 0
    correct_entities: int = 0
    junk: int = 0
    junk_of: int = 0
    forms: int = 0
    forms_held: int = 0
    ties: int = 0
    ties_labelled: int = 0
    main_tangled: int = 0  # main characters not one entity because an entity holds another member's name too
    asked: int = 0  # pairs the model pass (lore/review.py) would put to a model
    main_right: int = 0  # main characters as one entity after it, with a judge always right
    main_yes: int = 0  # ... with a judge that always says yes
    merges_yes: int = 0  # merges of two main characters with that judge
    model_asked: int = 0  # with --judge MODEL: the pairs it was asked (at most QUESTIONS a book)
    model_right: int = 0  # its answers that were right
    main_model: int = 0  # main characters as one entity after its answers
    merges_model: int = 0
    relations: int = 0
    stray: Counter[str] = field(default_factory=Counter)  # main characters' forms held apart, by class (cast_forms.py)
    errors: list[str] = field(default_factory=list)  # per-case; printed for the development half only


def _words(name: str) -> list[str]:
    return re.findall(r"[\w’']+", name)


#: Words that stand before a name as part of how people are called ("Old Sapt", "Cap'n Flint").
FORM_WORDS = {
    "Old", "Young", "Little", "Cousin", "Uncle", "Aunt", "Master", "Mester", "Mistress", "Cap'n", "Squire",
    "Major", "General", "Colonel", "Professor", "Father", "Mother", "Brother", "Sister", "Granny", "Miss",
    "Saint", "St", "King", "Queen", "Prince", "Princess", "Duke", "Count", "Countess", "Baron", "Signor",
    "Mr", "Mrs", "Ms", "Dr", "Doctor", "Lady", "Lord", "Sir", "Madame", "Monsieur", "Captain", "Mister", "de", "van", "der", "von",
}  # fmt: skip


def _given_name(word: str) -> bool:
    """A word the nickname data knows as a given name or a nickname of one."""
    from automuse_rag.lore.nicknames import nickname_keys

    return len(nickname_keys(word)) > 1 or word.lower() in _given_names()


def _given_names() -> frozenset[str]:
    from nicknames import NickNamer

    lookup = NickNamer.default_lookup()
    return frozenset(lookup) | frozenset(n for v in lookup.values() for n in v)


def is_junk(name: str, cast_names: set[str]) -> bool:
    """A cast name glued to a word that is no part of a name ("Bring Jane", "Which
    Louisa", "Holmes Gives"), two names joined by a comma, or a cast name in capitals.
    A given name, a title or a word of another cast name is part of a name."""
    if name in cast_names:
        return False
    if name.isupper() and any(name == n.upper() for n in cast_names if len(n) > 2):
        return True
    if "," in name:
        return True
    words = _words(name)
    cast_words = {w for n in cast_names for w in _words(n)}
    for n in cast_names:
        inner = _words(n)
        if not inner or len(inner) >= len(words):
            continue
        for start in range(len(words) - len(inner) + 1):
            if words[start : start + len(inner)] == inner:
                extra = words[:start] + words[start + len(inner) :]
                if any(w.rstrip(".") not in FORM_WORDS and w not in cast_words and not _given_name(w) for w in extra):
                    return True
    return False


def score_book(book: int, model: str | None = None) -> BookScore:
    from automuse_rag.memory.evaluate import analyse_book, load_cast, lore_of, occurs, score_cast
    from automuse_rag.settings import get_settings

    cast = load_cast(CASTS / f"pg{book}.toml")
    path = book_path(book)
    out = BookScore(book, cast.title)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        analyses = analyse_book(str(path), get_settings(home=tmp))
        entities, relations = lore_of(analyses)
        out.seconds = time.perf_counter() - t0
    text = path.read_text(encoding="utf-8")
    out.chunks, out.relations = len(analyses), len(relations)
    sc = score_cast(entities, cast, text)
    out.main, out.main_exact = sc.main, sc.main_exact
    out.with_cast_names, out.correct_entities = sc.entities_with_cast_names, sc.correct_entities
    out.main_merges = _main_merges(sc.merges, cast)
    out.main_tangled = _tangled(sc.main_not_exact, entities, cast, text)
    out.stray = stray_forms(entities, cast, text)
    for judge in ("right", "yes", *([model] if model else [])):
        judged_ents, asked, right = judged(entities, analyses, cast, text, judge)
        jsc = score_cast(judged_ents, cast, text)
        if judge == "right":
            out.asked, out.main_right = asked, jsc.main_exact
        elif judge == "yes":
            out.main_yes, out.merges_yes = jsc.main_exact, _main_merges(jsc.merges, cast)
        else:
            out.model_asked, out.model_right = asked, right
            out.main_model, out.merges_model = jsc.main_exact, _main_merges(jsc.merges, cast)
    out.errors += [f"split {x}" for x in sc.splits] + [f"merge {x}" for x in sc.merges]
    out.errors += [f"not one entity: {x}" for x in sc.main_not_exact if not any(x in e for e in out.errors)]
    cast_names = {n for m in cast.members for n in m.names}
    for e in entities:
        if e.kind == "character" and len(e.mentions) >= MIN_JUNK_CHUNKS:
            names = [n for n in e.aliases if n not in cast_names]
            if any(n in cast_names for n in e.aliases) or any(is_junk(n, cast_names) for n in names):
                out.junk_of += 1
                bad = [n for n in names if is_junk(n, cast_names)]
                if bad:
                    out.junk += 1
                    out.errors.append(f"junk {e.name!r} ({', '.join(bad[:3])})")
    for m in cast.members:
        present = [n for n in m.names if occurs(n, text)]
        if not present:
            continue
        held = {e.id: sum(n in e.aliases for n in present) for e in entities}
        best = max(held.values(), default=0)
        out.forms += len(present)
        out.forms_held += best
    members = {m.name: m for m in cast.members}
    by_id = {e.id: e for e in entities}
    for tie in cast.relations:
        out.ties += 1
        a, b = _main_entity(entities, members[tie.source], text), _main_entity(entities, members[tie.target], text)
        if a is None or b is None or a == b:
            continue
        if any({r.source, r.target} == {a, b} and any(k.lower() in r.label.lower() for k in tie.keywords) for r in relations):
            out.ties_labelled += 1
        else:
            out.errors.append(f"tie not labelled: {tie.source} {tie.label} {tie.target} ({by_id[a].name} / {by_id[b].name})")
    return out


def _tangled(missed: list[str], entities, cast, text: str) -> int:
    """Of the main characters not one entity, those some entity holding their names
    shares with another member's names (the rest are split only)."""
    from automuse_rag.memory.evaluate import occurs

    present = {m.name: {n for n in m.names if occurs(n, text)} for m in cast.members}
    count = 0
    for name in missed:
        for e in entities:
            if present[name] & set(e.aliases) and any(present[o] & set(e.aliases) for o in present if o != name):
                count += 1
                break
    return count


def _main_merges(merges: list[str], cast) -> int:
    main_names = {m.name for m in cast.members if m.kind == "character" and not m.minor}
    return sum(sum(m in main_names for m in merge.split(" (as ")[0].split(" + ")) >= 2 for merge in merges)


def judged(entities, analyses, cast, text: str, judge: str):
    """Copies of ``entities`` after the model pass over candidate merges (lore/review.py:
    the pairs asked, the answers accepted as ``automuse characters --review --apply``
    accepts them), with a judge that answers from the cast (``right``: right whenever
    both entities hold names of one member only, a bound on what a model can add), one
    that always says ``yes`` (what the pass costs with a model that cannot tell), or a
    chat model (any other ``judge``: an ``--llm`` spec, asked about the first
    :data:`QUESTIONS` pairs as the command asks); and the number of pairs asked and
    of the judge's answers that were right."""
    import copy

    from automuse_rag.lore.resolve import collect
    from automuse_rag.lore.review import accepted, merge_candidates
    from automuse_rag.memory.evaluate import occurs

    ents = copy.deepcopy(entities)
    chars = {e.id: e for e in ents if e.kind == "character"}
    stats = collect([(c, a.mentions) for c, a in analyses])
    distinct = [p for _, a in analyses for p in a.distinct]
    found = merge_candidates(
        {i: list(e.aliases) for i, e in chars.items()}, {i: e.name for i, e in chars.items()}, stats, distinct
    )
    owners: dict[str, set[str]] = {}
    for m in cast.members:
        for n in m.names:
            if occurs(n, text):
                owners.setdefault(n, set()).add(m.name)

    def who(eid: str) -> set[str]:
        return {o for a in chars[eid].aliases for o in owners.get(a, ())}

    truth = {c: len(who(c.a)) == 1 and who(c.a) == who(c.b) for c in found}
    if judge in ("right", "yes"):
        verdicts = [(c, judge == "yes" or truth[c]) for c in found]
    else:
        from automuse_rag.memory.review import judge as ask
        from automuse_rag.models.registry import get_chat_model
        from automuse_rag.settings import get_settings

        found = found[:QUESTIONS]
        llm = get_chat_model(judge, get_settings(), cache=False)
        by_id = {e.id: e for e in ents}
        verdicts = [(c, ask(llm, c, by_id).same) for c in found]
    root = {i: i for i in chars}

    def find(x: str) -> str:
        while root[x] != x:
            x = root[x]
        return x

    for c in accepted(verdicts):
        ra, rb = find(c.a), find(c.b)
        if ra != rb:
            root[ra] = rb
    for eid, e in list(chars.items()):
        into = chars[find(eid)]
        if into is not e:
            into.aliases.update(e.aliases)
            into.mentions = sorted(set(into.mentions) | set(e.mentions))
            ents.remove(e)
    return ents, len(found), sum(bool(v) == truth[c] for c, v in verdicts)


def _main_entity(entities, member, text: str) -> str | None:
    from automuse_rag.memory.evaluate import occurs

    present = [n for n in member.names if occurs(n, text)]
    held = sorted(((sum(n in e.aliases for n in present), e.id) for e in entities), reverse=True)
    return held[0][1] if held and held[0][0] > 0 else None


def _ratio(a: int, b: int) -> str:
    return f"{a}/{b} = {a / b:.2f}" if b else "n/a"


def render_half(name: str, rows: list[BookScore], show_cases: bool, judge: str | None = None) -> list[str]:
    tot = {
        k: sum(getattr(r, k) for r in rows)
        for k in BookScore.__dataclass_fields__
        if k not in ("book", "title", "errors", "stray")
    }
    stray = sum((r.stray for r in rows), Counter[str]())
    lines = [
        f"**{name} half ({len(rows)} books), totals:**",
        "",
        "| measure | value | goal (test half) |",
        "| --- | --- | --- |",
        f"| main characters as one entity | {_ratio(tot['main_exact'], tot['main'])} | >= 0.95 |",
        f"| merges of two main characters | {tot['main_merges']} | 0 |",
        f"| main characters not one entity: split only / sharing an entity with another member | "
        f"{tot['main'] - tot['main_exact'] - tot['main_tangled']} / {tot['main_tangled']} | |",
        f"| entity precision | {_ratio(tot['correct_entities'], tot['with_cast_names'])} | >= 0.95 |",
        f"| junk among cast-like entities | {_ratio(tot['junk'], tot['junk_of'])} | |",
        f"| alias recall | {_ratio(tot['forms_held'], tot['forms'])} | |",
        f"| relation coverage (kinship, marriage, service ties) | {_ratio(tot['ties_labelled'], tot['ties'])} | >= 0.6 |",
        f"| model pass (`characters --review`): pairs it would ask | {tot['asked']} ({tot['asked'] / max(1, len(rows)):.0f} per book) | |",
        f"| main characters as one entity after it, judge always right (a bound) | {_ratio(tot['main_right'], tot['main'])} | |",
        f"| after it, judge always saying yes: main as one / merges of two main | "
        f"{_ratio(tot['main_yes'], tot['main'])} / {tot['merges_yes']} | |",
    ]
    if tot["model_asked"]:
        lines += [
            f"| judge {judge}: answers right | {_ratio(tot['model_right'], tot['model_asked'])} | |",
            f"| after it, judge {judge}: main as one / merges of two main | "
            f"{_ratio(tot['main_model'], tot['main'])} / {tot['merges_model']} | |",
        ]
    lines += [
        "",
        f"Main characters' forms held apart from their main entity, by kind ({sum(stray.values())} in all; benchmarks/cast_forms.py):",
        "",
        "| kind of form | forms |",
        "| --- | --- |",
        *[f"| {c} | {stray[c]} |" for c in CLASSES if stray[c]],
    ]
    lines += [
        "",
        "| book | chunks | s | main as one | main merges | entity precision | junk | alias recall | ties labelled |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r.title} ({r.book}) | {r.chunks} | {r.seconds:.0f} | {r.main_exact}/{r.main} | {r.main_merges} | "
            f"{r.correct_entities}/{r.with_cast_names} | {r.junk}/{r.junk_of} | {r.forms_held}/{r.forms} | {r.ties_labelled}/{r.ties} |"
        )
    if show_cases:
        lines += ["", f"Errors in the {name} half (may be studied):", ""]
        for r in rows:
            lines.append(f"- {r.title}: " + ("; ".join(r.errors) if r.errors else "none"))
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", choices=("test", "dev", "both"), default="both")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--judge", metavar="LLM", help="also put the model pass's pairs to this chat model (an --llm spec)")
    args = parser.parse_args()
    split = load_split()
    halves = ["test", "dev"] if args.half == "both" else [args.half]
    load = f"{os.getloadavg()[0]:.1f}"
    t0 = time.perf_counter()
    results: dict[str, list[BookScore]] = {}
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for half in halves:
            results[half] = list(pool.map(functools.partial(score_book, model=args.judge), split[half]))
    minutes = (time.perf_counter() - t0) / 60
    lines = [
        "",
        f"Command: `.venv/bin/python benchmarks/cast.py --half {args.half} --jobs {args.jobs}"
        + (f" --judge {args.judge}" if args.judge else "")
        + "` "
        f"(extractive: spaCy NER + dependency parse, no model; {minutes:.0f} min, load average {load} at start). "
        "Test half first; its per-case errors are not printed.",
        "",
    ]
    for half in halves:
        lines += render_half(half, results[half], show_cases=half == "dev", judge=args.judge)
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(REPO / "docs" / "benchmarks.md", "bench:cast", text)


if __name__ == "__main__":
    main()
