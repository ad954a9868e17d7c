"""Lore quality against ground truth: casts (books/casts/*.toml, books/sample/lore.toml),
entity precision/recall with split and merge errors, relation recall against a cast's
relations, hand-checked relation precision, and the description acceptance rule.

Used by benchmarks/lore.py and the tests; pure functions except :func:`analyse_book`
(which runs NER and the parser like an extractive ingest, without a store).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from automuse_rag.books import load_book
from automuse_rag.lore.describe import DESC_SCORE, DESCRIBING
from automuse_rag.lore.entity import Entity, Relation
from automuse_rag.lore.extract import analyze_chunk
from automuse_rag.lore.ner import get_nlp
from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.oracle import NaiveLore
from automuse_rag.text.chunk import chunk_book

if TYPE_CHECKING:
    from automuse_rag.settings import Settings


@dataclass(frozen=True)
class CastMember:
    name: str
    kind: str  # "character" | "place"
    aliases: tuple[str, ...] = ()
    description: str = ""
    minor: bool = False  # outside the main cast (the goal counts main characters)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class TruthRelation:
    source: str
    target: str
    label: str
    keywords: tuple[str, ...]  # any of them in an extracted label counts as found


@dataclass
class Cast:
    title: str
    members: list[CastMember]
    relations: list[TruthRelation] = field(default_factory=list)


def load_cast(path: Path) -> Cast:
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    members = [
        CastMember(c["name"], kind, tuple(c.get("aliases", [])), c.get("description", ""), bool(c.get("minor", False)))
        for table, kind in (("characters", "character"), ("places", "place"))
        for c in data.get(table, [])
    ]
    rels = [
        TruthRelation(r["source"], r["target"], r["label"], tuple(r.get("keywords", [r["label"].split()[0]])))
        for r in data.get("relations", [])
    ]
    return Cast(data.get("title", Path(path).stem), members, rels)


def occurs(name: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None


def analyse_book(spec: str, settings: Settings, size: int | None = None) -> list[tuple[int, ChunkAnalysis]]:
    """Per-chunk analyses of a book as an extractive ingest makes them (NER, parse)."""
    chunks = chunk_book(load_book(spec, settings), "eval", size=size or settings.chunk_size)
    nlp = get_nlp()
    docs = nlp.pipe((c.text for c in chunks), batch_size=16)
    texts = {c.index: c.text for c in chunks}
    return [(c.index, analyze_chunk(c, None, nlp, doc=d, previous=texts.get(c.index - 1, ""))) for c, d in zip(chunks, docs)]


def lore_of(analyses: list[tuple[int, ChunkAnalysis]]) -> tuple[list[Entity], list[Relation]]:
    """Entities and relations at the end of the story, exactly as the store reads
    them (folded chunk by chunk, :class:`~automuse_rag.memory.oracle.NaiveLore`)."""
    lore = NaiveLore(analyses, "fold")
    return lore.entities(None), lore.relations(None)


@dataclass
class CastScore:
    members: int = 0
    found: int = 0  # members some entity holds a name of
    exact: int = 0  # found as exactly one entity, shared with no other member
    main: int = 0  # main characters (not minor, not places)
    main_exact: int = 0
    main_not_exact: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)  # "Elizabeth Bennet: 2 entities (..)"
    merges: list[str] = field(default_factory=list)  # "Mr. Bennet + Mrs. Bennet"
    missing: list[str] = field(default_factory=list)
    entities_with_cast_names: int = 0
    correct_entities: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.members if self.members else 0.0

    @property
    def precision(self) -> float:
        return self.correct_entities / self.entities_with_cast_names if self.entities_with_cast_names else 0.0


def score_cast(entities: list[Entity], cast: Cast, text: str) -> CastScore:
    """Entity precision/recall against a cast. A member is *found* when an entity holds
    one of its names; *exact* when exactly one entity holds its names and that entity
    holds no other member's names. A *split* is a member whose names spread over
    several entities; a *merge* is an entity holding names of several members.
    Precision: of the entities holding any cast name, those holding one member's
    names and being its only entity."""
    sc = CastScore(members=len(cast.members))
    owner: dict[str, set[str]] = {}  # entity id -> member names
    holders_of: dict[str, set[str]] = {}
    for m in cast.members:
        present = [n for n in m.names if occurs(n, text)]
        holders = {e.id for e in entities for n in present if n in e.aliases}
        holders_of[m.name] = holders
        for h in holders:
            owner.setdefault(h, set()).add(m.name)
    by_id = {e.id: e for e in entities}
    for m in cast.members:
        holders = holders_of[m.name]
        is_main = m.kind == "character" and not m.minor
        sc.main += is_main
        exact = len(holders) == 1 and len(owner[next(iter(holders))]) == 1
        sc.exact += exact
        if is_main:
            sc.main_exact += exact
            if not exact:
                sc.main_not_exact.append(m.name)
        if not holders:
            sc.missing.append(m.name)
            continue
        sc.found += 1
        if len(holders) > 1:
            sc.splits.append(f"{m.name}: " + " / ".join(sorted(by_id[h].name for h in holders)))
    for eid, members in sorted(owner.items()):
        sc.entities_with_cast_names += 1
        if len(members) > 1:
            sc.merges.append(" + ".join(sorted(members)) + f" (as {by_id[eid].name})")
        elif len(holders_of[next(iter(members))]) == 1:
            sc.correct_entities += 1
    return sc


def entity_of(entities: list[Entity], member: CastMember, text: str) -> Entity | None:
    """The single entity holding the member's names (None if none or several)."""
    present = [n for n in member.names if occurs(n, text)]
    holders = {e.id: e for e in entities for n in present if n in e.aliases}
    return next(iter(holders.values())) if len(holders) == 1 else None


def relation_recall(
    entities: list[Entity], relations: list[Relation], cast: Cast, text: str, via: str | None = "parse"
) -> tuple[int, list[str]]:
    """How many of the cast's relations an extracted relation (``via`` "parse" only,
    None for any) states: same two entities, either direction, a keyword in its label."""
    found: list[str] = []
    members = {m.name: m for m in cast.members}
    for tr in cast.relations:
        a, b = entity_of(entities, members[tr.source], text), entity_of(entities, members[tr.target], text)
        if a is None or b is None:
            continue
        for r in relations:
            if via is not None and r.via != via:
                continue
            if {r.source, r.target} == {a.id, b.id} and any(k.lower() in r.label.lower() for k in tr.keywords):
                found.append(f"{tr.source} {tr.label} {tr.target}")
                break
    return len(found), found


STOP = {
    "that",
    "this",
    "with",
    "from",
    "have",
    "been",
    "were",
    "which",
    "when",
    "where",
    "there",
    "their",
    "about",
    "would",
    "could",
    "should",
    "into",
    "only",
    "than",
    "them",
    "they",
    "what",
    "your",
    "will",
    "whose",
    "while",
    "after",
    "before",
    "over",
    "under",
    "most",
    "much",
    "some",
    "such",
    "very",
    "more",
    "also",
    "just",
}


def content_words(text: str, exclude: Set[str] = frozenset()) -> set[str]:
    """Lower-case words of at least 4 letters, not stop words nor ``exclude``, cut to
    5 letters so "keeper"/"kept" stay apart but "photograph"/"photographs" match."""
    words = re.findall(r"[a-zà-ÿ]+", text.lower())
    return {w[:5] for w in words if len(w) >= 4 and w not in STOP and w not in exclude}


def accepted(entity: Entity, member: CastMember) -> tuple[bool, str]:
    """The acceptance rule for a card's description: a reader accepts it if the card
    leads with a describing sentence (the entity heads an appositive, is the subject
    of a copula, is the antecedent of "He/She was ...", or the model's line) and that
    sentence shares at least two content words with the ground-truth one-liner
    (names of the entity itself do not count). Returns (accepted, why)."""
    desc = entity.description
    if not desc:
        return False, "no description"
    chunk = next((c for c, d in entity.descriptions if d == desc), None)
    kind = entity.desc_kinds.get(chunk, "") if chunk is not None else ""
    if DESC_SCORE.get(kind, 1) < DESCRIBING:
        return False, f"not a describing sentence ({kind or 'mention'})"
    own = {w.lower() for n in entity.names() for w in re.findall(r"\w+", n)}
    shared = content_words(desc, own) & content_words(member.description, own)
    if len(shared) < 2:
        return False, f"shares {sorted(shared)} with the ground truth"
    return True, f"{kind}; shares {sorted(shared)}"
