"""Continuity of a stored story (``automuse continuity``): for each chunk, the sentences
that contradict state facts known before it (lore/continuity.py), each citing the fact
it breaks with that fact's own chunk and sentence.

Each chunk is checked against the facts in force after the chunk before it
(``story.at(i - 1).facts()``), their names resolved to entities as of the chunk itself
(the resolver :func:`resolver` builds from ``story.at(i)``), so a fact stated under
"Mina" holds "Mina Harker" to it once the lore knows them as one. The chunk's text is
parsed again with spaCy's NER pipeline (lore/ner.py), as ingest parsed it.

Kin is also known from the story's relations as of the chunk before (:func:`kin_known`):
a tie read off one sentence ("whose brother Dunstan") or by the family rule ("his
brother" with no one named near, lore/family.py), cited by the sentence it was read
from. Generation holds its chunks to the same ties (generate/continuity.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from automuse_rag.errors import InputError
from automuse_rag.lore.chunk_view import open_quote
from automuse_rag.lore.continuity import Contradiction, KnownFact, excludes, find_contradictions
from automuse_rag.lore.entity import Entity, Relation
from automuse_rag.lore.fact_words import INVERSE, KIN, MARRIED, kin_word
from automuse_rag.lore.facts import Fact
from automuse_rag.lore.family import FAMILY_ANY
from automuse_rag.lore.names import parse_name
from automuse_rag.lore.ner import get_nlp, ner_text
from automuse_rag.memory.api import AnalysedStory, StoryView
from automuse_rag.memory.snapshot import PositionError, StorySnapshot


def chunk_range(story: StoryView, start: int | None, end: int | None) -> tuple[int, int]:
    """``start..end`` (default: the whole story) checked against the story: chunk
    indices of it (PositionError otherwise), ``start <= end`` (InputError otherwise)."""
    last = story.last_index()
    if last < 0:
        raise InputError(f"story {story.name} has no chunks yet")
    for flag, value in (("--from", start), ("--to", end)):
        if value is not None and not 0 <= value <= last:
            raise PositionError(f"{flag} {value} is outside story {story.name!r}, which has chunks 0..{last}")
    first, stop = (0 if start is None else start), (last if end is None else end)
    if first > stop:
        raise InputError(f"--from {first} is after --to {stop}")
    return first, stop


def name_holders(entities: Sequence[Entity]) -> dict[str, str]:
    """Name -> the id of the entity holding it, over ``entities``."""
    return {n: e.id for e in entities for n in e.names()}


def resolver(
    snap: StorySnapshot, entities: Sequence[Entity] | None = None, holders: Mapping[str, str] | None = None
) -> Callable[[str], str | None]:
    """Surface name -> the entity one of whose names it is as of ``snap``: the one that
    has the name itself, else (an untitled name) the one found in it, the longest name
    as ``named_in`` reads them; None when no one or several. A titled name no entity has
    is no one's: "Mrs. Shimerda" is not the Mr. Shimerda whose bare "Shimerda" is in it.
    ``entities``: ``snap.entities()`` when the caller has read them (else read on first
    use); ``holders``: their :func:`name_holders` when the caller has built them."""
    cache: dict[str, str | None] = {}
    exact: Mapping[str, str] | None = holders

    def resolve(name: str) -> str | None:
        nonlocal exact
        if name not in cache:
            if exact is None:
                exact = name_holders(snap.entities() if entities is None else entities)
            if name in exact:
                cache[name] = exact[name]
            elif parse_name(name).title:
                cache[name] = None
            else:
                found = snap.named_in(name)
                cache[name] = next(iter(found)) if len(found) == 1 else None
        return cache[name]

    return resolve


def known_as_of(
    known: Sequence[KnownFact], snap: StorySnapshot, resolve: Callable[[str], str | None], holder: Mapping[str, str]
) -> list[KnownFact]:
    """Facts known before a chunk, their entities as of the chunk (``snap``), shown by
    the entity's name then. A fact is the name's it was stated of: it goes to the entity
    that holds that name at the chunk (``holder``: name -> entity id then), which is its
    entity before unless the name has left it ("Mrs. Hurst" parted from a "Hurst" that
    "Mr. Hurst" joins). The facts of an entity gone since (merged into another at this
    chunk) are resolved again by name, and left as they were when the name is no one's
    now."""
    known = [KnownFact(k.fact, e, k.display) if (e := holder.get(k.fact.name, k.entity)) != k.entity else k for k in known]
    names = snap.names({k.entity for k in known})
    out = []
    for k in known:
        if k.entity in names:
            out.append(k if names[k.entity] == k.display else KnownFact(k.fact, k.entity, names[k.entity]))
            continue
        eid = resolve(k.fact.name)
        now = snap.names([eid]) if eid is not None else {}
        out.append(KnownFact(k.fact, eid, now[eid]) if eid is not None and eid in now else k)
    return out


def plan_known(plan: Sequence[Fact], resolve: Callable[[str], str | None]) -> list[KnownFact]:
    """The facts a generation plan fixes (chunk -1, lore/roles.py), each held by the
    entity its name is as of the chunk checked, else by the plan's name alone."""
    return [KnownFact(f, resolve(f.name) or f"plan:{f.name}", f.name) for f in plan]


#: ``said(relation, aliases)``: the sentence a relation was read from (aliases: entity id
#: -> its names at the relation's position), or "" when it is not at hand.
Said = Callable[[Relation, dict[str, set[str]]], str]


def _tie(label: str) -> str | None:
    """The kin word a relation's label gives ("sister of" -> "sister"; "married" ->
    "spouse"), or None for any other relation."""
    return "spouse" if label in MARRIED else kin_word(label)


def kin_known(before: StorySnapshot, names_at: StorySnapshot, said: Said | None = None) -> list[KnownFact]:
    """The kin ties among the story's relations as of ``before`` (read off one sentence, or
    by the family rule: lore/family.py) as kin facts of the one they are said of:
    "Dunstan Cass brother of Godfrey Cass" is Godfrey Cass's fact "brother:Dunstan
    Cass", shown by the names of ``names_at``. A pair the relations give two exclusive
    bonds (sister and wife) holds neither: the story has not settled it. Each cites the
    sentence it was read from (``said``), else states the tie."""
    rels = [(r, role) for r in before.relations() if (role := _tie(r.label)) and r.source != r.target]
    if not rels:
        return []
    names = names_at.names({x for r, _ in rels for x in (r.source, r.target)})
    bonds: dict[frozenset[str], set[str]] = {}
    for r, role in rels:
        cls = KIN[role][0]
        bonds.setdefault(frozenset((r.source, r.target)), set()).add(cls if r.target < r.source else INVERSE[cls])
    aliases = {e.id: set(e.aliases) for e in before.entities(sorted(names))} if said else {}
    out = []
    for r, role in rels:
        held = bonds[frozenset((r.source, r.target))]
        if r.source not in names or r.target not in names or any(excludes(a, b) for a in held for b in held):
            continue
        sentence = (said(r, aliases) if said else "") or f"{names[r.source]}, {r.label} {names[r.target]}."
        fact = Fact("kin", names[r.target], f"{role}:{names[r.source]}", sentence, r.chunk)
        out.append(KnownFact(fact, r.target, names[r.target]))
        if role == "spouse":  # "married" reads both ways
            back = Fact("kin", names[r.source], f"{role}:{names[r.target]}", sentence, r.chunk)
            out.append(KnownFact(back, r.source, names[r.source]))
    return out


def relation_sentences(story: StoryView, upto: int) -> Said | None:
    """The sentence each relation of ``story``'s chunks ``<= upto`` was read from, by
    its chunk's stored analysis (None for a story that keeps no analyses): the row of
    the relation's chunk with its label and origin whose names are the two entities'
    (the family rule's "anyone" stands for any kin)."""
    if not isinstance(story, AnalysedStory):
        return None
    rows: dict[int, list[dict[str, Any]]] = {}
    for i, a in story.analyses(upto):
        rows[i] = [r for r in a.relations if r.get("evidence")]

    def said(r: Relation, aliases: dict[str, set[str]]) -> str:
        src, tgt = aliases.get(r.source, set()), aliases.get(r.target, set())
        for row in rows.get(r.chunk, []):
            same = row.get("label") == r.label and row.get("via", "") == r.via
            if same and row.get("target") in tgt and (row.get("source") in src or row.get("source") == FAMILY_ANY):
                return str(row["evidence"])
        return ""

    return said


def fact_names(entities: Sequence[Entity], known: Sequence[KnownFact]) -> dict[str, list[str]]:
    """Entity id -> its names, for each of ``entities`` (the story's at the chunk checked:
    the checker looks for those with ``known`` facts and counts who bears a surname),
    and a plan's fact's unknown name by that name alone."""
    names: dict[str, list[str]] = {e.id: e.names() for e in entities}
    for k in known:
        names.setdefault(k.entity, [k.fact.name])
    return names


def check_chunk(
    doc: Any,
    chunk: int,
    before: StorySnapshot,
    now: StorySnapshot,
    plan: Sequence[Fact] = (),
    said: Said | None = None,
    opened: str = "",
) -> list[Contradiction]:
    """The contradictions of one chunk (``doc``: its text parsed by spaCy's NER pipeline)
    with the facts known at ``before`` (the chunk before), the kin its relations hold
    (:func:`kin_known`, citing ``said``) and the ``plan``'s, names resolved at ``now``;
    ``opened``: the mark of a speech the chunk before left open (lore/chunk_view.py)."""
    known = before.facts()
    ties = kin_known(before, now, said)
    if not known and not plan and not ties:
        return []
    entities = now.entities()  # read once: the resolver's names and the checker's
    holders = name_holders(entities)
    resolve = resolver(now, entities, holders)
    facts = [*known_as_of(known, now, resolve, holders), *plan_known(plan, resolve), *ties]
    return find_contradictions(doc, chunk, facts, resolve, fact_names(entities, facts), opened)


#: A fact broken in this many chunks of a range or more is reported once (fold_repeats).
FOLD_AT = 3


def fold_repeats(found: Sequence[Contradiction], fold_at: int = FOLD_AT) -> list[Contradiction]:
    """A fact broken in ``fold_at`` chunks or more reported at the first of them (every
    sentence of that chunk), the later chunks listed on those reports (``again``)
    instead of reported one by one: a story that goes on without a fact chunk after
    chunk has most often had it misread ("we allays hung together" read as a hanging
    gave one report for each of 15 chunks its speaker spoke in), and each further
    chunk says nothing new. A fact broken in fewer chunks is reported at each: one
    misreading beside one true break still shows the true one. ``found`` in story
    order; the result keeps it."""
    chunks: dict[tuple[str, Fact], list[int]] = {}
    for c in found:
        seen = chunks.setdefault((c.kind, c.fact), [])
        if c.chunk not in seen:
            seen.append(c.chunk)
    out = []
    for c in found:
        seen = chunks[(c.kind, c.fact)]
        if len(seen) < fold_at:
            out.append(c)
        elif c.chunk == seen[0]:
            out.append(replace(c, again=tuple(seen[1:])))
    return out


def check_story(
    story: StoryView, start: int | None = None, end: int | None = None, plan: Sequence[Fact] = (), fold: bool = True
) -> list[Contradiction]:
    """Every contradiction of chunks ``start..end`` (default: all) with the facts known
    before each and those its generation ``plan`` fixed, in story order; a fact broken
    in :data:`FOLD_AT` chunks of the range or more is reported at the first of them
    (``fold_repeats``; ``fold=False``: every one, for a caller that folds a part of them).
    Chunks with no fact known before them are not parsed."""
    first, stop = chunk_range(story, start, end)
    todo: list[tuple[int, StorySnapshot, StorySnapshot, str]] = []
    latest = story.latest()
    records = latest.records_at(range(max(0, first - 1), stop + 1))  # a chunk's text and the one before
    for i in range(first, stop + 1):
        before = story.at(i - 1)
        if i in records and (plan or before.facts() or any(_tie(r.label) for r in before.relations())):
            todo.append((i, before, story.at(i), records[i].text))
    if not todo:
        return []
    nlp = get_nlp()
    said = relation_sentences(story, stop)
    out: list[Contradiction] = []
    for (i, before, now, _), doc in zip(todo, nlp.pipe(ner_text(nlp, text) for *_, text in todo)):
        opened = open_quote(records[i - 1].text) if i - 1 in records else ""  # a chunk cut inside a speech
        out += check_chunk(doc, i, before, now, plan, said, opened)
    return fold_repeats(out) if fold else out


def report(story: StoryView, found: Sequence[Contradiction]) -> list[dict[str, Any]]:
    """The contradictions as ``automuse continuity --json`` prints them, each with the
    later chunks that break its fact again (``again``)."""
    chapters = story.latest().chapters(c.chunk for c in found)
    return [{**c.to_json(chapters.get(c.chunk, 0)), "again": list(c.again)} for c in found]
