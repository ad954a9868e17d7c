"""The mentions of one entity's names, read once and grown as positions advance.

An entity's view and its graph edges as of chunk ``i`` come from the mention rows of
its names in chunks ``<= i`` and from the other names in those chunks. Those rows never
change once written, so a prefix read for one position holds for every later one: a
reader walking a story forward (the dataset export, a generation, compare) reads only
the rows of the chunks it has not seen yet. Which entity owns a name does change with
the position, so an index is kept per *set of names*, holds no owners, and is mapped
through the owners of the position read (memory/views.py).

The indexes of a reader are dropped whenever the store's version changes (any commit,
repair or correction), so they never outlive the rows they were read from.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from automuse_rag.memory.schema import marks

#: Name sets kept per reader (the least recently used are dropped first).
KEPT = 2048


@dataclass
class NameIndex:
    """Mentions of ``names`` in chunks ``<= upto``: each chunk naming one of them, each
    name's first chunk, each chunk's best description (the lowest (rank, text, kind) of
    its rows with one), each of those chunks' names (the set's own included), and every
    name seen in them. Lists are in chunk order."""

    names: tuple[str, ...]
    upto: int = -1
    chunks: list[int] = field(default_factory=list)
    first: dict[str, int] = field(default_factory=dict)
    described: list[int] = field(default_factory=list)
    best: list[tuple[int, str, str]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    names_in: dict[int, list[str]] = field(default_factory=dict)
    # the last co_mentions answer: (at, each name read -> its owner then, owner of the set, answer)
    _co: tuple[int, dict[str, str | None], str, dict[str, list[int]]] | None = field(default=None, repr=False)

    def grow(self, db: sqlite3.Connection, at: int) -> None:
        """Read the rows of chunks ``upto + 1 .. at`` (nothing when ``at <= upto``)."""
        if at <= self.upto:
            return
        rows = db.execute(
            f"SELECT chunk, name, rank, description, dkind FROM mentions WHERE name IN ({marks(len(self.names))}) "
            "AND chunk > ? AND chunk <= ? ORDER BY chunk",
            [*self.names, self.upto, at],
        ).fetchall()
        self.upto = at
        best: dict[int, tuple[int, str, str]] = {}
        new: list[int] = []
        for chunk, name, rank, desc, kind in rows:
            c = int(chunk)
            if not new or new[-1] != c:
                new.append(c)
            self.first.setdefault(name, c)
            if desc and (c not in best or (rank, desc, kind) < best[c]):
                best[c] = (rank, desc, kind)
        self.chunks += new
        for c in sorted(best):
            self.described.append(c)
            self.best.append(best[c])
        for start in range(0, len(new), 500):
            part = new[start : start + 500]
            for name, chunk in db.execute(
                f"SELECT name, chunk FROM mentions WHERE chunk IN ({marks(len(part))}) ORDER BY chunk, name", part
            ):
                self.seen.add(name)
                self.names_in.setdefault(int(chunk), []).append(name)

    def co_mentions(self, at: int, owners: Mapping[str, str], own: str) -> dict[str, list[int]]:
        """Each other entity -> the chunks ``<= at`` that name it and the set (entity
        ``own``), with ``owners`` (name -> entity as of ``at``, for every name of
        :attr:`seen` at least) saying whose each name is. Kept, and grown by the
        chunks read since when asked again further on while every name it has read
        keeps its owner: a reader walking forward reads each chunk's names once. The
        lists are the index's own: callers copy them."""
        kept = self._co
        if kept is None or kept[0] > at or kept[2] != own or any(owners.get(n) != o for n, o in kept[1].items()):
            after, read, out = -1, {}, {}  # read afresh: grown from nothing
        else:
            after, read, out = kept[0], kept[1], kept[3]
        for c in self.chunks[bisect_right(self.chunks, after) : bisect_right(self.chunks, at)]:
            for name in self.names_in[c]:
                other = read[name] = owners.get(name)
                if other is not None and other != own:
                    got = out.setdefault(other, [])
                    if not got or got[-1] != c:
                        got.append(c)
        self._co = (at, read, own, out)
        return out

    def mentions(self, at: int) -> list[int]:
        return self.chunks[: bisect_right(self.chunks, at)]

    def aliases(self, at: int) -> dict[str, int]:
        """Each name mentioned by chunk ``at`` -> its first chunk, sorted by name."""
        return dict(sorted((n, c) for n, c in self.first.items() if c <= at))

    def descriptions(self, at: int) -> list[tuple[int, tuple[int, str, str]]]:
        """(chunk, (rank, description, kind)) of the chunks ``<= at`` with a description."""
        k = bisect_right(self.described, at)
        return list(zip(self.described[:k], self.best[:k]))


class NameIndexes:
    """A reader's name indexes, dropped when the store's version changes."""

    def __init__(self) -> None:
        self._version = -1
        self._kept: OrderedDict[tuple[str, ...], NameIndex] = OrderedDict()

    def get(self, db: sqlite3.Connection, version: int, names: Sequence[str], at: int) -> NameIndex:
        """The index of ``names`` grown to at least ``at``."""
        if version != self._version:
            self._kept.clear()
            self._version = version
        key = tuple(sorted(set(names)))
        index = self._kept.get(key)
        if index is None:
            index = self._kept[key] = NameIndex(key)
            if len(self._kept) > KEPT:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(key)
        index.grow(db, at)
        return index
