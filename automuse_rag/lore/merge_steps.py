"""Merge steps of alias resolution that join whole clusters (lore/resolve.py calls
them on its ``Resolver``): nicknames with evidence, and short forms of places.

Pure functions of the resolver's clusters and per-name statistics; they only look at
clusters sharing a word or a nickname key with the one being merged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from automuse_rag.lore.draft import Draft
from automuse_rag.lore.names import CIVIL, FIRSTNAME_TITLES, parse_name
from automuse_rag.lore.nicknames import (
    EVIDENCE_RANK,
    are_nicknames,
    nickname_evidence,
    pet_form,
)
from automuse_rag.lore.rules import Resolver
from automuse_rag.lore.stats import NameStat


def merge(res: Resolver, src: Draft, dst: Draft) -> None:
    """Move every name of ``src`` into ``dst``."""
    res.absorb(src, dst)


def short_forms(res: Resolver, tails: set[str]) -> None:
    """A one-word place or thing joins the unique longer name of the same kind that
    is it plus a place word ("Rosings" -> "Rosings Park") or ends with it
    ("Rabbit" -> "White Rabbit")."""
    multi = [c for c in res.clusters if c.kind != "character" and any(" " in m for m in c.members)]
    for cl in [c for c in res.clusters if c.kind != "character" and len(c.members) == 1 and " " not in c.members[0]]:
        word = cl.members[0]
        cands = [
            c
            for c in multi
            if c.kind == cl.kind
            and any((m.split()[0] == word and m.split()[-1].lower() in tails) or m.split()[-1] == word for m in c.members)
        ]
        if len(cands) == 1 and not res.distinct.any([word], cands[0].members):
            merge(res, cl, cands[0])


def nickname_step(res: Resolver, model_pairs: set[frozenset[str]]) -> None:
    """Merge a character cluster into one whose given name it shares a nickname key
    with (Lizzy -> Elizabeth Bennet, Jim Vane -> James Vane), when compatible
    (titles, gender, surnames), never recorded as different people, and with
    evidence (lore/nicknames.py): shared surname > model alias > shared title >
    same scenes. Smaller clusters go first; ties between candidates with the same
    evidence go to a dominant one (twice the weight of the others) or nowhere."""
    order = sorted((c for c in res.clusters if c.kind == "character"), key=lambda c: (c.weight, _first_seen(c, res.stats)))
    primary: dict[int, tuple[int, set[str]]] = {}  # id(cluster) -> (its size, its primary given name), until it grows

    def primary_of(b: Draft) -> set[str]:
        size, words = primary.get(id(b), (-1, set()))
        if size != len(b.members):
            words = _given(b, res.stats, primary=True)
            primary[id(b)] = (len(b.members), words)
        return words

    for a in order:
        if not a.members:
            continue
        given_a = _given(a)
        cands: list[tuple[int, int, Draft]] = []
        for b in res.clusters:
            if b is a or b.kind != "character" or not b.members or b.weight < a.weight:
                continue
            if not any(are_nicknames(x, y) or pet_form(x, y) or pet_form(y, x) for x in given_a for y in primary_of(b)):
                continue
            fam_a, fam_b = _families(a), _families(b)
            if (fam_a and fam_b and not fam_a & fam_b) or not compatible(a, b) or res.distinct.any(a.members, b.members):
                continue
            ev = nickname_evidence(
                shared_surname=bool(fam_a & fam_b),
                shared_title=bool(a.titles & b.titles),
                model_alias=any(frozenset((x, y)) in model_pairs for x in a.members for y in b.members),
                nick_chunks=_chunks(a, res.stats),
                full_chunks=_chunks(b, res.stats),
            )
            if ev:
                cands.append((EVIDENCE_RANK[ev], b.weight, b))
        if not cands:
            continue
        top = max(r for r, _, _ in cands)
        tied = sorted((c for c in cands if c[0] == top), key=lambda c: -c[1])
        if len(tied) == 1 or tied[0][1] >= 2 * sum(w for _, w, _ in tied[1:]):
            merge(res, a, tied[0][2])


def _given(cl: Draft, stats: Mapping[str, NameStat] | None = None, primary: bool = False) -> set[str]:
    """Given-name words of a cluster: first words of full names, "Lady/Miss + word",
    bare words. ``primary``: only the most used one, so that a nickname already
    merged in ("Eliza") does not pull in its own relatives ("Louisa")."""
    counts: Counter[str] = Counter()
    for m in cl.members:
        p = parse_name(m)
        if p.is_full or p.title is None or p.title in FIRSTNAME_TITLES or p.title in ("miss", "master"):
            counts[p.first] += stats[m].count if stats else 1
    if primary and counts:
        return {max(counts, key=lambda w: (counts[w], w))}
    return set(counts)


def _families(cl: Draft) -> set[str]:
    """Surnames the cluster certainly carries: of full names and of "Mr./Mrs. X"."""
    out: set[str] = set()
    for m in cl.members:
        p = parse_name(m)
        if p.is_full:
            out.add(p.last)
        elif p.title in ("mr", "mrs", "mister", "mistress"):
            out.add(p.first)
    return out


def compatible(a: Draft, b: Draft) -> bool:
    """Two clusters may be one person: no two different civil titles, no two genders."""
    civil_a = {t for t in a.titles if t in CIVIL}
    civil_b = {t for t in b.titles if t in CIVIL}
    if civil_a and civil_b and not civil_a & civil_b:
        return False
    return not (a.gender and b.gender and a.gender != b.gender)


def _chunks(cl: Draft, stats: Mapping[str, NameStat]) -> set[int]:
    return set().union(*(stats[m].chunks for m in cl.members)) if cl.members else set()


def _first_seen(cl: Draft, stats: Mapping[str, NameStat]) -> tuple[int, str]:
    return min((stats[m].first_chunk, m) for m in cl.members) if cl.members else (0, "")
