"""Candidate merges for a model to judge (issue 27's optional model pass).

The rules keep two characters apart whenever they cannot tell ("Mr. Gatz" beside
"Henry C. Gatz" and "Jay Gatsby"; "Gil" and "Gilbert Blythe" without a nickname
entry). :func:`merge_candidates` lists the pairs of character entities a capable
model may still join: names that share a word (titles aside) or a nickname key, so
the rules' own locality holds; whose genders, as titles, given names and pronouns
give them, do not differ; and no two of whose names act as different people in one
sentence ("Mr. Gatz and Gatsby"). Only those pairs are put to the model, one short
yes/no question each (memory/review.py), never every name pair.

Pure functions over entity members and name statistics, so the store's lore
(:class:`~automuse_rag.lore.lorestate.LoreState`) and the benchmark's fold share them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from automuse_rag.lore.family import sexes
from automuse_rag.lore.names import parse_name
from automuse_rag.lore.nicknames import nickname_keys
from automuse_rag.lore.resolve import link_keys
from automuse_rag.lore.stats import NameStat, name_gender

#: A key (a word or nickname key) that more character entities than this share is a
#: common word of names ("John", "Mrs."-less surnames of big families): pairs through
#: it alone are not asked about.
MAX_SHARING = 6


@dataclass(frozen=True)
class Candidate:
    """Two character entities a model may judge one: ``a`` (the less mentioned) into ``b``."""

    a: str  # entity id
    b: str
    a_name: str  # the name each goes by
    b_name: str
    shared: str  # the word or nickname key they share
    mentions: int  # the smaller entity's mentions: how much a right answer is worth


def entity_gender(members: Sequence[str], stats: Mapping[str, NameStat]) -> str | None:
    """An entity's sex as its names give it (lore/family.py :func:`sexes`: titles and
    given names) and the pronouns around each name (strong evidence only). None when
    unknown or when they disagree."""
    found = sexes(members) | {g for m in members if (st := stats.get(m)) is not None and (g := name_gender(st))}
    return found.pop() if len(found) == 1 else None


def _given_keys(names: Iterable[str]) -> set[str] | None:
    """The given names (with their nickname keys) of an entity's untitled full names;
    None when it has none."""
    firsts = [parse_name(n).first for n in names if parse_name(n).is_full and parse_name(n).title is None]
    if not firsts:
        return None
    return {k for f in firsts for k in (f.lower(), *nickname_keys(f))}


def _other_given(xs: Iterable[str], ys: Iterable[str]) -> bool:
    """Both have full names and no given name (or nickname key) in common: "Jonas
    Orme" and "Peter Orme" are two people, whatever a model says."""
    gx, gy = _given_keys(xs), _given_keys(ys)
    return gx is not None and gy is not None and not gx & gy


def merge_candidates(
    members: Mapping[str, Sequence[str]],
    names: Mapping[str, str],
    stats: Mapping[str, NameStat],
    distinct: Iterable[tuple[str, str]],
) -> list[Candidate]:
    """The pairs of character entities (``members``: id -> names; ``names``: id -> the
    name it goes by) that a model may judge one person: sharing a link key through
    at most :data:`MAX_SHARING` entities, genders not differing, no two of their names
    ever different people in one sentence (``distinct``), not two full names with
    different given names. Most mentioned first."""
    apart = {frozenset(p) for p in distinct}
    by_key: defaultdict[str, set[str]] = defaultdict(set)
    for eid, ms in members.items():
        for m in ms:
            for k in link_keys(m):
                by_key[k].add(eid)
    count = {eid: sum(stats[m].count for m in ms if m in stats) for eid, ms in members.items()}
    gender = {eid: entity_gender(ms, stats) for eid, ms in members.items()}
    seen: dict[frozenset[str], str] = {}
    for key in sorted(by_key):
        ids = sorted(by_key[key])
        if len(ids) > MAX_SHARING:
            continue
        for i, x in enumerate(ids):
            for y in ids[i + 1 :]:
                pair = frozenset((x, y))
                if pair not in seen:
                    seen[pair] = key.split(":", 1)[1]
    out = []
    for pair, shared in seen.items():
        x, y = sorted(pair)
        if gender[x] and gender[y] and gender[x] != gender[y]:
            continue
        if any(frozenset((m, n)) in apart for m in members[x] for n in members[y]):
            continue
        if _other_given(members[x], members[y]):
            continue
        a, b = sorted((x, y), key=lambda e: (count[e], e))  # the less mentioned joins the more
        out.append(Candidate(a, b, names[a], names[b], shared, count[a]))
    return sorted(out, key=lambda c: (-c.mentions, c.a, c.b))


def accepted(verdicts: Iterable[tuple[Candidate, bool | None]]) -> list[Candidate]:
    """The candidates a model's "yes" (True) may join: an entity the model would join
    to two others ("Mr. Gatz" to Henry C. Gatz and to Jay Gatsby) stays apart from
    both, as the rules would have it."""
    yes = [c for c, same in verdicts if same]
    into: defaultdict[str, set[str]] = defaultdict(set)
    for c in yes:
        into[c.a].add(c.b)
    return [c for c in yes if len(into[c.a]) == 1]
