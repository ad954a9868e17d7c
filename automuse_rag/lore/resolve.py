"""Alias resolution: name mentions of committed chunks -> entities.

Two steps:

1. :func:`ner_mentions` turns one chunk's spaCy ``Doc`` into :class:`LoreMention` s
   (one per distinct name in the chunk) with NER label votes, pronoun evidence, the
   sentence that mentions it (its description from this chunk) and a count of the
   name's lower-case uses (to spot capitalised common words).
2. :func:`resolve` merges the mentions of every committed chunk into
   :class:`~automuse_rag.lore.entity.Entity` objects. It is a pure function of its
   input, processed in a fixed order, so a resumed ingest and an uninterrupted one
   end with identical entities.

Alias rules (characters):

- Full names ("Fitzwilliam Darcy", "Miss Jane Bennet") form clusters; the same words
  with or without a title are one cluster. An initial joins the one full name it can
  abbreviate ("R. Walton" -> "Robert Walton"; with a "Richard Walton" too, neither).
- Title + one word ("Mr. Darcy") joins the unique full-name cluster with that
  surname whose title and gender are compatible. When several full names share the
  surname ("Walter Pennock", "Agnes Pennock") the gender must match strictly
  ("Mr." -> the one known as "he"); otherwise it stays its own entity. "Mr." /
  "Mrs." / "Miss" / "Lady" / "Sir" / "Lord" never merge with each other, so
  "Mr. Bennet" and "Mrs. Bennet" stay apart. "Lady"/"Sir"/"Lord" + one word may
  also be a first name ("Lady Catherine" -> "Catherine de Bourgh"), preferring the
  full name with that title ("Sir William" -> "Sir William Lucas", not "William
  Goulding"). When the gender rule would pick one full name over a namesake of
  unknown gender, the one named in its scenes wins ("Mr. Gatz" -> "Henry C. Gatz",
  named the chunk before, not James Gatz 80 chunks back); see ``rules.SCENE``.
  A woman the story titles "Miss" with her given name alone ("Miss Margaret") is
  unmarried, so no "Mrs."/"Lady" of her own surname ("Mrs. Hale", her mother) joins her.
  A bare "Miss Bennet" among several sisters is the eldest unmarried one: the only
  sister nobody calls "Miss <first name>" and not known by a married name, when the
  story calls at least one of the others so ("Miss Elizabeth"); see ``Resolver.eldest``.
- A bare word ("Darcy", "Edith") joins the unique cluster having it as first name
  or surname. When several clusters claim it, it goes to the only one named in its
  scenes ("Jane" -> Miss Jane Bennet, not the preface's Jane Austen), else to the
  dominant one (at least twice the mentions of all others together, e.g. "Bingley"
  -> Mr. Bingley; a surname among a family's men and women only among its men:
  "Tulliver" is not Maggie Tulliver; a given name never goes to the other sex, "Charles"
  not to "Mrs. Charles"), otherwise it stays an entity of its own (e.g. bare "Bennet" in
  Pride and Prejudice).
- Speakers NER misses ("said the Queen", lore/ner.py) are characters; a title a
  story gives one person ("King", "Queen", "Duchess") may be a name on its own.
- The model's aliases join the cluster of the name they were given for when they
  are not yet part of a larger cluster.
- A name recorded as a different person from a cluster's name in some sentence
  (``ChunkAnalysis.distinct``) never joins it; nor does a gender-neutral title
  ("Doctor Manette") join a cluster of the other gender by its own pronouns.
- A full name holding another's words in order, sharing its first or last word, is
  the same person when it is the only such cluster ("John Silver" / "Long John
  Silver"). A surname title before a first name ("Mrs. Rachel", "Mr. Godfrey") joins
  the one full name with that first name named in its scenes. "Master" grows into
  "Mr."; "Mistress" is any woman's title, neither "Mrs." nor "Miss" ("Mistress Mary" and
  "Miss Mary" are Mary Lennox); spoken and regional titles ("Cap'n", "Mester", "Squire", "Farmer",
  "Parson", "Widow") are titles.
  "Mrs. Godfrey Cass" (a woman's title on a man's given name) is a wife named by her
  husband's name: his given name is not hers. A title form never joins a full name
  whose bare given name acts as another person beside it ("Diana and Mrs. Barry").
  A bare name and a longer one holding it count as different people only when read
  so in two chunks (``nicknames.SHARED_WORD_CHUNKS``).
- Nicknames (Lizzy -> Elizabeth, Tom -> Thomas; pet forms in -y: Toady -> Toad) and short place forms ("Rosings" ->
  "Rosings Park"): lore/merge_steps.py. Middle initials do not count ("George B.
  Wilson" is "George Wilson").
- A first-person narrator's given name and surname, each spoken to him and never
  written together ("Nick" / "Mr. Carraway"): lore/narrator.py. Names spoken to the
  narrator share the component key :data:`NARRATOR_KEY`.
- A writer's corrections (``automuse characters --merge/--split``) apply after every
  rule and win over them: lore/corrections.py.
- A real-name statement ("James Gatz—that was really ... his name") is read with the
  chunk (lore/real_names.py) and arrives here as an alias, like a model's.

The rules themselves are in lore/rules.py.

Filters: honorifics alone, names with line breaks or lower-case words, capitalised
common words (a one-word name used at least as often in lower case), and one-off
names (seen once so far, unless the model named it or it is a full name that NER
tags as a person or whose surname is known).

Locality: every rule looks only at names that share a word (titles aside) or a
nickname key with the name being resolved, or are linked to it by a model alias, by a
writer's merge (lore/corrections.py) or by both being spoken to the narrator.
So names fall into connected *components* (:func:`link_keys`), each resolved on its
own by :func:`resolve_component`; resolving the whole book is resolving each
component. That is what lets :class:`~automuse_rag.lore.lorestate.LoreState`
commit a chunk by re-resolving only the components the chunk touches, and still
equal a from-scratch :func:`resolve` of the same chunks.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from automuse_rag.lore.corrections import apply_corrections, merge_links
from automuse_rag.lore.describe import score as desc_score
from automuse_rag.lore.draft import Draft
from automuse_rag.lore.entity import Entity
from automuse_rag.lore.keep import gender_by_first, glued_names, keep_name, kind_of, person_votes
from automuse_rag.lore.merge_steps import nickname_step, short_forms
from automuse_rag.lore.names import PERSON_LABELS, PLACE_TAILS, Parsed, looks_like_place, parse_name
from automuse_rag.lore.narrator import narrator_step
from automuse_rag.lore.nicknames import Distinct, nickname_keys
from automuse_rag.lore.rules import Resolver, apply_model_aliases
from automuse_rag.lore.stats import ChunkLore, Correction, DistinctPair, ModelAlias, NameStat
from automuse_rag.lore.types import LoreMention
from automuse_rag.lore.unionfind import UnionFind


@dataclass(frozen=True)
class Cluster:
    """One resolved entity, before its facts (mentions, descriptions) are attached."""

    members: tuple[str, ...]  # sorted
    kind: str
    canonical: str  # the name it goes by
    first: str  # its earliest name (first chunk, then name): the base of its id


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


# Names spoken to the narrator share this key: the narrator's names meet in one component.
NARRATOR_KEY = "narrator"


@lru_cache(maxsize=65536)
def link_keys(name: str) -> tuple[str, ...]:
    """The keys that put names into one component: their words (titles aside) and
    the nickname keys of those words (Lizzy and Elizabeth share "elizabeth")."""
    words = parse_name(name).words
    return (*(f"w:{w}" for w in words), *sorted({f"k:{k}" for w in words for k in nickname_keys(w)}))


def _order(stats: Mapping[str, NameStat], names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda n: (stats[n].first_chunk, -stats[n].count, n))


@lru_cache(maxsize=65536)
def slug(text: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-") or "entity"


def _canonical(members: Iterable[str], stats: Mapping[str, NameStat]) -> str:
    def score(n: str) -> tuple[bool, bool, int, int, str]:
        p = parse_name(n)
        return (p.is_full and p.title is None, p.is_full, stats[n].count, len(n), n)

    return max(members, key=score)


def resolve_component(
    stats: Mapping[str, NameStat],
    model_aliases: Sequence[ModelAlias] = (),
    distinct: Iterable[DistinctPair] = (),
    corrections: Iterable[Correction] = (),
) -> list[Cluster]:
    """Resolve the names of one component (or of several: the rules are local).
    ``stats`` holds every name of the component; ``model_aliases``, ``distinct`` and
    the writer's ``corrections`` (applied last: lore/corrections.py) those given for
    its names. Pure and deterministic; clusters in no particular order."""
    surnames = {
        parse_name(n).last
        for n, st in stats.items()
        if st.count >= 2
        and not looks_like_place(n)
        and (parse_name(n).title or (parse_name(n).is_full and any(k in PERSON_LABELS for k in st.votes)))
    }
    glued = glued_names(stats)
    kept = {n: st for n, st in stats.items() if keep_name(st, surnames) and n not in glued}
    person_words: set[str] = set()
    for n, st in kept.items():
        p = parse_name(n)
        if p.title or person_votes(st) > 0:
            person_words.update(p.words)
    kinds = {n: kind_of(st, person_words) for n, st in kept.items() if parse_name(n).is_full}
    person_words.update(w for n, k in kinds.items() if k == "character" for w in parse_name(n).words)
    strong = frozenset(w for n, k in kinds.items() if k == "character" for w in parse_name(n).words)
    strong |= frozenset(w for n in kept if parse_name(n).title for w in parse_name(n).words)
    for n, st in kept.items():
        if not parse_name(n).is_full:
            kinds[n] = kind_of(st, person_words, strong)
    kinds = {n: k for n, k in kinds.items() if k}
    res = Resolver(stats, gender_by_first(stats), Distinct(distinct))
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
        cl = Draft(members=[], kind=kinds[n])
        res.clusters.append(cl)
        res.add(cl, n, Parsed(None, tuple(n.split())))
    short_forms(res, set(PLACE_TAILS))
    apply_model_aliases(res, model_aliases)
    nickname_step(res, model_pairs)
    narrator_step(res)
    named = apply_corrections(res, corrections, lambda members: _canonical(members, stats))
    out = []
    for cl in res.clusters:
        if cl.members:
            first = min(cl.members, key=lambda m: (stats[m].first_chunk, m))
            name = named.get(id(cl))
            canonical = name if name in cl.members else _canonical(cl.members, stats)
            out.append(Cluster(tuple(sorted(cl.members)), cl.kind, canonical, first))
    return out


def id_order(cluster: Cluster, stats: Mapping[str, NameStat]) -> tuple[int, str, tuple[str, ...]]:
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


def components(names: Iterable[str], links: Iterable[tuple[str, str]] = (), narrated: Iterable[str] = ()) -> list[list[str]]:
    """Group names into components: names sharing a :func:`link_keys` key, joined by a
    ``links`` pair (a model alias or a writer's merge), or ``narrated`` (spoken to the narrator), end in one group."""
    uf = UnionFind()
    names = list(names)
    for n in names:
        uf.union(f"n:{n}", *link_keys(n))
    for a, b in links:
        uf.union(f"n:{a}", f"n:{b}")
    for n in narrated:
        uf.union(f"n:{n}", NARRATOR_KEY)
    groups: dict[str, list[str]] = defaultdict(list)
    for n in names:
        groups[uf.find(f"n:{n}")].append(n)
    return list(groups.values())


def alias_links(model_aliases: Iterable[ModelAlias]) -> list[tuple[str, str]]:
    return [(name, alias) for _, name, aliases in model_aliases for alias in aliases]


def resolve_all(
    stats: Mapping[str, NameStat],
    model_aliases: Sequence[ModelAlias] = (),
    distinct: Sequence[DistinctPair] = (),
    corrections: Sequence[Correction] = (),
) -> dict[Cluster, str]:
    """Every cluster of ``stats`` with its id, resolved component by component in one
    go; ``corrections`` are the writer's in force (lore/corrections.py)."""
    clusters: list[Cluster] = []
    narrated = [n for n, st in stats.items() if st.narrator]
    for comp in components(stats, [*alias_links(model_aliases), *merge_links(corrections)], narrated):
        members = set(comp)
        sub = {n: stats[n] for n in comp}
        clusters += resolve_component(
            sub,
            [t for t in model_aliases if t[1] in members],
            [p for p in distinct if p[1] in members and p[2] in members],
            [c for c in corrections if members.intersection(c.names())],
        )
    return assign_ids(clusters, stats)


def describe_rank(m: LoreMention) -> tuple[int, str]:
    """How a mention's description competes within its chunk (lower wins): its kind's
    score (lore/describe.py), then its text. Also returns the kind."""
    kind = m.desc_kind or ("model" if "model" in m.source else "")
    return -desc_score(kind), kind


def build_entities(
    clusters: Mapping[Cluster, str], chunks: Iterable[ChunkLore], stats: Mapping[str, NameStat]
) -> tuple[list[Entity], dict[str, str]]:
    """Entities (most mentioned first) with their mentions and descriptions from
    ``chunks``, and the name -> entity id map."""
    name_to_id = {m: eid for cl, eid in clusters.items() for m in cl.members}
    by_id = {
        eid: Entity(id=eid, name=cl.canonical, kind=cl.kind, aliases={m: stats[m].first_chunk for m in sorted(cl.members)})
        for cl, eid in clusters.items()
    }
    mentions: dict[str, set[int]] = defaultdict(set)
    descs: dict[str, dict[int, tuple[int, str, str]]] = defaultdict(dict)
    for idx, chunk_mentions in chunks:
        for m in chunk_mentions:
            eid = name_to_id.get(m.name)
            if eid is None:
                continue
            mentions[eid].add(idx)
            if not m.description:
                continue
            rank, kind = describe_rank(m)
            cand = (rank, m.description, kind)
            cur = descs[eid].get(idx)
            if cur is None or cand < cur:
                descs[eid][idx] = cand
    for eid, ent in by_id.items():
        ent.mentions = sorted(mentions[eid])
        ent.descriptions = [(c, d) for c, (_, d, _) in sorted(descs[eid].items())]
        ent.desc_kinds = {c: k for c, (_, _, k) in sorted(descs[eid].items()) if k}
    ents = sorted(by_id.values(), key=lambda e: (-len(e.mentions), e.name, e.id))
    return ents, name_to_id


def resolve(
    chunks: list[ChunkLore],
    model_aliases: Sequence[ModelAlias] = (),
    distinct: Sequence[DistinctPair] = (),
    corrections: Sequence[Correction] = (),
) -> tuple[list[Entity], dict[str, str]]:
    """Entities from every chunk's mentions, most mentioned first, and a map from
    every kept name to its entity id, resolved from scratch. ``model_aliases`` lists
    (chunk, name, aliases) the model gave; ``distinct`` (chunk, name, name) pairs that
    act as different people in one sentence (never merged); ``corrections`` the
    writer's (all applied). Deterministic."""
    stats = collect(chunks)
    return build_entities(resolve_all(stats, model_aliases, distinct, corrections), chunks, stats)
