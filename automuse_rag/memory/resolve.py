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
- A name recorded as a different person from a cluster's name in some sentence
  (``ChunkAnalysis.distinct``) never joins it; nor does a gender-neutral title
  ("Doctor Manette") join a cluster of the other gender by its own pronouns.
- Nicknames (Lizzy -> Elizabeth, Tom -> Thomas) and short place forms ("Rosings" ->
  "Rosings Park"): memory/merge_steps.py. Middle initials do not count ("George B.
  Wilson" is "George Wilson").

Filters: honorifics alone, names with line breaks or lower-case words, capitalised
common words (a one-word name used at least as often in lower case), and one-off
names (seen once in the whole book, unless the model named it or it is a full name
whose surname is known).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from automuse_rag.memory.analysis import LoreMention
from automuse_rag.memory.describe import score as desc_score
from automuse_rag.memory.merge_steps import (
    core_words,
    name_gender,
    nickname_step,
    short_forms,
)
from automuse_rag.memory.names import (
    CIVIL,
    FIRSTNAME_TITLES,
    KINDS,
    PERSON_LABELS,
    PLACE_LABELS,
    PLACE_TAILS,
    STOP_NAMES,
    TITLES,
    Parsed,
    clean_name,
    looks_like_place,
    parse_name,
)
from automuse_rag.memory.nicknames import Distinct
from automuse_rag.memory.types import Entity


@dataclass
class _NameStat:
    name: str
    first_chunk: int
    count: int = 0
    chunks: set[int] = field(default_factory=set)
    votes: Counter = field(default_factory=Counter)
    he: int = 0
    she: int = 0
    lower: int = 0
    at: int = 0
    model: bool = False
    model_kind: str = ""


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


ChunkLore = tuple[int, list[LoreMention]]  # (chunk index, mentions)


def _collect(chunks: list[ChunkLore]) -> dict[str, _NameStat]:
    stats: dict[str, _NameStat] = {}
    for idx, mentions in chunks:
        for m in mentions:
            st = stats.get(m.name)
            if st is None:
                st = stats[m.name] = _NameStat(m.name, idx)
            st.first_chunk = min(st.first_chunk, idx)
            st.count += max(1, m.count)
            st.chunks.add(idx)
            st.votes.update(m.labels)
            st.he += m.he
            st.she += m.she
            st.lower += m.lower
            st.at += m.at
            if "model" in m.source:
                st.model = True
                st.model_kind = st.model_kind or m.kind
    return stats


def _keep(st: _NameStat, surnames: set[str]) -> bool:
    if st.name.lower() in STOP_NAMES or clean_name(st.name) != st.name:
        return False
    p = parse_name(st.name)
    if len(p.words) == 1 and p.title is None and st.lower >= st.count:
        return False  # a capitalised common word
    if st.count >= 2 or st.model:
        return True
    return p.is_full and p.last in surnames  # a one-off full name of a known family


def _kind_of(st: _NameStat, person_words: set[str], strong: frozenset[str] = frozenset()) -> str:
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
    return "thing" if len(st.chunks) >= 3 else ""


def _gender_by_first(stats: dict[str, _NameStat]) -> dict[str, str | None]:
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

    def __init__(self, stats: dict[str, _NameStat], genders: dict[str, str | None], distinct: Distinct | None = None) -> None:
        self.stats = stats
        self.genders = genders
        self.distinct = distinct or Distinct()
        self.clusters: list[_Cluster] = []
        self.of: dict[str, _Cluster] = {}

    def apart(self, name: str, cl: _Cluster) -> bool:
        """``name`` cannot join ``cl``: a different person from one of its names in some
        sentence, or (a gender-neutral title) its own pronouns say the other gender."""
        if self.distinct.any([name], cl.members):
            return True
        title = parse_name(name).title
        if title is None or TITLES[title][1] is not None:
            return False
        own = name_gender(self.stats[name])
        return bool(own and cl.gender and own != cl.gender)

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

    def new(self, name: str, p: Parsed, firsts=(), surnames=()) -> _Cluster:
        cl = _Cluster(members=[], kind="character", firsts=set(firsts), surnames=set(surnames))
        self.clusters.append(cl)
        self.add(cl, name, p)
        return cl

    def full(self, name: str) -> None:
        p = parse_name(name)
        for cl in self.clusters:
            if any(core_words(parse_name(m).words) == core_words(p.words) for m in cl.members) and _title_ok(p.title, cl):
                self.add(cl, name, p)
                return
        self.new(name, p)

    def titled(self, name: str) -> None:
        p = parse_name(name)
        word, gender = p.first, TITLES[p.title][1]
        fulls = [c for c in self.clusters if c.has_full and word in c.surnames and not self.apart(name, c)]
        cands = [c for c in fulls if _title_ok(p.title, c)]
        if len(fulls) > 1 and gender is not None:
            strict = [c for c in cands if c.gender == gender]
            unknown = [c for c in cands if c.gender is None]
            others_known = all(c.gender is not None for c in fulls if c not in unknown)
            # "Mrs. Wilson": George Wilson is a man, so the one of unknown gender (Myrtle Wilson)
            cands = strict or (unknown if len(unknown) == 1 and others_known else [])
        if not cands and (p.title in FIRSTNAME_TITLES or p.title in ("miss", "master")):
            # "Lady Catherine", "Miss Elizabeth": title + first name
            cands = [c for c in self.clusters if c.has_full and word in c.firsts and _title_ok(p.title, c) and not self.apart(name, c)]
        if len(cands) == 1:
            self.add(cands[0], name, p)
            return
        cls_ = TITLES[p.title][0]
        for c in self.clusters:
            if not c.has_full and cls_ in c.titles and (word in c.surnames or word in c.firsts) and not self.apart(name, c):
                self.add(c, name, p)
                return
        as_first = p.title in FIRSTNAME_TITLES
        self.new(name, p, firsts=[word] if as_first else [], surnames=[] if as_first else [word])

    def single(self, name: str) -> None:
        p = parse_name(name)
        firsts = [c for c in self.clusters if name in c.firsts and not self.distinct.any([name], c.members)]
        surnames = [c for c in self.clusters if name in c.surnames and c not in firsts and not self.distinct.any([name], c.members)]
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


def _order(stats: dict[str, _NameStat], names) -> list[str]:
    return sorted(names, key=lambda n: (stats[n].first_chunk, -stats[n].count, n))


def _slug(text: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-") or "entity"


def _canonical(members: list[str], stats: dict[str, _NameStat]) -> str:
    def score(n: str) -> tuple:
        p = parse_name(n)
        return (p.is_full and p.title is None, p.is_full, stats[n].count, len(n), n)

    return max(members, key=score)


def resolve(
    chunks: list[ChunkLore],
    model_aliases: list[tuple[int, str, list[str]]] = (),
    distinct: list[tuple[int, str, str]] = (),
) -> tuple[list[Entity], dict[str, str]]:
    """Entities from every chunk's mentions (chunk order), most mentioned first, and a
    map from every kept name to its entity id. ``model_aliases`` lists
    (chunk, name, aliases) the model gave; ``distinct`` lists (chunk, name, name) pairs
    that act as different people in one sentence (never merged). Deterministic for
    the same input."""
    stats = _collect(chunks)
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
        if p.title or sum(v for k, v in st.votes.items() if k in PERSON_LABELS) > 0:
            person_words.update(p.words)
    kinds = {n: _kind_of(st, person_words) for n, st in kept.items() if parse_name(n).is_full}
    person_words.update(w for n, k in kinds.items() if k == "character" for w in parse_name(n).words)
    strong = frozenset(w for n, k in kinds.items() if k == "character" for w in parse_name(n).words)
    strong |= frozenset(w for n in kept if parse_name(n).title for w in parse_name(n).words)
    for n, st in kept.items():
        if not parse_name(n).is_full:
            kinds[n] = _kind_of(st, person_words, strong)
    kinds = {n: k for n, k in kinds.items() if k}
    res = _Resolver(stats, _gender_by_first(stats), Distinct(distinct))
    chars = [n for n, k in kinds.items() if k == "character"]
    for n in _order(stats, [n for n in chars if parse_name(n).is_full]):
        res.full(n)
    model_pairs = {frozenset((n, a)) for _, n, aliases in model_aliases for a in aliases}
    nickname_step(res, model_pairs)  # full names first ("Thomas Buchanan" -> "Tom Buchanan"), so titles find one
    for n in _order(stats, [n for n in chars if not parse_name(n).is_full and parse_name(n).title]):
        res.titled(n)
    for n in _order(stats, [n for n in chars if not parse_name(n).is_full and not parse_name(n).title]):
        res.single(n)
    for n in _order(stats, [n for n, k in kinds.items() if k != "character"]):
        cl = _Cluster(members=[], kind=kinds[n])
        res.clusters.append(cl)
        res.add(cl, n, Parsed(None, tuple(n.split())))
    short_forms(res, set(PLACE_TAILS))
    _apply_model_aliases(res, model_aliases)
    nickname_step(res, model_pairs)
    return _entities(res, chunks, stats)


def _apply_model_aliases(res: _Resolver, model_aliases) -> None:
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


def _entities(res: _Resolver, chunks: list[ChunkLore], stats: dict[str, _NameStat]) -> tuple[list[Entity], dict[str, str]]:
    ents: list[Entity] = []
    ids: set[str] = set()
    name_to_id: dict[str, str] = {}
    clusters = [c for c in res.clusters if c.members]
    clusters.sort(key=lambda c: min((stats[m].first_chunk, -stats[m].count, m) for m in c.members))
    for cl in clusters:
        first = min(cl.members, key=lambda m: (stats[m].first_chunk, -stats[m].count, m))
        eid, n = _slug(first), 2
        while eid in ids:
            eid, n = f"{_slug(first)}-{n}", n + 1
        ids.add(eid)
        ent = Entity(id=eid, name=_canonical(cl.members, stats), kind=cl.kind)
        ent.aliases = {m: stats[m].first_chunk for m in sorted(cl.members)}
        ent.mentions = sorted(set().union(*(stats[m].chunks for m in cl.members)))
        ents.append(ent)
        for m in cl.members:
            name_to_id[m] = eid
    by_id = {e.id: e for e in ents}
    descs: dict[str, dict[int, tuple[int, str, str]]] = defaultdict(dict)
    for idx, mentions in chunks:
        for m in mentions:
            eid = name_to_id.get(m.name)
            if eid is None or not m.description:
                continue
            kind = m.desc_kind or ("model" if "model" in m.source else "")
            cand = (-desc_score(kind), m.description, kind)
            cur = descs[eid].get(idx)
            if cur is None or cand < cur:
                descs[eid][idx] = cand
    for eid, per_chunk in descs.items():
        by_id[eid].descriptions = [(c, d) for c, (_, d, _) in sorted(per_chunk.items())]
        by_id[eid].desc_kinds = {c: k for c, (_, _, k) in sorted(per_chunk.items()) if k}
    ents.sort(key=lambda e: (-len(e.mentions), e.name, e.id))
    return ents, name_to_id
