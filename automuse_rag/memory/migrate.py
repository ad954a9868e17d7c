"""Upgrading ``state.sqlite`` from older store formats.

Format 1 lacks the ``corrections`` table (the writer's corrections of who is
who) and the ``lorebook`` table (the writer's imported lorebook), format 2 the
latter: the upgrade creates them, empty. Formats 0 to 3 lack the ``facts`` table (state
facts, lore/facts.py): the upgrade extracts them again from the stored chunk texts with
spaCy (:func:`restate_facts`), into each chunk's analysis and the table.

Format 0 (before the memory core rework) kept only the ``chunks`` table in SQLite;
the manifest, outline and lore lived in ``story.json``, ``outline.*`` and
``lore.json``, and the Chroma collections were named ``STORY-summaries`` and so on
(shared by every home using the same Chroma server and story name). The upgrade
keeps every chunk, summary and analysis, reads the manifest and outline from the
old files when they are readable (else rebuilds the outline extractively, with no
model call), folds the lore again, and sets the format. The Chroma side is then
rebuilt by :func:`automuse_rag.memory.sync.sync_chroma` (old embedded collections
are reused for their embeddings, then dropped; old collections on a server are
left alone, since other homes may still use them).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from typing import Any

from automuse_rag.errors import StoreError
from automuse_rag.fsutil import read_json
from automuse_rag.lore.facts import extract_facts
from automuse_rag.lore.ner import get_nlp, ner_text
from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.facts import fact_rows
from automuse_rag.memory.layout import story_dir
from automuse_rag.memory.outline import build_outline, model_summarizer, split_outline
from automuse_rag.memory.schema import SCHEMA_VERSION, create_schema, user_version
from automuse_rag.memory.state import StateWriter
from automuse_rag.memory.sync import sync_chroma
from automuse_rag.memory.types import OutlinePart
from automuse_rag.memory.views import StateReader
from automuse_rag.models.base import Embedder, Sampling
from automuse_rag.settings import Settings


def upgrade_state(settings: Settings, name: str, db: sqlite3.Connection, embedder: Embedder | None) -> list[str]:
    """Bring ``db`` to the current format (no-op when it is). Returns notes."""
    version = user_version(db)
    if version == SCHEMA_VERSION:
        return []
    if version > SCHEMA_VERSION:
        raise StoreError(f"story {name} was written by a newer automuse-rag (store format {version}); upgrade automuse-rag")
    if version >= 1:
        writer = StateWriter(db)
        with writer.transaction():
            create_schema(db)  # the tables a newer format adds (CREATE ... IF NOT EXISTS), and the format
            notes = restate_facts(writer)  # every format before 4 lacks the facts
        return [f"upgraded story {name} from store format {version} to {SCHEMA_VERSION}", *notes]
    directory = story_dir(settings, name)
    old = read_json(directory / "story.json") or {}
    if not isinstance(old, dict):
        old = {}
    emb = old.get("embedder") or ({"name": embedder.name, "dimension": embedder.dimension} if embedder else None)
    if not emb:
        raise StoreError(
            f"story {name}: story.json is unreadable, so its embedder is unknown; run automuse repair --story {name} --embedder NAME"
        )
    manifest = {k: v for k, v in old.items() if k not in ("chunks_done", "updated")}
    manifest.update({"name": name, "embedder": emb, "upgraded_from": version})
    writer = StateWriter(db)
    with writer.transaction():
        create_schema(db)
        db.execute("PRAGMA user_version=0")  # set to current only once everything below is done
        db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [
                ("store_id", uuid.uuid4().hex),
                ("story", name),
                ("version", "0"),
                ("manifest", json.dumps(manifest, ensure_ascii=False, sort_keys=True)),
            ],
        )
    writer.rebuild_lore()
    reader = StateReader(db)
    text = None
    try:
        text = (directory / "outline.txt").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    parts_raw = read_json(directory / "outline.json")
    notes = [f"upgraded story {name} from store format {version} to {SCHEMA_VERSION}"]
    if text and isinstance(parts_raw, list):
        parts = [p for p in parts_raw if isinstance(p, dict) and {"chapter", "title", "text"} <= set(p)]
        writer.set_outline(text, parts or [p.__dict__ for p in split_outline(text)], str(old.get("outline", "given")))
    elif text:
        writer.set_outline(text, [p.__dict__ for p in split_outline(text)], str(old.get("outline", "given")))
        notes.append("outline.json was unreadable: outline parts rebuilt from outline.txt")
    elif reader.count():
        built, built_parts = build_outline(reader.records(), model_summarizer(None, Sampling()))
        writer.set_outline(built, [OutlinePart(p.chapter, p.title, p.text).__dict__ for p in built_parts], "built")
        notes.append("the outline was unreadable: rebuilt by extractive summarization")
    with writer.transaction():
        notes += restate_facts(writer)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return notes


def restate_facts(writer: StateWriter) -> list[str]:
    """Extract the state facts of every stored chunk again from its text (spaCy NER,
    lore/facts.py), into its stored analysis and the ``facts`` table: the upgrade of a
    store written before format 4. Runs inside the caller's transaction."""
    db = writer.db
    rows = db.execute("SELECT idx, text, analysis FROM chunks ORDER BY idx").fetchall()
    if not rows:
        return []
    nlp = get_nlp()
    found = 0
    docs = nlp.pipe(ner_text(nlp, str(text)) for _, text, _ in rows)
    for (idx, _, raw), doc in zip(rows, docs):
        analysis = ChunkAnalysis.from_dict(json.loads(raw))
        analysis.facts = [f.to_dict() for f in extract_facts(doc)]
        found += len(analysis.facts)
        db.execute(
            "UPDATE chunks SET analysis = ? WHERE idx = ?",
            (json.dumps(analysis.to_dict(), ensure_ascii=False, sort_keys=True), int(idx)),
        )
        db.execute("DELETE FROM facts WHERE chunk = ?", (int(idx),))
        db.executemany("INSERT INTO facts VALUES (?,?,?,?,?,?)", fact_rows(int(idx), analysis))
    db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")
    return [f"extracted {found} state facts from {len(rows)} stored chunks"]


def legacy_collections(name: str) -> list[str]:
    """The collection names format 0 used for story ``name``."""
    return [f"{name}-{suffix}" for suffix in ("summaries", "entities", "chunks")]


def ensure_current(
    settings: Settings, name: str, db: sqlite3.Connection, embedder: Embedder, store_class: Callable[..., Any]
) -> list[str]:
    """Upgrade an old store before a writer uses it (state, then its Chroma index,
    through a writer of ``store_class``: :class:`~automuse_rag.memory.story.StoryMemory`,
    which calls this)."""
    if user_version(db) == SCHEMA_VERSION:
        return []
    notes = upgrade_state(settings, name, db, embedder)
    mem = store_class(settings, name, db, embedder, writable=True, create=True)
    notes += sync_chroma(mem, legacy=legacy_collections(name))
    return notes
