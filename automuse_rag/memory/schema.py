"""``state.sqlite``: the schema, opening it (read-only for readers) and its version.

The database is the story's single source of truth. Facts keep the chunk they came
from (``chunks``, ``mentions``, ``relations``, ``model_aliases``, the state ``facts``
of lore/facts.py, stored by name), and so do the
writer's ``corrections`` of who is who (in force from their chunk); the writer's own
``lorebook`` (imported entries, known from before the first chunk); the resolver's
results are *valid-time* rows (``entity_versions``, ``entity_names``: valid for
chunks ``since <= i < until``), so "as of chunk i" is an indexed query. Everything
else (Chroma collections, ``lore.json``, ``graph.json``, ``outline.*``,
``story.json``) is derived from it and can be rebuilt (``automuse repair``).

The schema version is ``PRAGMA user_version``; version 0 is the layout written
before the memory core rework (only ``chunks``), version 1 the one before the
``corrections`` table, version 2 the one before the ``lorebook`` table, version 3
the one before the ``facts`` table; all are upgraded by
:func:`automuse_rag.memory.migrate.upgrade_state`.

Journal mode is the rollback journal (not WAL): a read-only connection then leaves
no ``-wal``/``-shm`` files behind, so readers change nothing in the store.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from automuse_rag.errors import StoreError

SCHEMA_VERSION = 4  # 1: the memory core; 2: the writer's corrections; 3: the writer's lorebook; 4: state facts
FOREVER = 1 << 62  # ``until`` of a version that is still valid

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    idx INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    chapter INTEGER NOT NULL,
    chapter_title TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    summary TEXT NOT NULL,
    analysis TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mentions (
    name TEXT NOT NULL,
    chunk INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    count INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    description TEXT NOT NULL,
    dkind TEXT NOT NULL,
    PRIMARY KEY (name, chunk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mentions_by_chunk ON mentions (chunk, name);
CREATE TABLE IF NOT EXISTS names (name TEXT PRIMARY KEY, stats TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS model_aliases (
    chunk INTEGER NOT NULL,
    name TEXT NOT NULL,
    aliases TEXT NOT NULL,
    PRIMARY KEY (chunk, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS distinct_pairs (
    chunk INTEGER NOT NULL,
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    PRIMARY KEY (chunk, a, b)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS relations (
    chunk INTEGER NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    label TEXT NOT NULL,
    origin TEXT NOT NULL,
    PRIMARY KEY (chunk, source, target, label)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS relations_by_source ON relations (source, chunk);
CREATE INDEX IF NOT EXISTS relations_by_target ON relations (target, chunk);
CREATE TABLE IF NOT EXISTS facts (
    chunk INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    sentence TEXT NOT NULL,
    PRIMARY KEY (chunk, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS facts_by_name ON facts (name, chunk);
CREATE TABLE IF NOT EXISTS entity_versions (
    entity_id TEXT NOT NULL,
    since INTEGER NOT NULL,
    until INTEGER NOT NULL DEFAULT {FOREVER},
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (entity_id, since)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_versions_by_time ON entity_versions (since, until);
CREATE TABLE IF NOT EXISTS entity_names (
    name TEXT NOT NULL,
    since INTEGER NOT NULL,
    until INTEGER NOT NULL DEFAULT {FOREVER},
    entity_id TEXT NOT NULL,
    PRIMARY KEY (name, since)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_names_by_entity ON entity_names (entity_id, since);
CREATE TABLE IF NOT EXISTS corrections (
    seq INTEGER PRIMARY KEY,
    chunk INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('merge', 'split')),
    a TEXT NOT NULL,
    b TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lorebook (
    seq INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    keys TEXT NOT NULL,
    content TEXT NOT NULL,
    constant INTEGER NOT NULL,
    importance INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outline (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    text TEXT NOT NULL,
    parts TEXT NOT NULL,
    origin TEXT NOT NULL
);
"""


def marks(n: int) -> str:
    """``n`` SQL placeholders, comma-separated, for an ``IN (...)`` list."""
    return ",".join("?" * n)


def _damaged(path: Path, exc: Exception) -> StoreError:
    story = path.parent.name
    return StoreError(
        f"story {story}: {path.name} is damaged ({exc}); it is the store's source of truth and cannot be "
        f"repaired: remove the story with automuse stories rm {story} --yes and ingest it again"
    )


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """Open ``state.sqlite``. Read-only connections never create or change a file;
    StoreError (one line) if it is missing, not a database or damaged."""
    if readonly:
        if not path.is_file():
            raise StoreError(
                f"story {path.parent.name}: {path.name} is missing; run automuse stories rm {path.parent.name} --yes and ingest it again"
            )
        uri = f"file:{path}?mode=ro"
        db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None, timeout=30)
    else:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    try:
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        if not readonly and mode.lower() != "delete":
            db.execute("PRAGMA journal_mode=DELETE")
        if not readonly:
            db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA query_only=1" if readonly else "PRAGMA foreign_keys=OFF")
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        db.close()
        if "readonly" in str(exc).lower() or "read-only" in str(exc).lower():
            raise StoreError(
                f"story {path.parent.name} was interrupted in the middle of a write; run the same command again "
                f"or automuse repair --story {path.parent.name}"
            ) from None
        raise _damaged(path, exc) from None
    return db


def user_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def create_schema(db: sqlite3.Connection) -> None:
    """Create the tables (statement by statement: ``executescript`` would commit an
    open transaction) and set the format."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def integrity_problems(db: sqlite3.Connection) -> list[str]:
    """``PRAGMA quick_check`` findings ([] when fine)."""
    try:
        rows = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows
