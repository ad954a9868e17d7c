"""The lore of a story as of any chunk, computed the plain way from its analyses,
with no database: the reference the store is tested against, and what the dataset
audit trusts instead of the store's own as-of code.

Two modes give the same answers (tests/test_memory_core.py proves it):
``"scratch"`` resolves chunks ``0..i`` from nothing for each position asked (the
definition); ``"fold"`` folds the chunks once with
:class:`~automuse_rag.lore.lorestate.LoreState` and keeps every entity version
(fast enough to audit a whole novel). The writer's corrections, when given, are in
force from their chunk on in both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from automuse_rag.lore.entity import Entity, Relation
from automuse_rag.lore.family import FAMILY_VIA, any_family, family_relations, owners_read
from automuse_rag.lore.lorestate import EntityState, LoreState
from automuse_rag.lore.resolve import collect, resolve_all
from automuse_rag.lore.stats import Correction
from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.graph import relation_lines
from automuse_rag.memory.state import merged_mentions, relation_rows
from automuse_rag.memory.types import Edges, RelationRef


class NaiveLore:
    def __init__(
        self, analyses: Sequence[tuple[int, ChunkAnalysis]], mode: str = "fold", corrections: Sequence[Correction] = ()
    ) -> None:
        self.analyses = sorted(analyses, key=lambda t: t[0])
        self.mode = mode
        self.corrections = list(corrections)
        self.facts: dict[str, list[tuple[int, int, str, str]]] = defaultdict(list)  # name -> (chunk, rank, desc, kind)
        self.chunk_names: dict[int, list[str]] = {}
        for idx, a in self.analyses:
            rows = merged_mentions(a.mentions)
            self.chunk_names[idx] = sorted(rows)
            for name, r in rows.items():
                self.facts[name].append((idx, r.rank, r.description, r.kind))
        first: dict[tuple[int, str, str, str], str] = {}  # as the table keeps them: the first of a key wins
        for i, a in self.analyses:
            for c, src, tgt, lab, via in relation_rows(i, a):
                first.setdefault((c, src, tgt, lab), via)
        self.relation_rows = sorted((*key, via) for key, via in first.items())
        self._versions: list[tuple[int, int, EntityState]] = []
        self._scratch: dict[int, dict[str, EntityState]] = {}
        self._last: dict[str, tuple[int, Any]] = {}
        self._same: tuple[tuple[int, dict[str, str]], list[Relation]] | None = None
        self._relation_names = {n for r in self.relation_rows for n in (r[1], r[2])}
        if mode == "fold":
            state = LoreState()
            open_since: dict[str, tuple[int, EntityState]] = {}
            for idx, a in self.analyses:
                fixes = [c for c in self.corrections if state.last_chunk < c.chunk <= idx]
                delta = state.add_chunk(idx, a.mentions, a.distinct, fixes)
                for eid in delta.closed:
                    since, ent = open_since.pop(eid)
                    self._versions.append((since, idx, ent))
                for ent in delta.opened:
                    open_since[ent.id] = (idx, ent)
            self._versions += [(since, 1 << 62, ent) for since, ent in open_since.values()]
        self.last = self.analyses[-1][0] if self.analyses else -1

    def _pos(self, at: int | None) -> int:
        return self.last if at is None else int(at)

    def _memo(self, kind: str, at: int | None, make: Callable[[int], Any]) -> Any:
        """The last position's ``kind`` (states, names, relations, lines), computed once:
        the audit reads one position many times, then moves on. Still naive per position."""
        i = self._pos(at)
        hit = self._last.get(kind)
        if hit is None or hit[0] != i:
            hit = self._last[kind] = (i, make(i))
        return hit[1]

    def states(self, at: int | None) -> dict[str, EntityState]:
        """Entity id -> its version valid at ``at``."""
        i = self._pos(at)
        if self.mode == "fold":
            return self._memo(  # type: ignore[no-any-return]
                "states", i, lambda i: {ent.id: ent for since, until, ent in self._versions if since <= i < until}
            )
        if i not in self._scratch:
            upto = [(j, a.mentions) for j, a in self.analyses if j <= i]
            aliases = [(j, m.name, list(m.aliases)) for j, ms in upto for m in ms if m.aliases]
            distinct = [(j, x, y) for j, a in self.analyses if j <= i for x, y in a.distinct]
            self._scratch[i] = {
                eid: EntityState(eid, cl.kind, cl.canonical, cl.members)
                for cl, eid in resolve_all(
                    collect(upto), aliases, distinct, [c for c in self.corrections if c.chunk <= i]
                ).items()
            }
        return self._scratch[i]

    def name_map(self, at: int | None) -> dict[str, str]:
        return self._memo(  # type: ignore[no-any-return]
            "names", at, lambda i: {m: eid for eid, ent in self.states(i).items() for m in ent.members}
        )

    def entity(self, ent: EntityState, at: int | None) -> Entity:
        i = self._pos(at)
        view = Entity(id=ent.id, name=ent.name, kind=ent.kind)
        best: dict[int, tuple[int, str, str]] = {}
        chunks: set[int] = set()
        for m in ent.members:
            rows = [r for r in self.facts.get(m, []) if r[0] <= i]
            if rows:
                view.aliases[m] = rows[0][0]
            for chunk, rank, desc, kind in rows:
                chunks.add(chunk)
                if desc and (chunk not in best or (rank, desc, kind) < best[chunk]):
                    best[chunk] = (rank, desc, kind)
        view.aliases = dict(sorted(view.aliases.items()))
        view.mentions = sorted(chunks)
        view.descriptions = [(c, d) for c, (_, d, _) in sorted(best.items())]
        view.desc_kinds = {c: k for c, (_, _, k) in sorted(best.items()) if k}
        return view

    def known(self, at: int | None) -> dict[str, str]:
        """Entity id -> name for the entities known as of ``at``: ``{e.id: e.name for e
        in entities(at)}`` without building the views (the dataset audit asks at every
        position). An entity is known once one of its names is mentioned."""
        i = self._pos(at)
        return self._memo(  # type: ignore[no-any-return]
            "known",
            i,
            lambda i: {
                ent.id: ent.name
                for ent in self.states(i).values()
                if any((rows := self.facts.get(m)) and rows[0][0] <= i for m in ent.members)
            },
        )

    def entities(self, at: int | None, ids: Sequence[str] | None = None) -> list[Entity]:
        states = self.states(at)
        wanted = states if ids is None else {e: states[e] for e in ids if e in states}
        views = [self.entity(ent, at) for ent in wanted.values()]
        if views:
            lines = self._memo(
                "lines", at, lambda i: relation_lines(self.relations(i), {eid: ent.name for eid, ent in states.items()})
            )
            for v in views:
                v.relations = lines.get(v.id, [])
        return sorted((v for v in views if v.mentions), key=lambda e: (-len(e.mentions), e.name, e.id))

    def relations(self, at: int | None) -> list[Relation]:
        return list(self._memo("relations", at, self._relations))

    def _relations(self, i: int) -> list[Relation]:
        """Computed afresh unless the rows read and the owners they read
        (lore/family.py ``owners_read``) are those of the position computed last (it
        is a function of nothing else)."""
        names = self.name_map(i)
        rows = [r for r in self.relation_rows if r[0] <= i]
        family = any_family((c, s, t, lab) for c, s, t, lab, via in rows if via == FAMILY_VIA)
        key = (len(rows), owners_read(self._relation_names, names, family))
        if self._same is None or self._same[0] != key:
            self._same = (key, self._relations_of(i, names))
        return self._same[1]

    def _relations_of(self, i: int, names: dict[str, str]) -> list[Relation]:
        out, seen = [], set()
        family = []
        for c, s, t, lab, via in self.relation_rows:
            if c <= i and via == FAMILY_VIA:
                family.append((c, s, t, lab))
                continue
            a, b = names.get(s), names.get(t)
            if c <= i and a and b and a != b and (a, b, lab, c) not in seen:
                seen.add((a, b, lab, c))
                out.append(Relation(a, b, lab, c, via))
        if family:
            names_of = {eid: st.members for eid, st in self.states(i).items()}
            for a, b, lab, c in family_relations(family, names, names_of):
                if (a, b, lab, c) not in seen:
                    seen.add((a, b, lab, c))
                    out.append(Relation(a, b, lab, c, FAMILY_VIA))
        return out

    def edges(self, eid: str, at: int | None, co: Mapping[str, Sequence[int]] | None = None) -> Edges:
        """The entity's graph edges as of ``at`` (co-occurrence and relations). ``co``:
        its co-occurrences (other entity -> chunks), when the caller has them already."""
        i, names = self._pos(at), self.name_map(at)
        ent = self.states(at).get(eid)
        if ent is None:
            return {}
        chunks: dict[str, set[int]] = defaultdict(set)
        if co is not None:
            for linked, cs in co.items():
                chunks[linked].update(cs)
        else:
            mine = {c for m in ent.members for c, *_ in self.facts.get(m, []) if c <= i}
            for c in mine:
                for name in self.chunk_names.get(c, []):
                    other = names.get(name)
                    if other and other != eid:
                        chunks[other].add(c)
        rels: dict[str, list[RelationRef]] = defaultdict(list)
        for r in self.relations(at):
            if eid in (r.source, r.target):
                other = r.target if r.source == eid else r.source
                chunks[other].add(r.chunk)
                rels[other].append({"label": r.label, "chunk": r.chunk, "source": r.source, "via": r.via})
        return {o: {"chunks": sorted(c), "weight": len(c), "relations": rels.get(o, [])} for o, c in chunks.items()}
