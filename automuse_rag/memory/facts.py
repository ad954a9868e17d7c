"""State facts in memory: the rows a chunk's analysis gives ``state.sqlite``'s
``facts`` table, and which facts are in force as of a chunk.

Facts are stored by name, per chunk (``chunk, seq, name, kind, value, sentence``), and
resolved to entities when read, as of the position read: entity ids and merges change
as the story goes on, so a fact about "Mina" reaches "Mina Harker" once the lore holds
them as one entity (:class:`~automuse_rag.lore.continuity.KnownFact`).

Valid time: a fact is in force from its chunk on. A later fact of the same entity and
kind that states another value replaces it for the kinds that change (:data:`REPLACED`:
a married name, a place, an age); restating the value keeps the first statement. For
the fixed kinds (death, eye and hair colour, gender, role) the first statement stays in
force, and a later one that differs is what the checker reports, not a new truth; so
"dead" never ends and is cited where it was first said (once under a one-word name
such as "Mr. Gatsby", once under a full name: :func:`fact_key`). "kin" facts accumulate, one
per value.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

from automuse_rag.lore.continuity import KnownFact
from automuse_rag.lore.facts import Fact
from automuse_rag.lore.names import parse_name
from automuse_rag.lore.types import ChunkAnalysis

#: Fact kinds whose values accumulate (the first statement of each value holds).
ACCUMULATE = ("kin",)
#: Fact kinds a later value replaces (other kinds keep their first statement).
REPLACED = ("married_name", "place", "age")

FactRow = tuple[int, int, str, str, str, str]  # chunk, seq, name, kind, value, sentence
T = TypeVar("T")


def stated_facts(idx: int, analysis: ChunkAnalysis) -> list[Fact]:
    """The facts a chunk's analysis states, with their chunk set (malformed ones left out)."""
    out = []
    for d in analysis.facts:
        try:
            fact = Fact.from_dict({**d, "chunk": idx})
        except (KeyError, TypeError, ValueError):
            continue
        if fact.name and fact.kind:
            out.append(fact)
    return out


def fact_rows(idx: int, analysis: ChunkAnalysis) -> list[FactRow]:
    """The ``facts`` rows of chunk ``idx`` (``seq``: the fact's place in the chunk)."""
    return [(idx, seq, f.name, f.kind, f.value, f.sentence) for seq, f in enumerate(stated_facts(idx, analysis))]


def row_fact(row: Sequence[object]) -> Fact:
    chunk, _seq, name, kind, value, sentence = row
    return Fact(kind=str(kind), name=str(name), value=str(value), sentence=str(sentence), chunk=int(str(chunk)))


def fact_key(k: KnownFact) -> Hashable:
    """What a later fact must share with ``k`` to replace it. A death stated under a
    one-word name, perhaps a family's ("Mr. Gatsby's dead", "Sholto dies"), and one
    under a full name both stay: the checker holds a use of a name to the death that
    name allows (lore/continuity.py ``_same_person``)."""
    f = k.fact
    if f.kind == "dead":
        return (k.entity, f.kind, len(parse_name(f.name).words) == 1)
    return (k.entity, f.kind, f.value) if f.kind in ACCUMULATE else (k.entity, f.kind)


def first_statements(items: Iterable[T], fields: Callable[[T], tuple[str, str, str]]) -> list[T]:
    """The facts of ``items`` (in story order; ``fields`` gives each one's name, kind
    and value) that :func:`in_force` can keep, whatever entity each name belongs to:
    every fact of a kind a later value replaces, else each name's first of its kind (of
    its kind and value, for the kinds that accumulate). A name belongs to one entity at a
    time, so an entity's first statement is the first among its names' first ones. Most
    stored facts are a main character's gender restated chunk after chunk; they are
    dropped here before any is resolved. A first statement stays one however far the
    story goes, so this commutes with cutting the story at a chunk."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for item in items:
        name, kind, value = fields(item)
        if kind not in REPLACED:
            key = (name, kind, value) if kind in ACCUMULATE else (name, kind)
            if key in seen:
                continue
            seen.add(key)
        out.append(item)
    return out


def in_force(known: Iterable[KnownFact]) -> list[KnownFact]:
    """The facts of ``known`` (in story order: chunk, then place in the chunk) still in
    force after the last of them, in the same order."""
    ordered = list(known)
    current: dict[Hashable, int] = {}
    for i, k in enumerate(ordered):
        key = fact_key(k)
        cur = current.get(key)
        if cur is None or (k.fact.kind in REPLACED and ordered[cur].fact.value != k.fact.value):
            current[key] = i
    kept = set(current.values())
    return [k for i, k in enumerate(ordered) if i in kept]


def resolved(facts: Iterable[Fact], owner: dict[str, str], display: dict[str, str]) -> list[KnownFact]:
    """``facts`` whose name belongs to an entity (``owner``: name -> entity id as of the
    position), as :class:`KnownFact` shown by the entity's name then (``display``)."""
    out = []
    for f in facts:
        eid = owner.get(f.name)
        if eid is not None:
            out.append(KnownFact(f, eid, display.get(eid, f.name)))
    return out


def fact_phrase(kind: str, value: str) -> str:
    """A fact's value as a card or a prompt says it ("died", "blue eyes", "sister: Lucy")."""
    rel, _, who = value.partition(":")
    return {
        "dead": "died",
        "eyes": f"{value} eyes",
        "hair": f"{value} hair",
        "age": f"aged {value}",
        "married_name": f"married name {value}",
        "kin": f"{rel}: {who}" if who else value,
        "place": f"at {value}",
        "role": f"the {value}",
    }.get(kind, value)


def fact_line(k: KnownFact) -> str:
    """One short line: "Henry Clerval: died (chunk 412)"; a fact of the plan (chunk
    -1) says "(the plan)"."""
    where = "the plan" if k.fact.chunk < 0 else f"chunk {k.fact.chunk}"
    return f"{k.display}: {fact_phrase(k.fact.kind, k.fact.value)} ({where})"
