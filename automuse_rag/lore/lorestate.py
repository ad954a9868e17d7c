"""Incremental alias resolution: fold chunks into entities, one chunk at a time.

:class:`LoreState` holds per-name statistics, the components of names that can
affect each other (:func:`~automuse_rag.lore.resolve.link_keys`) and the current
entities. :meth:`LoreState.add_chunk` re-resolves only the components the chunk
touches (plus, rarely, entities whose id depends on a slug they share with a
changed one) and returns a :class:`Delta`: the entity versions that end and the
ones that begin at that chunk. The store writes a delta as valid-time rows, so
"the entities as of chunk i" is simply the versions valid at i.

Equal by construction to a from-scratch :func:`~automuse_rag.lore.resolve.resolve_all`
of the same chunks (the rules are component-local and a component's input changes
only when one of its names is mentioned); tests/test_lorestate.py checks it with
hypothesis over random books, commit orders and interrupted runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from automuse_rag.lore.resolve import (
    NARRATOR_KEY,
    Cluster,
    assign_ids,
    id_order,
    link_keys,
    resolve_component,
    slug,
)
from automuse_rag.lore.stats import Correction, DistinctPair, ModelAlias, NameStat
from automuse_rag.lore.types import LoreMention
from automuse_rag.lore.unionfind import UnionFind


@dataclass(frozen=True)
class EntityState:
    """One version of an entity: what it is called, what it is and its names."""

    id: str
    kind: str
    name: str
    members: tuple[str, ...]


@dataclass
class Delta:
    """What committing one chunk changed: versions that end and versions that begin."""

    chunk: int
    closed: list[str] = field(default_factory=list)  # entity ids
    opened: list[EntityState] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.closed or self.opened)


def model_aliases_of(idx: int, mentions: Iterable[LoreMention]) -> list[ModelAlias]:
    return [(idx, m.name, list(m.aliases)) for m in mentions if m.aliases]


class LoreState:
    """The resolver's state after the chunks folded in so far (in index order)."""

    def __init__(self) -> None:
        self.stats: dict[str, NameStat] = {}
        self.aliases: dict[str, list[ModelAlias]] = defaultdict(list)  # by name
        self.distinct: dict[str, list[DistinctPair]] = defaultdict(list)  # by each of its names
        self.corrections: dict[str, list[Correction]] = defaultdict(list)  # the writer's, by each of its names
        self._uf = UnionFind()
        self._names_of_root: dict[str, set[str]] = {}
        self.entities: dict[str, EntityState] = {}  # current, by id
        self._cluster_of: dict[str, Cluster] = {}  # entity id -> cluster
        self.eid_of: dict[str, str] = {}  # kept name -> entity id
        self._by_slug: dict[str, set[Cluster]] = defaultdict(set)
        self.last_chunk = -1

    # ------------------------------------------------------------------ building

    @classmethod
    def restore(
        cls,
        stats: Mapping[str, NameStat],
        aliases: Iterable[ModelAlias],
        entities: Iterable[EntityState],
        last_chunk: int,
        distinct: Iterable[DistinctPair] = (),
        corrections: Iterable[Correction] = (),
    ) -> LoreState:
        """A state loaded back from the store (stats, model aliases, different-people
        pairs, the writer's corrections in force, open versions)."""
        state = cls()
        state.stats = dict(stats)
        for t in aliases:
            state.aliases[t[1]].append(t)
        for pair in distinct:
            state._add_distinct(pair)
        for c in corrections:
            state._add_correction(c)
        for name, st in state.stats.items():
            state._link(name)
            if st.narrator:
                state._link_narrator(name)
        for name, tuples in state.aliases.items():
            for _, _, aliases_ in tuples:
                for alias in aliases_:
                    state._link_pair(name, alias)
        for ent in entities:
            state._install(ent)
        state.last_chunk = last_chunk
        return state

    def _add_distinct(self, pair: DistinctPair) -> None:
        self.distinct[pair[1]].append(pair)
        if pair[2] != pair[1]:
            self.distinct[pair[2]].append(pair)

    def _add_correction(self, c: Correction) -> None:
        for name in set(c.names()):
            self.corrections[name].append(c)
        if c.kind == "merge":
            self._link_pair(c.a, c.b)

    def _install(self, ent: EntityState) -> None:
        first = min(ent.members, key=lambda m: (self.stats[m].first_chunk, m))
        cl = Cluster(ent.members, ent.kind, ent.name, first)
        self.entities[ent.id] = ent
        self._cluster_of[ent.id] = cl
        self._by_slug[slug(first)].add(cl)
        for m in ent.members:
            self.eid_of[m] = ent.id

    def _remove(self, eid: str) -> None:
        ent = self.entities.pop(eid)
        cl = self._cluster_of.pop(eid)
        self._by_slug[slug(cl.first)].discard(cl)
        for m in ent.members:
            if self.eid_of.get(m) == eid:
                del self.eid_of[m]

    def _merge_roots(self, before: set[str], after: str) -> None:
        names = self._names_of_root.setdefault(after, set())
        for r in before:
            if r != after:
                names |= self._names_of_root.pop(r, set())

    def _link(self, name: str) -> None:
        keys = [f"n:{name}", *link_keys(name)]
        before = {self._uf.find(k) for k in keys}
        root = self._uf.union(*keys)
        self._merge_roots(before, root)
        self._names_of_root[root].add(name)

    def _link_pair(self, a: str, b: str) -> None:
        before = {self._uf.find(f"n:{a}"), self._uf.find(f"n:{b}")}
        root = self._uf.union(f"n:{a}", f"n:{b}")
        self._merge_roots(before, root)

    def _link_narrator(self, name: str) -> None:
        before = {self._uf.find(f"n:{name}"), self._uf.find(NARRATOR_KEY)}
        root = self._uf.union(f"n:{name}", NARRATOR_KEY)
        self._merge_roots(before, root)

    def component(self, name: str) -> set[str]:
        """Every name (seen so far) in ``name``'s component."""
        return self._names_of_root.get(self._uf.find(f"n:{name}"), set())

    # ------------------------------------------------------------------ folding

    def add_chunk(
        self,
        idx: int,
        mentions: list[LoreMention],
        distinct: Iterable[tuple[str, str]] = (),
        corrections: Iterable[Correction] = (),
    ) -> Delta:
        """Fold chunk ``idx`` in (chunks must come in increasing index order), with the
        name pairs it records as different people and the writer's corrections that
        come into force with it (those given from a chunk after the last one folded,
        up to ``idx``)."""
        if idx <= self.last_chunk:
            raise ValueError(f"chunk {idx} folded after chunk {self.last_chunk}")
        self.last_chunk = idx
        touched: set[str] = set()
        for m in mentions:
            st = self.stats.get(m.name)
            if st is None:
                st = self.stats[m.name] = NameStat(m.name, idx)
                self._link(m.name)
            st.add(idx, m, new_chunk=m.name not in touched)
            if m.to_narrator:
                self._link_narrator(m.name)
            touched.add(m.name)
        for t in model_aliases_of(idx, mentions):
            self.aliases[t[1]].append(t)
            for alias in t[2]:
                self._link_pair(t[1], alias)
        for a, b in distinct:
            self._add_distinct((idx, a, b))
            touched |= {n for n in (a, b) if n in self.stats}
        for c in corrections:
            self._add_correction(c)
            touched |= {n for n in c.names() if n in self.stats}
        roots = {self._uf.find(f"n:{n}") for n in touched}
        return self._reresolve(idx, [self._names_of_root[r] for r in sorted(roots)])

    def _reresolve(self, idx: int, comps: list[set[str]]) -> Delta:
        old: set[str] = set()  # entity ids of the touched components
        new: list[Cluster] = []
        for names in comps:
            old |= {self.eid_of[n] for n in names if n in self.eid_of}
            new += self.resolve_names(names)
        old_clusters = {self._cluster_of[e] for e in old}
        slugs = {slug(c.first) for c in old_clusters} | {slug(c.first) for c in new}
        before: dict[str, EntityState] = {}
        group: list[Cluster] = list(new)
        for s in slugs:
            for cl in self._by_slug.get(s, ()):
                eid = self._id_of(cl)
                before[eid] = self.entities[eid]
                if cl not in old_clusters:
                    group.append(cl)
        for eid in old:
            before[eid] = self.entities[eid]
        ids = assign_ids(group, self.stats)
        after = {eid: EntityState(eid, cl.kind, cl.canonical, cl.members) for cl, eid in ids.items()}
        delta = Delta(idx)
        for eid in sorted(before):
            if after.get(eid) != before[eid]:
                delta.closed.append(eid)
                self._remove(eid)
        for eid in sorted(after):
            if before.get(eid) != after[eid]:
                delta.opened.append(after[eid])
                self._install(after[eid])
        return delta

    def resolve_names(self, names: set[str], without: Correction | None = None) -> list[Cluster]:
        """Resolve one component's ``names`` afresh (``without`` one of the writer's corrections)."""
        sub = {n: self.stats[n] for n in names}
        pairs = sorted({p for n in names for p in self.distinct.get(n, ()) if p[1] in names and p[2] in names})
        fixes = sorted({c for n in names for c in self.corrections.get(n, ()) if c != without})
        return resolve_component(sub, [t for n in sorted(names) for t in self.aliases.get(n, ())], pairs, fixes)

    def _id_of(self, cl: Cluster) -> str:
        return self.eid_of[cl.members[0]]

    # ------------------------------------------------------------------ reading

    def clusters(self) -> dict[Cluster, str]:
        """The current clusters with their ids (as :func:`resolve_all` returns them)."""
        return {cl: eid for eid, cl in self._cluster_of.items()}

    def check_ids(self) -> None:
        """Assert the id invariant (debugging aid for tests)."""
        for base, group in self._by_slug.items():
            ordered = sorted(group, key=lambda c: id_order(c, self.stats))
            for n, cl in enumerate(ordered):
                assert self._id_of(cl) == (base if n == 0 else f"{base}-{n + 1}")


def fold(
    chunks: Iterable[tuple[int, list[LoreMention]]], distinct: Mapping[int, list[tuple[str, str]]] | None = None
) -> tuple[LoreState, list[Delta]]:
    """Fold chunks (sorted by index) into a fresh state; returns it with every delta."""
    state = LoreState()
    distinct = distinct or {}
    deltas = [state.add_chunk(idx, mentions, distinct.get(idx, ())) for idx, mentions in sorted(chunks, key=lambda t: t[0])]
    return state, deltas
