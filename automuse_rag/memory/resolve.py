"""Alias resolution: name mentions of committed chunks -> entities.

Two steps:

1. :func:`ner_mentions` turns one chunk's spaCy ``Doc`` into :class:`LoreMention` s
   (one per distinct name in the chunk) with NER label votes, pronoun evidence, the
   sentence that mentions it (its description from this chunk) and a count of the
   name's lower-case uses (to spot capitalised common words).
2. :func:`resolve` merges the mentions of every committed chunk into
   :class:`~automuse_rag.memory.types.Entity` objects. It is a pure function of its
   input, processed in a fixed order, so a resumed ingest and an uninterrupted one
   end with identical entities.

Alias rules (characters):

- Full names ("Fitzwilliam Darcy", "Miss Jane Bennet") form clusters; the same words
  with or without a title are one cluster.
- Title + one word ("Mr. Darcy") joins the unique full-name cluster with that
  surname whose title and gender are compatible. When several full names share the
  surname ("Walter Pennock", "Agnes Pennock") the gender must match strictly
  ("Mr." -> the one known as "he"); otherwise it stays its own entity. "Mr." /
  "Mrs." / "Miss" / "Lady" / "Sir" / "Lord" never merge with each other, so
  "Mr. Bennet" and "Mrs. Bennet" stay apart. "Lady"/"Sir"/"Lord" + one word may
  also be a first name ("Lady Catherine" -> "Catherine de Bourgh").
- A bare word ("Darcy", "Edith") joins the unique cluster having it as first name
  or surname. When several clusters claim it, it goes to the dominant one (at least
  twice the mentions of all others together, e.g. "Bingley" -> Mr. Bingley),
  otherwise it stays an entity of its own (e.g. bare "Bennet" in Pride and Prejudice).
- The model's aliases join the cluster of the name they were given for when they
  are not yet part of a larger cluster.

Filters: honorifics alone, names with line breaks or lower-case words, capitalised
common words (a one-word name used at least as often in lower case), and one-off
names (seen once so far, unless the model named it or it is a full name that NER
tags as a person or whose surname is known).

Locality: every rule looks only at names that share a word (titles aside) with the
name being resolved, or are linked to it by a model alias. So names fall into
connected *components* (:func:`link_keys`), each resolved on its own by
:func:`resolve_component`; resolving the whole book is resolving each component.
That is what lets :class:`~automuse_rag.memory.lorestate.LoreState` commit a chunk
by re-resolving only the components the chunk touches, and still equal a
from-scratch :func:`resolve` of the same chunks.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from automuse_rag.memory.analysis import LoreMention
from automuse_rag.memory.names import (
    CIVIL,
    FIRSTNAME_TITLES,
    KINDS,
    PERSON_LABELS,
    PLACE_LABELS,
    STOP_NAMES,
    TITLES,
    Parsed,
    clean_name,
    looks_like_place,
    parse_name,
)
from automuse_rag.memory.types import Entity


@dataclass
class NameStat:
    """Everything the resolver knows of one name so far (sums over its mentions)."""

    name: str
    first_chunk: int
    count: int = 0
    nchunks: int = 0
    votes: Counter = field(default_factory=Counter)
    he: int = 0
    she: int = 0
    lower: int = 0
    at: int = 0
    model: bool = False
    model_kind: str = ""

    def add(self, idx: int, m: LoreMention, *, new_chunk: bool = True) -> None:
        """Count mention ``m`` of chunk ``idx``; ``new_chunk`` is False for a second
        mention of the same name in the same chunk."""
        self.first_chunk = min(self.first_chunk, idx)
        self.count += max(1, m.count)
        self.nchunks += int(new_chunk)
        self.votes.update(m.labels)
        self.he += m.he
        self.she += m.she
        self.lower += m.lower
        self.at += m.at
        if "model" in m.source:
            self.model = True
            self.model_kind = self.model_kind or m.kind

    def to_json(self) -> dict[str, Any]:
        return {
            "first_chunk": self.first_chunk, "count": self.count, "nchunks": self.nchunks,
            "votes": dict(sorted(self.votes.items())), "he": self.he, "she": self.she, "lower": self.lower,
            "at": self.at, "model": self.model, "model_kind": self.model_kind,
        }

    @classmethod
    def from_json(cls, name: str, d: dict[str, Any]) -> NameStat:
        return cls(
            name=name, first_chunk=int(d["first_chunk"]), count=int(d["count"]), nchunks=int(d["nchunks"]),
            votes=Counter({str(k): int(v) for k, v in d.get("votes", {}).items()}), he=int(d["he"]),
            she=int(d["she"]), lower=int(d["lower"]), at=int(d["at"]), model=bool(d["model"]),
            model_kind=str(d["model_kind"]),
        )


@dataclass
class _Cluster:
    members: list[str]
    kind: str
    titles: set[str] = field(default_factory=set)  # title classes
    firsts: set[str] = field(default_factory=set)
    surnames: set[str] = field(default_factory=set)
    gender: str | None = None
    weight: int = 0
    has_full: bool = False


@dataclass(frozen=True)
class Cluster:
    """One resolved entity, before its facts (mentions, descriptions) are attached."""

    members: tuple[str, ...]  # sorted
    kind: str
    canonical: str  # the name it goes by
    first: str  # its earliest name (first chunk, then name): the base of its id


ChunkLore = tuple[int, list[LoreMention]]  # (chunk index, mentions)
ModelAlias = tuple[int, str, list[str]]  # (chunk, name, the aliases the model gave it)


def collect(chunks: Iterable[ChunkLore]) -> dict[str, NameStat]:
    """Per-name statistics of ``chunks`` (any order)."""
    stats: dict[str, NameStat] = {}
    for idx, mentions in chunks:
        seen: set[str] = set()
        for m in mentions:
            st = stats.get(m.name)
            if st is None:
                st = stats[m.name] = NameStat(m.name, idx)
            st.add(idx, m, new_chunk=m.name not in seen)
            seen.add(m.name)
    return stats


def link_keys(name: str) -> list[str]:
    """The keys that put names into one component: their words, titles aside."""
    return [f"w:{w}" for w in parse_name(name).words]


def _keep(st: NameStat, surnames: set[str]) -> bool:
    if st.name.lower() in STOP_NAMES or clean_name(st.name) != st.name:
        return False
    p = parse_name(st.name)
    if len(p.words) == 1 and p.title is None and st.lower >= st.count:
        return False  # a capitalised common word
    if st.count >= 2 or st.model:
        return True
    # A name seen once so far: kept when it is a full name NER calls a person (a
    # character being introduced: "Arthur Blackwood, the syndicate's man"), or one of a
    # known family; a single word or an untagged phrase waits for a second mention.
    return p.is_full and (p.last in surnames or _person_votes(st) > 0)


def _kind_of(st: NameStat, person_words: set[str], strong: frozenset[str] = frozenset()) -> str:
    """character / place / thing, or "" to drop. ``person_words``: words of names
    tagged PERSON; ``strong``: words of titled or full character names."""
    if looks_like_place(st.name):
        return "place"
    p = parse_name(st.name)
    if p.title is not None or (not p.is_full and st.name in strong):
        return "character"
    if st.at * 4 >= st.count and st.at >= 2 and st.name not in strong:
        return "place"
    if st.model_kind in KINDS and st.votes.total() == 0:
        return st.model_kind
    person = sum(v for k, v in st.votes.items() if k in PERSON_LABELS)
    place = sum(v for k, v in st.votes.items() if k in PLACE_LABELS)
    if person >= place and person > 0:
        return "character"
    if p.is_full and (p.last in person_words or p.first in person_words):
        return "character"
    if place > 0:
        return "place"
    if st.model_kind in KINDS:
        return st.model_kind
    return "thing" if st.nchunks >= 3 else ""


def _gender_by_first(stats: Mapping[str, NameStat]) -> dict[str, str | None]:
    he: Counter = Counter()
    she: Counter = Counter()
    for st in stats.values():
        p = parse_name(st.name)
        he[p.first] += st.he
        she[p.first] += st.she
        if p.title and TITLES[p.title][1] and p.is_full:
            (he if TITLES[p.title][1] == "m" else she)[p.first] += 5
    out: dict[str, str | None] = {}
    for first in set(he) | set(she):
        h, s = he[first], she[first]
        out[first] = "m" if h >= 2 and h >= 2 * s else "f" if s >= 2 and s >= 2 * h else None
    return out


def _title_ok(title: str | None, cl: _Cluster) -> bool:
    if title is None:
        return True
    cls_, gender = TITLES[title]
    if cls_ in CIVIL and any(t in CIVIL and t != cls_ for t in cl.titles):
        return False
    return not (gender and cl.gender and gender != cl.gender)


class _Resolver:
    """Clusters character names; see the module docstring for the rules."""

    def __init__(self, stats: Mapping[str, NameStat], genders: dict[str, str | None]) -> None:
        self.stats = stats
        self.genders = genders
        self.clusters: list[_Cluster] = []
        self.of: dict[str, _Cluster] = {}

    def add(self, cl: _Cluster, name: str, p: Parsed) -> None:
        cl.members.append(name)
        cl.weight += self.stats[name].count
        if p.title:
            cl.titles.add(TITLES[p.title][0])
            cl.gender = cl.gender or TITLES[p.title][1]
        if p.is_full:
            cl.has_full = True
            cl.firsts.add(p.first)
            cl.surnames.add(p.last)
            cl.gender = cl.gender or self.genders.get(p.first)
        self.of[name] = cl

    def new(self, name: str, p: Parsed, firsts: Iterable[str] = (), surnames: Iterable[str] = ()) -> _Cluster:
        cl = _Cluster(members=[], kind="character", firsts=set(firsts), surnames=set(surnames))
        self.clusters.append(cl)
        self.add(cl, name, p)
        return cl

    def full(self, name: str) -> None:
        p = parse_name(name)
        for cl in self.clusters:
            if any(parse_name(m).words == p.words for m in cl.members) and _title_ok(p.title, cl):
                self.add(cl, name, p)
                return
        self.new(name, p)

    def titled(self, name: str) -> None:
        p = parse_name(name)
        word, gender = p.first, TITLES[p.title][1]
        fulls = [c for c in self.clusters if c.has_full and word in c.surnames]
        cands = [c for c in fulls if _title_ok(p.title, c)]
        if len(fulls) > 1:
            cands = [c for c in cands if gender is None or c.gender == gender]
        if not cands and (p.title in FIRSTNAME_TITLES or p.title in ("miss", "master")):
            # "Lady Catherine", "Miss Elizabeth": title + first name
            cands = [c for c in self.clusters if c.has_full and word in c.firsts and _title_ok(p.title, c)]
        if len(cands) == 1:
            self.add(cands[0], name, p)
            return
        cls_ = TITLES[p.title][0]
        for c in self.clusters:
            if not c.has_full and cls_ in c.titles and (word in c.surnames or word in c.firsts):
                self.add(c, name, p)
                return
        as_first = p.title in FIRSTNAME_TITLES
        self.new(name, p, firsts=[word] if as_first else [], surnames=[] if as_first else [word])

    def single(self, name: str) -> None:
        p = parse_name(name)
        firsts = [c for c in self.clusters if name in c.firsts]
        surnames = [c for c in self.clusters if name in c.surnames and c not in firsts]
        men = [c for c in surnames if c.gender == "m"]
        for group in (firsts, surnames, men):
            if len(group) == 1:  # a bare surname alone names a man ("Bingley", "Darcy")
                self.add(group[0], name, p)
                return
        cands = firsts + surnames
        if cands:
            best = max(cands, key=lambda c: c.weight)
            rest = sum(c.weight for c in cands if c is not best)
            if best.weight >= 2 * rest:
                self.add(best, name, p)
                return
        self.new(name, p, firsts=[name], surnames=[name])


def _order(stats: Mapping[str, NameStat], names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda n: (stats[n].first_chunk, -stats[n].count, n))


@lru_cache(maxsize=65536)
def slug(text: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-") or "entity"


def _canonical(members: Iterable[str], stats: Mapping[str, NameStat]) -> str:
    def score(n: str) -> tuple:
        p = parse_name(n)
        return (p.is_full and p.title is None, p.is_full, stats[n].count, len(n), n)

    return max(members, key=score)


def _person_votes(st: NameStat) -> int:
    return sum(v for k, v in st.votes.items() if k in PERSON_LABELS)


def resolve_component(stats: Mapping[str, NameStat], model_aliases: Sequence[ModelAlias] = ()) -> list[Cluster]:
    """Resolve the names of one component (or of several: the rules are local).
    ``stats`` holds every name of the component; ``model_aliases`` those given for
    its names. Pure and deterministic; clusters in no particular order."""
    surnames = {
        parse_name(n).last
        for n, st in stats.items()
        if st.count >= 2
        and not looks_like_place(n)
        and (parse_name(n).title or (parse_name(n).is_full and any(k in PERSON_LABELS for k in st.votes)))
    }
    kept = {n: st for n, st in stats.items() if _keep(st, surnames)}
    person_words: set[str] = set()
    for n, st in kept.items():
        p = parse_name(n)
        if p.title or _person_votes(st) > 0:
            person_words.update(p.words)
    kinds = {n: _kind_of(st, person_words) for n, st in kept.items() if parse_name(n).is_full}
    person_words.update(w for n, k in kinds.items() if k == "character" for w in parse_name(n).words)
    strong = frozenset(w for n, k in kinds.items() if k == "character" for w in parse_name(n).words)
    strong |= frozenset(w for n in kept if parse_name(n).title for w in parse_name(n).words)
    for n, st in kept.items():
        if not parse_name(n).is_full:
            kinds[n] = _kind_of(st, person_words, strong)
    kinds = {n: k for n, k in kinds.items() if k}
    res = _Resolver(stats, _gender_by_first(stats))
    chars = [n for n, k in kinds.items() if k == "character"]
    for n in _order(stats, [n for n in chars if parse_name(n).is_full]):
        res.full(n)
    for n in _order(stats, [n for n in chars if not parse_name(n).is_full and parse_name(n).title]):
        res.titled(n)
    for n in _order(stats, [n for n in chars if not parse_name(n).is_full and not parse_name(n).title]):
        res.single(n)
    for n in _order(stats, [n for n, k in kinds.items() if k != "character"]):
        cl = _Cluster(members=[], kind=kinds[n])
        res.clusters.append(cl)
        res.add(cl, n, Parsed(None, tuple(n.split())))
    _apply_model_aliases(res, model_aliases)
    out = []
    for cl in res.clusters:
        if cl.members:
            first = min(cl.members, key=lambda m: (stats[m].first_chunk, m))
            out.append(Cluster(tuple(sorted(cl.members)), cl.kind, _canonical(cl.members, stats), first))
    return out


def _apply_model_aliases(res: _Resolver, model_aliases: Sequence[ModelAlias]) -> None:
    for _, name, aliases in sorted(model_aliases, key=lambda t: (t[0], t[1])):
        target = res.of.get(name)
        if target is None:
            continue
        for alias in aliases:
            src = res.of.get(alias)
            if src is None or src is target or len(src.members) > 1 or src.kind != target.kind:
                continue
            src.members.remove(alias)
            target.members.append(alias)
            target.weight += src.weight
            res.of[alias] = target
            res.clusters.remove(src)


def id_order(cluster: Cluster, stats: Mapping[str, NameStat]) -> tuple:
    """Which of several clusters with the same base slug gets the plain id."""
    return (stats[cluster.first].first_chunk, cluster.first, cluster.members)


def assign_ids(clusters: Iterable[Cluster], stats: Mapping[str, NameStat]) -> dict[Cluster, str]:
    """Entity ids: the slug of each cluster's first name; clusters sharing a slug get
    ``-2``, ``-3``... in :func:`id_order`. A function of the clusters alone."""
    groups: dict[str, list[Cluster]] = defaultdict(list)
    for cl in clusters:
        groups[slug(cl.first)].append(cl)
    ids = {}
    for base, group in groups.items():
        for n, cl in enumerate(sorted(group, key=lambda c: id_order(c, stats))):
            ids[cl] = base if n == 0 else f"{base}-{n + 1}"
    return ids


def components(names: Iterable[str], links: Iterable[tuple[str, str]] = ()) -> list[list[str]]:
    """Group names into components: names sharing a :func:`link_keys` key, or joined
    by a ``links`` pair (a model alias), end in one group."""
    from automuse_rag.memory.unionfind import UnionFind

    uf = UnionFind()
    names = list(names)
    for n in names:
        uf.union(f"n:{n}", *link_keys(n))
    for a, b in links:
        uf.union(f"n:{a}", f"n:{b}")
    groups: dict[str, list[str]] = defaultdict(list)
    for n in names:
        groups[uf.find(f"n:{n}")].append(n)
    return list(groups.values())


def alias_links(model_aliases: Iterable[ModelAlias]) -> list[tuple[str, str]]:
    return [(name, alias) for _, name, aliases in model_aliases for alias in aliases]


def resolve_all(stats: Mapping[str, NameStat], model_aliases: Sequence[ModelAlias] = ()) -> dict[Cluster, str]:
    """Every cluster of ``stats`` with its id, resolved component by component in one go."""
    clusters: list[Cluster] = []
    for comp in components(stats, alias_links(model_aliases)):
        members = set(comp)
        sub = {n: stats[n] for n in comp}
        clusters += resolve_component(sub, [t for t in model_aliases if t[1] in members])
    return assign_ids(clusters, stats)


def build_entities(
    clusters: Mapping[Cluster, str], chunks: Iterable[ChunkLore], stats: Mapping[str, NameStat]
) -> tuple[list[Entity], dict[str, str]]:
    """Entities (most mentioned first) with their mentions and descriptions from
    ``chunks``, and the name -> entity id map."""
    name_to_id = {m: eid for cl, eid in clusters.items() for m in cl.members}
    by_id = {
        eid: Entity(id=eid, name=cl.canonical, kind=cl.kind, aliases={m: stats[m].first_chunk for m in cl.members})
        for cl, eid in clusters.items()
    }
    mentions: dict[str, set[int]] = defaultdict(set)
    descs: dict[str, dict[int, tuple[int, str]]] = defaultdict(dict)
    for idx, chunk_mentions in chunks:
        for m in chunk_mentions:
            eid = name_to_id.get(m.name)
            if eid is None:
                continue
            mentions[eid].add(idx)
            if not m.description:
                continue
            rank = 0 if "model" in m.source else 1
            cur = descs[eid].get(idx)
            if cur is None or rank < cur[0]:
                descs[eid][idx] = (rank, m.description)
    for eid, ent in by_id.items():
        ent.mentions = sorted(mentions[eid])
        ent.descriptions = [(c, d) for c, (_, d) in sorted(descs[eid].items())]
    ents = sorted(by_id.values(), key=lambda e: (-len(e.mentions), e.name, e.id))
    return ents, name_to_id


def resolve(chunks: list[ChunkLore], model_aliases: Sequence[ModelAlias] = ()) -> tuple[list[Entity], dict[str, str]]:
    """Entities from every chunk's mentions, most mentioned first, and a map from
    every kept name to its entity id, resolved from scratch. ``model_aliases`` lists
    (chunk, name, aliases) the model gave. Deterministic for the same input."""
    stats = collect(chunks)
    return build_entities(resolve_all(stats, model_aliases), chunks, stats)
