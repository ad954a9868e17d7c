"""A reader's relation and fact rows, read once per store version, and its name maps.

Relation and state-fact rows never change once written (a correction or a repair
writes a new store version), so a reader keeps them in memory and cuts them at the
position it reads, instead of asking SQLite again at every position: the dataset
export reads 600 positions of a novel, each with four relation reads and a facts read.

- Relation rows are kept whole, in (chunk, source, target, label) order.
- Fact rows are kept as :func:`~automuse_rag.memory.facts.first_statements` leaves them
  over the whole story, in story order. A first statement stays one however far the
  story goes, and the rule is per name, so cutting the kept rows at a chunk, or to some
  names, gives what the rule gives over the rows so cut.
- A position's whole name map (``entity_names`` as of it) is a derived result too.
- One derived result per kind is kept for the last position asked (a reader walking
  forward asks one position many times, then moves on), or for as long as what it is
  derived from stays equal (``same``).

Everything is dropped when the store's version changes, as name indexes are
(memory/name_index.py), so nothing outlives the rows it was read from.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from collections.abc import Callable
from typing import Any, TypeVar, cast

from automuse_rag.memory.facts import first_statements

T = TypeVar("T")
#: (chunk, source, target, label, origin), as the relations table stores them.
RelationRow = tuple[int, str, str, str, str]
#: (chunk, seq, name, kind, value, sentence), as the facts table stores them.
FactRow = tuple[int, int, str, str, str, str]


class RowCache:
    """Relation and fact rows of one store version, and the last position's derived reads."""

    def __init__(self) -> None:
        self._version = -1
        self._relations: list[RelationRow] | None = None
        self._relation_chunks: list[int] = []
        self._relation_names: set[str] = set()
        self._facts: list[FactRow] | None = None
        self._fact_chunks: list[int] = []
        self._last: dict[str, tuple[int, Any]] = {}
        self._same: dict[str, tuple[Any, Any]] = {}

    def _check(self, version: int) -> None:
        if version != self._version:
            self._version = version
            self._relations = self._facts = None
            self._last.clear()
            self._same.clear()

    def relations(self, db: sqlite3.Connection, version: int, at: int) -> list[RelationRow]:
        """The relation rows of chunks ``<= at``, in (chunk, source, target, label) order."""
        self._check(version)
        if self._relations is None:
            rows = db.execute("SELECT chunk, source, target, label, origin FROM relations ORDER BY chunk, source, target, label")
            self._relations = [(int(c), s, t, lab, o) for c, s, t, lab, o in rows]
            self._relation_chunks = [r[0] for r in self._relations]
            self._relation_names = {n for r in self._relations for n in (r[1], r[2])}
        return self._relations[: bisect_right(self._relation_chunks, at)]

    def relation_names(self, db: sqlite3.Connection, version: int) -> set[str]:
        """Every name a relation row of this version gives."""
        self.relations(db, version, -1)
        return self._relation_names

    def facts(self, db: sqlite3.Connection, version: int, at: int) -> list[FactRow]:
        """The first statements among the fact rows of chunks ``<= at``, in story order."""
        self._check(version)
        if self._facts is None:
            rows = db.execute("SELECT chunk, seq, name, kind, value, sentence FROM facts ORDER BY chunk, seq")
            self._facts = first_statements(
                [(int(c), int(q), n, k, v, s) for c, q, n, k, v, s in rows], lambda r: (r[2], r[3], r[4])
            )
            self._fact_chunks = [r[0] for r in self._facts]
        return self._facts[: bisect_right(self._fact_chunks, at)]

    def names(self, db: sqlite3.Connection, version: int, at: int) -> dict[str, str]:
        """Every name valid at ``at`` -> its entity (the whole map, kept for the position)."""
        return self.last(
            version,
            "names",
            at,
            lambda: dict(db.execute("SELECT name, entity_id FROM entity_names WHERE since <= ? AND until > ?", (at, at))),
        )

    def name_rows(self, db: sqlite3.Connection, version: int) -> int:
        """How many rows ``entity_names`` holds (all positions)."""
        return self.same(version, "name rows", None, lambda: int(db.execute("SELECT COUNT(*) FROM entity_names").fetchone()[0]))

    def last(self, version: int, kind: str, at: int, make: Callable[[], T]) -> T:
        """``make()``, kept for position ``at`` until another position or version is asked."""
        self._check(version)
        hit = self._last.get(kind)
        if hit is None or hit[0] != at:
            hit = self._last[kind] = (at, make())
        return cast(T, hit[1])

    def kept(self, version: int, kind: str, at: int) -> Any | None:
        """What :meth:`last` keeps for ``kind`` at position ``at``, or None."""
        self._check(version)
        hit = self._last.get(kind)
        return hit[1] if hit is not None and hit[0] == at else None

    def same(self, version: int, kind: str, key: object, make: Callable[[], T]) -> T:
        """``make()``, kept until asked with a ``key`` that is not equal to the one it
        was made for (``key``: everything ``make`` reads, whatever the position)."""
        self._check(version)
        hit = self._same.get(kind)
        if hit is None or hit[0] != key:
            hit = self._same[kind] = (key, make())
        return cast(T, hit[1])
