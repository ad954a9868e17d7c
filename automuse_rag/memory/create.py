"""A new store, made crash-safe: the Chroma collections first, then the state (meta
and manifest) in one transaction, which is what makes the store exist. A run killed
before that left nothing a later run has to trust (:func:`layout.remove_partial`)."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any

from automuse_rag.memory.layout import STATE, remove_partial, story_dir
from automuse_rag.memory.schema import connect
from automuse_rag.memory.state import StateWriter
from automuse_rag.memory.store import ChromaStore
from automuse_rag.models.base import Embedder
from automuse_rag.settings import Settings


def fresh_state(
    settings: Settings,
    name: str,
    embedder: Embedder,
    llm_name: str,
    source: str,
    chroma_url: str | None,
    extra: dict[str, Any] | None,
) -> tuple[sqlite3.Connection, ChromaStore]:
    """Make story ``name``'s collections and state; returns the writable connection and
    the Chroma store. On any failure nothing of the new store is left behind."""
    directory = story_dir(settings, name)
    existed = directory.is_dir()
    remove_partial(directory)  # what a run killed before the store existed may have left
    store_id = uuid.uuid4().hex
    try:
        if not chroma_url:
            directory.mkdir(parents=True, exist_ok=True)
        store = ChromaStore(
            name, store_id, (embedder.name, embedder.dimension), path=directory / "chroma", url=chroma_url or None, create=True
        )
        directory.mkdir(parents=True, exist_ok=True)
        db = connect(directory / STATE, readonly=False)
        manifest = {
            "name": name,
            "source": source,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "embedder": {"name": embedder.name, "dimension": embedder.dimension},
            "llm": llm_name,
            "chroma_url": chroma_url or None,
            "chunks_total": None,
            "complete": False,
            **(extra or {}),
        }
        StateWriter(db).init({"store_id": store_id, "story": name, "manifest": json.dumps(manifest, ensure_ascii=False)})
    except BaseException:
        remove_partial(directory)
        if not existed and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
        raise
    return db, store
