"""Writing ``state.sqlite``: chunk facts, the resolver's deltas as valid-time rows,
and the store's metadata. Reads as of a chunk live in
:mod:`automuse_rag.memory.views`.

A commit touches only what its chunks change: their rows in ``chunks``,
``mentions``, ``relations``, ``model_aliases`` and ``facts``, the statistics of the names they
mention, and the versions of the entities the resolver says changed (closing the
old version at the chunk, opening the new one). One transaction per commit, so a
chunk is either wholly committed or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from automuse_rag.lore.lorebook import LoreEntry
from automuse_rag.lore.lorestate import Delta, EntityState, LoreState
from automuse_rag.lore.resolve import describe_rank
from automuse_rag.lore.stats import Correction, ModelAlias, NameStat
from automuse_rag.lore.types import ChunkAnalysis, LoreMention
from automuse_rag.memory.facts import fact_rows
from automuse_rag.memory.schema import FOREVER, create_schema
from automuse_rag.text.types import Chunk

MAX_LABEL = 60
#: The tables folded from the stored analyses (emptied and refilled by ``rebuild_lore``).
LORE_TABLES = ("entity_versions", "entity_names", "mentions", "relations", "model_aliases", "names", "distinct_pairs", "facts")


class MentionRow(NamedTuple):
    """A name's mention in one chunk: how often, and its best description (``rank``:
    lower is better, by the description's kind; then by text)."""

    times: int
    rank: int
    pos: int
    description: str
    kind: str


NO_DESCRIPTION = 9


def merged_mentions(mentions: Sequence[LoreMention]) -> dict[str, MentionRow]:
    """name -> :class:`MentionRow` of a chunk's mentions; a name listed twice sums its
    counts and keeps the best description."""
    out: dict[str, MentionRow] = {}
    for pos, m in enumerate(mentions):
        rank, kind = describe_rank(m) if m.description else (NO_DESCRIPTION, "")
        row = MentionRow(max(1, m.count), rank, pos, m.description, kind)
        cur = out.get(m.name)
        if cur is None:
            out[m.name] = row
        else:
            best = min((row.rank, row.description, row.kind, row.pos), (cur.rank, cur.description, cur.kind, cur.pos))
            out[m.name] = MentionRow(cur.times + row.times, best[0], best[3], best[1], best[2])
    return out


def relation_rows(idx: int, analysis: ChunkAnalysis) -> list[tuple[int, str, str, str, str]]:
    rows = []
    for r in analysis.relations:
        source, target = str(r.get("source", "")), str(r.get("target", ""))
        label = " ".join(str(r.get("label", "")).split())[:MAX_LABEL]
        if source and target and source != target and label:
            rows.append((idx, source, target, label, str(r.get("via", ""))))
    return rows


def read_corrections(db: sqlite3.Connection, after: int = -1, upto: int = FOREVER) -> list[Correction]:
    """The writer's corrections given from a chunk in ``after < chunk <= upto``, in ``seq`` order."""
    return [
        Correction(int(c), int(q), k, a, b)
        for q, c, k, a, b in db.execute(
            "SELECT seq, chunk, kind, a, b FROM corrections WHERE chunk > ? AND chunk <= ? ORDER BY seq", (after, upto)
        )
    ]


def load_lore(db: sqlite3.Connection) -> LoreState:
    """The resolver's state after the last committed chunk, read back from ``state.sqlite``."""
    chunks: dict[str, list[int]] = {}
    for name, chunk in db.execute("SELECT name, chunk FROM mentions"):
        chunks.setdefault(name, []).append(int(chunk))
    stats = {n: NameStat.from_json(n, json.loads(s), chunks.get(n, ())) for n, s in db.execute("SELECT name, stats FROM names")}
    distinct = [(int(c), a, b) for c, a, b in db.execute("SELECT chunk, a, b FROM distinct_pairs ORDER BY chunk, a, b")]
    aliases: list[ModelAlias] = [
        (int(c), n, json.loads(a))
        for c, n, a in db.execute("SELECT chunk, name, aliases FROM model_aliases ORDER BY chunk, name")
    ]
    members: dict[str, list[str]] = {}
    for name, eid in db.execute("SELECT name, entity_id FROM entity_names WHERE until = ?", (FOREVER,)):
        members.setdefault(eid, []).append(name)
    ents = [
        EntityState(eid, kind, name, tuple(sorted(members.get(eid, ()))))
        for eid, kind, name in db.execute("SELECT entity_id, kind, name FROM entity_versions WHERE until = ?", (FOREVER,))
    ]
    last = db.execute("SELECT MAX(idx) FROM chunks").fetchone()[0]
    last_chunk = -1 if last is None else int(last)
    return LoreState.restore(stats, aliases, ents, last_chunk, distinct, read_corrections(db, -1, last_chunk))


class StateWriter:
    """The write side of ``state.sqlite`` (one writer per story: the caller holds the lock)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._lore: LoreState | None = None
        self._delta = {"chunk_count": 0, "mention_count": 0}

    # ------------------------------------------------------------------ metadata

    def init(self, meta: dict[str, str]) -> None:
        with self.transaction():
            create_schema(self.db)
            self.db.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", sorted(meta.items()))
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('version', '0')")

    def set_meta(self, **values: Any) -> None:
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in sorted(values.items())],
            )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                self._lore = None  # the in-memory state may be ahead of the database
                self._delta = {"chunk_count": 0, "mention_count": 0}
                raise

    def _bump(self) -> None:
        """A new state version, and the row counts readers need often (COUNT(*) over
        the chunks table would read every chunk's text): kept by the deltas of this
        transaction, counted once when missing."""
        self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")
        for key, table in (("chunk_count", "chunks"), ("mention_count", "mentions")):
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            n = int(row[0]) + self._delta[key] if row else int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(n)))
        self._delta = {"chunk_count": 0, "mention_count": 0}

    # ------------------------------------------------------------------ lore state

    def lore(self) -> LoreState:
        """The resolver's state after the last committed chunk (loaded once)."""
        if self._lore is None:
            self._lore = self._load_lore()
        return self._lore

    def _load_lore(self) -> LoreState:
        return load_lore(self.db)

    def _corrections(self, after: int, upto: int) -> list[Correction]:
        """The writer's corrections that come into force with a chunk folded after
        chunk ``after``: those given from a chunk in ``after < chunk <= upto``."""
        return read_corrections(self.db, after, upto)

    # ------------------------------------------------------------------ commits

    def commit(self, items: Sequence[tuple[Chunk, ChunkAnalysis, str]]) -> list[Delta]:
        """Store chunks (with their analyses and the summaries embedded) and fold them
        into the lore, in index order, in one transaction. A chunk at or before the
        last committed one first truncates the lore to before it (then everything after
        it is folded again: the same result as committing in order)."""
        items = sorted(items, key=lambda t: t[0].index)
        with self.transaction():
            lore = self.lore()
            first = items[0][0].index
            if first <= lore.last_chunk:
                lore = self._truncate(first)
            replay = [
                (int(i), ChunkAnalysis.from_dict(json.loads(a)))
                for i, a in self.db.execute("SELECT idx, analysis FROM chunks WHERE idx >= ? ORDER BY idx", (first,))
            ]
            new = {c.index: a for c, a, _ in items}
            ids = sorted(new)
            had = self.db.execute(f"SELECT COUNT(*) FROM chunks WHERE idx IN ({','.join('?' * len(ids))})", ids).fetchone()[0]
            self._delta["chunk_count"] += len(ids) - int(had)
            self.db.executemany(
                "INSERT OR REPLACE INTO chunks VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        c.index,
                        c.id,
                        c.chapter,
                        c.chapter_title,
                        c.start,
                        c.end,
                        c.text,
                        summary,
                        json.dumps(a.to_dict(), ensure_ascii=False, sort_keys=True),
                    )
                    for c, a, summary in items
                ],
            )
            stream = dict(replay)
            stream.update(new)
            deltas = [self._fold_one(lore, idx, stream[idx]) for idx in sorted(stream)]
            self._save_names(lore, {m.name for a in stream.values() for m in a.mentions})
            self._bump()
        return deltas

    def _fold_one(self, lore: LoreState, idx: int, analysis: ChunkAnalysis) -> Delta:
        rows = merged_mentions(analysis.mentions)
        gone = self.db.execute("DELETE FROM mentions WHERE chunk = ?", (idx,)).rowcount
        self._delta["mention_count"] += len(rows) - max(0, gone)
        self.db.executemany(
            "INSERT INTO mentions VALUES (?,?,?,?,?,?,?)",
            [(name, idx, r.pos, r.times, r.rank, r.description, r.kind) for name, r in rows.items()],
        )
        self.db.execute("DELETE FROM relations WHERE chunk = ?", (idx,))
        self.db.executemany("INSERT OR IGNORE INTO relations VALUES (?,?,?,?,?)", relation_rows(idx, analysis))
        self.db.execute("DELETE FROM model_aliases WHERE chunk = ?", (idx,))
        self.db.executemany(
            "INSERT OR REPLACE INTO model_aliases VALUES (?,?,?)",
            [(idx, m.name, json.dumps(list(m.aliases), ensure_ascii=False)) for m in analysis.mentions if m.aliases],
        )
        self.db.execute("DELETE FROM distinct_pairs WHERE chunk = ?", (idx,))
        self.db.executemany("INSERT OR IGNORE INTO distinct_pairs VALUES (?,?,?)", [(idx, a, b) for a, b in analysis.distinct])
        self.db.execute("DELETE FROM facts WHERE chunk = ?", (idx,))
        self.db.executemany("INSERT INTO facts VALUES (?,?,?,?,?,?)", fact_rows(idx, analysis))
        delta = lore.add_chunk(idx, analysis.mentions, analysis.distinct, self._corrections(lore.last_chunk, idx))
        self.apply(delta)
        return delta

    def apply(self, delta: Delta) -> None:
        """Write one chunk's delta: close the versions that end, open the new ones."""
        c = delta.chunk
        for eid in delta.closed:
            self.db.execute("UPDATE entity_versions SET until = ? WHERE entity_id = ? AND until = ?", (c, eid, FOREVER))
            self.db.execute("UPDATE entity_names SET until = ? WHERE entity_id = ? AND until = ?", (c, eid, FOREVER))
        for ent in delta.opened:
            self.db.execute(
                "INSERT INTO entity_versions (entity_id, since, kind, name) VALUES (?,?,?,?)", (ent.id, c, ent.kind, ent.name)
            )
            self.db.executemany(
                "INSERT INTO entity_names (name, since, entity_id) VALUES (?,?,?)", [(m, c, ent.id) for m in ent.members]
            )

    def _save_names(self, lore: LoreState, names: set[str]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO names VALUES (?, ?)",
            [(n, json.dumps(lore.stats[n].to_json(), sort_keys=True)) for n in sorted(names) if n in lore.stats],
        )

    def _truncate(self, first: int) -> LoreState:
        """Forget the lore from chunk ``first`` on (facts of later chunks stay in
        ``chunks`` and are folded again by the caller)."""
        for table in ("entity_versions", "entity_names"):
            self.db.execute(f"DELETE FROM {table} WHERE since >= ?", (first,))
            self.db.execute(f"UPDATE {table} SET until = ? WHERE until >= ? AND until != ?", (FOREVER, first, FOREVER))
        for table in ("mentions", "relations", "model_aliases", "distinct_pairs", "facts"):
            gone = self.db.execute(f"DELETE FROM {table} WHERE chunk >= ?", (first,)).rowcount
            if table == "mentions":
                self._delta["mention_count"] -= max(0, gone)
        lore = LoreState()
        for idx, a in self.db.execute("SELECT idx, analysis FROM chunks WHERE idx < ? ORDER BY idx", (first,)).fetchall():
            an = ChunkAnalysis.from_dict(json.loads(a))
            lore.add_chunk(int(idx), an.mentions, an.distinct, self._corrections(lore.last_chunk, int(idx)))
        self.db.execute("DELETE FROM names")
        self._save_names(lore, set(lore.stats))
        self._lore = lore
        return lore

    def correct(self, add: Sequence[tuple[str, str, str, int]], remove: Sequence[int] = ()) -> list[Correction]:
        """Store writer's corrections (kind, name, name or "", the chunk they are in force
        from), forget those numbered ``remove``, and re-resolve the lore from the first
        chunk they concern (the entity versions before it stay), in one transaction."""
        with self.transaction():
            fixes = []
            first = FOREVER
            for seq in remove:
                row = self.db.execute("SELECT chunk FROM corrections WHERE seq = ?", (seq,)).fetchone()
                if row is not None:
                    first = min(first, int(row[0]))
                    self.db.execute("DELETE FROM corrections WHERE seq = ?", (seq,))
            for kind, a, b, chunk in add:
                cur = self.db.execute("INSERT INTO corrections (chunk, kind, a, b) VALUES (?, ?, ?, ?)", (chunk, kind, a, b))
                fixes.append(Correction(chunk, int(cur.lastrowid or 0), kind, a, b))
                first = min(first, chunk)
            lore = self.lore()
            if first <= lore.last_chunk:
                lore = self._truncate(first)
                names: set[str] = set()
                for idx, raw in self.db.execute(
                    "SELECT idx, analysis FROM chunks WHERE idx >= ? ORDER BY idx", (first,)
                ).fetchall():
                    analysis = ChunkAnalysis.from_dict(json.loads(raw))
                    self._fold_one(lore, int(idx), analysis)
                    names |= {m.name for m in analysis.mentions}
                self._save_names(lore, names)
            self._bump()
        return fixes

    def rebuild_lore(self) -> None:
        """Fold every stored chunk again from nothing (migration and repair)."""
        with self.transaction():
            for table in LORE_TABLES:
                self.db.execute(f"DELETE FROM {table}")
            self.db.execute("DELETE FROM meta WHERE key IN ('chunk_count', 'mention_count')")  # counted again
            lore = LoreState()
            self._lore = lore
            rows = self.db.execute("SELECT idx, analysis FROM chunks ORDER BY idx").fetchall()
            for idx, a in rows:
                self._fold_one(lore, int(idx), ChunkAnalysis.from_dict(json.loads(a)))
            self._save_names(lore, set(lore.stats))
            self._bump()

    def set_lorebook(self, entries: Sequence[LoreEntry]) -> None:
        """Replace the writer's lorebook (``automuse lorebook import``) with ``entries``."""
        with self.transaction():
            self.db.execute("DELETE FROM lorebook")
            self.db.executemany(
                "INSERT INTO lorebook (name, kind, keys, content, constant, importance) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (e.name, e.kind, json.dumps(list(e.keys), ensure_ascii=False), e.content, int(e.constant), e.importance)
                    for e in entries
                ],
            )
            self._bump()

    def set_outline(self, text: str, parts: list[dict[str, Any]], origin: str) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO outline VALUES (0, ?, ?, ?)",
                (text, json.dumps(parts, ensure_ascii=False, sort_keys=True), origin),
            )
            self._bump()
