"""Reading ``state.sqlite`` as of a chunk: indexed queries, no rebuilds.

"As of chunk i" means the entity versions valid at i (``since <= i < until``), their
names valid at i, and facts (mentions, descriptions, relations, state facts) from
chunks ``<= i``.
So a card, a name lookup or an entity's neighbours cost what that entity has, not
what the story has; and a reader walking forward (an export, a generation) reads an
entity's mentions only for the chunks it has not read yet (memory/name_index.py), and
the story's relation and fact rows once per store version (memory/row_cache.py).
The position is checked by the snapshot
(:class:`~automuse_rag.memory.snapshot.StorySnapshot`) that asks; this module's
reads take it as given. ``LATEST`` reads the latest state.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from automuse_rag.lore.continuity import KnownFact
from automuse_rag.lore.entity import Entity, Relation
from automuse_rag.lore.family import FAMILY_VIA, any_family, family_relations, owners_read
from automuse_rag.lore.lorebook import LoreEntry
from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.facts import in_force, resolved, row_fact
from automuse_rag.memory.graph import build_graph, relation_lines
from automuse_rag.memory.name_index import NameIndexes
from automuse_rag.memory.row_cache import RelationRow, RowCache
from automuse_rag.memory.schema import FOREVER, marks
from automuse_rag.memory.snapshot import ACTIVE_KINDS
from automuse_rag.memory.types import ChunkRecord, Edges, OutlinePart, RelationRef

if TYPE_CHECKING:
    import networkx as nx

LATEST = FOREVER - 1
#: A position's whole name map is read (once) when a lookup asks for more than this
#: share of the story's name rows; fewer names are looked up alone, so one prompt in
#: a story of thousands of names does not read them all.
WHOLE_SHARE = 4
_WORD = re.compile(r"\w+")
_WORD_START = re.compile(r"(?<!\w)\w+")
_RECORD_COLS = "idx, id, chapter, chapter_title, text, summary"


class StateReader:
    """Read-only queries over ``state.sqlite`` (safe on a read-only connection)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._first_words: tuple[int, dict[str, list[str]]] | None = None
        self._indexes = NameIndexes()
        self._rows = RowCache()

    # ------------------------------------------------------------------ basics

    def version(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return int(row[0]) if row else 0

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta"))

    def count(self, table: str = "chunks") -> int:
        """Rows in ``chunks`` (or ``mentions``), from the counts each commit keeps."""
        key = {"chunks": "chunk_count", "mentions": "mention_count"}[table]
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return int(row[0])
        return int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def lorebook(self, at: int = LATEST) -> list[LoreEntry]:
        """The writer's imported lorebook, most important first: known from before the
        first chunk (the writer's own), so the same at every position ``at``."""
        rows = self.db.execute(
            "SELECT name, kind, keys, content, constant, importance FROM lorebook ORDER BY importance DESC, seq"
        ).fetchall()
        return [LoreEntry(n, k, tuple(json.loads(keys)), c, bool(const), int(imp)) for n, k, keys, c, const, imp in rows]

    def last_index(self) -> int:
        row = self.db.execute("SELECT MAX(idx) FROM chunks").fetchone()
        return -1 if row[0] is None else int(row[0])

    def indices(self) -> list[int]:
        return [int(r[0]) for r in self.db.execute("SELECT idx FROM chunks ORDER BY idx")]

    def records(self, upto: int = LATEST) -> list[ChunkRecord]:
        rows = self.db.execute(f"SELECT {_RECORD_COLS} FROM chunks WHERE idx <= ? ORDER BY idx", (upto,))
        return [ChunkRecord(*r) for r in rows]

    def records_at(self, indices: Iterable[int]) -> dict[int, ChunkRecord]:
        wanted = sorted(set(int(i) for i in indices))
        out: dict[int, ChunkRecord] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            for r in self.db.execute(f"SELECT {_RECORD_COLS} FROM chunks WHERE idx IN ({marks(len(part))})", part):
                out[int(r[0])] = ChunkRecord(*r)
        return out

    def records_between(self, first: int, last: int) -> list[ChunkRecord]:
        rows = self.db.execute(f"SELECT {_RECORD_COLS} FROM chunks WHERE idx BETWEEN ? AND ? ORDER BY idx", (first, last))
        return [ChunkRecord(*r) for r in rows]

    def mention_names(self, chunks: Sequence[int]) -> list[tuple[int, str]]:
        """(chunk, name) of every name mentioned in ``chunks``."""
        out: list[tuple[int, str]] = []
        for start in range(0, len(chunks), 500):
            part = list(chunks[start : start + 500])
            rows = self.db.execute(f"SELECT chunk, name FROM mentions WHERE chunk IN ({marks(len(part))})", part)
            out.extend((int(c), str(n)) for c, n in rows)
        return out

    def chapters(self, indices: Iterable[int]) -> dict[int, int]:
        wanted = sorted(set(int(i) for i in indices))
        if not wanted:
            return {}
        rows = self.db.execute(f"SELECT idx, chapter FROM chunks WHERE idx IN ({marks(len(wanted))})", wanted)
        return {int(i): int(c) for i, c in rows}

    def analyses(self, upto: int = LATEST) -> list[tuple[int, ChunkAnalysis]]:
        rows = self.db.execute("SELECT idx, analysis FROM chunks WHERE idx <= ? ORDER BY idx", (upto,))
        return [(int(i), ChunkAnalysis.from_dict(json.loads(a))) for i, a in rows]

    def outline(self) -> tuple[str, list[OutlinePart], str] | None:
        row = self.db.execute("SELECT text, parts, origin FROM outline WHERE id = 0").fetchone()
        if row is None:
            return None
        parts = [OutlinePart(int(p["chapter"]), str(p["title"]), str(p["text"])) for p in json.loads(row[1])]
        return row[0], parts, row[2]

    # ------------------------------------------------------------------ entities

    def entities(self, at: int, ids: Sequence[str] | None = None) -> list[Entity]:
        """Entities as of ``at`` (all of them, or those in ``ids``), most mentioned first."""
        i = at
        if ids is not None and not ids:
            return []
        where, args = ("", []) if ids is None else (f" AND entity_id IN ({marks(len(ids))})", list(ids))
        versions = self.db.execute(
            f"SELECT entity_id, kind, name FROM entity_versions WHERE since <= ? AND until > ?{where}", [i, i, *args]
        ).fetchall()
        ents = {eid: Entity(id=eid, name=name, kind=kind) for eid, kind, name in versions}
        if ids is None:
            self._mentions_joined(ents, i)
        else:  # a few entities: their names' indexes, grown from the last position read
            version = self.version()
            for eid, own in self.names_of(ents, i).items():
                index = self._indexes.get(self.db, version, own, i)
                ent = ents[eid]
                ent.aliases, ent.mentions = index.aliases(i), index.mentions(i)
                best = index.descriptions(i)
                ent.descriptions = [(c, d) for c, (_, d, _) in best]
                ent.desc_kinds = {c: k for c, (_, _, k) in best if k}
        if ents:
            rels = self.relations(at, members=[n for e in ents.values() for n in e.aliases])
            names = self.entity_names({x for r in rels for x in (r.source, r.target)}, at)
            lines = relation_lines(rels, names)
            for eid, ent in ents.items():
                ent.relations = lines.get(eid, [])
        return sorted((e for e in ents.values() if e.mentions), key=lambda e: (-len(e.mentions), e.name, e.id))

    def _mentions_joined(self, ents: dict[str, Entity], i: int) -> None:
        """Every entity's aliases, mentions and descriptions as of ``i``, in one join."""
        rows = self.db.execute(
            "SELECT en.entity_id, m.name, m.chunk, m.rank, m.description, m.dkind FROM entity_names en "
            "JOIN mentions m ON m.name = en.name AND m.chunk <= ? WHERE en.since <= ? AND en.until > ?",
            [i, i, i],
        )
        mentions: dict[str, set[int]] = defaultdict(set)
        best: dict[str, dict[int, tuple[int, str, str]]] = defaultdict(dict)
        for eid, name, chunk, rank, desc, kind in rows:
            ent = ents.get(eid)
            if ent is None:
                continue
            ent.aliases[name] = min(int(chunk), ent.aliases.get(name, int(chunk)))
            mentions[eid].add(int(chunk))
            if desc:
                cur = best[eid].get(chunk)
                if cur is None or (rank, desc, kind) < cur:
                    best[eid][chunk] = (rank, desc, kind)
        for eid, ent in ents.items():
            ent.aliases = dict(sorted(ent.aliases.items()))
            ent.mentions = sorted(mentions[eid])
            ent.descriptions = [(int(c), d) for c, (_, d, _) in sorted(best[eid].items())]
            ent.desc_kinds = {int(c): k for c, (_, _, k) in sorted(best[eid].items()) if k}

    def active(self, at: int, window: int, limit: int) -> list[tuple[str, str, int]]:
        """See :meth:`~automuse_rag.memory.snapshot.StorySnapshot.active`: one indexed range
        scan of the window's mentions (``mentions_by_chunk``), whatever the story's length."""
        i = at
        rows = self.db.execute(
            "SELECT en.entity_id, COUNT(DISTINCT m.chunk) FROM mentions m "
            "JOIN entity_names en ON en.name = m.name AND en.since <= ? AND en.until > ? "
            "WHERE m.chunk > ? AND m.chunk <= ? GROUP BY en.entity_id",
            (i, i, i - window, i),
        ).fetchall()
        if not rows:
            return []
        counts = {str(e): int(n) for e, n in rows}
        ids = sorted(counts)
        versions: list[tuple[str, str, str]] = []
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            versions += self.db.execute(
                f"SELECT entity_id, kind, name FROM entity_versions WHERE entity_id IN ({marks(len(part))}) "
                "AND since <= ? AND until > ?",
                [*part, i, i],
            ).fetchall()
        out = [(str(e), str(name), counts[e]) for e, kind, name in versions if kind in ACTIVE_KINDS]
        return sorted(out, key=lambda t: (-t[2], t[1], t[0]))[:limit]

    def name_map(self, at: int, names: Iterable[str] | None = None) -> dict[str, str]:
        """name -> entity id of the names valid at ``at`` (all, or those in ``names``).
        The whole map is read once per position when a position asks for all names or
        for many (a prompt asks for a dozen sets; :data:`WHOLE_SHARE`)."""
        version = self.version()
        if names is None:
            return dict(self._rows.names(self.db, version, at))
        wanted = set(names)
        whole = self._rows.kept(version, "names", at)
        if whole is None and len(wanted) * WHOLE_SHARE > self._rows.name_rows(self.db, version):
            whole = self._rows.names(self.db, version, at)
        if whole is not None:
            return {n: e for n in wanted if (e := whole.get(n)) is not None}
        out: dict[str, str] = {}
        listed = sorted(wanted)
        for start in range(0, len(listed), 500):
            part = listed[start : start + 500]
            out.update(
                self.db.execute(
                    f"SELECT name, entity_id FROM entity_names WHERE name IN ({marks(len(part))}) AND since <= ? AND until > ?",
                    [*part, at, at],
                )
            )
        return out

    def _first_word_index(self) -> dict[str, list[str]]:
        version = self.version()
        if self._first_words is None or self._first_words[0] != version:
            index: dict[str, list[str]] = defaultdict(list)
            for (name,) in self.db.execute("SELECT DISTINCT name FROM entity_names"):
                m = _WORD.match(name)
                if m and len(name) >= 2:
                    index[m.group()].append(name)
            for names in index.values():
                names.sort(key=lambda n: (-len(n), n))
            self._first_words = (version, dict(index))
        return self._first_words[1]

    def named_in(self, text: str, at: int) -> dict[str, int]:
        """Entity id -> how often one of its names (as of ``at``) occurs in ``text`` as a
        whole word; at each place the longest name wins (as a longest-first regex would)."""
        index = self._first_word_index()
        starts = [(m.start(), index[m.group()]) for m in _WORD_START.finditer(text) if m.group() in index]
        if not starts:
            return {}
        valid = self.name_map(at, sorted({n for _, names in starts for n in names}))
        counts: dict[str, int] = {}
        end = 0
        for pos, names in starts:
            if pos < end:
                continue
            for name in names:
                stop = pos + len(name)
                if name in valid and text.startswith(name, pos) and not (stop < len(text) and _is_word(text[stop])):
                    eid = valid[name]
                    counts[eid] = counts.get(eid, 0) + 1
                    end = stop
                    break
        return counts

    def facts(self, at: int, ids: Sequence[str] | None = None) -> list[KnownFact]:
        """State facts in force as of ``at`` (of every entity, or of those in ``ids``):
        the ``facts`` rows of chunks ``<= at`` whose name belongs to an entity then."""
        rows = self._rows.facts(self.db, self.version(), at)
        if ids is not None:
            wanted = sorted(set(ids))
            names = {
                str(n)
                for (n,) in self.db.execute(
                    f"SELECT name FROM entity_names WHERE entity_id IN ({marks(len(wanted))}) AND since <= ? AND until > ?",
                    [*wanted, at, at],
                )
            }
            rows = [r for r in rows if r[2] in names]
        facts = [row_fact(r) for r in rows]
        owner = self.name_map(at, [f.name for f in facts])
        return in_force(resolved(facts, owner, self.entity_names(owner.values(), at)))

    # ------------------------------------------------------------------ graph

    def entity_names(self, ids: Iterable[str], at: int) -> dict[str, str]:
        """entity id -> the name it goes by as of ``at`` (for the ids known then)."""
        i, wanted = at, sorted(set(ids))
        if not wanted:
            return {}
        rows = self.db.execute(
            f"SELECT entity_id, name FROM entity_versions WHERE entity_id IN ({marks(len(wanted))}) AND since <= ? AND until > ?",
            [*wanted, i, i],
        )
        return dict(rows)

    def neighbours(self, ids: Sequence[str], at: int) -> dict[str, Edges]:
        """Each entity's edges as of ``at``: id -> other id -> {"chunks", "weight",
        "relations"}, as :func:`~automuse_rag.memory.graph.build_graph` gives them."""
        i, ids = at, sorted(set(ids))
        out: dict[str, Edges] = {e: {} for e in ids}
        if not ids:
            return out
        owned = self.names_of(ids, i)
        if not owned:
            return out
        members = sorted(n for names in owned.values() for n in names)
        version = self.version()  # each entity's names' index, grown from the last position read
        indexes = {eid: self._indexes.get(self.db, version, names, i) for eid, names in owned.items()}
        owners = self.name_map(i, {n for ix in indexes.values() for n in ix.seen})
        chunks: dict[tuple[str, str], list[list[int]]] = defaultdict(list)  # each sorted
        for eid, ix in indexes.items():
            for other, cs in ix.co_mentions(i, owners, eid).items():
                chunks[(eid, other)].append(cs)
        rels: dict[tuple[str, str], list[RelationRef]] = defaultdict(list)
        for r in self.relations(at, members=members):
            for eid, other in ((r.source, r.target), (r.target, r.source)):
                if eid in out:
                    chunks[(eid, other)].append([r.chunk])
                    rels[(eid, other)].append({"label": r.label, "chunk": r.chunk, "source": r.source, "via": r.via})
        for (eid, other), lists in chunks.items():
            cs = list(lists[0]) if len(lists) == 1 else sorted(set().union(*lists))  # a copy: the index keeps its own
            out[eid][other] = {"chunks": cs, "weight": len(cs), "relations": rels.get((eid, other), [])}
        return out

    def relations(self, at: int, members: Sequence[str] | None = None) -> list[Relation]:
        """Relations between entities as of ``at`` (all, or those naming one of the
        names ``members``), in chunk order, without duplicates. Family candidates are
        weighed over all of the story's (as the naive reference weighs them), once per
        position: a reader asks one position for several sets of names."""
        plain, family, owner = self._rows.last(self.version(), "relations", at, lambda: self._all_relations(at))
        wanted = None if members is None else set(members)
        out, seen = [], set()
        for source, target, s, t, label, chunk, via in plain:
            if (wanted is None or source in wanted or target in wanted) and (s, t, label, chunk) not in seen:
                seen.add((s, t, label, chunk))
                out.append(Relation(s, t, label, chunk, via))
        ids = None if wanted is None else {owner[m] for m in wanted if m in owner}
        for r in family:
            if (ids is None or r.source in ids or r.target in ids) and (r.source, r.target, r.label, r.chunk) not in seen:
                seen.add((r.source, r.target, r.label, r.chunk))
                out.append(r)
        return out

    def _all_relations(self, at: int) -> tuple[list[tuple[str, str, str, str, str, int, str]], list[Relation], dict[str, str]]:
        """The relation rows of chunks ``<= at`` between two entities, each with its
        names as stored; the family relations that hold; and the owner of each name.
        The same as the last position's when no relation was added since and the names
        they read have the same owners (a pure function of those: lore/family.py
        ``owners_read``)."""
        version = self.version()
        rows = self._rows.relations(self.db, version, at)
        named = self._rows.relation_names(self.db, version)
        family = any_family((c, s, t, lab) for c, s, t, lab, via in rows if via == FAMILY_VIA)
        read = owners_read(named, self._rows.names(self.db, version, at) if named else {}, family)
        return self._rows.same(version, "relations", (len(rows), read), lambda: self._relations_of(rows, at, read))

    def _relations_of(
        self, rows: list[RelationRow], at: int, owner: dict[str, str]
    ) -> tuple[list[tuple[str, str, str, str, str, int, str]], list[Relation], dict[str, str]]:
        plain = [
            (source, target, s, t, label, chunk, via)
            for chunk, source, target, label, via in rows
            if via != FAMILY_VIA and (s := owner.get(source)) and (t := owner.get(target)) and s != t
        ]
        family = [(c, s, t, lab) for c, s, t, lab, via in rows if via == FAMILY_VIA]
        held = []
        if family:
            names_of = self.names_of(set(owner.values()), at)
            held = [Relation(s, t, label, chunk, FAMILY_VIA) for s, t, label, chunk in family_relations(family, owner, names_of)]
        return plain, held, owner

    def names_of(self, ids: Iterable[str], at: int) -> dict[str, list[str]]:
        """entity id -> its names as of ``at`` (for the ids known then)."""
        wanted, out = sorted(set(ids)), defaultdict[str, list[str]](list)
        sql = f"SELECT entity_id, name FROM entity_names WHERE entity_id IN ({marks(len(wanted))}) AND since <= ? AND until > ?"
        for eid, name in self.db.execute(sql + " ORDER BY name", [*wanted, at, at]):
            out[eid].append(name)
        return dict(out)

    def graph(self, at: int = LATEST) -> nx.Graph[str]:
        return build_graph(self.entities(at), self.relations(at))


def _is_word(ch: str) -> bool:
    return bool(_WORD.match(ch))
